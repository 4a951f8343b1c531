//! aarch64 Advanced SIMD (NEON) versions of the row-wise ops: the AVX2 ones (`ops::avx2` on
//! x86-64) at 4 lanes. Layer-norm statistics in f64 (2 lanes of f64 per vector, 8 floats per
//! step in four accumulators); softmax with the shared f32 exp, GELU with the shared erf (both
//! equal to their scalar twins bit for bit). Tails shorter than a vector go through a small
//! stack buffer (GELU: the same vector code, so the same bits) or scalar loops.

use std::arch::aarch64::*;

use crate::math::erf::neon::gelu as gelu_v;
use crate::math::exp::{exp_f32, neon::exp as exp_v};

/// (mean, 1/sqrt(var + eps)) with Σ x and Σ (x − mean)² in f64.
#[inline]
#[target_feature(enable = "neon")]
fn stats(row: &[f32], eps: f32) -> (f64, f64) {
    let n = row.len();
    let p = row.as_ptr();
    let full = n / 8 * 8;
    let mut s = [vdupq_n_f64(0.0); 4];
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 ≤ n: both 4-float loads are inside `row`.
        let (a, b) = unsafe { (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4))) };
        s[0] = vaddq_f64(s[0], vcvt_f64_f32(vget_low_f32(a)));
        s[1] = vaddq_f64(s[1], vcvt_high_f64_f32(a));
        s[2] = vaddq_f64(s[2], vcvt_f64_f32(vget_low_f32(b)));
        s[3] = vaddq_f64(s[3], vcvt_high_f64_f32(b));
        i += 8;
    }
    let mut sum = vaddvq_f64(vaddq_f64(vaddq_f64(s[0], s[1]), vaddq_f64(s[2], s[3])));
    for &v in &row[full..] {
        sum += v as f64;
    }
    let mean = sum / n as f64;
    let mv = vdupq_n_f64(mean);
    let mut q = [vdupq_n_f64(0.0); 4];
    let mut i = 0;
    while i < full {
        // SAFETY: as above.
        let (a, b) = unsafe { (vld1q_f32(p.add(i)), vld1q_f32(p.add(i + 4))) };
        let d = [
            vsubq_f64(vcvt_f64_f32(vget_low_f32(a)), mv),
            vsubq_f64(vcvt_high_f64_f32(a), mv),
            vsubq_f64(vcvt_f64_f32(vget_low_f32(b)), mv),
            vsubq_f64(vcvt_high_f64_f32(b), mv),
        ];
        for (q, d) in q.iter_mut().zip(d) {
            *q = vfmaq_f64(*q, d, d);
        }
        i += 8;
    }
    let mut sq = vaddvq_f64(vaddq_f64(vaddq_f64(q[0], q[1]), vaddq_f64(q[2], q[3])));
    for &v in &row[full..] {
        sq += (v as f64 - mean).powi(2);
    }
    (mean, 1.0 / (sq / n as f64 + eps as f64).sqrt())
}

/// `row = (row − mean)·inv · gamma + beta` (normalisation in f64, affine part in f32, a
/// separate multiply and add as in the reference).
#[inline]
#[target_feature(enable = "neon")]
fn normalise(row: &mut [f32], gamma: &[f32], beta: &[f32], mean: f64, inv: f64) {
    let n = row.len();
    assert!(gamma.len() == n && beta.len() == n);
    let full = n / 4 * 4;
    let (mv, iv) = (vdupq_n_f64(mean), vdupq_n_f64(inv));
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n = len of row, gamma and beta.
        unsafe {
            let x = vld1q_f32(p.add(i));
            let lo = vmulq_f64(vsubq_f64(vcvt_f64_f32(vget_low_f32(x)), mv), iv);
            let hi = vmulq_f64(vsubq_f64(vcvt_high_f64_f32(x), mv), iv);
            let y = vcvt_high_f32_f64(vcvt_f32_f64(lo), hi);
            let out = vaddq_f32(
                vmulq_f32(y, vld1q_f32(gamma.as_ptr().add(i))),
                vld1q_f32(beta.as_ptr().add(i)),
            );
            vst1q_f32(p.add(i), out);
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
/// The CPU supports neon. (Lengths are checked.)
#[target_feature(enable = "neon")]
pub unsafe fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let (mean, inv) = stats(row, eps);
    normalise(row, gamma, beta, mean, inv);
}

/// `row = LayerNorm(row + residual)`.
///
/// # Safety
/// The CPU supports neon. (Lengths are checked.)
#[target_feature(enable = "neon")]
pub unsafe fn add_layer_norm_row(
    row: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    assert_eq!(row.len(), residual.len());
    let n = row.len();
    let full = n / 4 * 4;
    let p = row.as_mut_ptr();
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n = len of row and residual.
        unsafe {
            let v = vaddq_f32(vld1q_f32(p.add(i)), vld1q_f32(residual.as_ptr().add(i)));
            vst1q_f32(p.add(i), v);
        }
        i += 4;
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
/// The CPU supports neon.
#[target_feature(enable = "neon")]
pub unsafe fn gelu(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(4);
    for ch in &mut chunks {
        // SAFETY: `ch` holds exactly 4 floats.
        unsafe { vst1q_f32(ch.as_mut_ptr(), gelu_v(vld1q_f32(ch.as_ptr()))) };
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        // The same vector code on a zero-padded copy: the same bits as the full vectors.
        let mut buf = [0.0f32; 4];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: `buf` holds 4 floats.
        unsafe { vst1q_f32(buf.as_mut_ptr(), gelu_v(vld1q_f32(buf.as_ptr()))) };
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}

/// The 4 `keep` flags at `keep[i..i + 4]` as an all-ones/all-zeros lane mask.
///
/// # Safety
/// `i + 4 ≤ keep.len()`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn keep_mask(keep: &[bool], i: usize) -> uint32x4_t {
    debug_assert!(i + 4 <= keep.len());
    // SAFETY: 4 bytes at keep[i..] exist (contract); a bool is one byte, 0 or 1.
    let bytes = unsafe { std::ptr::read_unaligned(keep.as_ptr().add(i).cast::<u32>()) };
    // Byte j of `bytes` (little-endian: keep[i + j]) → 32-bit lane j.
    let w = vmovl_u16(vget_low_u16(vmovl_u8(vcreate_u8(bytes as u64))));
    vcgtq_u32(w, vdupq_n_u32(0))
}

/// Masked, scaled softmax of one row (see [`super::masked_softmax`]).
///
/// # Safety
/// The CPU supports neon. (Lengths are checked.)
#[target_feature(enable = "neon")]
pub unsafe fn masked_softmax(row: &mut [f32], scale: f32, keep: &[bool]) {
    assert_eq!(row.len(), keep.len());
    let n = row.len();
    if !keep.iter().any(|&k| k) {
        super::reference::masked_softmax(row, scale, keep);
        return;
    }
    let full = n / 4 * 4;
    let p = row.as_mut_ptr();
    let sv = vdupq_n_f32(scale);
    let ninf = vdupq_n_f32(f32::NEG_INFINITY);
    let mut vmax = ninf;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            let s = vbslq_f32(k, vmulq_f32(vld1q_f32(p.add(i)), sv), ninf);
            // maxNum, like f32::max: a NaN loses to a number.
            vmax = vmaxnmq_f32(vmax, s);
        }
        i += 4;
    }
    let mut max = vmaxnmvq_f32(vmax);
    for j in full..n {
        if keep[j] {
            max = max.max(row[j] * scale);
        }
    }
    let mv = vdupq_n_f32(max);
    let zero = vdupq_n_f32(0.0);
    let mut vsum = zero;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n = len of row and keep.
        unsafe {
            let k = keep_mask(keep, i);
            let s = vsubq_f32(vmulq_f32(vld1q_f32(p.add(i)), sv), mv);
            let e = vbslq_f32(k, exp_v(s), zero);
            vst1q_f32(p.add(i), e);
            vsum = vaddq_f32(vsum, e);
        }
        i += 4;
    }
    let mut sum = vaddvq_f32(vsum);
    for j in full..n {
        row[j] = if keep[j] {
            exp_f32(row[j] * scale - max)
        } else {
            0.0
        };
        sum += row[j];
    }
    let inv = vdupq_n_f32(1.0 / sum);
    let p = row.as_mut_ptr(); // re-derived: the tail loop above wrote through `row`
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n.
        unsafe { vst1q_f32(p.add(i), vmulq_f32(vld1q_f32(p.add(i)), inv)) };
        i += 4;
    }
    let inv = 1.0 / sum;
    for v in &mut row[full..] {
        *v *= inv;
    }
}

/// Unnormalised softmax of one row (see [`super::softmax_unnormalized`]); scalar tail.
///
/// # Safety
/// The CPU supports neon.
#[target_feature(enable = "neon")]
pub unsafe fn softmax_unnormalized(row: &mut [f32]) -> f32 {
    let n = row.len();
    let full = n / 4 * 4;
    let p = row.as_mut_ptr();
    // Four running maxima: one is a chain of `fmaxnm` latencies as long as the exp pass.
    let mut vm = [vdupq_n_f32(f32::NEG_INFINITY); 4];
    let mut i = 0;
    while i + 16 <= full {
        for (u, m) in vm.iter_mut().enumerate() {
            // SAFETY: i + 4u + 4 ≤ i + 16 ≤ n.
            *m = vmaxnmq_f32(*m, unsafe { vld1q_f32(p.add(i + 4 * u)) });
        }
        i += 16;
    }
    while i < full {
        // SAFETY: i + 4 ≤ n.
        vm[0] = vmaxnmq_f32(vm[0], unsafe { vld1q_f32(p.add(i)) });
        i += 4;
    }
    let vmax = vmaxnmq_f32(vmaxnmq_f32(vm[0], vm[1]), vmaxnmq_f32(vm[2], vm[3]));
    let max = row[full..]
        .iter()
        .fold(vmaxnmvq_f32(vmax), |m, &v| m.max(v));
    let mv = vdupq_n_f32(max);
    let mut vsum = vdupq_n_f32(0.0);
    let mut i = 0;
    while i < full {
        // SAFETY: i + 4 ≤ n.
        unsafe {
            let e = exp_v(vsubq_f32(vld1q_f32(p.add(i)), mv));
            vst1q_f32(p.add(i), e);
            vsum = vaddq_f32(vsum, e);
        }
        i += 4;
    }
    let mut sum = vaddvq_f32(vsum);
    for v in &mut row[full..] {
        *v = exp_f32(*v - max);
        sum += *v;
    }
    sum
}
