//! The f32 exp every SIMD kernel uses (Cephes `expf`): x = n·ln2 + r with |r| ≤ ½ln2, a degree-6
//! polynomial for eʳ, then scaling by 2ⁿ. Relative error ≤ ~2 ulp over the whole f32 range
//! (tested against f64 `exp` below). Inputs are clamped to [−87.3, 88.3]; softmax only ever
//! feeds it values ≤ 0.

/// ln 2 split in two for an exact-ish range reduction: `C1 + C2 = ln 2`.
pub const LN2_HI: f32 = 0.693_359_4;
/// Low part of ln 2.
pub const LN2_LO: f32 = -2.121_944_4e-4;
/// Polynomial for (eʳ − 1 − r)/r², highest power first.
pub const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];
/// Clamp range.
pub const MIN_X: f32 = -87.3;
/// Clamp range (e^88.3 ≈ 2.1e38: 2ⁿ stays a normal float, n ≤ 127).
pub const MAX_X: f32 = 88.3;

/// Scalar twin of the SIMD exp (same operations, same order).
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(MIN_X, MAX_X);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = P[0];
    for &c in &P[1..] {
        p = p.mul_add(r, c);
    }
    let y = (p * r).mul_add(r, r) + 1.0;
    // 2ⁿ built in the exponent field (n ∈ [−126, 127] after the clamp), as the SIMD versions
    // do: `powi` is a libm call.
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// AVX-512 version.
#[cfg(target_arch = "x86_64")]
pub mod avx512 {
    use super::{LN2_HI, LN2_LO, MAX_X, MIN_X, P};
    use std::arch::x86_64::*;

    /// e^x of 16 lanes.
    ///
    /// # Safety
    /// The CPU must support avx512f (safe to call from code compiled with it).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub fn exp(x: __m512) -> __m512 {
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(MIN_X)),
            _mm512_set1_ps(MAX_X),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(P[0]);
        for &c in &P[1..] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        let y = _mm512_add_ps(
            _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r),
            _mm512_set1_ps(1.0),
        );
        _mm512_scalef_ps(y, n)
    }
}

/// AVX2 + FMA version.
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use super::{LN2_HI, LN2_LO, MAX_X, MIN_X, P};
    use std::arch::x86_64::*;

    /// e^x of 8 lanes.
    ///
    /// # Safety
    /// The CPU must support avx2 and fma (safe to call from code compiled with them).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn exp(x: __m256) -> __m256 {
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(MIN_X)),
            _mm256_set1_ps(MAX_X),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(P[0]);
        for &c in &P[1..] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let y = _mm256_add_ps(
            _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r),
            _mm256_set1_ps(1.0),
        );
        // 2ⁿ built in the exponent field: n ∈ [−126, 127] after the clamp.
        let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        )));
        _mm256_mul_ps(y, pow2)
    }
}

/// aarch64 Advanced SIMD (NEON) version: the same operations in the same order as
/// [`exp_f32`], 4 lanes at a time (`frintn` rounds to nearest even like `round_ties_even`, and
/// `fmla`/`fmls` are fused like `mul_add`), so it equals the scalar twin bit for bit.
#[cfg(target_arch = "aarch64")]
pub mod neon {
    use super::{LN2_HI, LN2_LO, MAX_X, MIN_X, P};
    use std::arch::aarch64::*;

    /// e^x of 4 lanes.
    ///
    /// # Safety
    /// The CPU must support neon (every aarch64 CPU does; safe to call from code compiled with
    /// it).
    #[inline]
    #[target_feature(enable = "neon")]
    pub fn exp(x: float32x4_t) -> float32x4_t {
        let x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(MIN_X)), vdupq_n_f32(MAX_X));
        let n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(std::f32::consts::LOG2_E)));
        // r = x − n·ln2, in two fused steps (vfmsq: a − b·c).
        let r = vfmsq_f32(x, n, vdupq_n_f32(LN2_HI));
        let r = vfmsq_f32(r, n, vdupq_n_f32(LN2_LO));
        let mut p = vdupq_n_f32(P[0]);
        for &c in &P[1..] {
            p = vfmaq_f32(vdupq_n_f32(c), p, r);
        }
        let y = vaddq_f32(vfmaq_f32(r, vmulq_f32(p, r), r), vdupq_n_f32(1.0));
        // 2ⁿ built in the exponent field: n ∈ [−126, 127] after the clamp (and integral, so
        // the conversion is exact).
        let pow2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(
            vcvtq_s32_f32(n),
            vdupq_n_s32(127),
        )));
        vmulq_f32(y, pow2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulp_err(got: f32, want: f64) -> f64 {
        let w = want as f32;
        ((got as f64 - want) / (w.abs() * f32::EPSILON) as f64).abs()
    }

    #[test]
    fn exp_f32_accuracy() {
        let mut worst = 0.0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max(ulp_err(exp_f32(x), (x as f64).exp()));
        }
        assert!(worst <= 3.0, "exp_f32: {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_exp_accuracy() {
        use std::arch::x86_64::*;
        if !crate::dispatch::Isa::Avx512.is_supported() {
            return;
        }
        let xs: Vec<f32> = (-87_000..88_000)
            .map(|i| i as f32 * 1e-3 + 3.3e-4)
            .collect();
        let mut worst = 0.0f64;
        for ch in xs.chunks_exact(16) {
            let mut out = [0.0f32; 16];
            // SAFETY: avx512f is present (checked above); `ch` and `out` hold 16 f32 each.
            unsafe {
                _mm512_storeu_ps(out.as_mut_ptr(), avx512::exp(_mm512_loadu_ps(ch.as_ptr())))
            };
            for (&x, &y) in ch.iter().zip(&out) {
                worst = worst.max(ulp_err(y, (x as f64).exp()));
            }
        }
        assert!(worst <= 3.0, "avx512 exp: {worst} ulp");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_exp_avx2_accuracy() {
        use std::arch::x86_64::*;
        if !crate::dispatch::Isa::Avx2.is_supported() {
            return;
        }
        let xs: Vec<f32> = (-87_000..88_000)
            .map(|i| i as f32 * 1e-3 + 3.3e-4)
            .collect();
        let mut worst = 0.0f64;
        for ch in xs.chunks_exact(8) {
            let mut out = [0.0f32; 8];
            // SAFETY: avx2+fma are present (checked above); `ch` and `out` hold 8 f32 each.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), avx2::exp(_mm256_loadu_ps(ch.as_ptr()))) };
            for (&x, &y) in ch.iter().zip(&out) {
                worst = worst.max(ulp_err(y, (x as f64).exp()));
            }
        }
        assert!(worst <= 3.0, "avx2 exp: {worst} ulp");
    }

    /// The NEON exp equals its scalar twin bit for bit, and so is as accurate (≤ 3 ulp).
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn simd_exp_neon_matches_scalar_twin() {
        use std::arch::aarch64::*;
        if !crate::dispatch::Isa::Neon.is_supported() {
            return;
        }
        let xs: Vec<f32> = (-87_000..88_000)
            .map(|i| i as f32 * 1e-3 + 3.3e-4)
            .chain([-1000.0, -87.3, -87.0, 0.0, 88.3, 1000.0])
            .collect();
        let mut worst = 0.0f64;
        for ch in xs.chunks(4) {
            let mut buf = [0.0f32; 4];
            buf[..ch.len()].copy_from_slice(ch);
            let mut out = [0.0f32; 4];
            // SAFETY: neon is present (checked above); `buf` and `out` hold 4 f32 each.
            unsafe { vst1q_f32(out.as_mut_ptr(), neon::exp(vld1q_f32(buf.as_ptr()))) };
            for (&x, &y) in ch.iter().zip(&out) {
                assert_eq!(y.to_bits(), exp_f32(x).to_bits(), "neon exp({x}) = {y}");
                if (-87.0..88.0).contains(&x) {
                    worst = worst.max(ulp_err(y, (x as f64).exp()));
                }
            }
        }
        assert!(worst <= 3.0, "neon exp: {worst} ulp");
    }
}
