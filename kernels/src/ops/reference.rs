//! Scalar reference versions of the row-wise ops: the fallback and the test oracle. Semantics are
//! documented on the dispatching functions in [`super`].

use crate::math::gelu_erf;

/// LayerNorm of each row of `x` (rows of length `gamma.len()`), in place:
/// `x = (x − mean) / sqrt(var + eps) · gamma + beta`, statistics accumulated in f64.
///
/// # Panics
/// If `x.len()` is not a multiple of the row length or `beta.len() != gamma.len()`.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = gamma.len();
    assert_eq!(beta.len(), n, "layer_norm: gamma and beta differ in length");
    assert!(
        n > 0 && x.len().is_multiple_of(n),
        "layer_norm: x is not whole rows"
    );
    for row in x.chunks_exact_mut(n) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = ((*v as f64 - mean) * inv) as f32 * g + b;
        }
    }
}

/// `x = LayerNorm(x + residual)` row by row; see [`layer_norm`].
///
/// # Panics
/// As [`layer_norm`], and if `residual.len() != x.len()`.
pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    assert_eq!(x.len(), residual.len(), "add_layer_norm: residual length");
    for (v, &r) in x.iter_mut().zip(residual) {
        *v += r;
    }
    layer_norm(x, gamma, beta, eps);
}

/// Exact (erf) GELU in place.
pub fn gelu(x: &mut [f32]) {
    for v in x {
        *v = gelu_erf(*v);
    }
}

/// Softmax of `row · scale` over the positions where `keep` is true, in place; masked positions
/// become exactly 0. If nothing is kept, every position gets 1/len (what an additive mask of
/// f32::MIN gives in PyTorch).
///
/// # Panics
/// If `keep.len() != row.len()`.
pub fn masked_softmax(row: &mut [f32], scale: f32, keep: &[bool]) {
    assert_eq!(row.len(), keep.len(), "masked_softmax: mask length");
    if row.is_empty() {
        return;
    }
    if !keep.iter().any(|&k| k) {
        let u = 1.0 / row.len() as f32;
        row.iter_mut().for_each(|v| *v = u);
        return;
    }
    let mut max = f32::NEG_INFINITY;
    for (&v, &k) in row.iter().zip(keep) {
        if k {
            max = max.max(v * scale);
        }
    }
    let mut sum = 0.0f32;
    for (v, &k) in row.iter_mut().zip(keep) {
        *v = if k { (*v * scale - max).exp() } else { 0.0 };
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// `row[j] = exp(row[j] − max(row))`; returns Σ row — a softmax without its normalisation, which
/// the caller folds into a later, smaller step (attention scales the context rows instead).
/// An empty row returns 0.
pub fn softmax_unnormalized(row: &mut [f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    sum
}
