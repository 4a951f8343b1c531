//! AVX-512F versions of the row-wise ops (`layer_norm_avx512`, `masked_softmax_avx512`,
//! `gelu_avx512`). Same semantics as [`super::reference`]: layer-norm statistics in f64 (8 lanes
//! of f64 per step), softmax with the shared f32 exp ([`crate::math::exp`](mod@crate::math::exp)), GELU with the shared
//! erf ([`crate::math::erf`](mod@crate::math::erf)). Tails shorter than a vector are handled with masks (GELU) or
//! scalar loops (layer norm, softmax) — nothing past a slice is touched.

use std::arch::x86_64::*;

use crate::math::erf::avx512::gelu as gelu_v;
use crate::math::exp::{avx512::exp as exp_v, exp_f32};

/// Σ x and then Σ (x − mean)², both in f64; returns (mean, 1/sqrt(var + eps)).
#[inline]
#[target_feature(enable = "avx512f")]
fn stats(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len();
    let p = row.as_ptr();
    let full = n / 16 * 16;
    let (mut s0, mut s1) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ n: both 8-float loads are inside `row`.
        let (a, b) = unsafe { (_mm256_loadu_ps(p.add(i)), _mm256_loadu_ps(p.add(i + 8))) };
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(a));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(b));
        i += 16;
    }
    let mut sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for &v in &row[full..] {
        sum += v as f64;
    }
    let mean = sum / n as f64;
    let mv = _mm512_set1_pd(mean);
    let (mut q0, mut q1) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut i = 0;
    while i < full {
        // SAFETY: as above.
        let (a, b) = unsafe { (_mm256_loadu_ps(p.add(i)), _mm256_loadu_ps(p.add(i + 8))) };
        let (da, db) = (
            _mm512_sub_pd(_mm512_cvtps_pd(a), mv),
            _mm512_sub_pd(_mm512_cvtps_pd(b), mv),
        );
        q0 = _mm512_fmadd_pd(da, da, q0);
        q1 = _mm512_fmadd_pd(db, db, q1);
        i += 16;
    }
    let mut sq = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1));
    for &v in &row[full..] {
        sq += (v as f64 - mean).powi(2);
    }
    let var = sq / n as f64;
    (mean, 1.0 / (var + eps as f64).sqrt())
}

/// `row = (row − mean)·inv · gamma + beta`, the normalisation in f64, the affine part in f32
/// (multiply, then add — as the reference).
#[inline]
#[target_feature(enable = "avx512f")]
fn normalise(row: &mut [f32], gamma: &[f32], beta: &[f32], mean: f64, inv: f64) {
    let n = row.len();
    assert!(gamma.len() == n && beta.len() == n);
    let full = n / 8 * 8;
    let (mv, iv) = (_mm512_set1_pd(mean), _mm512_set1_pd(inv));
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n = len of row, gamma and beta.
        unsafe {
            let x = _mm512_cvtps_pd(_mm256_loadu_ps(p.add(i)));
            let y = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(x, mv), iv));
            let out = _mm256_add_ps(
                _mm256_mul_ps(y, _mm256_loadu_ps(gamma.as_ptr().add(i))),
                _mm256_loadu_ps(beta.as_ptr().add(i)),
            );
            _mm256_storeu_ps(p.add(i), out);
        }
        i += 8;
    }
    for j in full..n {
        row[j] = ((row[j] as f64 - mean) * inv) as f32 * gamma[j] + beta[j];
    }
}

/// LayerNorm of one row.
///
/// # Safety
/// The CPU supports avx512f. (Lengths are checked: `gamma`, `beta` must match `row`.)
#[target_feature(enable = "avx512f")]
pub unsafe fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let (mean, inv) = stats(row, eps);
    normalise(row, gamma, beta, mean, inv);
}

/// `row = LayerNorm(row + residual)`.
///
/// # Safety
/// The CPU supports avx512f. (Lengths are checked.)
#[target_feature(enable = "avx512f")]
pub unsafe fn add_layer_norm_row(
    row: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    assert_eq!(row.len(), residual.len());
    let n = row.len();
    let full = n / 16 * 16;
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ n = len of row and residual.
        unsafe {
            let v = _mm512_add_ps(
                _mm512_loadu_ps(p.add(i)),
                _mm512_loadu_ps(residual.as_ptr().add(i)),
            );
            _mm512_storeu_ps(p.add(i), v);
        }
        i += 16;
    }
    for j in full..n {
        row[j] += residual[j];
    }
    let (mean, inv) = stats(row, eps);
    normalise(row, gamma, beta, mean, inv);
}

/// Exact (erf) GELU in place.
///
/// # Safety
/// The CPU supports avx512f.
#[target_feature(enable = "avx512f")]
pub unsafe fn gelu(x: &mut [f32]) {
    let n = x.len();
    let p = x.as_mut_ptr();
    let mut i = 0;
    while i < n {
        let left = n - i;
        let k: __mmask16 = if left >= 16 {
            0xFFFF
        } else {
            ((1u32 << left) - 1) as __mmask16
        };
        // SAFETY: the mask limits the load and store to lanes i..min(i+16, n), inside `x`.
        unsafe {
            let v = _mm512_maskz_loadu_ps(k, p.add(i));
            _mm512_mask_storeu_ps(p.add(i), k, gelu_v(v));
        }
        i += 16;
    }
}

/// The 16 `keep` flags at `keep[i..i + 16]` as a lane mask.
///
/// # Safety
/// AVX-512F; `i + 16 ≤ keep.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn keep_mask(keep: &[bool], i: usize) -> __mmask16 {
    debug_assert!(i + 16 <= keep.len());
    // SAFETY: 16 bytes at keep[i..] exist (contract); a bool is one byte, 0 or 1.
    let bytes = unsafe { _mm_loadu_si128(keep.as_ptr().add(i).cast::<__m128i>()) };
    let w = _mm512_cvtepu8_epi32(bytes);
    _mm512_test_epi32_mask(w, w)
}

/// Masked, scaled softmax of one row (see [`masked_softmax`](crate::masked_softmax)).
///
/// # Safety
/// The CPU supports avx512f. (Lengths are checked.)
#[target_feature(enable = "avx512f")]
pub unsafe fn masked_softmax(row: &mut [f32], scale: f32, keep: &[bool]) {
    assert_eq!(row.len(), keep.len());
    let n = row.len();
    if !keep.iter().any(|&k| k) {
        super::reference::masked_softmax(row, scale, keep);
        return;
    }
    let full = n / 16 * 16;
    let p = row.as_mut_ptr();
    let sv = _mm512_set1_ps(scale);
    let mut vmax = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            vmax = _mm512_mask_max_ps(vmax, k, vmax, _mm512_mul_ps(_mm512_loadu_ps(p.add(i)), sv));
        }
        i += 16;
    }
    let mut max = _mm512_reduce_max_ps(vmax);
    for j in full..n {
        if keep[j] {
            max = max.max(row[j] * scale);
        }
    }
    let mv = _mm512_set1_ps(max);
    let mut vsum = _mm512_setzero_ps();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            let s = _mm512_sub_ps(_mm512_mul_ps(_mm512_loadu_ps(p.add(i)), sv), mv);
            let e = _mm512_maskz_mov_ps(k, exp_v(s));
            _mm512_storeu_ps(p.add(i), e);
            vsum = _mm512_add_ps(vsum, e);
        }
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(vsum);
    for j in full..n {
        row[j] = if keep[j] {
            exp_f32(row[j] * scale - max)
        } else {
            0.0
        };
        sum += row[j];
    }
    let inv = _mm512_set1_ps(1.0 / sum);
    let p = row.as_mut_ptr(); // re-derived: the tail loop above wrote through `row`
    let mut i = 0;
    while i < full {
        // SAFETY: i + 16 ≤ n.
        unsafe { _mm512_storeu_ps(p.add(i), _mm512_mul_ps(_mm512_loadu_ps(p.add(i)), inv)) };
        i += 16;
    }
    let inv = 1.0 / sum;
    for v in &mut row[full..] {
        *v *= inv;
    }
}

/// Unnormalised softmax of one row (see [`softmax_unnormalized`](crate::softmax_unnormalized)): two passes over the
/// row (max, then exp + store + sum) with two independent accumulators each; the tail is one
/// masked vector.
///
/// # Safety
/// The CPU supports avx512f.
#[target_feature(enable = "avx512f")]
pub unsafe fn softmax_unnormalized(row: &mut [f32]) -> f32 {
    let n = row.len();
    let p = row.as_mut_ptr();
    let tail = ((1u32 << (n % 16)) - 1) as __mmask16;
    let full = n / 16 * 16;
    let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
    let (mut m0, mut m1) = (ninf, ninf);
    let mut i = 0;
    while i + 32 <= full {
        // SAFETY: i + 32 ≤ n.
        unsafe {
            m0 = _mm512_max_ps(m0, _mm512_loadu_ps(p.add(i)));
            m1 = _mm512_max_ps(m1, _mm512_loadu_ps(p.add(i + 16)));
        }
        i += 32;
    }
    if i < full {
        // SAFETY: i + 16 ≤ n.
        m0 = _mm512_max_ps(m0, unsafe { _mm512_loadu_ps(p.add(i)) });
    }
    // SAFETY: the mask covers the n % 16 elements from `full`, all inside the row.
    m1 = _mm512_max_ps(m1, unsafe { _mm512_mask_loadu_ps(ninf, tail, p.add(full)) });
    let mv = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
    let (mut s0, mut s1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 32 <= full {
        // SAFETY: i + 32 ≤ n.
        unsafe {
            let e0 = exp_v(_mm512_sub_ps(_mm512_loadu_ps(p.add(i)), mv));
            let e1 = exp_v(_mm512_sub_ps(_mm512_loadu_ps(p.add(i + 16)), mv));
            _mm512_storeu_ps(p.add(i), e0);
            _mm512_storeu_ps(p.add(i + 16), e1);
            s0 = _mm512_add_ps(s0, e0);
            s1 = _mm512_add_ps(s1, e1);
        }
        i += 32;
    }
    if i < full {
        // SAFETY: i + 16 ≤ n.
        unsafe {
            let e = exp_v(_mm512_sub_ps(_mm512_loadu_ps(p.add(i)), mv));
            _mm512_storeu_ps(p.add(i), e);
            s0 = _mm512_add_ps(s0, e);
        }
    }
    if tail != 0 {
        // SAFETY: masked to the n % 16 tail elements, inside the row.
        unsafe {
            let x = _mm512_maskz_loadu_ps(tail, p.add(full));
            let e = _mm512_maskz_mov_ps(tail, exp_v(_mm512_sub_ps(x, mv)));
            _mm512_mask_storeu_ps(p.add(full), tail, e);
            s1 = _mm512_add_ps(s1, e);
        }
    }
    _mm512_reduce_add_ps(_mm512_add_ps(s0, s1))
}
