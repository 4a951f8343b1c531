//! The machine's measured fp32 FMA peak: the denominator of every "% of peak" this project
//! quotes (`bertqa bench`, `examples/gemm_table`).
//!
//! One burst runs 24 independent FMA chains in registers (no memory traffic) on the widest ISA
//! the CPU has, long enough (~0.1 s) to reach the sustained clock.

use crate::dispatch::Isa;
use std::time::Instant;

/// fp32 GFLOP/s of one burst on the calling thread, timed with `now` (seconds; wall time or this
/// thread's CPU time). 0 on CPUs without AVX2+FMA.
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
    let _ = now;
    0.0
}

/// Measured peak of `threads` threads bursting at once (wall time), best of 5, in GFLOP/s.
pub fn fma_peak_gflops(threads: usize) -> f64 {
    let epoch = Instant::now();
    let wall = move || epoch.elapsed().as_secs_f64();
    (0..5)
        .map(|_| {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads.max(1))
                    .map(|_| s.spawn(move || fma_burst_gflops(&wall)))
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
