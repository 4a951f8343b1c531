//! int8 GEMM: C[m×n] ≈ A[m×k]·Bᵀ with int8 weights, uint8 activations, exact i32 sums and the
//! fp32 epilogues.
//!
//! * **B** (weights, [n×k] as PyTorch's `Linear.weight`) is quantized once, at pack time,
//!   symmetrically per output column j to `w` levels each side of 0 ([`W8`] = 127, or [`W7`] =
//!   63 for the AVX2 `vpmaddubsw` path, see below): `s_j = max_p |B[j, p]| / w`,
//!   `q_B[j, p] = round(B[j, p] / s_j)` in −w..=w (never −128), packed into
//!   [`PackedI8`]: the 32-wide panels of [`PackedMatrix`](super::PackedMatrix) with **groups of
//!   4 consecutive k** per column — the operand layout of `vpdpbusd`, whose 32-bit lanes each
//!   hold `(B[j, 4g], …, B[j, 4g+3])`; k is padded to a multiple of 4 with zeros. The column
//!   sums `Σ_p q_B[j, p]` are computed then too, and the matrix records its `w`
//!   ([`PackedI8::levels`]).
//! * **A** (activations) is quantized per call and **per row** (per token), asymmetrically to
//!   uint8 ([`quantize_row`]): the row's range `[min(0, min x), max(0, max x)]` is cut into
//!   `max` steps of `s_i` (`max` = [`U8`] = 255 levels above 0, except [`U7`] = 127 where the
//!   `vpmaddubsw` path meets weights of 127 levels, see below), with the zero point `z_i` the
//!   level that 0.0 maps to, so `x ≈ s_i·(q − z_i)`, `q` in `0..=max`. A GELU output row
//!   (−0.17 … tens) uses all the levels, not half. A path says which `max` it needs against a
//!   weight matrix (`I8Path::activation_levels`), and a quantization is only consumed by a
//!   product of the same `max` (checked).
//! * The micro-kernels sum `Σ_p q_A[i, p]·q_B[j, p]` in i32 — exactly: every path computes the
//!   same integers (`kernels/tests/int8.rs` checks them bit for bit). The zero point is taken
//!   out with the column sums, `Σ_p (q_A − z_i)·q_B = Σ_p q_A·q_B − z_i·Σ_p q_B` (the algebra of
//!   ONNX Runtime's and oneDNN's u8·s8 GEMMs), and the epilogue, while the tile is in
//!   registers, dequantizes ([`dequantize`]) and applies the fp32 epilogue (bias, bias+GELU,
//!   bias+residual) of the fp32 kernels.
//!
//! i32 cannot overflow for k ≤ [`MAX_K`]: |Σ| ≤ 255·128·k < 2³¹. Between k blocks (k >
//! [`KC_I8`](crate::KC_I8)) the partial i32 sums are kept in C's memory (as bits), so the blocking never
//! changes the result. No instruction in any path saturates (`vpdpbusd`, not `vpdpbusds`;
//! `vpmaddwd` on widened int16; on aarch64 `usmmla`, `sdot` and `smlal` wrap like i32
//! addition) — or can: `vpmaddubsw` (the AVX2 `Avx2Maddubs` path) saturates its int16 sums of
//! two u8·s8 products, which for full-range operands reach 255·127·2 = 64,770 > 32,767. One of
//! the two operands gives up a bit so that a pair never gets there: weights of 7 bits ([`W7`],
//! |q_B| ≤ 63, the path's own packing) against 8-bit activations, 255·63·2 = 32,130; or, for
//! weights packed to 127 levels (a packed file written for another CPU), activations of 7
//! bits ([`U7`]), 127·128·2 = 32,512. Either way that path computes the same exact integers
//! (its scalar model, `i8_reference::ReferenceMaddubsI8_4x16`, saturates as the instruction
//! does, and the tests show it equal to exact sums on extreme inputs of both kinds). On SQuAD
//! the 7-bit weights are the better half to give up (docs/accuracy.md).
//!
//! On aarch64 the same panels feed FEAT_I8MM `usmmla` (u8 × s8, the scheme's own pair: B's
//! 4-k groups of two k steps zipped into the 8-k column pairs it multiplies), FEAT_DotProd
//! `sdot` (s8 × s8 — A is flipped to `q_A − 128` as it is loaded and the `−128·Σ q_B` that
//! adds is folded into the zero-point correction, `z − 128`, which is exact in wrapping i32),
//! and on NEON-only CPUs `smlal` on int16-widened operands (`gemm/ukr/i8_neon*.rs`).

use super::pack::{AlignedBuf, PANEL};
use super::ukr::MicroKernel;
use super::{driver, AOperand, Epi, Epilogue, Quant};
#[cfg(target_arch = "x86_64")]
use crate::dispatch::Isa;
use std::sync::Arc;

/// Largest k the int8 GEMM accepts (255·128·k stays below 2³¹).
pub const MAX_K: usize = 1 << 16;

/// Activations on 8 bits: levels `0..=255` (every path, but `Avx2Maddubs` against weights of
/// 127 levels).
pub const U8: u8 = 255;

/// Activations on 7 bits: levels `0..=127`, so that no `vpmaddubsw` pair sum (u8·s8 + u8·s8)
/// can exceed 127·128·2 = 32,512 < 32,767 (`Avx2Maddubs` against weights of [`W8`]).
pub const U7: u8 = 127;

/// Weights on 8 bits: `−127..=127` per column (every path but `Avx2Maddubs`).
pub const W8: u8 = 127;

/// Weights on 7 bits: `−63..=63` per column, so that no `vpmaddubsw` pair sum can exceed
/// 255·63·2 = 32,130 < 32,767 with 8-bit activations (`Avx2Maddubs`'s own packing).
pub const W7: u8 = 63;

/// k rounded up to the int8 group of 4.
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(4)
}

/// Bytes between the rows of quantized A in [`I8Scratch`]: `padded_k(k)`, one cache line more
/// when that is a multiple of 4 KiB ([`a_row_stride`](super::pack::a_row_stride)).
pub fn a_stride(k: usize) -> usize {
    super::pack::a_row_stride(padded_k(k), 1)
}

/// The dequantized value of one C element: `(Σ q_A·q_B − z·colsum) · (s_row · s_col)`, with
/// wrapping i32 arithmetic and then fp32 (round to nearest even) — the operations, in this
/// order, of every int8 kernel's epilogue.
#[inline(always)]
pub fn dequantize(sum: i32, row_zp: i32, col_sum: i32, row_scale: f32, col_scale: f32) -> f32 {
    (sum.wrapping_sub(row_zp.wrapping_mul(col_sum)) as f32) * (row_scale * col_scale)
}

/// The quantization of one activation row: `x ≈ scale·(q − zero_point)`, `q` in `0..=max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowQuant {
    /// Step between levels (1 for an all-zero row).
    pub scale: f32,
    /// The level of 0.0.
    pub zero_point: i32,
}

/// Quantizes `src` into `dst[..src.len()]` (levels `0..=max`, see the [module docs](self);
/// `max` is [`U8`] or [`U7`]) and zeroes the rest of `dst`. NaN becomes level 0 of its row
/// (the weights were checked for NaN at load, so activations only carry one if the input did);
/// ±∞ stretch the range.
///
/// # Panics
/// If `dst` is shorter than `src`, or `max` is 0.
pub fn quantize_row(src: &[f32], dst: &mut [u8], max: u8) -> RowQuant {
    assert!(
        dst.len() >= src.len(),
        "quantize_row: dst is shorter than src"
    );
    assert!(max > 0, "quantize_row: max level 0");
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::Avx512.is_supported() && std::is_x86_feature_detected!("avx512bw") {
            // SAFETY: AVX-512F and BW are present (checked).
            return unsafe { quantize_row_avx512(src, dst, max) };
        }
        if Isa::Avx2.is_supported() {
            // SAFETY: AVX2 and FMA are present (checked).
            return unsafe { quantize_row_avx2(src, dst, max) };
        }
    }
    quantize_row_scalar(src, dst, max)
}

/// [`quantize_row`] in AVX-512: the scalar code's operations lane by lane (`vminps` /
/// `vmaxps` with the running value second, so NaN is skipped as `f32::min` skips it;
/// `vrndscaleps` to nearest even; clamps that send NaN to 0, as `as u8` does), so the same
/// bits — `kernels/tests/int8.rs` compares them.
///
/// # Safety
/// AVX-512F and AVX-512BW must be present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_row_avx512(src: &[f32], dst: &mut [u8], max: u8) -> RowQuant {
    use std::arch::x86_64::*;
    let n = src.len();
    let (full, rem) = (n / 16 * 16, n % 16);
    let tail_mask = ((1u32 << rem) - 1) as __mmask16;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let p = src.as_ptr();
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 ≤ n.
        let v = unsafe { _mm512_loadu_ps(p.add(i)) };
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    if rem > 0 {
        // SAFETY: the masked load reads only src[full..n]; masked-off lanes are 0.0, which
        // is in every row's range already.
        let v = unsafe { _mm512_maskz_loadu_ps(tail_mask, p.add(full)) };
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    let q = row_params(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), max);
    let inv = _mm512_set1_ps(1.0 / q.scale);
    let zp = _mm512_set1_ps(q.zero_point as f32);
    let (zero, top) = (_mm512_setzero_ps(), _mm512_set1_ps(max as f32));
    let level = |v: __m512| {
        let r = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(v, inv),
        );
        // max(r, 0) with r first: a NaN r gives 0.
        let r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, zp), zero), top);
        _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r))
    };
    let d = dst.as_mut_ptr();
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 ≤ n ≤ dst.len() (asserted by the caller).
        unsafe { _mm_storeu_si128(d.add(i) as *mut __m128i, level(_mm512_loadu_ps(p.add(i)))) };
    }
    if rem > 0 {
        // SAFETY: masked to src[full..n] and dst[full..n].
        unsafe {
            let v = level(_mm512_maskz_loadu_ps(tail_mask, p.add(full)));
            _mm_mask_storeu_epi8(d.add(full) as *mut i8, tail_mask, v);
        }
    }
    dst[n..].fill(0);
    q
}

/// [`quantize_row`] compiled for AVX2 (the scalar code, vectorised by the compiler).
///
/// # Safety
/// AVX2 and FMA must be present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_row_avx2(src: &[f32], dst: &mut [u8], max: u8) -> RowQuant {
    quantize_row_scalar(src, dst, max)
}

/// Scale and zero point of a row whose range, 0 included, is `[lo, hi]`, on levels `0..=max`.
#[inline(always)]
fn row_params(lo: f32, hi: f32, max: u8) -> RowQuant {
    let range = hi - lo;
    let top = max as f32;
    if range > 0.0 {
        let scale = range / top;
        let zero_point = (-lo / scale).round_ties_even().clamp(0.0, top);
        RowQuant {
            scale,
            zero_point: zero_point as i32,
        }
    } else {
        RowQuant {
            scale: 1.0,
            zero_point: 0,
        }
    }
}

/// The quantization every path computes (the oracle of the AVX-512 one).
#[inline(always)]
fn quantize_row_scalar(src: &[f32], dst: &mut [u8], max: u8) -> RowQuant {
    // Range in 16 independent lanes (min and max are exact, so the lane split cannot change
    // the result, and the loop vectorises).
    const L: usize = 16;
    let (mut lo, mut hi) = ([0.0f32; L], [0.0f32; L]);
    let chunks = src.chunks_exact(L);
    let tail = chunks.remainder();
    for ch in chunks {
        for l in 0..L {
            lo[l] = lo[l].min(ch[l]);
            hi[l] = hi[l].max(ch[l]);
        }
    }
    for (l, &x) in tail.iter().enumerate() {
        lo[l] = lo[l].min(x);
        hi[l] = hi[l].max(x);
    }
    let lo = lo.into_iter().fold(0.0f32, f32::min);
    let hi = hi.into_iter().fold(0.0f32, f32::max);
    let q = row_params(lo, hi, max);
    let (inv, zp, top) = (1.0 / q.scale, q.zero_point as f32, max as f32);
    let (head, pad) = dst.split_at_mut(src.len());
    for (d, &x) in head.iter_mut().zip(src) {
        *d = ((x * inv).round_ties_even() + zp).clamp(0.0, top) as u8;
    }
    pad.fill(0);
    q
}

/// [`quantize_row`] on the scalar path (tests: the oracle of the SIMD one).
pub fn quantize_row_reference(src: &[f32], dst: &mut [u8], max: u8) -> RowQuant {
    assert!(
        dst.len() >= src.len(),
        "quantize_row: dst is shorter than src"
    );
    assert!(max > 0, "quantize_row: max level 0");
    quantize_row_scalar(src, dst, max)
}

/// Quantizes `rows = src.len() / k` rows of `k` floats into `dst` (rows of `padded_k(k)`
/// bytes, levels `0..=max`) and their scales and zero points; row blocks in parallel when
/// large (the result does not depend on the split).
///
/// # Panics
/// If the lengths do not match, or `max` is 0.
pub fn quantize_rows(
    src: &[f32],
    k: usize,
    dst: &mut [u8],
    scale: &mut [f32],
    zp: &mut [i32],
    max: u8,
) {
    quantize_rows_strided(src, k, dst, padded_k(k), scale, zp, max)
}

/// [`quantize_rows`] into rows `kp ≥ padded_k(k)` bytes apart (the bytes past `k` zeroed).
fn quantize_rows_strided(
    src: &[f32],
    k: usize,
    dst: &mut [u8],
    kp: usize,
    scale: &mut [f32],
    zp: &mut [i32],
    max: u8,
) {
    let rows = scale.len();
    assert!(
        kp >= padded_k(k) && src.len() == rows * k && dst.len() == rows * kp && zp.len() == rows,
        "quantize_rows: lengths"
    );
    if rows == 0 {
        return;
    }
    type Rows<'a> = (((&'a [f32], &'a mut [u8]), &'a mut [f32]), &'a mut [i32]);
    let block = |(((s, d), sc), z): Rows| {
        for (((sr, dr), sc), z) in s
            .chunks_exact(k.max(1))
            .zip(d.chunks_exact_mut(kp.max(1)))
            .zip(sc.iter_mut())
            .zip(z.iter_mut())
        {
            let q = quantize_row(sr, dr, max);
            (*sc, *z) = (q.scale, q.zero_point);
        }
    };
    if k == 0 {
        scale.fill(1.0);
        zp.fill(0);
        return;
    }
    const ROWS: usize = 8;
    if rows * k >= 1 << 16 {
        use crate::team::Chunks;
        let (d, sc, z) = (
            Chunks::new(dst, ROWS * kp),
            Chunks::new(scale, ROWS),
            Chunks::new(zp, ROWS),
        );
        crate::team::for_each(sc.count(), |i| {
            // SAFETY: for_each gives each block index to one call, and block i of the three
            // outputs is taken only here.
            let (d, sc, z) = unsafe { (d.get(i), sc.get(i), z.get(i)) };
            block((((&src[i * ROWS * k..][..sc.len() * k], d), sc), z))
        });
    } else {
        block((((src, dst), scale), zp));
    }
}

/// Where int8 panels live.
#[derive(Clone)]
enum Panels {
    Owned(AlignedBuf<i8>),
    Shared(Arc<dyn AsRef<[i8]> + Send + Sync>),
}

/// A weight matrix B [n×k] (PyTorch `Linear.weight` layout) quantized to int8 per output column
/// and packed for [`gemm_i8`](crate::gemm_i8): 32-wide panels of 4-k groups, with its column
/// scales and sums and its level count.
///
/// ```text
/// element (j, p) of q_B  ↦  panels[(j / 32)·kp·32 + (p / 4)·128 + (j % 32)·4 + p % 4],  kp = k rounded up to 4
/// B[j, p] ≈ scales[j] · q_B[j, p],   col_sums[j] = Σ_p q_B[j, p],   |q_B[j, p]| ≤ levels
/// ```
#[derive(Clone)]
pub struct PackedI8 {
    n: usize,
    k: usize,
    levels: u8,
    panels: Panels,
    scales: Vec<f32>,
    col_sums: Vec<i32>,
}

impl std::fmt::Debug for PackedI8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedI8")
            .field("n", &self.n)
            .field("k", &self.k)
            .field("levels", &self.levels)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PackedI8 {
    fn eq(&self, other: &Self) -> bool {
        (self.n, self.k, self.levels) == (other.n, other.k, other.levels)
            && self.panels() == other.panels()
            && self.scales == other.scales
            && self.col_sums == other.col_sums
    }
}

impl PackedI8 {
    /// Quantizes B [n×k] (row-major fp32) per row of B (column of C) to 127 levels each side
    /// ([`W8`]) and packs it. [`I8Kernels::pack`](crate::I8Kernels::pack) packs to the levels
    /// a path prefers.
    ///
    /// # Panics
    /// If `b.len() != n * k` or `k > MAX_K`.
    pub fn pack(b: &[f32], n: usize, k: usize) -> Self {
        Self::pack_to(b, n, k, W8)
    }

    /// [`PackedI8::pack`] to `levels` each side of 0 (1..=127: [`W8`], [`W7`]).
    ///
    /// # Panics
    /// If `b.len() != n * k`, `k > MAX_K`, or `levels` is 0 or above 127.
    pub fn pack_to(b: &[f32], n: usize, k: usize, levels: u8) -> Self {
        assert_eq!(b.len(), n * k, "PackedI8::pack: b is not n×k");
        assert!(k <= MAX_K, "PackedI8::pack: k = {k} > {MAX_K}");
        assert!(
            (1..=W8).contains(&levels),
            "PackedI8::pack: {levels} levels"
        );
        let top = levels as f32;
        let kp = padded_k(k);
        let mut buf = AlignedBuf::<i8>::default();
        buf.set_len(Self::panel_len(n, k));
        let mut scales = vec![0.0f32; n];
        let mut col_sums = vec![0i32; n];
        if n > 0 && kp > 0 {
            use rayon::prelude::*;
            buf.as_mut_slice()
                .par_chunks_exact_mut(PANEL * kp)
                .zip(scales.par_chunks_mut(PANEL))
                .zip(col_sums.par_chunks_mut(PANEL))
                .enumerate()
                .for_each(|(jp, ((panel, sc), cs))| {
                    for (jj, (s, sum)) in sc.iter_mut().zip(cs.iter_mut()).enumerate() {
                        let row = &b[(jp * PANEL + jj) * k..][..k];
                        let amax = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                        *s = amax / top;
                        let inv = if amax > 0.0 { 1.0 / *s } else { 0.0 };
                        for (p, &x) in row.iter().enumerate() {
                            let q = (x * inv).round_ties_even().clamp(-top, top) as i8;
                            panel[(p / 4) * 4 * PANEL + jj * 4 + p % 4] = q;
                            *sum += q as i32;
                        }
                    }
                });
        }
        PackedI8 {
            n,
            k,
            levels,
            panels: Panels::Owned(buf),
            scales,
            col_sums,
        }
    }

    /// Uses panels already in the packed layout that live elsewhere (e.g. a memory-mapped
    /// packed-weights file), without copying them, with their scales and column sums, packed
    /// to `levels` each side of 0 — which the kernels trust: a `vpmaddubsw` product with
    /// values beyond them can saturate ([`PackedI8::max_magnitude`] checks a file's).
    ///
    /// # Panics
    /// If a length does not match `(n, k)`, `k > MAX_K`, or `levels` is 0 or above 127.
    pub fn from_shared(
        n: usize,
        k: usize,
        levels: u8,
        panels: Arc<dyn AsRef<[i8]> + Send + Sync>,
        scales: Vec<f32>,
        col_sums: Vec<i32>,
    ) -> Self {
        assert_eq!(
            (*panels).as_ref().len(),
            Self::panel_len(n, k),
            "PackedI8::from_shared: length"
        );
        assert!(scales.len() == n && col_sums.len() == n && k <= MAX_K);
        assert!(
            (1..=W8).contains(&levels),
            "PackedI8::from_shared: {levels} levels"
        );
        PackedI8 {
            n,
            k,
            levels,
            panels: Panels::Shared(panels),
            scales,
            col_sums,
        }
    }

    /// Bytes in the panel buffer of an n×k matrix: ⌈n/32⌉·32·(k rounded up to 4).
    pub fn panel_len(n: usize, k: usize) -> usize {
        n.div_ceil(PANEL) * PANEL * padded_k(k)
    }

    /// Rows of B (columns of C).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Columns of B (the reduction length, unpadded).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The panel buffer, in the layout of the type docs.
    pub fn panels(&self) -> &[i8] {
        match &self.panels {
            Panels::Owned(buf) => buf.as_slice(),
            Panels::Shared(shared) => (**shared).as_ref(),
        }
    }

    /// The levels each side of 0 the weights were quantized to: |q_B| ≤ `levels` ([`W8`] or
    /// [`W7`]).
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// The largest |q_B| in the panels (to check a loaded file against its
    /// [`PackedI8::levels`]).
    pub fn max_magnitude(&self) -> u8 {
        self.panels()
            .iter()
            .fold(0u8, |m, &v| m.max(v.unsigned_abs()))
    }

    /// Per-column scales `s_j`.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Per-column sums of the int8 values.
    pub fn col_sums(&self) -> &[i32] {
        &self.col_sums
    }

    /// The int8 value of element (j, p).
    pub fn get(&self, j: usize, p: usize) -> i8 {
        assert!(j < self.n && p < self.k, "PackedI8::get: out of range");
        let kp = padded_k(self.k);
        self.panels()[(j / PANEL) * PANEL * kp + (p / 4) * 4 * PANEL + (j % PANEL) * 4 + p % 4]
    }

    /// The column sums recomputed from the panels (to check a loaded file's).
    pub fn recompute_col_sums(&self) -> Vec<i32> {
        let kp = padded_k(self.k);
        let panels = self.panels();
        (0..self.n)
            .map(|j| {
                let panel = &panels[(j / PANEL) * PANEL * kp..][..PANEL * kp];
                panel
                    .chunks_exact(4 * PANEL)
                    .map(|g| {
                        g[(j % PANEL) * 4..][..4]
                            .iter()
                            .map(|&v| v as i32)
                            .sum::<i32>()
                    })
                    .sum()
            })
            .collect()
    }
}

/// The buffers [`gemm_i8_in`](crate::gemm_i8_in) quantizes A into, owned by the caller: once they have served the
/// largest m×k, calls allocate nothing.
#[derive(Default)]
pub struct I8Scratch {
    a: AlignedBuf<u8>,
    scale: Vec<f32>,
    zp: Vec<i32>,
    /// (rows, k, address of the source, max level) of what [`I8Scratch::quantize`] last
    /// stored.
    held: (usize, usize, usize, u8),
}

impl std::fmt::Debug for I8Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I8Scratch")
            .field("bytes", &self.a.as_slice().len())
            .finish()
    }
}

impl I8Scratch {
    /// Bytes of quantized activations held.
    pub fn len(&self) -> usize {
        self.a.as_slice().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Quantizes A [m×k] (row-major, row stride k) per row to levels `0..=max` into the
    /// buffers, for the next product of a path with that `max`
    /// ([`I8Kernels::quantize`](crate::I8Kernels::quantize) passes its path's,
    /// [`quantize_i8`](crate::quantize_i8) the current one's), which consumes it.
    ///
    /// # Panics
    /// If `a` is shorter than m×k, or `max` is 0.
    pub fn quantize(&mut self, m: usize, k: usize, a: &[f32], max: u8) {
        assert!(
            a.len() >= m * k,
            "I8Scratch::quantize: a is shorter than m×k"
        );
        let (aq, scale, zp) = self.get(m, k);
        quantize_rows_strided(&a[..m * k], k, aq, a_stride(k), scale, zp, max);
        self.held = (m, k, a.as_ptr() as usize, max);
    }

    /// Whether the buffers hold a quantization of `a` [m×k] (the same shape and start
    /// address) to levels `0..=max` that no product has consumed yet.
    pub fn holds(&self, m: usize, k: usize, a: &[f32], max: u8) -> bool {
        self.held == (m, k, a.as_ptr() as usize, max)
    }

    /// Buffers for m rows of k: (quantized rows, scales, zero points), grown if needed.
    fn get(&mut self, m: usize, k: usize) -> (&mut [u8], &mut [f32], &mut [i32]) {
        self.held = (0, 0, 0, 0);
        let len = m * a_stride(k);
        if self.a.as_slice().len() < len {
            self.a.set_len(len);
        }
        if self.scale.len() < m {
            self.scale.resize(m, 0.0);
            self.zp.resize(m, 0);
        }
        (
            &mut self.a.as_mut_slice()[..len],
            &mut self.scale[..m],
            &mut self.zp[..m],
        )
    }
}

/// The quantized A that `scratch` holds ([`I8Scratch::quantize`], k = `b.k()`) as the int8
/// driver reads it, consumed (the next product needs a new one, so a buffer refilled in place
/// is never read stale): `None` if there is nothing to compute, else (m, A's rows, their
/// stride) and the epilogue with its dequantization.
///
/// # Panics
/// If `scratch` holds no quantization of that k to levels `0..=max` (the consuming path's),
/// `c` is shorter than m×n, or an epilogue operand has the wrong length.
pub(crate) fn quantized_operands<'a>(
    scratch: &'a mut I8Scratch,
    b: &'a PackedI8,
    c: &[f32],
    epilogue: Epilogue<'a>,
    max: u8,
) -> Option<(usize, &'a [u8], usize, Epi<'a>)> {
    let (m, k, addr, held_max) = std::mem::take(&mut scratch.held);
    let n = b.n();
    assert!(
        k == b.k() && (addr != 0 || m == 0 || k == 0),
        "gemm_i8_quantized: no quantized A of k = {} (quantize first)",
        b.k()
    );
    assert!(
        held_max == max || m == 0 || k == 0,
        "gemm_i8_quantized: A was quantized to 0..={held_max}, this path needs 0..={max}"
    );
    assert!(c.len() >= m * n, "gemm_i8: c is shorter than m×n");
    let mut epi = Epi::from_epilogue(epilogue, m, n);
    if m == 0 || n == 0 {
        return None;
    }
    let rs = a_stride(k);
    epi.quant = Some(Quant {
        row_scale: &scratch.scale[..m],
        row_zp: &scratch.zp[..m],
        col_scale: b.scales(),
        col_sum: b.col_sums(),
    });
    Some((m, &scratch.a.as_slice()[..m * rs], rs, epi))
}

/// The int8 GEMM on micro-kernel `K`, on quantized rows of A at stride `rs` (the kernel
/// table's int8 `gemm`).
pub(crate) fn i8_driver<K: MicroKernel<A = u8, B = i8>, const KC: usize>(
    m: usize,
    a: &[u8],
    rs: usize,
    b: &PackedI8,
    c: &mut [f32],
    epi: Epi,
) {
    let (n, kp) = (b.n(), padded_k(b.k()));
    let a = AOperand::RowMajor { data: a, rs };
    driver::<K, KC>(m, n, kp, a, b.panels(), c, n, epi, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_layout_is_documented_one() {
        let (n, k) = (37, 6);
        let b: Vec<f32> = (0..n * k).map(|i| (i % 23) as f32 - 11.0).collect();
        let pm = PackedI8::pack(&b, n, k);
        assert_eq!(pm.panels().len(), 64 * 8);
        for j in 0..64 {
            for p in 0..8 {
                let v = pm.panels()[(j / 32) * 8 * 32 + (p / 4) * 128 + (j % 32) * 4 + p % 4];
                if j < n && p < k {
                    assert_eq!(v, pm.get(j, p));
                    let w = b[j * k + p];
                    assert!((pm.scales()[j] * v as f32 - w).abs() <= pm.scales()[j] * 0.5 + 1e-6);
                } else {
                    assert_eq!(v, 0, "padding ({j}, {p})");
                }
            }
        }
        assert_eq!(pm.recompute_col_sums(), pm.col_sums());
        let shared = PackedI8::from_shared(
            n,
            k,
            W8,
            Arc::new(pm.panels().to_vec()),
            pm.scales().to_vec(),
            pm.col_sums().to_vec(),
        );
        assert_eq!(shared, pm);
        assert_eq!(pm.max_magnitude(), W8);
    }

    #[test]
    fn seven_bit_packing_uses_63_levels() {
        let (n, k) = (5, 9);
        let b: Vec<f32> = (0..n * k).map(|i| (i % 13) as f32 - 6.5).collect();
        let pm = PackedI8::pack_to(&b, n, k, W7);
        assert_eq!((pm.levels(), pm.max_magnitude()), (W7, W7));
        for j in 0..n {
            for p in 0..k {
                let w = b[j * k + p];
                let s = pm.scales()[j];
                assert!((s * pm.get(j, p) as f32 - w).abs() <= s * 0.5 + 1e-6);
            }
        }
        assert_ne!(pm, PackedI8::pack(&b, n, k));
    }
}
