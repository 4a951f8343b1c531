//! Portable scalar int8 micro-kernel `gemm_ukr_reference_i8_4x16`: the fallback and the test
//! oracle of the int8 kernels. Per k group of 4 and C element it adds the four products
//! `u8·i8` to an i32 accumulator — what one `vpdpbusd` lane does — with wrapping (two's
//! complement) i32 arithmetic, so every path computes the same integers whatever the order.
//! The dequantizing epilogue (`store_tile`) is shared with nothing else but follows the
//! SIMD kernels' operation order exactly (see `gemm::int8`).
//!
//! `gemm_ukr_reference_i8maddubs_4x16` models the AVX2 `vpmaddubsw` + `vpmaddwd` kernel
//! instead: per group of 4 and element, the two sums of two products `a·b + a'·b'` each
//! saturated to int16 (what `vpmaddubsw` stores), then added in i32 (`vpmaddwd` by ones, which
//! cannot saturate with a multiplier of 1) and to the accumulator, wrapping. On activations of
//! at most 127 no pair can reach the int16 limits (|pair| ≤ 127·128·2 = 32,512), so it
//! equals the plain reference; on full-range ones it shows what the instruction would do.

use super::reference::store_tile as store_f32_tile;
use super::{MicroKernel, TileEpi};
use crate::gemm::int8::dequantize;
use crate::gemm::pack::PANEL;

/// Scalar int8 4×16 kernel.
#[allow(non_camel_case_types)]
pub struct ReferenceI8_4x16;

/// Scalar int8 4×16 kernel with `vpmaddubsw`'s saturating int16 pair sums.
#[allow(non_camel_case_types)]
pub struct ReferenceMaddubsI8_4x16;

/// The sum of the 4 products of one group: exact (`vpdpbusd`), or as `vpmaddubsw` +
/// `vpmaddwd` by ones compute it (each pair sum saturated to int16; their sum is exact).
#[inline(always)]
pub fn group_dot<const SATURATE: bool>(a4: &[u8], b4: &[i8]) -> i32 {
    let pair = |t: usize| a4[t] as i32 * b4[t] as i32 + a4[t + 1] as i32 * b4[t + 1] as i32;
    if SATURATE {
        let sat = |x: i32| x.clamp(i16::MIN as i32, i16::MAX as i32);
        sat(pair(0)) + sat(pair(2))
    } else {
        pair(0) + pair(2)
    }
}

impl MicroKernel for ReferenceMaddubsI8_4x16 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_reference_i8maddubs_4x16";

    fn supported() -> bool {
        true
    }

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
        // SAFETY: forwarded contract.
        unsafe { tile_scalar::<true>(kc, a, a_rs, b, c, rs_c, rows, cols, epi) }
    }
}

const MR: usize = 4;
const NR: usize = 16;

impl MicroKernel for ReferenceI8_4x16 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_reference_i8_4x16";

    fn supported() -> bool {
        true
    }

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
        // SAFETY: forwarded contract.
        unsafe { tile_scalar::<false>(kc, a, a_rs, b, c, rs_c, rows, cols, epi) }
    }
}

/// Both scalar kernels: the group sums by [`group_dot`].
///
/// # Safety
/// The [`MicroKernel::tile`] contract, A row-major.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_scalar<const SATURATE: bool>(
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
    let groups = kc / 4;
    let a_len = if kc == 0 { 0 } else { (rows - 1) * a_rs + kc };
    let b_len = if groups == 0 {
        0
    } else {
        (groups - 1) * 4 * PANEL + 4 * NR
    };
    // SAFETY: the caller guarantees A holds `rows` rows of kc bytes at stride a_rs and `b`
    // kc/4 group rows of 4·NR bytes at stride 4·PANEL.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a, a_len),
            std::slice::from_raw_parts(b, b_len),
        )
    };
    let mut acc = [[0i32; NR]; MR];
    for g in 0..groups {
        let bg = &b[g * 4 * PANEL..g * 4 * PANEL + 4 * NR];
        for (i, row) in acc.iter_mut().enumerate().take(rows) {
            let a4 = &a[i * a_rs + 4 * g..i * a_rs + 4 * g + 4];
            for (x, b4) in row.iter_mut().zip(bg.chunks_exact(4)) {
                *x = x.wrapping_add(group_dot::<SATURATE>(a4, b4));
            }
        }
    }
    // SAFETY: forwarded contract (C tile, bias, residual, quant operands).
    unsafe { store_tile(&acc, rows, cols, c, rs_c, epi) }
}

/// The scalar int8 epilogue: adds C's i32 partial sums unless `epi.first`; stores i32 sums
/// back into C's bits unless this is the last k block of a dequantized product; else
/// dequantizes ([`dequantize`]) and runs the fp32 epilogue on the values.
///
/// # Safety
/// The C, bias, residual and `epi.quant` parts of the [`MicroKernel::tile`] contract.
pub(crate) unsafe fn store_tile<const R: usize, const N: usize>(
    acc: &[[i32; N]; R],
    rows: usize,
    cols: usize,
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpi,
) {
    let deq = epi.last && epi.quant.is_some();
    let q = &epi.quant;
    let mut out = [[0.0f32; N]; R];
    for (i, row) in acc.iter().enumerate().take(rows) {
        for (j, &x) in row.iter().enumerate().take(cols) {
            // SAFETY: i < rows, j < cols: inside the tile the caller lets us read and write;
            // C holds i32 bits between k blocks (same size and alignment as f32).
            let cp = unsafe { c.add(i * rs_c + j) } as *mut i32;
            let v = if epi.first {
                x
            } else {
                // SAFETY: as above; C is readable unless `first`.
                x.wrapping_add(unsafe { *cp })
            };
            if deq {
                // SAFETY: non-null quant operands hold `rows` row and `cols` column entries.
                out[i][j] = unsafe {
                    dequantize(
                        v,
                        *q.row_zp.add(i),
                        *q.col_sum.add(j),
                        *q.row_scale.add(i),
                        *q.col_scale.add(j),
                    )
                };
            } else {
                // SAFETY: inside the writable tile.
                unsafe { *cp = v };
            }
        }
    }
    if deq {
        let epi = TileEpi {
            first: true,
            ..*epi
        };
        // SAFETY: forwarded contract; C is not read (`first`).
        unsafe { store_f32_tile(&out, rows, cols, c, rs_c, &epi) }
    }
}
