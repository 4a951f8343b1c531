//! The machine's measured peaks: the denominators of every "% of peak" this project quotes
//! (`bertqa bench`, `examples/gemm_table`) — fp32 FMA, and bf16 `vdpbf16ps` (two multiply-adds
//! per fp32 lane and instruction) or, on aarch64, `bfmmla` (16 per instruction) for the bf16
//! GEMM.
//!
//! One burst runs 24 independent chains in registers (no memory traffic) on the widest ISA
//! the CPU has, long enough (~0.1 s) to reach the sustained clock. A CPU without AVX512_BF16
//! runs the bf16 GEMM by widening to fp32 FMAs, so its bf16 peak is its FMA peak.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::dispatch::Isa;
use std::time::Instant;

/// fp32 GFLOP/s of one burst on the calling thread, timed with `now` (seconds; wall time or this
/// thread's CPU time): AVX-512F or AVX2+FMA on x86-64, NEON `fmla` on aarch64; 0 elsewhere and
/// on x86-64 CPUs without AVX2+FMA.
pub fn fma_burst_gflops(now: &dyn Fn() -> f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx512.is_supported() {
            // SAFETY: avx512f is present (checked).
            return unsafe { burst_avx512(now) };
        }
        if Isa::Avx2.is_supported() {
            // SAFETY: avx2 and fma are present (checked).
            return unsafe { burst_avx2(now) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            // SAFETY: neon is present (checked).
            return unsafe { burst_neon(now) };
        }
    }
    let _ = now;
    0.0
}

/// bf16 GFLOP/s (a bf16 multiply-add = 2 FLOP) of one `vdpbf16ps` burst on the calling
/// thread, or on aarch64 with FEAT_BF16 one `bfmmla` burst (the NEON_BF16 level's bf16 GEMM);
/// [`fma_burst_gflops`] on CPUs without either (their bf16 GEMM runs on FMAs).
pub fn bf16_burst_gflops(now: &dyn Fn() -> f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx512Bf16.is_supported() {
            // SAFETY: avx512f and avx512bf16 are present (checked).
            return unsafe { burst_avx512bf16(now) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if crate::dispatch::Isa::NeonBf16.is_supported() {
            // SAFETY: FEAT_BF16 is present (checked: the level includes it).
            return unsafe { burst_bfmmla(now, 2_000_000) };
        }
    }
    fma_burst_gflops(now)
}

/// int8 GOP/s (a multiply-add = 2 operations) of one burst of the int8 path's instruction on
/// the calling thread: `vpdpbusd`; on CPUs without AVX512_VNNI the AVX2 int8 path's
/// instruction pair (`vpmaddwd` + `vpaddd`, two multiply-adds per i32 lane); 0 without AVX2.
/// On aarch64: `usmmla` (FEAT_I8MM, 32 multiply-adds per instruction), else `sdot`
/// (FEAT_DotProd, 16), else `smlal` (4, the NEON widening path's).
pub fn int8_burst_gops(now: &dyn Fn() -> f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx512Vnni.is_supported() {
            // SAFETY: avx512f/bw/vnni are present (checked).
            return unsafe { burst_vnni(now) };
        }
        if Isa::Avx2.is_supported() {
            // SAFETY: avx2 is present (checked).
            return unsafe { burst_maddwd(now) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if Isa::NeonI8mm.is_supported() {
            // SAFETY: NEON and i8mm are present (checked).
            return unsafe { arm::burst_usmmla(now) };
        }
        if Isa::NeonDot.is_supported() {
            // SAFETY: NEON and dotprod are present (checked).
            return unsafe { arm::burst_sdot(now) };
        }
        if Isa::Neon.is_supported() {
            // SAFETY: NEON is present (checked).
            return unsafe { arm::burst_smlal(now) };
        }
    }
    let _ = now;
    0.0
}

/// Measured int8 peak of `threads` threads bursting at once (see [`int8_burst_gops`]), GOP/s.
pub fn int8_peak_gops(threads: usize) -> f64 {
    peak_of(threads, int8_burst_gops)
}

/// Measured fp32 FMA peak of `threads` threads bursting at once (wall time), best of 5, in
/// GFLOP/s.
pub fn fma_peak_gflops(threads: usize) -> f64 {
    peak_of(threads, fma_burst_gflops)
}

/// Measured bf16 peak of `threads` threads bursting at once (see [`bf16_burst_gflops`]).
pub fn bf16_peak_gflops(threads: usize) -> f64 {
    peak_of(threads, bf16_burst_gflops)
}

fn peak_of(threads: usize, burst: fn(&dyn Fn() -> f64) -> f64) -> f64 {
    let epoch = Instant::now();
    let wall = move || epoch.elapsed().as_secs_f64();
    (0..5)
        .map(|_| {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads.max(1))
                    .map(|_| s.spawn(move || burst(&wall)))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum::<f64>()
            })
        })
        .fold(0.0, f64::max)
}

#[cfg(target_arch = "x86_64")]
macro_rules! burst {
    ($name:ident, $feat:literal, $lanes:expr, $set1:ident, $fma:ident, $store:ident) => {
        /// # Safety
        /// The CPU must support the target features.
        #[target_feature(enable = $feat)]
        unsafe fn $name(now: &dyn Fn() -> f64) -> f64 {
            use std::arch::x86_64::*;
            use std::hint::black_box;
            const CHAINS: usize = 24;
            let iters: u64 = 4_000_000;
            let mut acc = [$set1(1.0); CHAINS];
            let x = $set1(black_box(0.999_999));
            let y = $set1(black_box(1e-7));
            let t = now();
            for _ in 0..iters {
                for a in acc.iter_mut() {
                    *a = $fma(*a, x, y);
                }
            }
            let dt = now() - t;
            let mut out = [0.0f32; $lanes];
            for a in acc {
                // SAFETY: `out` holds exactly one vector.
                unsafe { $store(out.as_mut_ptr(), a) };
                black_box(out);
            }
            (iters as f64) * (CHAINS * $lanes * 2) as f64 / dt / 1e9
        }
    };
}
#[cfg(target_arch = "x86_64")]
burst!(
    burst_avx512,
    "avx512f",
    16,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
#[cfg(target_arch = "x86_64")]
burst!(
    burst_avx2,
    "avx2,fma",
    8,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);

/// The aarch64 burst: 24 independent `fmla` chains of 4 lanes (`vfmaq_f32`), 24 of the 32
/// vector registers, enough to cover the 4-cycle `fmla` latency on the 2–4 vector pipes of
/// current cores.
///
/// # Safety
/// The CPU must support neon (every aarch64 CPU does).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn burst_neon(now: &dyn Fn() -> f64) -> f64 {
    use std::arch::aarch64::*;
    use std::hint::black_box;
    const CHAINS: usize = 24;
    let iters: u64 = 4_000_000;
    let mut acc = [vdupq_n_f32(1.0); CHAINS];
    let x = vdupq_n_f32(black_box(0.999_999));
    let y = vdupq_n_f32(black_box(1e-7));
    let t = now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            // a·x + y, as the x86 bursts (vfmaq_f32(a, b, c) = a + b·c).
            *a = vfmaq_f32(y, *a, x);
        }
    }
    let dt = now() - t;
    let mut out = [0.0f32; 4];
    for a in acc {
        // SAFETY: `out` holds exactly one vector.
        unsafe { vst1q_f32(out.as_mut_ptr(), a) };
        black_box(out);
    }
    (iters as f64) * (CHAINS * 4 * 2) as f64 / dt / 1e9
}

/// # Safety
/// The CPU must support AVX-512F and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn burst_avx512bf16(now: &dyn Fn() -> f64) -> f64 {
    use std::arch::x86_64::*;
    use std::hint::black_box;
    const CHAINS: usize = 24;
    let iters: u64 = 4_000_000;
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    // (bf16 pairs of small values, so the sums stay finite.)
    let x = _mm512_set1_epi32(black_box(0x3380_3380u32 as i32));
    // SAFETY: __m512i and __m512bh are both 512 bits of plain data.
    let x: __m512bh = unsafe { std::mem::transmute(x) };
    let t = now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_dpbf16_ps(*a, x, x);
        }
    }
    let dt = now() - t;
    let mut out = [0.0f32; 16];
    for a in acc {
        // SAFETY: `out` holds exactly one vector.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), a) };
        black_box(out);
    }
    // 16 lanes × 2 products × 2 FLOP per instruction.
    (iters as f64) * (CHAINS * 16 * 4) as f64 / dt / 1e9
}

/// `iters` rounds of 24 independent `bfmmla` chains (each instruction 2×2 outputs × 4
/// products = 16 multiply-adds = 32 FLOP), GFLOP/s.
///
/// # Safety
/// The CPU must support FEAT_BF16.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon,bf16")]
unsafe fn burst_bfmmla(now: &dyn Fn() -> f64, iters: u64) -> f64 {
    use std::arch::aarch64::*;
    use std::hint::black_box;
    const CHAINS: usize = 24;
    let mut acc = [vdupq_n_f32(1.0); CHAINS];
    // (bf16 values of 2⁻²⁴, so the sums stay finite.)
    let x = vreinterpretq_u16_u32(vdupq_n_u32(black_box(0x3380_3380)));
    let t = now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            // SAFETY: a register-only FEAT_BF16 instruction (enabled here, present per the
            // contract); no memory, stack or flags are touched.
            unsafe {
                std::arch::asm!(
                    "bfmmla {a:v}.4s, {x:v}.8h, {x:v}.8h",
                    a = inout(vreg) *a,
                    x = in(vreg) x,
                    options(pure, nomem, nostack, preserves_flags)
                )
            };
        }
    }
    let dt = now() - t;
    let mut out = [0.0f32; 4];
    for a in acc {
        // SAFETY: `out` holds exactly one vector.
        unsafe { vst1q_f32(out.as_mut_ptr(), a) };
        black_box(out);
    }
    (iters as f64) * (CHAINS * 32) as f64 / dt / 1e9
}

/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX512_VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn burst_vnni(now: &dyn Fn() -> f64) -> f64 {
    use std::arch::x86_64::*;
    use std::hint::black_box;
    const CHAINS: usize = 24;
    let iters: u64 = 2_000_000;
    let mut acc = [_mm512_setzero_si512(); CHAINS];
    let x = _mm512_set1_epi32(black_box(0x0102_0301));
    let t = now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_dpbusd_epi32(*a, x, x);
        }
    }
    let dt = now() - t;
    let mut out = [0i32; 16];
    for a in acc {
        // SAFETY: `out` holds exactly one vector.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, a) };
        black_box(out);
    }
    // 16 lanes × 4 products × 2 operations per instruction.
    (iters as f64) * (CHAINS * 16 * 8) as f64 / dt / 1e9
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn burst_maddwd(now: &dyn Fn() -> f64) -> f64 {
    use std::arch::x86_64::*;
    use std::hint::black_box;
    const CHAINS: usize = 12;
    let iters: u64 = 4_000_000;
    let mut acc = [_mm256_setzero_si256(); CHAINS];
    let x = _mm256_set1_epi16(black_box(3));
    let t = now();
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, x));
        }
    }
    let dt = now() - t;
    let mut out = [0i32; 8];
    for a in acc {
        // SAFETY: `out` holds exactly one vector.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, a) };
        black_box(out);
    }
    // 8 lanes × 2 products × 2 operations per pair.
    (iters as f64) * (CHAINS * 8 * 4) as f64 / dt / 1e9
}

/// The aarch64 int8 bursts: 24 independent i32 accumulator chains in registers, one
/// instruction each per iteration (`asm!` for `sdot` and `usmmla`, whose intrinsics are
/// unstable).
#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;
    use std::arch::asm;
    use std::hint::black_box;

    const CHAINS: usize = 24;

    /// Runs `iters` rounds of `step` over the chains, returns GOP/s for `ops` operations per
    /// instruction.
    #[inline(always)]
    fn run(
        now: &dyn Fn() -> f64,
        iters: u64,
        ops: usize,
        mut step: impl FnMut(&mut [int32x4_t; CHAINS]),
    ) -> f64 {
        // SAFETY: NEON is part of the aarch64 baseline.
        let mut acc = [unsafe { vdupq_n_s32(0) }; CHAINS];
        let t = now();
        for _ in 0..iters {
            step(&mut acc);
        }
        let dt = now() - t;
        let mut out = [0i32; 4];
        for a in acc {
            // SAFETY: `out` holds exactly one vector.
            unsafe { vst1q_s32(out.as_mut_ptr(), a) };
            black_box(out);
        }
        (iters as f64) * (CHAINS * ops) as f64 / dt / 1e9
    }

    /// # Safety
    /// The CPU must support NEON and FEAT_I8MM.
    #[target_feature(enable = "neon,i8mm")]
    pub(super) unsafe fn burst_usmmla(now: &dyn Fn() -> f64) -> f64 {
        let x = vdupq_n_u8(black_box(3));
        let y = vdupq_n_s8(black_box(-2));
        // 2×2 lanes × 8 products × 2 operations per instruction.
        run(now, 2_000_000, 64, |acc| {
            for a in acc.iter_mut() {
                // SAFETY: register-only arithmetic; i8mm is enabled here and present.
                unsafe {
                    asm!(
                        "usmmla {a:v}.4s, {x:v}.16b, {y:v}.16b",
                        a = inout(vreg) *a,
                        x = in(vreg) x,
                        y = in(vreg) y,
                        options(pure, nomem, nostack, preserves_flags),
                    )
                };
            }
        })
    }

    /// # Safety
    /// The CPU must support NEON and FEAT_DotProd.
    #[target_feature(enable = "neon,dotprod")]
    pub(super) unsafe fn burst_sdot(now: &dyn Fn() -> f64) -> f64 {
        let x = vdupq_n_s8(black_box(3));
        // 4 lanes × 4 products × 2 operations per instruction.
        run(now, 2_000_000, 32, |acc| {
            for a in acc.iter_mut() {
                // SAFETY: register-only arithmetic; dotprod is enabled here and present.
                unsafe {
                    asm!(
                        "sdot {a:v}.4s, {x:v}.16b, {x:v}.4b[1]",
                        a = inout(vreg) *a,
                        x = in(vreg) x,
                        options(pure, nomem, nostack, preserves_flags),
                    )
                };
            }
        })
    }

    /// # Safety
    /// The CPU must support NEON.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn burst_smlal(now: &dyn Fn() -> f64) -> f64 {
        let x = vdupq_n_s16(black_box(3));
        // 4 lanes × 1 product × 2 operations per instruction (as the kernel: by element).
        run(now, 4_000_000, 8, |acc| {
            for a in acc.iter_mut() {
                *a = vmlal_laneq_s16::<1>(*a, vget_low_s16(x), x);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    /// The `bfmmla` burst runs (briefly: under qemu it is slow) and counts 32 FLOP an
    /// instruction.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn bfmmla_burst_runs() {
        if !crate::dispatch::Isa::NeonBf16.is_supported() {
            return;
        }
        let clock = std::cell::Cell::new(0.0);
        // A fake clock: one "second" per reading, so the rate is the FLOP count.
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        // SAFETY: FEAT_BF16 is present (checked).
        let gflops = unsafe { super::burst_bfmmla(&now, 1000) };
        assert_eq!(gflops, 1000.0 * 24.0 * 32.0 / 1e9);
    }
}
