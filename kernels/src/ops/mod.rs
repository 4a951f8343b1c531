//! Row-wise operations of a transformer layer: layer norm (with fused residual add), GELU and
//! masked, scaled softmax.
//!
//! One set per level: AVX-512 kernels in `avx512`, AVX2+FMA in `avx2` (x86-64), NEON in `neon`
//! (aarch64), the scalar [`reference`](mod@reference); the kernel table (`table.rs`) says which level runs which,
//! as an `Ops`, and the entry points (`api.rs`: `layer_norm`, …, and the methods of
//! [`crate::Kernels`]) call it. The reference is the test oracle: the SIMD versions
//! agree with it to a few ulp (different summation order, f32 polynomial exp/erf), not bit for
//! bit.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod reference;

use crate::dispatch::Isa;

/// LayerNorm of one row: `(row, γ, β, ε)`.
pub(crate) type RowNorm = unsafe fn(&mut [f32], &[f32], &[f32], f32);
/// LayerNorm of one row plus a residual row: `(row, residual, γ, β, ε)`.
pub(crate) type RowAddNorm = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], f32);

/// The row operations of one level (an entry of the kernel table). The function pointers are
/// `unsafe`: the SIMD ones may only run on a CPU that has `isa`; the methods check that and the
/// slices' lengths, and are what everything else calls.
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    /// The level whose instructions the functions use.
    pub isa: Isa,
    /// LayerNorm of one row: `(row, γ, β, ε)`.
    pub layer_norm_row: RowNorm,
    /// LayerNorm of one row plus its residual: `(row, residual, γ, β, ε)`.
    pub add_layer_norm_row: RowAddNorm,
    /// Exact GELU in place.
    pub gelu: unsafe fn(&mut [f32]),
    /// Masked, scaled softmax of one row.
    pub masked_softmax: unsafe fn(&mut [f32], f32, &[bool]),
    /// `exp(x − max)` of one row, returning the sum.
    pub softmax_unnormalized: unsafe fn(&mut [f32]) -> f32,
}

impl Ops {
    /// LayerNorm of each row of `x` (rows of length `gamma.len()`), in place:
    /// `x = (x − mean) / sqrt(var + eps) · gamma + beta`, statistics accumulated in f64.
    ///
    /// # Panics
    /// If `x.len()` is not a multiple of the row length, `beta.len() != gamma.len()`, or the
    /// CPU lacks the level.
    pub fn layer_norm(&self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = rows_of(x.len(), gamma, beta);
        assert!(
            self.isa.is_supported(),
            "layer_norm: CPU lacks {}",
            self.isa
        );
        for row in x.chunks_exact_mut(n) {
            // SAFETY: the CPU has the level (asserted); row, gamma and beta have length n.
            unsafe { (self.layer_norm_row)(row, gamma, beta, eps) };
        }
    }

    /// `x = LayerNorm(x + residual)` row by row; see [`Ops::layer_norm`].
    ///
    /// # Panics
    /// As [`Ops::layer_norm`], and if `residual.len() != x.len()`.
    pub fn add_layer_norm(
        &self,
        x: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        assert_eq!(x.len(), residual.len(), "add_layer_norm: residual length");
        let n = rows_of(x.len(), gamma, beta);
        assert!(
            self.isa.is_supported(),
            "add_layer_norm: CPU lacks {}",
            self.isa
        );
        for (row, res) in x.chunks_exact_mut(n).zip(residual.chunks_exact(n)) {
            // SAFETY: the CPU has the level (asserted); every slice has length n.
            unsafe { (self.add_layer_norm_row)(row, res, gamma, beta, eps) };
        }
    }

    /// Exact (erf) GELU in place.
    ///
    /// # Panics
    /// If the CPU lacks the level.
    pub fn gelu(&self, x: &mut [f32]) {
        assert!(self.isa.is_supported(), "gelu: CPU lacks {}", self.isa);
        // SAFETY: the CPU has the level (asserted).
        unsafe { (self.gelu)(x) }
    }

    /// Softmax of `row · scale` over the positions where `keep` is true, in place; masked
    /// positions become exactly 0. If nothing is kept, every position gets 1/len (what an
    /// additive mask of f32::MIN gives in PyTorch).
    ///
    /// # Panics
    /// If `keep.len() != row.len()`, or the CPU lacks the level.
    pub fn masked_softmax(&self, row: &mut [f32], scale: f32, keep: &[bool]) {
        assert_eq!(row.len(), keep.len(), "masked_softmax: mask length");
        assert!(
            self.isa.is_supported(),
            "masked_softmax: CPU lacks {}",
            self.isa
        );
        // SAFETY: the CPU has the level (asserted); row and keep have the same length.
        unsafe { (self.masked_softmax)(row, scale, keep) }
    }

    /// `row[j] = exp(row[j] − max(row))`, returning Σ row: a softmax whose division by the sum
    /// is left to the caller (attention divides the d-wide context rows instead of len-wide
    /// probability rows). An empty row returns 0.
    ///
    /// # Panics
    /// If the CPU lacks the level.
    pub fn softmax_unnormalized(&self, row: &mut [f32]) -> f32 {
        assert!(
            self.isa.is_supported(),
            "softmax_unnormalized: CPU lacks {}",
            self.isa
        );
        // SAFETY: the CPU has the level (asserted).
        unsafe { (self.softmax_unnormalized)(row) }
    }
}

/// The row length of a LayerNorm over `len` elements, checked: `gamma.len()`, equal to
/// `beta.len()`, non-zero and dividing `len`.
fn rows_of(len: usize, gamma: &[f32], beta: &[f32]) -> usize {
    let n = gamma.len();
    assert_eq!(beta.len(), n, "layer_norm: gamma and beta differ in length");
    assert!(
        n > 0 && len.is_multiple_of(n),
        "layer_norm: x is not whole rows"
    );
    n
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic values uniform in [−scale, scale) (xorshift), shared by the crate's tests.
    pub(crate) fn rng_vec(seed: u64, n: usize, scale: f32) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    const LENS: &[usize] = &[1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 383, 384, 1024];

    #[test]
    fn layer_norm_every_isa_matches_reference() {
        crate::dispatch::report_skipped_once();
        for isa in Isa::supported() {
            for &n in LENS {
                let rows = 3;
                let x = rng_vec(n as u64, rows * n, 4.0);
                let x: Vec<f32> = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v + (i % 5) as f32 * 100.0)
                    .collect();
                let res = rng_vec(7 + n as u64, rows * n, 2.0);
                let g = rng_vec(11, n, 1.0);
                let b = rng_vec(13, n, 1.0);
                let (mut want, mut got) = (x.clone(), x.clone());
                reference::layer_norm(&mut want, &g, &b, 1e-12);
                crate::Kernels::of(isa).layer_norm(&mut got, &g, &b, 1e-12);
                for (i, (a, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{isa} n={n} [{i}]: {a} vs {w}"
                    );
                }
                let (mut want, mut got) = (x.clone(), x.clone());
                reference::add_layer_norm(&mut want, &res, &g, &b, 1e-5);
                crate::Kernels::of(isa).add_layer_norm(&mut got, &res, &g, &b, 1e-5);
                for (i, (a, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - w).abs() <= 1e-5 * (1.0 + w.abs()),
                        "{isa} add n={n} [{i}]: {a} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn softmax_every_isa_matches_reference() {
        crate::dispatch::report_skipped_once();
        for isa in Isa::supported() {
            for &n in LENS {
                for pattern in 0..4 {
                    let x = rng_vec(n as u64 * 3 + pattern, n, 30.0);
                    let keep: Vec<bool> = (0..n)
                        .map(|i| match pattern {
                            0 => true,
                            1 => i < n.div_ceil(2),
                            2 => i % 3 != 1,
                            _ => false,
                        })
                        .collect();
                    let (mut want, mut got) = (x.clone(), x.clone());
                    reference::masked_softmax(&mut want, 0.125, &keep);
                    crate::Kernels::of(isa).masked_softmax(&mut got, 0.125, &keep);
                    for (i, (a, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (a - w).abs() <= 1e-6 + 2e-6 * w.abs(),
                            "{isa} n={n} p={pattern} [{i}]: {a} vs {w}"
                        );
                        if !keep[i] && pattern != 3 {
                            assert_eq!(*a, 0.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn softmax_unnormalized_every_isa_matches_reference() {
        crate::dispatch::report_skipped_once();
        for isa in Isa::supported() {
            for &n in LENS {
                let x = rng_vec(n as u64 * 5 + 1, n, 30.0);
                let (mut want, mut got) = (x.clone(), x.clone());
                let ws = reference::softmax_unnormalized(&mut want);
                let gs = crate::Kernels::of(isa).softmax_unnormalized(&mut got);
                // exp of the same shifted argument: a few ulp apart; the sum adds n of them
                // in another order.
                assert!(
                    (gs - ws).abs() <= 1e-6 * n as f32 * ws,
                    "{isa} n={n}: {gs} vs {ws}"
                );
                for (i, (a, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (a - w).abs() <= 4e-7 * w.abs() + 1e-30,
                        "{isa} n={n} [{i}]: {a} vs {w}"
                    );
                }
                assert!(got.contains(&1.0), "{isa} n={n}: the max maps to 1");
            }
            assert_eq!(crate::Kernels::of(isa).softmax_unnormalized(&mut []), 0.0);
        }
    }

    #[test]
    fn gelu_every_isa_matches_reference() {
        crate::dispatch::report_skipped_once();
        for isa in Isa::supported() {
            for &n in LENS {
                let x = rng_vec(n as u64 + 99, n, 6.0);
                let (mut want, mut got) = (x.clone(), x.clone());
                reference::gelu(&mut want);
                crate::Kernels::of(isa).gelu(&mut got);
                for (a, w) in got.iter().zip(&want) {
                    assert!(
                        (a - w).abs() <= 2e-6 * (1.0 + w.abs()),
                        "{isa} n={n}: {a} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn layer_norm_normalises() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 2.0];
        crate::layer_norm(&mut x, &[1.0; 4], &[0.0; 4], 1e-12);
        for row in x.chunks(4) {
            let mean: f32 = row.iter().sum::<f32>() / 4.0;
            let var: f32 = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{row:?}");
        }
    }

    #[test]
    fn softmax_masks_and_sums_to_one() {
        let mut r = vec![1.0, 5.0, 2.0, 100.0];
        crate::masked_softmax(&mut r, 0.5, &[true, true, true, false]);
        assert_eq!(r[3], 0.0);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let e = [0.5f32.exp(), 2.5f32.exp(), 1.0f32.exp()];
        let s: f32 = e.iter().sum();
        assert!((r[1] - e[1] / s).abs() < 1e-6);
    }
}
