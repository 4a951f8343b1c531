//! AVX2+FMA versions of the row-wise ops (`layer_norm_avx2`, `masked_softmax_avx2`,
//! `gelu_avx2`): the AVX-512 ones ([`super::avx512`]) at 8 lanes. Layer-norm statistics in f64
//! (4 lanes of f64 per step); softmax with the shared f32 exp, GELU with the shared erf. Tails
//! shorter than a vector use masked loads/stores (GELU, the unnormalised softmax) or scalar
//! loops.

use std::arch::x86_64::*;

use crate::math::erf::avx2::gelu as gelu_v;
use crate::math::exp::{avx2::exp as exp_v, exp_f32};

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_pd(v: __m256d) -> f64 {
    let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
    _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_ps(v: __m256) -> f32 {
    let mut a = [0.0f32; 8];
    // SAFETY: `a` holds 8 floats.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hmax_ps(v: __m256) -> f32 {
    let mut a = [0.0f32; 8];
    // SAFETY: `a` holds 8 floats.
    unsafe { _mm256_storeu_ps(a.as_mut_ptr(), v) };
    a.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// (mean, 1/sqrt(var + eps)) with Σ x and Σ (x − mean)² in f64.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn stats(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len();
    let p = row.as_ptr();
    let full = n / 8 * 8;
    let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n: both 4-float loads are inside `row`.
        let (a, b) = unsafe { (_mm_loadu_ps(p.add(i)), _mm_loadu_ps(p.add(i + 4))) };
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(a));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(b));
        i += 8;
    }
    let mut sum = hsum_pd(_mm256_add_pd(s0, s1));
    for &v in &row[full..] {
        sum += v as f64;
    }
    let mean = sum / n as f64;
    let mv = _mm256_set1_pd(mean);
    let (mut q0, mut q1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < full {
        // SAFETY: as above.
        let (a, b) = unsafe { (_mm_loadu_ps(p.add(i)), _mm_loadu_ps(p.add(i + 4))) };
        let (da, db) = (
            _mm256_sub_pd(_mm256_cvtps_pd(a), mv),
            _mm256_sub_pd(_mm256_cvtps_pd(b), mv),
        );
        q0 = _mm256_fmadd_pd(da, da, q0);
        q1 = _mm256_fmadd_pd(db, db, q1);
        i += 8;
    }
    let mut sq = hsum_pd(_mm256_add_pd(q0, q1));
    for &v in &row[full..] {
        sq += (v as f64 - mean).powi(2);
    }
    (mean, 1.0 / (sq / n as f64 + eps as f64).sqrt())
}

/// `row = (row − mean)·inv · gamma + beta` (normalisation in f64, affine part in f32).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn normalise(row: &mut [f32], gamma: &[f32], beta: &[f32], mean: f64, inv: f64) {
    let n = row.len();
    assert!(gamma.len() == n && beta.len() == n);
    let full = n / 4 * 4;
    let (mv, iv) = (_mm256_set1_pd(mean), _mm256_set1_pd(inv));
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n = len of row, gamma and beta.
        unsafe {
            let x = _mm256_cvtps_pd(_mm_loadu_ps(p.add(i)));
            let y = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(x, mv), iv));
            let out = _mm_add_ps(
                _mm_mul_ps(y, _mm_loadu_ps(gamma.as_ptr().add(i))),
                _mm_loadu_ps(beta.as_ptr().add(i)),
            );
            _mm_storeu_ps(p.add(i), out);
        }
        i += 4;
    }
    for j in full..n {
        row[j] = ((row[j] as f64 - mean) * inv) as f32 * gamma[j] + beta[j];
    }
}

/// LayerNorm of one row.
///
/// # Safety
/// The CPU supports avx2 and fma. (Lengths are checked.)
#[target_feature(enable = "avx2,fma")]
pub unsafe fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let (mean, inv) = stats(row, eps);
    normalise(row, gamma, beta, mean, inv);
}

/// `row = LayerNorm(row + residual)`.
///
/// # Safety
/// The CPU supports avx2 and fma. (Lengths are checked.)
#[target_feature(enable = "avx2,fma")]
pub unsafe fn add_layer_norm_row(
    row: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    assert_eq!(row.len(), residual.len());
    let n = row.len();
    let full = n / 8 * 8;
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n = len of row and residual.
        unsafe {
            let v = _mm256_add_ps(
                _mm256_loadu_ps(p.add(i)),
                _mm256_loadu_ps(residual.as_ptr().add(i)),
            );
            _mm256_storeu_ps(p.add(i), v);
        }
        i += 8;
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
/// The CPU supports avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gelu(x: &mut [f32]) {
    let n = x.len();
    let p = x.as_mut_ptr();
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut i = 0;
    while i < n {
        let left = (n - i).min(8) as i32;
        // SAFETY: i + 8 ≤ n for a whole vector (plain load and store: a masked store is slow
        // on AMD), else the mask limits both to lanes i..n, inside `x`.
        unsafe {
            if left == 8 {
                _mm256_storeu_ps(p.add(i), gelu_v(_mm256_loadu_ps(p.add(i))));
            } else {
                let k = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lanes);
                let v = _mm256_maskload_ps(p.add(i), k);
                _mm256_maskstore_ps(p.add(i), k, gelu_v(v));
            }
        }
        i += 8;
    }
}

/// The 8 `keep` flags at `keep[i..i + 8]` as an all-ones/all-zeros lane mask.
///
/// # Safety
/// AVX2; `i + 8 ≤ keep.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn keep_mask(keep: &[bool], i: usize) -> __m256 {
    debug_assert!(i + 8 <= keep.len());
    // SAFETY: 8 bytes at keep[i..] exist (contract); a bool is one byte, 0 or 1.
    let bytes = unsafe { _mm_loadl_epi64(keep.as_ptr().add(i).cast::<__m128i>()) };
    let w = _mm256_cvtepu8_epi32(bytes);
    _mm256_castsi256_ps(_mm256_cmpgt_epi32(w, _mm256_setzero_si256()))
}

/// Masked, scaled softmax of one row (see [`masked_softmax`](crate::masked_softmax)).
///
/// # Safety
/// The CPU supports avx2 and fma. (Lengths are checked.)
#[target_feature(enable = "avx2,fma")]
pub unsafe fn masked_softmax(row: &mut [f32], scale: f32, keep: &[bool]) {
    assert_eq!(row.len(), keep.len());
    let n = row.len();
    if !keep.iter().any(|&k| k) {
        super::reference::masked_softmax(row, scale, keep);
        return;
    }
    let full = n / 8 * 8;
    let p = row.as_mut_ptr();
    let sv = _mm256_set1_ps(scale);
    let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut vmax = ninf;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            let s = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(p.add(i)), sv), k);
            vmax = _mm256_max_ps(vmax, s);
        }
        i += 8;
    }
    let mut max = hmax_ps(vmax);
    for j in full..n {
        if keep[j] {
            max = max.max(row[j] * scale);
        }
    }
    let mv = _mm256_set1_ps(max);
    let mut vsum = _mm256_setzero_ps();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            let s = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(p.add(i)), sv), mv);
            let e = _mm256_and_ps(exp_v(s), k);
            _mm256_storeu_ps(p.add(i), e);
            vsum = _mm256_add_ps(vsum, e);
        }
        i += 8;
    }
    let mut sum = hsum_ps(vsum);
    for j in full..n {
        row[j] = if keep[j] {
            exp_f32(row[j] * scale - max)
        } else {
            0.0
        };
        sum += row[j];
    }
    let inv = _mm256_set1_ps(1.0 / sum);
    let p = row.as_mut_ptr(); // re-derived: the tail loop above wrote through `row`
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n.
        unsafe { _mm256_storeu_ps(p.add(i), _mm256_mul_ps(_mm256_loadu_ps(p.add(i)), inv)) };
        i += 8;
    }
    let inv = 1.0 / sum;
    for v in &mut row[full..] {
        *v *= inv;
    }
}

/// Unnormalised softmax of one row (see [`softmax_unnormalized`](crate::softmax_unnormalized)); the tail
/// shorter than a vector in one masked step (a scalar exp per element cost as much as the rest
/// of a 200-wide row's).
///
/// # Safety
/// The CPU supports avx2 and fma.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn softmax_unnormalized(row: &mut [f32]) -> f32 {
    let n = row.len();
    let full = n / 8 * 8;
    let p = row.as_mut_ptr();
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - full) as i32), lanes);
    let ninf = _mm256_set1_ps(f32::NEG_INFINITY);
    // Four running maxima: one is a chain of `vmaxps` latencies, as long as the exp pass.
    let mut vm = [ninf; 4];
    let mut i = 0;
    while i + 32 <= full {
        for (u, m) in vm.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 ≤ i + 32 ≤ n.
            *m = _mm256_max_ps(*m, unsafe { _mm256_loadu_ps(p.add(i + 8 * u)) });
        }
        i += 32;
    }
    while i < full {
        // SAFETY: i + 8 ≤ n.
        vm[0] = _mm256_max_ps(vm[0], unsafe { _mm256_loadu_ps(p.add(i)) });
        i += 8;
    }
    let mut vmax = _mm256_max_ps(_mm256_max_ps(vm[0], vm[1]), _mm256_max_ps(vm[2], vm[3]));
    // SAFETY: the mask limits the load to lanes full..n, inside `row` (none when n = full).
    let t = unsafe { _mm256_maskload_ps(p.add(full), tail) };
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, t, _mm256_castsi256_ps(tail)));
    let mv = _mm256_set1_ps(hmax_ps(vmax));
    let mut vsum = _mm256_setzero_ps();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n.
        unsafe {
            let e = exp_v(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), mv));
            _mm256_storeu_ps(p.add(i), e);
            vsum = _mm256_add_ps(vsum, e);
        }
        i += 8;
    }
    if full < n {
        let e = _mm256_and_ps(exp_v(_mm256_sub_ps(t, mv)), _mm256_castsi256_ps(tail));
        // SAFETY: as the tail's load.
        unsafe { _mm256_maskstore_ps(p.add(full), tail, e) };
        vsum = _mm256_add_ps(vsum, e);
    }
    hsum_ps(vsum)
}
