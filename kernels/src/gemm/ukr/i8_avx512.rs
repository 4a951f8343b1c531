//! AVX-512 VNNI int8 micro-kernel `gemm_ukr_avx512vnni_i8_12x32`: 12 rows × 32 columns of C in
//! 24 zmm i32 accumulators; A read row-major as uint8 (one 32-bit group of 4 consecutive k
//! broadcast per row and group), B from int8 panels of 4-k groups (2 × 64-byte loads per
//! group); 24 `vpdpbusd` per group, each 4 multiply-adds per i32 lane. `vpdpbusd` (not the
//! saturating `vpdpbusds`, nor `vpmaddubsw`'s int16 sums) wraps like two's complement i32
//! addition, so it computes exactly the reference's integers.
//!
//! The epilogue dequantizes in registers (`gemm::int8::dequantize`, the same operations in
//! the same order as the scalar reference) and hands the fp32 tile to the fp32 kernel's own
//! epilogue (`avx512::store_tile`: bias, GELU, residual).

use std::arch::x86_64::*;

use super::avx512::{mask, store_tile as store_f32_tile};
use super::x86_loop::k_loop;
use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 12;
const NR: usize = 32;

/// AVX512_VNNI 12×32 int8 kernel.
#[allow(non_camel_case_types)]
pub struct Avx512VnniI8_12x32;

impl MicroKernel for Avx512VnniI8_12x32 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_avx512vnni_i8_12x32";

    fn supported() -> bool {
        crate::dispatch::Isa::Avx512Vnni.is_supported()
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
        // SAFETY: forwarded trait contract (features present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_vnni, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                12 1 2 3 4 5 6 7 8 9 10 11)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX-512F/BW/VNNI present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_vnni<const R: usize>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    b: *const i8,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // SAFETY: `k_loop` passes a group row of the B panel (two 64-byte vectors) of a group
    // g < kc/4 (contract).
    let load = |bp: *const i8| unsafe {
        (
            _mm512_loadu_si512(bp.cast()),
            _mm512_loadu_si512(bp.add(64).cast()),
        )
    };
    let update = |x, y, ap: *const u8, &(b0, b1): &(__m512i, __m512i)| {
        // SAFETY: `k_loop` passes the group A(i, 4g..4g+4) of a row i < R and a group
        // g < kc/4, inside row i of A (contract).
        let av = _mm512_set1_epi32(unsafe { (ap as *const u32).read_unaligned() } as i32);
        (
            _mm512_dpbusd_epi32(x, av, b0),
            _mm512_dpbusd_epi32(y, av, b1),
        )
    };
    // SAFETY: forwarded contract: kc/4 groups of A (4 bytes a group, row a_rs) and of the B
    // panel (4·PANEL bytes a group) are inside A and B; avx512f present.
    let (c0, c1) = unsafe {
        k_loop::<R, 2, __m512i, u8, i8, _>(
            kc / 4,
            (a, 4, a_rs),
            (b, 4 * PANEL),
            (c, rs_c),
            epi,
            _mm512_setzero_si512(),
            load,
            update,
        )
    };
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}

/// The int8 epilogue on AVX-512: the i32 accumulators `c0` (columns 0..16) and `c1` (16..32)
/// of rows `0..R` (+ C's partial sums unless `first`) are stored back as i32 unless this is
/// the last block of a dequantized product; then dequantized and finished by the fp32
/// epilogue. Same operations, same order as `i8_reference::store_tile`.
///
/// # Safety
/// The C, bias, residual and `epi.quant` parts of the [`MicroKernel::tile`] contract, with
/// `rows = R`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn store_tile<const R: usize>(
    c0: &[__m512i; R],
    c1: &[__m512i; R],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let m = [mask(cols, 0), mask(cols, 1)];
    let q = &epi.quant;
    let deq = epi.last && q.is_some();
    let mut col_sum = [_mm512_setzero_si512(); 2];
    let mut col_scale = [_mm512_setzero_ps(); 2];
    if deq {
        for h in 0..2 {
            // SAFETY: masked loads read only the first `cols` entries, which exist.
            unsafe {
                col_sum[h] = _mm512_maskz_loadu_epi32(m[h], q.col_sum.add(16 * h));
                col_scale[h] = _mm512_maskz_loadu_ps(m[h], q.col_scale.add(16 * h));
            }
        }
    }
    let mut f = [[_mm512_setzero_ps(); R]; 2];
    for i in 0..R {
        for h in 0..2 {
            let mut v = if h == 0 { c0[i] } else { c1[i] };
            // SAFETY: row i < rows, columns 16h.. masked to < cols: inside the C tile, which
            // holds i32 bits between k blocks (same size as f32).
            let cp = unsafe { c.add(i * rs_c + 16 * h) } as *mut i32;
            if !epi.first {
                // SAFETY: as above; C is readable when not `first`.
                v = _mm512_add_epi32(v, unsafe { _mm512_maskz_loadu_epi32(m[h], cp) });
            }
            if deq {
                // SAFETY: non-null quant operands hold `rows` row entries.
                let (zp, sa) = unsafe { (*q.row_zp.add(i), *q.row_scale.add(i)) };
                let v = _mm512_sub_epi32(v, _mm512_mullo_epi32(_mm512_set1_epi32(zp), col_sum[h]));
                let s = _mm512_mul_ps(_mm512_set1_ps(sa), col_scale[h]);
                f[h][i] = _mm512_mul_ps(_mm512_cvtepi32_ps(v), s);
            } else {
                // SAFETY: masked store inside the writable C tile.
                unsafe { _mm512_mask_storeu_epi32(cp, m[h], v) };
            }
        }
    }
    if deq {
        let epi = TileEpi {
            first: true,
            ..*epi
        };
        // SAFETY: forwarded contract; C is not read (`first`).
        unsafe { store_f32_tile::<R>(&f[0], &f[1], c, rs_c, cols, &epi) }
    }
}
