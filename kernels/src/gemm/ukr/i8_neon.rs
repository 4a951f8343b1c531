//! What the aarch64 int8 micro-kernels share: the dequantizing epilogue for an R×8 tile of
//! i32 sums in NEON registers (`store_tile`), used by `gemm_ukr_neondot_i8_8x8` (`sdot`,
//! `i8_neondot.rs`), `gemm_ukr_neoni8mm_i8_12x8` (`usmmla`, `i8_neoni8mm.rs`) and this file's
//! own `gemm_ukr_neon_i8widen_8x8` for NEON-only CPUs.
//!
//! # `gemm_ukr_neon_i8widen_8x8` (Advanced SIMD only: Cortex-A72, Graviton 1)
//!
//! Exact, no saturating instruction. Per group of 4 k, one `ld4 {…}.8b` of the 32-byte group
//! row (8 columns × 4 k) de-interleaves B into four 8-column vectors, one per k (the transpose
//! the lane-indexed multiply wants, for free in the load), each sign-extended to int16
//! (`sxtl`); A is read 8 bytes (two groups) per row and zero-extended to int16 (`uxtl`: 0..255
//! fits int16). `smlal`/`smlal2` by element (`vmlal_laneq_s16`) then add four int16·int16
//! products per instruction into the i32 accumulators: 8 rows × 8 columns = 16 accumulators,
//! 4 B vectors, 8 A vectors — 28 of the 32 registers. Per group: 1 `ld4`, 4 `sxtl`, 64
//! `smlal` (256 multiply-adds); per two groups 8 A loads and 8 `uxtl`.
//!
//! # The epilogue
//!
//! Same operations in the same order as `i8_reference::store_tile` (and the x86 kernels'):
//! `v = acc (+ C's i32 partial sums)`; unless this is the last k block of a dequantized product,
//! `v`'s bits go back to C; else `(v − z·colsum) as f32 · (s_row·s_col)` (wrapping i32
//! `mls`, `scvtf` rounding to nearest even, two `fmul`), then `·α`, `+ bias`, GELU, `+ residual`
//! — the fp32 reference epilogue's order, so everything but GELU is bit-identical to the
//! reference. GELU is the NEON level's row operation from the kernel table (the scalar
//! reference's until NEON row operations land), run once per tile on its R×8 values.
//! Edge tiles (cols < 8) go through an 8-wide copy on the stack: nothing outside the
//! `rows × cols` tile of C, bias or residual is touched.

use std::arch::aarch64::*;

use super::{MicroKernel, TileEpi};
use crate::dispatch::Isa;
use crate::gemm::pack::PANEL;
use crate::math::erf::neon::gelu;

/// Columns of every aarch64 int8 tile.
pub(crate) const NR: usize = 8;

/// Loads `cols ≤ 8` i32 (or f32 bits) at `p` as two vectors, zero past `cols`.
///
/// # Safety
/// `p..p + cols` is readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load8(p: *const i32, cols: usize) -> [int32x4_t; 2] {
    if cols == NR {
        // SAFETY: 8 readable values (caller).
        unsafe { [vld1q_s32(p), vld1q_s32(p.add(4))] }
    } else {
        let mut t = [0i32; NR];
        // SAFETY: `cols` readable values (caller), into a buffer of 8 ≥ cols.
        unsafe { std::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), cols) };
        // SAFETY: `t` holds 8 values.
        unsafe { [vld1q_s32(t.as_ptr()), vld1q_s32(t.as_ptr().add(4))] }
    }
}

/// Stores the first `cols ≤ 8` lanes of `v` at `p`.
///
/// # Safety
/// `p..p + cols` is writable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn store8(p: *mut i32, cols: usize, v: [int32x4_t; 2]) {
    if cols == NR {
        // SAFETY: 8 writable values (caller).
        unsafe {
            vst1q_s32(p, v[0]);
            vst1q_s32(p.add(4), v[1]);
        }
    } else {
        let mut t = [0i32; NR];
        // SAFETY: `t` holds 8 values; then `cols` of them go to the writable `p..p + cols`.
        unsafe {
            vst1q_s32(t.as_mut_ptr(), v[0]);
            vst1q_s32(t.as_mut_ptr().add(4), v[1]);
            std::ptr::copy_nonoverlapping(t.as_ptr(), p, cols);
        }
    }
}

/// [`load8`] for f32.
///
/// # Safety
/// As [`load8`].
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load8_f32(p: *const f32, cols: usize) -> [float32x4_t; 2] {
    // SAFETY: forwarded; f32 and i32 have the same size and alignment.
    let v = unsafe { load8(p as *const i32, cols) };
    [vreinterpretq_f32_s32(v[0]), vreinterpretq_f32_s32(v[1])]
}

/// The int8 epilogue of an R×8 tile whose i32 sums are `acc[i]` (columns 0..4, 4..8 of row
/// i); see the [module docs](self). `zp_offset` is added to every row's zero point before
/// the zero-point correction: the `sdot` kernel keeps `Σ (q_A − 128)·q_B` in its accumulators
/// (and in C between k blocks) when it dequantizes, and
/// `Σ q_A·q_B − z·colsum = Σ (q_A − 128)·q_B − (z − 128)·colsum` in wrapping i32 arithmetic,
/// so −128 there gives the reference's integers, and values, exactly.
///
/// # Safety
/// The C, bias, residual and `epi.quant` parts of the [`MicroKernel::tile`] contract, with
/// `rows = R` and `cols ≤ 8`; the CPU has [`Isa::Neon`].
#[inline]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn store_tile<const R: usize>(
    acc: &[[int32x4_t; 2]; R],
    zp_offset: i32,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let q = &epi.quant;
    let deq = epi.last && q.is_some();
    if !deq {
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: row i < rows, columns < cols: inside the C tile, which holds i32 bits
            // between k blocks (same size and alignment as f32); readable unless `first`.
            unsafe {
                let cp = c.add(i * rs_c) as *mut i32;
                let mut v = *row;
                if !epi.first {
                    let old = load8(cp, cols);
                    v = [vaddq_s32(v[0], old[0]), vaddq_s32(v[1], old[1])];
                }
                store8(cp, cols, v);
            }
        }
        return;
    }
    // SAFETY: non-null quant operands hold `cols` column entries (contract).
    let (col_sum, col_scale) = unsafe { (load8(q.col_sum, cols), load8_f32(q.col_scale, cols)) };
    let bias = if epi.bias.is_null() {
        None
    } else {
        // SAFETY: non-null bias holds `cols` floats.
        Some(unsafe { load8_f32(epi.bias, cols) })
    };
    let scale = epi.alpha != 1.0;
    let mut f = [[vdupq_n_f32(0.0); 2]; R];
    for (i, (row, out)) in acc.iter().zip(f.iter_mut()).enumerate() {
        let mut v = *row;
        if !epi.first {
            // SAFETY: row i < rows, columns < cols: inside the C tile, readable (not `first`),
            // holding i32 bits.
            let old = unsafe { load8(c.add(i * rs_c) as *const i32, cols) };
            v = [vaddq_s32(v[0], old[0]), vaddq_s32(v[1], old[1])];
        }
        // SAFETY: non-null quant operands hold `rows` row entries.
        let (zp, sa) = unsafe { (*q.row_zp.add(i), *q.row_scale.add(i)) };
        let zp = zp.wrapping_add(zp_offset);
        for h in 0..2 {
            // (v − z·colsum) wrapping, as f32 (round to nearest even), · (s_row·s_col).
            let x = vmlsq_n_s32(v[h], col_sum[h], zp);
            let s = vmulq_n_f32(col_scale[h], sa);
            let mut y = vmulq_f32(vcvtq_f32_s32(x), s);
            if scale {
                y = vmulq_n_f32(y, epi.alpha);
            }
            if let Some(b) = bias {
                y = vaddq_f32(y, b[h]);
            }
            out[h] = y;
        }
    }
    if epi.gelu {
        for v in f.iter_mut() {
            *v = [gelu(v[0]), gelu(v[1])];
        }
    }
    for (i, v) in f.iter().enumerate() {
        let mut v = *v;
        if !epi.residual.is_null() {
            // SAFETY: the residual tile holds rows × cols at stride rs_res; row i < rows.
            let r = unsafe { load8_f32(epi.residual.add(i * epi.rs_res), cols) };
            v = [vaddq_f32(v[0], r[0]), vaddq_f32(v[1], r[1])];
        }
        let bits = [vreinterpretq_s32_f32(v[0]), vreinterpretq_s32_f32(v[1])];
        // SAFETY: row i < rows, columns < cols: inside the writable C tile.
        unsafe { store8(c.add(i * rs_c) as *mut i32, cols, bits) };
    }
}

const WIDEN_MR: usize = 8;

/// NEON widening 8×8 int8 kernel (see the [module docs](self)).
#[allow(non_camel_case_types)]
pub struct NeonI8Widen_8x8;

impl MicroKernel for NeonI8Widen_8x8 {
    type A = u8;
    type B = i8;
    const MR: usize = WIDEN_MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_neon_i8widen_8x8";

    fn supported() -> bool {
        Isa::Neon.is_supported()
    }

    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: *const u8,
        a_rs: usize,
        b: *const i8,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        debug_assert!(a_rs > 0 || kc == 0, "int8 kernels read A row-major");
        // SAFETY: forwarded trait contract (NEON present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_widen, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                8 1 2 3 4 5 6 7)
        }
    }
}

/// The products of one 4-k group: `acc[i] += Σ_t A(i, t)·B(t, 0..8)`, with `$a[i]` holding
/// row i's k values as int16, the group's at lanes `$l0..=$l3` (literals: the lane of a
/// by-element multiply is an immediate), and `$bk[t]` B's 8 columns at k t.
macro_rules! widen_group {
    ($acc:ident, $a:ident, $bk:ident, $($t:literal $l:literal)*) => {
        $(
            for (c, &av) in $acc.iter_mut().zip(&$a) {
                c[0] = vmlal_laneq_s16::<$l>(c[0], vget_low_s16($bk[$t]), av);
                c[1] = vmlal_high_laneq_s16::<$l>(c[1], $bk[$t], av);
            }
        )*
    };
}

/// B's group row at `bp` (8 columns × 4 k), de-interleaved by k and widened to int16.
///
/// # Safety
/// `bp..bp + 32` is readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn widen_b(bp: *const i8) -> [int16x8_t; 4] {
    // SAFETY: 32 readable bytes (caller).
    let v = unsafe { vld4_s8(bp) };
    [vmovl_s8(v.0), vmovl_s8(v.1), vmovl_s8(v.2), vmovl_s8(v.3)]
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; NEON present.
#[inline]
#[target_feature(enable = "neon")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_widen<const R: usize>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    b: *const i8,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc = [[vdupq_n_s32(0); 2]; R];
    let groups = kc / 4;
    let (mut ap, mut bp) = (a, b);
    for _ in 0..groups / 2 {
        let mut av = [vdupq_n_s16(0); R];
        for (i, v) in av.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 8), p = 8·step, lie inside row i's kc bytes (2 groups left).
            *v = vreinterpretq_s16_u16(vmovl_u8(unsafe { vld1_u8(ap.add(i * a_rs)) }));
        }
        // SAFETY: groups g and g + 1 (< kc/4) of the B panel: 32 bytes each at 4·PANEL apart.
        let b0 = unsafe { widen_b(bp) };
        widen_group!(acc, av, b0, 0 0 1 1 2 2 3 3);
        // SAFETY: as above.
        let b1 = unsafe { widen_b(bp.add(4 * PANEL)) };
        widen_group!(acc, av, b1, 0 4 1 5 2 6 3 7);
        ap = ap.wrapping_add(8);
        bp = bp.wrapping_add(8 * PANEL);
    }
    if groups % 2 == 1 {
        let mut av = [vdupq_n_s16(0); R];
        for (i, v) in av.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 4) is the last group of row i, inside its kc bytes.
            let w = unsafe { (ap.add(i * a_rs) as *const u32).read_unaligned() };
            let bytes = vreinterpret_u8_u32(vdup_n_u32(w));
            *v = vreinterpretq_s16_u16(vmovl_u8(bytes));
        }
        // SAFETY: the last group (< kc/4) of the B panel.
        let b0 = unsafe { widen_b(bp) };
        widen_group!(acc, av, b0, 0 0 1 1 2 2 3 3);
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands.
    unsafe { store_tile::<R>(&acc, 0, c, rs_c, cols, epi) }
}
