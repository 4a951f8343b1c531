//! The f32 erf every SIMD kernel uses: one rational approximation, written once per ISA.
//!
//! `erf(x) ≈ x·P(x²)/Q(x²)` on x clamped to [−4, 4] (erf(4) = 1 − 1.5e-8), with P of degree 6
//! and Q of degree 4 in x² — the approximation Eigen and XLA use for f32. 12 FMAs and one
//! division, no exp, no branches. Tested against the f64 [`super::erf()`] over a dense sweep:
//! |error| < 1e-6 (see the tests below and `gemm` epilogue tests).

/// Numerator coefficients, highest power of x² first.
pub const ALPHA: [f32; 7] = [
    -2.726_142_3e-10,
    2.770_681_4e-8,
    -2.101_024e-6,
    -5.692_506_4e-5,
    -7.349_906_3e-4,
    -2.954_6e-3,
    -1.609_603_3e-2,
];
/// Denominator coefficients, highest power of x² first.
pub const BETA: [f32; 5] = [
    -1.456_607_2e-5,
    -2.133_740_6e-4,
    -1.682_827e-3,
    -7.373_329e-3,
    -1.426_474e-2,
];
/// |x| beyond which erf(x) is ±1 in f32.
pub const CLAMP: f32 = 4.0;

/// Scalar twin of the SIMD erf (same operations, same order, fused multiply-adds).
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = ALPHA[0];
    for &c in &ALPHA[1..] {
        p = p.mul_add(x2, c);
    }
    let mut q = BETA[0];
    for &c in &BETA[1..] {
        q = q.mul_add(x2, c);
    }
    x * p / q
}

/// Scalar twin of the SIMD GELU: x·½·(1 + erf(x/√2)).
pub fn gelu_f32(x: f32) -> f32 {
    let h = 0.5 * x;
    h.mul_add(erf_f32(x * std::f32::consts::FRAC_1_SQRT_2), h)
}

/// AVX-512 versions.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use super::{ALPHA, BETA, CLAMP};
    use std::arch::x86_64::*;

    /// erf of 16 lanes.
    ///
    /// # Safety
    /// The CPU must support avx512f (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn erf(x: __m512) -> __m512 {
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(-CLAMP)),
            _mm512_set1_ps(CLAMP),
        );
        let x2 = _mm512_mul_ps(x, x);
        let mut p = _mm512_set1_ps(ALPHA[0]);
        for &c in &ALPHA[1..] {
            p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(c));
        }
        let mut q = _mm512_set1_ps(BETA[0]);
        for &c in &BETA[1..] {
            q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(c));
        }
        _mm512_div_ps(_mm512_mul_ps(x, p), q)
    }

    /// Exact (erf) GELU of 16 lanes.
    ///
    /// # Safety
    /// The CPU must support avx512f (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn gelu(x: __m512) -> __m512 {
        let h = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
        let e = erf(_mm512_mul_ps(
            x,
            _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        ));
        _mm512_fmadd_ps(h, e, h)
    }
}

/// AVX2 + FMA versions.
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use super::{ALPHA, BETA, CLAMP};
    use std::arch::x86_64::*;

    /// erf of 8 lanes.
    ///
    /// # Safety
    /// The CPU must support avx2 and fma (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn erf(x: __m256) -> __m256 {
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(-CLAMP)),
            _mm256_set1_ps(CLAMP),
        );
        let x2 = _mm256_mul_ps(x, x);
        let mut p = _mm256_set1_ps(ALPHA[0]);
        for &c in &ALPHA[1..] {
            p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(c));
        }
        let mut q = _mm256_set1_ps(BETA[0]);
        for &c in &BETA[1..] {
            q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(c));
        }
        _mm256_div_ps(_mm256_mul_ps(x, p), q)
    }

    /// Exact (erf) GELU of 8 lanes.
    ///
    /// # Safety
    /// The CPU must support avx2 and fma (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn gelu(x: __m256) -> __m256 {
        let h = _mm256_mul_ps(x, _mm256_set1_ps(0.5));
        let e = erf(_mm256_mul_ps(
            x,
            _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2),
        ));
        _mm256_fmadd_ps(h, e, h)
    }
}

/// aarch64 Advanced SIMD (NEON) versions: the same operations in the same order as
/// [`erf_f32`] / [`gelu_f32`], 4 lanes at a time (`fmla` is fused like `mul_add`, `fdiv` is
/// IEEE), so they equal the scalar twins bit for bit.
#[cfg(target_arch = "aarch64")]
pub mod neon {
    use super::{ALPHA, BETA, CLAMP};
    use std::arch::aarch64::*;

    /// erf of 4 lanes.
    ///
    /// # Safety
    /// The CPU must support neon (every aarch64 CPU does; safe to call from code compiled with
    /// it).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn erf(x: float32x4_t) -> float32x4_t {
        let x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-CLAMP)), vdupq_n_f32(CLAMP));
        let x2 = vmulq_f32(x, x);
        // vfmaq_f32(a, b, c) = a + b·c, fused.
        let mut p = vdupq_n_f32(ALPHA[0]);
        for &c in &ALPHA[1..] {
            p = vfmaq_f32(vdupq_n_f32(c), p, x2);
        }
        let mut q = vdupq_n_f32(BETA[0]);
        for &c in &BETA[1..] {
            q = vfmaq_f32(vdupq_n_f32(c), q, x2);
        }
        vdivq_f32(vmulq_f32(x, p), q)
    }

    /// Exact (erf) GELU of 4 lanes.
    ///
    /// # Safety
    /// The CPU must support neon (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn gelu(x: float32x4_t) -> float32x4_t {
        let h = vmulq_f32(x, vdupq_n_f32(0.5));
        let e = erf(vmulq_f32(x, vdupq_n_f32(std::f32::consts::FRAC_1_SQRT_2)));
        vfmaq_f32(h, h, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense sweep over [-6, 6] plus the clamp point: |erf_f32 − erf| ≤ 1e-6.
    #[test]
    fn erf_f32_matches_scalar_erf() {
        let mut worst = 0.0f32;
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            let d = (erf_f32(x) - crate::math::erf(x)).abs();
            worst = worst.max(d);
        }
        assert!(worst <= 1e-6, "max |erf_f32 - erf| = {worst}");
        assert_eq!(erf_f32(0.0), 0.0);
        assert_eq!(erf_f32(100.0), erf_f32(4.0));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_erf_matches_scalar_twin() {
        use std::arch::x86_64::*;
        let xs: Vec<f32> = (-200_000..200_000).map(|i| i as f32 * 3e-5).collect();
        if crate::dispatch::Isa::Avx512.is_supported() {
            for ch in xs.chunks_exact(16) {
                let mut out = [0.0f32; 16];
                // SAFETY: avx512f is present (checked above); `ch` and `out` hold 16 f32 each.
                unsafe {
                    let v = avx512::erf(_mm512_loadu_ps(ch.as_ptr()));
                    _mm512_storeu_ps(out.as_mut_ptr(), v);
                }
                for (&x, &y) in ch.iter().zip(&out) {
                    assert!(
                        (y - crate::math::erf(x)).abs() <= 1e-6,
                        "avx512 erf({x}) = {y}"
                    );
                }
            }
        }
        if crate::dispatch::Isa::Avx2.is_supported() {
            for ch in xs.chunks_exact(8) {
                let mut out = [0.0f32; 8];
                // SAFETY: avx2+fma are present (checked above); `ch` and `out` hold 8 f32 each.
                unsafe {
                    let v = avx2::erf(_mm256_loadu_ps(ch.as_ptr()));
                    _mm256_storeu_ps(out.as_mut_ptr(), v);
                }
                for (&x, &y) in ch.iter().zip(&out) {
                    assert!(
                        (y - crate::math::erf(x)).abs() <= 1e-6,
                        "avx2 erf({x}) = {y}"
                    );
                }
            }
        }
    }

    /// The NEON erf and GELU equal their scalar twins bit for bit, and the erf is within 1e-6
    /// of the f64 one over the x86 tests' sweep.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn simd_erf_neon_matches_scalar_twin() {
        use std::arch::aarch64::*;
        if !crate::dispatch::Isa::Neon.is_supported() {
            return;
        }
        let xs: Vec<f32> = (-200_000..200_000)
            .map(|i| i as f32 * 3e-5)
            .chain([-100.0, -4.0, 4.0, 100.0])
            .collect();
        for ch in xs.chunks_exact(4) {
            let (mut e, mut g) = ([0.0f32; 4], [0.0f32; 4]);
            // SAFETY: neon is present (checked above); `ch`, `e` and `g` hold 4 f32 each.
            unsafe {
                let v = vld1q_f32(ch.as_ptr());
                vst1q_f32(e.as_mut_ptr(), neon::erf(v));
                vst1q_f32(g.as_mut_ptr(), neon::gelu(v));
            }
            for ((&x, &y), &z) in ch.iter().zip(&e).zip(&g) {
                assert_eq!(y.to_bits(), erf_f32(x).to_bits(), "neon erf({x}) = {y}");
                assert_eq!(z.to_bits(), gelu_f32(x).to_bits(), "neon gelu({x}) = {z}");
                assert!(
                    (y - crate::math::erf(x)).abs() <= 1e-6,
                    "neon erf({x}) = {y}"
                );
            }
        }
    }
}
