//! The machine's measured peaks: the denominators of every "% of peak" this project quotes
//! (`bertqa bench`, `examples/gemm_table`, `examples/lowp_table`).
//!
//! Each peak is a [`Burst`] of **the instruction the kernels run**, not the best one the CPU
//! has: the fp32 peak follows the level [`isa()`] picks (so `BERTQA_ISA=avx2` on an AVX-512
//! CPU is measured against `vfmadd231ps ymm`, what its GEMM runs), the bf16 peak follows the
//! level's [`Bf16Path`] and the int8 peak its [`I8Path`] ([`Burst::for_fp32`],
//! [`Burst::for_bf16`], [`Burst::for_int8`] say which instruction each level and path is
//! measured on). A scalar level or path (`reference`) has no peak: 0.
//!
//! A burst runs independent accumulator chains in registers (no memory traffic), one
//! instruction (or the kernel's instruction sequence) per chain and round, written with
//! `asm!` so the compiler can neither hoist it out of the loop nor spill the chains: 12 chains
//! on the 16 ymm registers of AVX2 (2 FMA pipes × 4–5 cycles latency need 8–10), 24 on the 32
//! zmm of AVX-512 and the 32 vector registers of aarch64. (Before issue 25 the AVX2 burst ran
//! 24 ymm chains, which spilled to the stack and under-measured a Zen 3 by 40 %; the
//! `vpmaddwd` burst's multiply was loop-invariant and hoisted, so it measured `vpaddd`.)

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::dispatch::isa;
use crate::dispatch::Isa;
use crate::table::{Bf16Path, I8Path};
use std::time::Instant;

/// One peak burst: an instruction (or instruction sequence) and how many operations each
/// counts. Floating-point bursts count a multiply-add as 2 FLOP, integer ones a product and
/// its addition as 2 operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Burst {
    /// x86-64 AVX2+FMA `vfmadd231ps` on ymm: 8 fp32 multiply-adds per instruction.
    Vfmadd231psYmm,
    /// x86-64 AVX-512F `vfmadd231ps` on zmm: 16 fp32 multiply-adds per instruction.
    Vfmadd231psZmm,
    /// x86-64 AVX512_BF16 `vdpbf16ps` on zmm: 16 lanes × 2 bf16 products per instruction.
    Vdpbf16psZmm,
    /// x86-64 AVX512_VNNI `vpdpbusd` on zmm: 16 lanes × 4 u8·s8 products per instruction.
    VpdpbusdZmm,
    /// x86-64 AMX-INT8 `tdpbusd` on 16 × 64-byte tiles: 16·16·64 u8·s8 products per
    /// instruction (four C tiles in turn, their sources in registers; no tile loads).
    TdpbusdAmx,
    /// x86-64 AMX-BF16 `tdpbf16ps` on 16 × 64-byte tiles: 16·16·32 bf16 products per
    /// instruction (as [`Burst::TdpbusdAmx`]).
    Tdpbf16psAmx,
    /// x86-64 AVX-VNNI (`avxvnni`, VEX-encoded) `vpdpbusd` on ymm: 8 lanes × 4 u8·s8 products
    /// per instruction (Intel Alder Lake and later clients, Sierra Forest, Zen 5).
    VpdpbusdYmm,
    /// x86-64 AVX2 `vpmaddwd` + `vpaddd` on ymm, i16 operands: 8 lanes × 2 products per pair
    /// (the widening int8 kernel's inner step).
    VpmaddwdYmm,
    /// x86-64 AVX2 `vpmaddubsw` (u8·s8 → i16 pair sums) + `vpmaddwd` by ones (→ i32) +
    /// `vpaddd` on ymm: 32 u8·s8 products per sequence, 2 operations each.
    VpmaddubswVpmaddwdYmm,
    /// aarch64 NEON `fmla` (.4s): 4 fp32 multiply-adds per instruction.
    Fmla,
    /// aarch64 FEAT_BF16 `bfmmla`: 2×2 outputs × 4 bf16 products per instruction.
    Bfmmla,
    /// aarch64 FEAT_BF16 `bfdot` (by element): 4 lanes × 2 bf16 products per instruction.
    Bfdot,
    /// aarch64 FEAT_I8MM `usmmla`: 2×2 outputs × 8 u8·s8 products per instruction.
    Usmmla,
    /// aarch64 FEAT_DotProd `sdot` (by element): 4 lanes × 4 s8·s8 products per instruction.
    Sdot,
    /// aarch64 NEON `smlal` (by element): 4 i16 products per instruction.
    Smlal,
}

impl Burst {
    /// Every burst, x86-64's then aarch64's.
    pub const ALL: [Burst; 15] = [
        Burst::Vfmadd231psYmm,
        Burst::Vfmadd231psZmm,
        Burst::Vdpbf16psZmm,
        Burst::VpdpbusdZmm,
        Burst::TdpbusdAmx,
        Burst::Tdpbf16psAmx,
        Burst::VpdpbusdYmm,
        Burst::VpmaddwdYmm,
        Burst::VpmaddubswVpmaddwdYmm,
        Burst::Fmla,
        Burst::Bfmmla,
        Burst::Bfdot,
        Burst::Usmmla,
        Burst::Sdot,
        Burst::Smlal,
    ];

    /// The instruction, as `bertqa bench` prints it ("vfmadd231ps zmm").
    pub fn name(self) -> &'static str {
        match self {
            Burst::Vfmadd231psYmm => "vfmadd231ps ymm",
            Burst::Vfmadd231psZmm => "vfmadd231ps zmm",
            Burst::Vdpbf16psZmm => "vdpbf16ps zmm",
            Burst::VpdpbusdZmm => "vpdpbusd zmm",
            Burst::TdpbusdAmx => "tdpbusd (AMX)",
            Burst::Tdpbf16psAmx => "tdpbf16ps (AMX)",
            Burst::VpdpbusdYmm => "vpdpbusd ymm (AVX-VNNI)",
            Burst::VpmaddwdYmm => "vpmaddwd+vpaddd ymm",
            Burst::VpmaddubswVpmaddwdYmm => "vpmaddubsw+vpmaddwd ymm",
            Burst::Fmla => "fmla .4s",
            Burst::Bfmmla => "bfmmla",
            Burst::Bfdot => "bfdot",
            Burst::Usmmla => "usmmla",
            Burst::Sdot => "sdot",
            Burst::Smlal => "smlal",
        }
    }

    /// Whether the burst counts floating-point operations (GFLOP/s) or integer ones (GOP/s).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Burst::Vfmadd231psYmm
                | Burst::Vfmadd231psZmm
                | Burst::Vdpbf16psZmm
                | Burst::Fmla
                | Burst::Bfmmla
                | Burst::Bfdot
        )
    }

    /// "GFLOP/s" or "GOP/s".
    pub fn unit(self) -> &'static str {
        if self.is_float() {
            "GFLOP/s"
        } else {
            "GOP/s"
        }
    }

    /// Whether this CPU has the instruction.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Burst::Vfmadd231psYmm | Burst::VpmaddwdYmm | Burst::VpmaddubswVpmaddwdYmm => {
                Isa::Avx2.is_supported()
            }
            #[cfg(target_arch = "x86_64")]
            Burst::Vfmadd231psZmm => Isa::Avx512.is_supported(),
            #[cfg(target_arch = "x86_64")]
            Burst::Vdpbf16psZmm => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(target_arch = "x86_64")]
            Burst::VpdpbusdZmm => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Burst::VpdpbusdYmm => {
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Burst::TdpbusdAmx => crate::dispatch::amx_int8(),
            #[cfg(target_arch = "x86_64")]
            Burst::Tdpbf16psAmx => crate::dispatch::amx_bf16(),
            #[cfg(target_arch = "aarch64")]
            Burst::Fmla | Burst::Smlal => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Burst::Bfmmla | Burst::Bfdot => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("bf16")
            }
            #[cfg(target_arch = "aarch64")]
            Burst::Usmmla => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[cfg(target_arch = "aarch64")]
            Burst::Sdot => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The rate of one burst on the calling thread (GFLOP/s or GOP/s, [`Burst::unit`]), timed
    /// with `now` (seconds; wall time or this thread's CPU time); 0 if the CPU lacks the
    /// instruction.
    pub fn run(self, now: &dyn Fn() -> f64) -> f64 {
        if !self.is_supported() {
            return 0.0;
        }
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the instruction's CPU features are present (checked above:
            // `is_supported` tests the features each function enables; the same below).
            Burst::Vfmadd231psYmm => unsafe { x86::burst_vfmadd231ps_ymm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::Vfmadd231psZmm => unsafe { x86::burst_vfmadd231ps_zmm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::Vdpbf16psZmm => unsafe { x86::burst_vdpbf16ps_zmm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::VpdpbusdZmm => unsafe { x86::burst_vpdpbusd_zmm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::VpdpbusdYmm => unsafe { x86::burst_vpdpbusd_ymm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above (`amx_int8`: the CPU has AMX-INT8 and the OS granted the tiles).
            Burst::TdpbusdAmx => unsafe { x86::burst_tdpbusd(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above (`amx_bf16`: the CPU has AMX-BF16 and the OS granted the tiles).
            Burst::Tdpbf16psAmx => unsafe { x86::burst_tdpbf16ps(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::VpmaddwdYmm => unsafe { x86::burst_vpmaddwd_ymm(now) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Burst::VpmaddubswVpmaddwdYmm => unsafe { x86::burst_vpmaddubsw_vpmaddwd_ymm(now) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Fmla => unsafe { burst_fmla(now) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Bfmmla => unsafe { burst_bfmmla(now, 2_000_000) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Bfdot => unsafe { burst_bfdot(now, 2_000_000) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Usmmla => unsafe { arm::burst_usmmla(now) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Sdot => unsafe { arm::burst_sdot(now) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Burst::Smlal => unsafe { arm::burst_smlal(now) },
            #[allow(unreachable_patterns)]
            _ => 0.0,
        }
    }

    /// The measured peak of `threads` threads bursting at once (wall time), best of 5.
    pub fn peak(self, threads: usize) -> f64 {
        peak_of(threads, move |now| self.run(now))
    }

    /// The instruction the fp32 GEMM of `isa` runs: `vfmadd231ps ymm` on `avx2`, `vfmadd231ps
    /// zmm` on every AVX-512 level, `fmla` on every aarch64 level; none on `reference`.
    pub fn for_fp32(isa: Isa) -> Option<Burst> {
        match isa {
            Isa::Reference => None,
            Isa::Avx2 | Isa::Avx2Vnni => Some(Burst::Vfmadd231psYmm),
            Isa::Avx512 | Isa::Avx512Vnni | Isa::Avx512Bf16 => Some(Burst::Vfmadd231psZmm),
            Isa::Neon | Isa::NeonDot | Isa::NeonI8mm | Isa::NeonBf16 => Some(Burst::Fmla),
        }
    }

    /// The instruction a bf16 path runs its products on:
    ///
    /// * `Avx512Bf16` — `vdpbf16ps zmm`; `Amx` — `tdpbf16ps`;
    /// * `Avx2Widen` / `Avx512Widen` — the FMAs of the widening kernels, `vfmadd231ps` ymm /
    ///   zmm (the bf16 peak of a CPU without AVX512_BF16 is its FMA peak);
    /// * `NeonWiden` — `fmla`; `NeonBfdot` — `bfdot`; `NeonBfmmla` — `bfmmla`;
    /// * the scalar models — none.
    pub fn for_bf16(path: Bf16Path) -> Option<Burst> {
        match path {
            Bf16Path::Reference | Bf16Path::ReferenceArm | Bf16Path::ReferenceAmx => None,
            Bf16Path::Avx2Widen => Some(Burst::Vfmadd231psYmm),
            Bf16Path::Avx512Widen => Some(Burst::Vfmadd231psZmm),
            Bf16Path::Avx512Bf16 => Some(Burst::Vdpbf16psZmm),
            Bf16Path::Amx => Some(Burst::Tdpbf16psAmx),
            Bf16Path::NeonWiden => Some(Burst::Fmla),
            Bf16Path::NeonBfdot => Some(Burst::Bfdot),
            Bf16Path::NeonBfmmla => Some(Burst::Bfmmla),
        }
    }

    /// The instruction an int8 path runs its products on:
    ///
    /// * `Avx512Vnni` — `vpdpbusd zmm`;
    /// * `AvxVnni` — `vpdpbusd ymm` (AVX-VNNI, VEX);
    /// * `Avx2Maddubs` — `vpmaddubsw` + `vpmaddwd` on ymm (7-bit activations);
    /// * `Avx2Widen` — `vpmaddwd` (+ `vpaddd`) on ymm, i16 operands widened from 8 bits;
    /// * `NeonWiden` — `smlal`; `NeonSdot` — `sdot`; `NeonI8mm` — `usmmla`;
    /// * the scalar models (`Reference`, `ReferenceMaddubs`) — none.
    ///
    /// A new [`I8Path`] variant gets its arm here (the match is exhaustive on purpose).
    pub fn for_int8(path: I8Path) -> Option<Burst> {
        match path {
            I8Path::Reference | I8Path::ReferenceMaddubs => None,
            I8Path::Avx2Widen => Some(Burst::VpmaddwdYmm),
            I8Path::Avx2Maddubs => Some(Burst::VpmaddubswVpmaddwdYmm),
            I8Path::AvxVnni => Some(Burst::VpdpbusdYmm),
            I8Path::Avx512Vnni => Some(Burst::VpdpbusdZmm),
            I8Path::Amx => Some(Burst::TdpbusdAmx),
            I8Path::NeonWiden => Some(Burst::Smlal),
            I8Path::NeonSdot => Some(Burst::Sdot),
            I8Path::NeonI8mm => Some(Burst::Usmmla),
        }
    }
}

impl std::fmt::Display for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The burst of the fp32 GEMM the kernels run ([`Burst::for_fp32`] of [`isa()`]).
pub fn fp32_burst() -> Option<Burst> {
    Burst::for_fp32(isa())
}

/// The burst of the bf16 path the kernels run ([`Burst::for_bf16`] of
/// [`Bf16Path::current`]).
pub fn bf16_burst() -> Option<Burst> {
    Burst::for_bf16(Bf16Path::current())
}

/// The burst of the int8 path the kernels run ([`Burst::for_int8`] of [`I8Path::current`]).
pub fn int8_burst() -> Option<Burst> {
    Burst::for_int8(I8Path::current())
}

/// fp32 GFLOP/s of one burst of [`fp32_burst`] on the calling thread, timed with `now`
/// (seconds; wall time or this thread's CPU time); 0 on the reference level and on
/// architectures without a burst.
pub fn fma_burst_gflops(now: &dyn Fn() -> f64) -> f64 {
    fp32_burst().map_or(0.0, |b| b.run(now))
}

/// bf16 GFLOP/s (a bf16 multiply-add = 2 FLOP) of one burst of [`bf16_burst`] on the calling
/// thread: `vdpbf16ps` on the AVX512_BF16 path, `bfmmla` / `bfdot` on aarch64's FEAT_BF16
/// paths, the level's FMA on the widening ones.
pub fn bf16_burst_gflops(now: &dyn Fn() -> f64) -> f64 {
    bf16_burst().map_or(0.0, |b| b.run(now))
}

/// int8 GOP/s (a multiply-add = 2 operations) of one burst of [`int8_burst`], the int8 path's
/// instruction, on the calling thread.
pub fn int8_burst_gops(now: &dyn Fn() -> f64) -> f64 {
    int8_burst().map_or(0.0, |b| b.run(now))
}

/// Measured int8 peak of `threads` threads bursting at once (see [`int8_burst_gops`]), GOP/s.
pub fn int8_peak_gops(threads: usize) -> f64 {
    int8_burst().map_or(0.0, |b| b.peak(threads))
}

/// Measured fp32 FMA peak of `threads` threads bursting at once (wall time), best of 5, in
/// GFLOP/s (see [`fma_burst_gflops`]).
pub fn fma_peak_gflops(threads: usize) -> f64 {
    fp32_burst().map_or(0.0, |b| b.peak(threads))
}

/// Measured bf16 peak of `threads` threads bursting at once (see [`bf16_burst_gflops`]).
pub fn bf16_peak_gflops(threads: usize) -> f64 {
    bf16_burst().map_or(0.0, |b| b.peak(threads))
}

fn peak_of(threads: usize, burst: impl Fn(&dyn Fn() -> f64) -> f64 + Copy + Send) -> f64 {
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

/// The x86-64 bursts, one function per instruction, each running `CHAINS` independent
/// accumulators through `asm!` (not `pure`: never hoisted, merged or dropped).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Chains on ymm: 12 accumulators + at most 3 operands/temporaries fit the 16 registers.
    const YMM_CHAINS: usize = 12;
    /// Chains on zmm: 24 of the 32 registers.
    const ZMM_CHAINS: usize = 24;

    /// Runs `iters` rounds of `step` over `N` accumulators starting at `init`; returns the
    /// rate for `ops` operations per step, in G/s.
    #[inline(always)]
    fn run<V: Copy, const N: usize>(
        now: &dyn Fn() -> f64,
        iters: u64,
        ops: usize,
        init: V,
        mut step: impl FnMut(&mut V),
    ) -> f64 {
        let mut acc = [init; N];
        let t = now();
        for _ in 0..iters {
            for a in acc.iter_mut() {
                step(a);
            }
        }
        let dt = now() - t;
        black_box(acc);
        (iters as f64) * (N * ops) as f64 / dt / 1e9
    }

    /// `vfmadd231ps ymm`: 8 lanes × 2 FLOP.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn burst_vfmadd231ps_ymm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm256_set1_ps(black_box(1e-4));
        run::<_, YMM_CHAINS>(now, 8_000_000, 16, _mm256_set1_ps(1.0), |a| {
            // SAFETY: register-only arithmetic; avx2/fma are enabled here and present.
            unsafe {
                asm!("vfmadd231ps {a}, {x}, {x}", a = inout(ymm_reg) *a, x = in(ymm_reg) x,
                    options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// `vfmadd231ps zmm`: 16 lanes × 2 FLOP.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn burst_vfmadd231ps_zmm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm512_set1_ps(black_box(1e-4));
        run::<_, ZMM_CHAINS>(now, 4_000_000, 32, _mm512_set1_ps(1.0), |a| {
            // SAFETY: register-only arithmetic; avx512f is enabled here and present.
            unsafe {
                asm!("vfmadd231ps {a}, {x}, {x}", a = inout(zmm_reg) *a, x = in(zmm_reg) x,
                    options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// `vdpbf16ps zmm`: 16 lanes × 2 products × 2 FLOP.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX512_BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn burst_vdpbf16ps_zmm(now: &dyn Fn() -> f64) -> f64 {
        // bf16 pairs of 2⁻²⁴, so the sums stay finite.
        let x = _mm512_set1_epi32(black_box(0x3380_3380u32 as i32));
        run::<_, ZMM_CHAINS>(now, 4_000_000, 64, _mm512_set1_ps(1.0), |a| {
            // SAFETY: register-only arithmetic; avx512bf16 is enabled here and present.
            unsafe {
                asm!("vdpbf16ps {a}, {x}, {x}", a = inout(zmm_reg) *a, x = in(zmm_reg) x,
                    options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// `vpdpbusd zmm`: 16 lanes × 4 products × 2 operations.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX512_VNNI.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn burst_vpdpbusd_zmm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm512_set1_epi32(black_box(0x0102_0301));
        run::<_, ZMM_CHAINS>(now, 2_000_000, 128, _mm512_setzero_si512(), |a| {
            // SAFETY: register-only arithmetic; avx512vnni is enabled here and present.
            unsafe {
                asm!("vpdpbusd {a}, {x}, {x}", a = inout(zmm_reg) *a, x = in(zmm_reg) x,
                    options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// An AMX burst function: `$insn` on four C tiles in turn (each instruction depends on the
    /// one four before it), the sources zero tiles; `$k` products per output and instruction,
    /// 2 operations each.
    macro_rules! amx_burst {
        ($(#[$doc:meta])* $fn:ident, $insn:literal, $k:literal) => {
            $(#[$doc])*
            pub(super) unsafe fn $fn(now: &dyn Fn() -> f64) -> f64 {
                let cfg = &crate::gemm::ukr::amx::CONFIG;
                let iters: u64 = 500_000;
                // SAFETY: AMX usable (contract); a valid palette-1 configuration; the tile
                // instructions touch no memory but the configuration's 64 bytes.
                unsafe {
                    asm!("ldtilecfg [{c}]", "tilezero tmm4", "tilezero tmm5", "tilezero tmm6",
                        "tilezero tmm7", c = in(reg) cfg.0.as_ptr(), options(nostack, readonly))
                };
                let t = now();
                for _ in 0..iters {
                    // SAFETY: as above.
                    unsafe {
                        asm!(
                            concat!($insn, " tmm0, tmm4, tmm6"),
                            concat!($insn, " tmm1, tmm4, tmm7"),
                            concat!($insn, " tmm2, tmm5, tmm6"),
                            concat!($insn, " tmm3, tmm5, tmm7"),
                            options(nomem, nostack, preserves_flags)
                        )
                    };
                }
                let dt = now() - t;
                // SAFETY: as above.
                unsafe { asm!("tilerelease", options(nomem, nostack)) };
                (iters * 4 * 16 * 16 * $k * 2) as f64 / dt / 1e9
            }
        };
    }

    amx_burst!(
        /// AMX `tdpbusd`: 16 × 16 outputs × 64 u8·s8 products × 2 operations.
        ///
        /// # Safety
        /// The CPU must support AMX-INT8 and the OS must have granted this process the tile
        /// data (`dispatch::amx_int8`).
        burst_tdpbusd,
        "tdpbusd",
        64
    );
    amx_burst!(
        /// AMX `tdpbf16ps`: 16 × 16 outputs × 32 bf16 products × 2 FLOP.
        ///
        /// # Safety
        /// The CPU must support AMX-BF16 and the OS must have granted this process the tile
        /// data (`dispatch::amx_bf16`).
        burst_tdpbf16ps,
        "tdpbf16ps",
        32
    );

    /// AVX-VNNI `{vex} vpdpbusd ymm`: 8 lanes × 4 products × 2 operations.
    ///
    /// # Safety
    /// The CPU must support AVX2 and AVX-VNNI.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn burst_vpdpbusd_ymm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm256_set1_epi32(black_box(0x0102_0301));
        run::<_, YMM_CHAINS>(now, 4_000_000, 64, _mm256_setzero_si256(), |a| {
            // SAFETY: register-only arithmetic; avxvnni is enabled here and present.
            unsafe {
                asm!("{{vex}} vpdpbusd {a}, {x}, {x}", a = inout(ymm_reg) *a, x = in(ymm_reg) x,
                    options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// `vpmaddwd` + `vpaddd` ymm (the widening int8 kernel's step): 8 lanes × 2 products × 2
    /// operations per pair.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn burst_vpmaddwd_ymm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm256_set1_epi16(black_box(3));
        run::<_, YMM_CHAINS>(now, 4_000_000, 32, _mm256_setzero_si256(), |a| {
            // SAFETY: register-only arithmetic; avx2 is enabled here and present.
            unsafe {
                asm!("vpmaddwd {t}, {x}, {x}", "vpaddd {a}, {a}, {t}", a = inout(ymm_reg) *a,
                    x = in(ymm_reg) x, t = out(ymm_reg) _, options(nomem, nostack, preserves_flags))
            }
        })
    }

    /// `vpmaddubsw` (u8·s8 → i16 pair sums) + `vpmaddwd` by ones (→ i32) + `vpaddd` ymm: 32
    /// products × 2 operations per sequence.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn burst_vpmaddubsw_vpmaddwd_ymm(now: &dyn Fn() -> f64) -> f64 {
        let x = _mm256_set1_epi8(black_box(3));
        let ones = _mm256_set1_epi16(black_box(1));
        run::<_, YMM_CHAINS>(now, 4_000_000, 64, _mm256_setzero_si256(), |a| {
            // SAFETY: register-only arithmetic; avx2 is enabled here and present.
            unsafe {
                asm!("vpmaddubsw {t}, {x}, {x}", "vpmaddwd {t}, {t}, {ones}", "vpaddd {a}, {a}, {t}",
                    a = inout(ymm_reg) *a, x = in(ymm_reg) x, ones = in(ymm_reg) ones,
                    t = out(ymm_reg) _, options(nomem, nostack, preserves_flags))
            }
        })
    }
}

/// The aarch64 burst: 24 independent `fmla` chains of 4 lanes (`vfmaq_f32`), 24 of the 32
/// vector registers, enough to cover the 4-cycle `fmla` latency on the 2–4 vector pipes of
/// current cores.
///
/// # Safety
/// The CPU must support neon (every aarch64 CPU does).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn burst_fmla(now: &dyn Fn() -> f64) -> f64 {
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

/// `iters` rounds of 24 independent `bfdot` chains (by element, as the `NeonBfdot` kernel:
/// each instruction 4 lanes × 2 products = 8 multiply-adds = 16 FLOP), GFLOP/s.
///
/// # Safety
/// The CPU must support FEAT_BF16.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon,bf16")]
unsafe fn burst_bfdot(now: &dyn Fn() -> f64, iters: u64) -> f64 {
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
                    "bfdot {a:v}.4s, {x:v}.8h, {x:v}.2h[1]",
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
    (iters as f64) * (CHAINS * 16) as f64 / dt / 1e9
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
        // SAFETY: as above.
        let gflops = unsafe { super::burst_bfdot(&now, 1000) };
        assert_eq!(gflops, 1000.0 * 24.0 * 16.0 / 1e9);
    }

    /// Each level's and path's peak is the instruction its kernels run, and every burst this
    /// CPU has runs (a positive rate, none where the CPU lacks the instruction).
    #[test]
    fn bursts_follow_the_levels_and_paths() {
        use super::Burst;
        use crate::dispatch::Isa;
        use crate::table::{Bf16Path, I8Path};
        assert_eq!(Burst::for_fp32(Isa::Avx2), Some(Burst::Vfmadd231psYmm));
        assert_eq!(
            Burst::for_fp32(Isa::Avx512Bf16),
            Some(Burst::Vfmadd231psZmm)
        );
        assert_eq!(Burst::for_fp32(Isa::Reference), None);
        assert_eq!(
            Burst::for_bf16(Bf16Path::Avx2Widen),
            Some(Burst::Vfmadd231psYmm)
        );
        assert_eq!(
            Burst::for_bf16(Bf16Path::Avx512Bf16),
            Some(Burst::Vdpbf16psZmm)
        );
        assert_eq!(Burst::for_int8(I8Path::Avx2Widen), Some(Burst::VpmaddwdYmm));
        assert_eq!(
            Burst::for_int8(I8Path::Avx512Vnni),
            Some(Burst::VpdpbusdZmm)
        );
        for isa in Isa::supported() {
            for b in Burst::for_fp32(isa)
                .into_iter()
                .chain(Burst::for_bf16(Bf16Path::for_isa(isa)))
                .chain(Burst::for_int8(I8Path::for_isa(isa)))
            {
                assert!(b.is_supported(), "{isa}: {b} not on this CPU");
            }
        }
        // Under qemu (aarch64 CI) a burst takes seconds: only the mapping there.
        if cfg!(target_arch = "x86_64") {
            for b in Burst::ALL {
                let epoch = std::time::Instant::now();
                let rate = b.run(&|| epoch.elapsed().as_secs_f64());
                assert_eq!(rate > 0.0, b.is_supported(), "{b}: {rate}");
            }
        }
    }
}
