//! Each x86-64 micro-kernel alone, on 1 thread, with its A and B micro-panels hot in L1/L2:
//! GFLOP/s (G ops/s for int8) and % of the peak of the instruction it runs, measured in the
//! same run (`kernels::peak`). That is the ceiling of what the GEMM driver can reach with the
//! kernel; the rest of `gemm_table`'s gap is the memory hierarchy and the loops around it.
//!
//! `cargo run --release -p bertqa-kernels --example ukr_table [-- --kc K]` (K a multiple of 4,
//! default 384; the tile is called back to back on the same operands, `rows = MR`, full
//! columns, no epilogue beyond the store).

#[cfg(target_arch = "x86_64")]
mod x86 {
    use bertqa_kernels::gemm::ukr::{self, MicroKernel, QuantTile, TileEpi};
    use bertqa_kernels::gemm::PANEL;
    use bertqa_kernels::peak::Burst;
    use std::time::Instant;

    /// GFLOP/s of `K::tile` over `kc`, A row-major (`packed`: an MR-row packed panel), best of 5.
    fn rate<K: MicroKernel>(kc: usize, packed: bool) -> f64 {
        let a_rs = if packed { 0 } else { kc + 64 };
        let mut a = vec![K::A::default(); K::MR * (kc + 64)];
        let mut b = vec![K::B::default(); PANEL * kc];
        // Written, so that the operands are pages of their own: freshly zeroed ones all map the
        // kernel's one zero page, which makes the kernels read a single 4 KiB (AMX figures then
        // flipped between runs). 0x3C in every byte is a small finite value of every element type.
        // SAFETY: A and B's element types (f32, u16, u8, i8) are plain data: any bytes are a
        // valid value; the writes stay inside each vector's initialised length.
        unsafe {
            std::ptr::write_bytes(a.as_mut_ptr(), 0x3C, a.len());
            std::ptr::write_bytes(b.as_mut_ptr(), 0x3C, b.len());
        }
        let mut c = vec![0f32; K::MR * K::NR];
        let epi = TileEpi {
            first: true,
            last: true,
            alpha: 1.0,
            bias: std::ptr::null(),
            gelu: false,
            residual: std::ptr::null(),
            rs_res: 0,
            next_b: b.as_ptr().cast(),
            l2_next: b.as_ptr().cast(),
            l2_lines: 0,
            quant: QuantTile::NONE,
        };
        let flop = 2 * K::MR * K::NR * kc;
        let calls = (2_000_000_000 / flop).max(1);
        let mut best = f64::MAX;
        K::session(|| {
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..calls {
                    // SAFETY: the kernel is supported (checked by the caller), inside its session;
                    // kc is a multiple of
                    // K_GROUP (≤ 4, kc a multiple of 4); A holds MR rows of kc + 64 elements (or
                    // an MR·kc packed panel), B kc / K_GROUP groups of a PANEL-wide panel, C the
                    // MR × NR tile at row stride NR; nothing else is read or written.
                    unsafe {
                        K::tile(
                            kc,
                            a.as_ptr(),
                            a_rs,
                            b.as_ptr(),
                            c.as_mut_ptr(),
                            K::NR,
                            K::MR,
                            K::NR,
                            &epi,
                        )
                    };
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
        });
        std::hint::black_box(&c);
        (flop * calls) as f64 / best / 1e9
    }

    fn row<K: MicroKernel>(kc: usize, burst: Option<Burst>, packed: bool) {
        if !K::supported() || !burst.is_none_or(Burst::is_supported) {
            println!("{:<34} (not on this CPU)", K::NAME);
            return;
        }
        let r = rate::<K>(kc, packed);
        let layout = if packed { "packed" } else { "rows" };
        match burst {
            Some(b) => {
                let peak = b.peak(1);
                let pct = 100.0 * r / peak;
                println!(
                    "{:<34} {layout:<7} {r:>8.1} {pct:>6.1} %   {b} ({peak:.1})",
                    K::NAME
                );
            }
            None => println!("{:<34} {layout:<7} {r:>8.1}", K::NAME),
        }
    }

    pub fn main(kc: usize) {
        println!(
            "kc = {kc}, 1 thread; rate in GFLOP/s (int8: G ops/s), % of the instruction's peak"
        );
        row::<ukr::avx2::Avx2_6x16>(kc, Some(Burst::Vfmadd231psYmm), true);
        row::<ukr::avx2::Avx2_6x16>(kc, Some(Burst::Vfmadd231psYmm), false);
        row::<ukr::avx512::Avx512_12x32>(kc, Some(Burst::Vfmadd231psZmm), true);
        row::<ukr::avx512::Avx512_12x32>(kc, Some(Burst::Vfmadd231psZmm), false);
        row::<ukr::bf16_avx2::Avx2Bf16Widen_4x16>(kc, Some(Burst::Vfmadd231psYmm), false);
        row::<ukr::bf16_avx512::Avx512Bf16Widen_12x32>(kc, Some(Burst::Vfmadd231psZmm), false);
        row::<ukr::bf16_avx512::Avx512Bf16_12x32>(kc, Some(Burst::Vdpbf16psZmm), false);
        row::<ukr::i8_avx2::Avx2I8Widen_4x8>(kc, Some(Burst::VpmaddwdYmm), false);
        row::<ukr::i8_avx2::Avx2I8Maddubs_4x16>(kc, Some(Burst::VpmaddubswVpmaddwdYmm), false);
        row::<ukr::i8_avxvnni::AvxVnniI8_6x16>(kc, Some(Burst::VpdpbusdYmm), false);
        row::<ukr::i8_avx512::Avx512VnniI8_12x32>(kc, Some(Burst::VpdpbusdZmm), false);
        row::<ukr::amx::AmxI8_32x32>(kc, Some(Burst::TdpbusdAmx), false);
        row::<ukr::amx::AmxBf16_32x32>(kc, Some(Burst::Tdpbf16psAmx), false);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kc = match args.iter().position(|a| a == "--kc") {
        Some(i) => args[i + 1].parse().expect("--kc K"),
        None => 384,
    };
    assert!(
        kc > 0 && kc % 4 == 0,
        "--kc must be a positive multiple of 4"
    );
    #[cfg(target_arch = "x86_64")]
    x86::main(kc);
    #[cfg(not(target_arch = "x86_64"))]
    println!("ukr_table measures the x86-64 kernels only (kc = {kc})");
}
