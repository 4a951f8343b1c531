//! AVX2+FMA bf16 micro-kernel `gemm_ukr_avx2_bf16widen_4x16`: 4 rows × 16 columns of C in 8 ymm
//! accumulators; B's bf16 pairs widened to fp32 in registers (a 16-bit shift for the even k, a
//! mask for the odd k), A read as bf16-rounded values already widened to fp32, then 16 FMAs per
//! pair step, odd k first — the arithmetic of `vdpbf16ps` (see
//! `gemm::bf16`) with half the weight bytes of fp32. 4 rows (not the fp32 kernel's 6) so that
//! the accumulators, the four widened B vectors and the two A broadcasts fit in 16 registers.
//! Shares the fp32 kernel's epilogue (`avx2::store_tile`).

use std::arch::x86_64::*;

use super::avx2::store_tile;
use super::{L2Prefetch, MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

/// AVX2 widening 4×16 bf16 kernel.
#[allow(non_camel_case_types)]
pub struct Avx2Bf16Widen_4x16;

const MR: usize = 4;
const NR: usize = 16;
/// How many pair steps ahead the B panel is prefetched into L1 (64 bytes each).
const PF_PAIRS: usize = 32;

impl MicroKernel for Avx2Bf16Widen_4x16 {
    /// bf16-rounded values widened to fp32 (see `gemm::bf16`).
    type A = f32;
    type B = u16;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 2;
    const NAME: &'static str = "gemm_ukr_avx2_bf16widen_4x16";

    fn supported() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_rs: usize,
        b: *const u16,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        debug_assert!(a_rs > 0 || kc == 0, "bf16 kernels read A row-major");
        // SAFETY: forwarded trait contract (avx2+fma present, pointers valid, rows = R, A
        // row-major at stride a_rs).
        unsafe {
            super::rows_dispatch!(tile_r, rows, (kc, a, a_rs, b, c, rs_c, cols, epi), 4 1 2 3)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_r<const R: usize>(
    kc: usize,
    a: *const f32,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut c0 = [_mm256_setzero_ps(); R];
    let mut c1 = [_mm256_setzero_ps(); R];
    if !epi.first {
        for i in 0..R {
            _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * rs_c) as *const i8);
        }
    }
    let pairs = kc / 2;
    let mut b = b;
    let main = pairs.saturating_sub(PF_PAIRS);
    let mut pf = b.wrapping_add(PF_PAIRS * 2 * PANEL) as *const i8;
    let mut l2 = L2Prefetch::new(epi, pairs);
    let hi = _mm256_set1_epi32(0xFFFF_0000u32 as i32);
    for q in 0..pairs {
        l2.step();
        if q == main {
            pf = epi.next_b as *const i8;
        }
        _mm_prefetch::<_MM_HINT_T0>(pf);
        pf = pf.wrapping_add(2 * PANEL * 2);
        // SAFETY: q < kc/2, so b..b+32 is this tile's part of pair row q of the B panel;
        // A(i, 2q..2q+2) are the two floats at a + i·a_rs + 2q, inside row i of A (contract).
        unsafe {
            let b0 = _mm256_loadu_si256(b as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(NR) as *const __m256i);
            let (e0, o0) = (
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(b0)),
                _mm256_castsi256_ps(_mm256_and_si256(b0, hi)),
            );
            let (e1, o1) = (
                _mm256_castsi256_ps(_mm256_slli_epi32::<16>(b1)),
                _mm256_castsi256_ps(_mm256_and_si256(b1, hi)),
            );
            for i in 0..R {
                let ap = a.add(i * a_rs + 2 * q);
                let a_even = _mm256_broadcast_ss(&*ap);
                let a_odd = _mm256_broadcast_ss(&*ap.add(1));
                c0[i] = _mm256_fmadd_ps(a_even, e0, _mm256_fmadd_ps(a_odd, o0, c0[i]));
                c1[i] = _mm256_fmadd_ps(a_even, e1, _mm256_fmadd_ps(a_odd, o1, c1[i]));
            }
            b = b.add(2 * PANEL);
        }
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}
