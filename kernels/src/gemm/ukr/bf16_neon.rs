//! aarch64 NEON bf16 micro-kernel `gemm_ukr_neon_bf16widen_4x16`, for CPUs without FEAT_BF16:
//! 4 rows × 16 columns of C in 16 accumulators; B's bf16 pairs widened to fp32 in registers (a
//! 16-bit left shift of each 32-bit lane for the even k, a mask of its high half for the odd k),
//! A read as bf16-rounded values already widened to fp32 (one 2-float load per row and pair
//! step, used in place as the two lanes of `fmla` by element), then 32 `fmla` per pair step,
//! odd k first — the arithmetic of the bf16 reference kernel (see `gemm::bf16`): a product of
//! two bf16 values is exact in fp32, so each fused multiply-add rounds once, as the reference's
//! separate multiply and add do. Half the weight bytes of fp32.
//!
//! Registers: 16 accumulators + 8 widened B vectors (4 even, 4 odd; the 4 loaded vectors die
//! in the widening) + 4 A pairs + the mask = 29 of 32. Six rows (the fp32 kernel's) would need
//! 24 + 8 + 6 + 1 = 39. Per pair step: 4 B loads (64 bytes), 4 A loads, 8 integer ops, 32
//! `fmla` (4 per load). Shares the fp32 kernel's epilogue (`neon::store_tile`).

use std::arch::aarch64::*;

use super::neon::store_tile;
use super::{prefetch_l1, L2Prefetch, MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

/// NEON widening 4×16 bf16 kernel.
#[allow(non_camel_case_types)]
pub struct NeonBf16Widen_4x16;

const MR: usize = 4;
const NR: usize = 16;
/// How many pair steps ahead the B panel is prefetched into L1 (64 bytes each).
const PF_PAIRS: usize = 32;

impl MicroKernel for NeonBf16Widen_4x16 {
    /// bf16-rounded values widened to fp32 (see `gemm::bf16`).
    type A = f32;
    type B = u16;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 2;
    const NAME: &'static str = "gemm_ukr_neon_bf16widen_4x16";

    fn supported() -> bool {
        std::arch::is_aarch64_feature_detected!("neon")
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
        // SAFETY: forwarded trait contract (neon present, pointers valid, rows = R, A
        // row-major at stride a_rs).
        unsafe {
            super::rows_dispatch!(tile_r, rows, (kc, a, a_rs, b, c, rs_c, cols, epi), 4 1 2 3)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major.
// Not inlined into the driver: its live values would crowd the 31 registers of the k loop
// (inlined, LLVM spilled an accumulator); one call per tile of kc·24 `fmla`.
#[inline(never)]
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // `i` indexes the accumulators and A's rows alike
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
    let mut acc = [[vdupq_n_f32(0.0); 4]; R];
    if !epi.first {
        for i in 0..R {
            prefetch_l1(c.wrapping_add(i * rs_c) as *const u8);
        }
    }
    let pairs = kc / 2;
    let mut b = b;
    let main = pairs.saturating_sub(PF_PAIRS);
    let mut pf = b.wrapping_add(PF_PAIRS * 2 * PANEL);
    let mut l2 = L2Prefetch::new(epi, pairs);
    let hi = vdupq_n_u32(0xFFFF_0000);
    for q in 0..pairs {
        l2.step();
        if q == main {
            pf = epi.next_b.cast();
        }
        prefetch_l1(pf.cast());
        pf = pf.wrapping_add(2 * PANEL);
        // SAFETY: q < kc/2, so b..b + 32 is this tile's part of pair row q of the B panel (16
        // columns × 2); A(i, 2q..2q + 2) are the two floats at a + i·a_rs + 2q, inside row i
        // of A (contract).
        unsafe {
            // Lane j of vector v: column 4v + j, B(2q) in its low half, B(2q + 1) in its high.
            let raw = [0, 8, 16, 24].map(|o| vreinterpretq_u32_u16(vld1q_u16(b.add(o))));
            let even = raw.map(|r| vreinterpretq_f32_u32(vshlq_n_u32::<16>(r)));
            let odd = raw.map(|r| vreinterpretq_f32_u32(vandq_u32(r, hi)));
            for i in 0..R {
                // (A(i, 2q), A(i, 2q + 1)).
                let ap = vld1_f32(a.add(i * a_rs + 2 * q));
                for v in 0..4 {
                    let t = vfmaq_lane_f32::<1>(acc[i][v], odd[v], ap);
                    acc[i][v] = vfmaq_lane_f32::<0>(t, even[v], ap);
                }
            }
            b = b.add(2 * PANEL);
        }
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&acc, c, rs_c, cols, epi) }
}
