//! AVX2 int8 micro-kernels, for x86-64 CPUs without VNNI (Haswell to Skylake, Zen 1–3).
//!
//! `gemm_ukr_avx2_i8widen_4x8` (path `Avx2Widen`, on 8-bit activations): exact, with no int16
//! saturation anywhere. Per group of 4 k, B's 8 columns × 4 int8 are sign-extended to int16
//! (2 × `vpmovsxbw`), each row's 4 uint8 of A zero-extended to int16 and broadcast, and
//! `vpmaddwd` forms sums of two products in i32 lanes: |255·127·2| ≪ 2³¹, and `vpmaddwd` only
//! saturates for two −32768 pairs, which cannot occur here. Each accumulator then holds two
//! partial sums per column, folded together (`vphaddd`) once per tile — integer sums, so equal
//! to the reference. 4 rows × 8 columns: 8 accumulators, 2 B vectors and an A broadcast in
//! 16 ymm registers. One `vpmaddwd` per 16 products: fp32's FMA rate.
//!
//! `gemm_ukr_avx2_i8maddubs_4x16` (path `Avx2Maddubs`, on **7-bit** activations, levels
//! 0..=127): `vpmaddubsw` multiplies 32 u8·s8 pairs and adds adjacent ones into int16 with
//! saturation — 255·127·2 would saturate, but 127·128·2 = 32,512 cannot — then `vpmaddwd` by
//! ones adds the two pair sums of a group into its i32 lane (exact). Two multiplies per 32
//! products: twice `vpmaddwd`'s rate. 4 rows × 16 columns: 8 i32 accumulators, 2 B vectors, an
//! A broadcast, the ones vector and 4 temporaries for the two-instruction chains = 16 ymm;
//! 6×16 (12 accumulators) would need 17 and spill. Its scalar model is
//! `i8_reference::ReferenceMaddubsI8_4x16`, saturation included.
//!
//! The epilogue (`store_tile`, shared with `i8_avxvnni`) dequantizes and hands the fp32 tile
//! to the fp32 AVX2 kernel's (`avx2::store_tile`).

use std::arch::x86_64::*;

use super::avx2::{load8, mask, store8, store_tile as store_f32_tile};
use super::{L2Prefetch, MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 4;
const NR: usize = 8;

/// AVX2 widening 4×8 int8 kernel.
#[allow(non_camel_case_types)]
pub struct Avx2I8Widen_4x8;

impl MicroKernel for Avx2I8Widen_4x8 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_avx2_i8widen_4x8";

    fn supported() -> bool {
        crate::dispatch::Isa::Avx2.is_supported()
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
        // SAFETY: forwarded trait contract (avx2 present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_widen, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                4 1 2 3)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX2 and FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
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
    // lo[i]: columns 0..4, hi[i]: columns 4..8, two partial sums (k pairs) per column.
    let mut lo = [_mm256_setzero_si256(); R];
    let mut hi = [_mm256_setzero_si256(); R];
    let groups = kc / 4;
    let (mut a, mut bp) = (a, b);
    for _ in 0..groups {
        // SAFETY: the group row holds NR·4 = 32 readable bytes at bp (contract); A(i, 4g..4g+4)
        // are the four bytes at a + i·a_rs + 4g, inside row i of A.
        unsafe {
            let b_lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(bp as *const __m128i));
            let b_hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(bp.add(16) as *const __m128i));
            for i in 0..R {
                let w = (a.add(i * a_rs) as *const u32).read_unaligned();
                // 4 uint8 → 4 int16 (zero-extended), repeated in every 64-bit lane.
                let a16 = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(w as i32)));
                lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(a16, b_lo));
                hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(a16, b_hi));
            }
            bp = bp.add(4 * PANEL);
        }
        a = a.wrapping_add(4);
    }
    let mut acc = [_mm256_setzero_si256(); R];
    for i in 0..R {
        // hadd → (c0 c1 c4 c5 | c2 c3 c6 c7); the 64-bit permute puts the columns in order.
        acc[i] = _mm256_permute4x64_epi64::<0xD8>(_mm256_hadd_epi32(lo[i], hi[i]));
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands.
    unsafe { store_tile::<R, 1>(&[acc], c, rs_c, cols, epi) }
}

/// AVX2 `vpmaddubsw` 4×16 int8 kernel (activations of 7 bits).
#[allow(non_camel_case_types)]
pub struct Avx2I8Maddubs_4x16;

/// Rows of the `vpmaddubsw` kernel's tile.
const MR_MADDUBS: usize = 4;
/// Columns of the `vpmaddubsw` kernel's tile (two ymm of 8 i32 columns).
const NR_MADDUBS: usize = 16;
/// How many groups ahead the `vpmaddubsw` kernel prefetches B into L1 (one 64-byte line each).
const PF_GROUPS: usize = 16;

impl MicroKernel for Avx2I8Maddubs_4x16 {
    type A = u8;
    type B = i8;
    const MR: usize = MR_MADDUBS;
    const NR: usize = NR_MADDUBS;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_avx2_i8maddubs_4x16";

    fn supported() -> bool {
        crate::dispatch::Isa::Avx2.is_supported()
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
        // SAFETY: forwarded trait contract (avx2 present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_maddubs, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                4 1 2 3)
        }
    }
}

/// Per group of 4 k and row: `vpmaddubsw` of the row's 4 uint8 (broadcast) by the 16 columns'
/// 4 int8 → per column two saturating int16 pair sums; `vpmaddwd` by ones → their i32 sum;
/// `vpaddd` into the accumulator. The accumulators' only loop-carried dependency is the
/// 1-cycle `vpaddd`, so 8 of them suffice; the multiply pipes (2 per cycle on Zen 2/3 and
/// Skylake) are the limit: 16 multiplies per group, 8 cycles for 256 u8·s8 products.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX2 and FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // `i` indexes A's rows and both accumulator halves
#[allow(clippy::too_many_arguments)]
unsafe fn tile_maddubs<const R: usize>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    b: *const i8,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc = [[_mm256_setzero_si256(); R]; 2];
    if !epi.first {
        // Start fetching the C tile (the partial sums) now; it is read only after the k loop.
        for i in 0..R {
            _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * rs_c) as *const i8);
        }
    }
    let ones = _mm256_set1_epi16(1);
    let groups = kc / 4;
    let mut bp = b;
    // Prefetch B PF_GROUPS groups ahead; over the last ones, the next tile's B.
    let main = groups.saturating_sub(PF_GROUPS);
    let mut pf = b.wrapping_add(PF_GROUPS * 4 * PANEL);
    let mut l2 = L2Prefetch::new(epi, groups);
    for g in 0..groups {
        l2.step();
        if g == main {
            pf = epi.next_b as *const i8;
        }
        _mm_prefetch::<_MM_HINT_T0>(pf);
        pf = pf.wrapping_add(4 * PANEL);
        // SAFETY: g < kc/4, so bp..bp+64 is group row g of the tile's B (16 columns × 4 k);
        // A(i, 4g..4g+4) are the four bytes at a + i·a_rs + 4g, inside row i of A (contract).
        unsafe {
            let b0 = _mm256_loadu_si256(bp as *const __m256i);
            let b1 = _mm256_loadu_si256(bp.add(32) as *const __m256i);
            for i in 0..R {
                let w = (a.add(i * a_rs + 4 * g) as *const u32).read_unaligned();
                let av = _mm256_set1_epi32(w as i32);
                let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones);
                acc[0][i] = _mm256_add_epi32(acc[0][i], p0);
                acc[1][i] = _mm256_add_epi32(acc[1][i], p1);
            }
            bp = bp.add(4 * PANEL);
        }
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands.
    unsafe { store_tile::<R, 2>(&acc, c, rs_c, cols, epi) }
}

/// The int8 epilogue of every AVX2-class kernel (this one, `i8_avxvnni`): the i32
/// accumulators `acc[h]` (columns `8h..8h+8`, `H` ≤ 2 halves) of rows `0..R` (+ C's partial
/// sums unless `first`) are stored back as i32 unless this is the last block of a dequantized
/// product; then dequantized and finished by the fp32 AVX2 epilogue. Same operations, same
/// order as `i8_reference::store_tile` (see `i8_avx512::store_tile`).
///
/// # Safety
/// The C, bias, residual and `epi.quant` parts of the [`MicroKernel::tile`] contract, with
/// `rows = R` and `cols ≤ 8·H`.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // `h` indexes masks, column operands and halves alike
pub(crate) unsafe fn store_tile<const R: usize, const H: usize>(
    acc: &[[__m256i; R]; H],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    const { assert!(H == 1 || H == 2) };
    let m = [mask(cols, 0).0, mask(cols, 1).0];
    // Whether each half's 8 columns are all inside the tile: plain loads and stores (`store8`).
    let full = [cols >= 8, cols >= 16];
    let q = &epi.quant;
    let deq = epi.last && q.is_some();
    let mut col_sum = [_mm256_setzero_si256(); 2];
    let mut col_scale = [_mm256_setzero_ps(); 2];
    if deq {
        for h in 0..H {
            // SAFETY: the loads read only the first `cols` entries, which exist.
            unsafe {
                col_sum[h] = _mm256_castps_si256(load8(q.col_sum.add(8 * h).cast(), m[h], full[h]));
                col_scale[h] = load8(q.col_scale.add(8 * h), m[h], full[h]);
            }
        }
    }
    let mut f = [[_mm256_setzero_ps(); R]; 2];
    for i in 0..R {
        for h in 0..H {
            let mut v = acc[h][i];
            // Row i < rows, columns 8h.. masked to < cols: inside the C tile, which holds i32
            // bits between k blocks (same size as f32). A fully masked half touches no memory,
            // so its address is only formed (wrapping).
            let cp = c.wrapping_add(i * rs_c + 8 * h) as *mut i32;
            if !epi.first {
                // SAFETY: as above; C is readable when not `first`.
                let old = unsafe { load8(cp.cast(), m[h], full[h]) };
                v = _mm256_add_epi32(v, _mm256_castps_si256(old));
            }
            if deq {
                // SAFETY: non-null quant operands hold `rows` row entries.
                let (zp, sa) = unsafe { (*q.row_zp.add(i), *q.row_scale.add(i)) };
                let v = _mm256_sub_epi32(v, _mm256_mullo_epi32(_mm256_set1_epi32(zp), col_sum[h]));
                let s = _mm256_mul_ps(_mm256_set1_ps(sa), col_scale[h]);
                f[h][i] = _mm256_mul_ps(_mm256_cvtepi32_ps(v), s);
            } else {
                // SAFETY: inside the writable C tile (masked to cols unless the half is full).
                unsafe { store8(cp.cast(), m[h], full[h], _mm256_castsi256_ps(v)) };
            }
        }
    }
    if deq {
        let epi = TileEpi {
            first: true,
            ..*epi
        };
        // SAFETY: forwarded contract; C is not read (`first`); with H = 1, cols ≤ 8, so the
        // second (zero) half is masked off entirely.
        unsafe { store_f32_tile::<R>(&f[0], &f[1], c, rs_c, cols, &epi) }
    }
}
