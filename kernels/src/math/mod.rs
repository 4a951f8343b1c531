//! Math shared by every kernel: erf and the exact GELU.
//!
//! * [`erf()`] / [`gelu_erf()`]: the scalar definitions (evaluated in f64), used by the reference
//!   kernels and as test oracles.
//! * [`erf`](mod@erf) module: the single f32 rational approximation that every SIMD kernel
//!   evaluates (AVX-512, AVX2, NEON and a scalar twin), accurate to < 1e-6 absolute.
//! * [`exp`](mod@exp) module: the f32 exp of the SIMD softmax (Cephes expf, ≤ 3 ulp).

pub mod erf;
pub mod exp;

/// Error function, Abramowitz & Stegun 7.1.26 evaluated in f64 (|error| ≤ 1.5e-7).
pub fn erf(x: f32) -> f32 {
    let x = x as f64;
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let ax = x.abs();
    const P: f64 = 0.327_591_1;
    const A: [f64; 5] = [
        0.254_829_592,
        -0.284_496_736,
        1.421_413_741,
        -1.453_152_027,
        1.061_405_429,
    ];
    let t = 1.0 / (1.0 + P * ax);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    (sign * (1.0 - poly * (-ax * ax).exp())) as f32
}

/// GELU in Hugging Face's `"gelu"` form: x·½·(1 + erf(x/√2)).
pub fn gelu_erf(x: f32) -> f32 {
    let xd = x as f64;
    (xd * 0.5 * (1.0 + erf((xd * std::f64::consts::FRAC_1_SQRT_2) as f32) as f64)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        // Values from a 30-digit table (mpmath).
        let cases = [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.0, -0.842_700_8),
            (5.0, 1.0),
        ];
        for (x, want) in cases {
            assert!(
                (erf(x) - want).abs() <= 2e-7,
                "erf({x}) = {} want {want}",
                erf(x)
            );
        }
    }

    #[test]
    fn gelu_known_values() {
        assert_eq!(gelu_erf(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_erf(-1.0) + 0.158_655_3).abs() < 1e-6);
    }
}
