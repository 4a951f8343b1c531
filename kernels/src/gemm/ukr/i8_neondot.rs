//! aarch64 FEAT_DotProd int8 micro-kernel `gemm_ukr_neondot_i8_8x8` (Neoverse N1: Graviton 2,
//! Ampere Altra; Apple M1; Cortex-A76 and later): 8 rows × 8 columns of C in 16 i32
//! accumulators, on `sdot vd.4s, vn.16b, vm.4b[lane]` — per 32-bit lane l of vd, the four
//! products of bytes `4l..4l+4` of vn with the four bytes of vm's lane, summed.
//!
//! * **B as `vn`, straight from the packed panels**: a 16-byte load of a group row is 4
//!   columns × 4 consecutive k, exactly `vn`'s four lanes (the `vpdpbusd` layout is the
//!   `sdot` layout); a group of 8 columns is 2 loads.
//! * **A as `vm`, one row per register, four groups in its four lanes**: a 16-byte load of
//!   row i holds k..k+16 = groups g..g+4, and `vm.4b[l]` picks group g+l — no transposition.
//!   The k loop is unrolled by 4 groups: 8 A loads, then per group 2 B loads and 16 `sdot`.
//! * **u8 × s8 on a s8 × s8 instruction**: `sdot` is signed·signed, A is uint8. Each A byte is
//!   flipped as it is loaded (`eor 0x80`: q_A − 128 in −128..=127), so the kernel sums
//!   `Σ (q_A − 128)·q_B = Σ q_A·q_B − 128·Σ q_B`. When it dequantizes, the −128 is folded into
//!   the zero-point correction (`z − 128` against the full column sums, `i8_neon::store_tile`),
//!   and these flipped sums are what C holds between k blocks; when it stores integers (no
//!   dequantization: `I8Kernels::sums`), it adds 128·(the k block's column sums) back itself
//!   (one extra pass over the B micro-panel, `sdot` against ones), so C holds the reference's
//!   integers. Both are wrapping i32 identities: the results are the reference's bit for bit.
//!   |Σ| stays below 2³¹ as in the reference (|q_A − 128| ≤ 128, |q_B| ≤ 127).
//!
//! **Registers** (32 × 128-bit): 16 accumulators + 8 A rows + 2 B vectors + the 0x80
//! constant = 27. Per 16 k (4 groups): 8 A loads + 8 `eor`, 8 B loads, 64 `sdot` = 1,024
//! multiply-adds — 0.25 loads and 0.125 `eor` per `sdot`, and 32 bytes of B from L2 per 16
//! `sdot`. (The alternatives: 12×8 needs 24 accumulators + 12 A rows; 8×16, 32 accumulators;
//! A transposed into 4 rows per register for a 12×8 tile costs 8 permutes per 4 rows and 4
//! groups, 0.38 vector ops per `sdot` instead of 0.125. 4×16 has fewer `eor`s, 1/16 per `sdot`,
//! but reads twice the B bytes per `sdot`.) With NR = 8, the four tiles of a 32-wide panel
//! read the same cache lines of B one after the other, so three of them find B in L1.
//!
//! `sdot` is written with `asm!` (its intrinsics are unstable in Rust 1.96); everything else
//! is NEON intrinsics.

use std::arch::aarch64::*;
use std::arch::asm;

use super::i8_neon::{store_tile, NR};
use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 8;

/// FEAT_DotProd 8×8 int8 kernel.
#[allow(non_camel_case_types)]
pub struct NeonDotI8_8x8;

impl MicroKernel for NeonDotI8_8x8 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_neondot_i8_8x8";

    fn supported() -> bool {
        crate::dispatch::Isa::NeonDot.is_supported()
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
        // SAFETY: forwarded trait contract (dotprod present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_sdot, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                8 1 2 3 4 5 6 7)
        }
    }
}

/// `$acc += sdot($b, $a.4b[$lane])`: per lane, four s8·s8 products summed into i32.
macro_rules! sdot_lane {
    ($acc:expr, $b:expr, $a:expr, $lane:literal) => {
        // SAFETY: a register-only arithmetic instruction; the enclosing function enables
        // dotprod, which the caller has checked the CPU has.
        unsafe {
            asm!(
                "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{lane}]",
                acc = inout(vreg) $acc,
                b = in(vreg) $b,
                a = in(vreg) $a,
                lane = const $lane,
                options(pure, nomem, nostack, preserves_flags),
            )
        }
    };
}

/// One group's products: B's group row at `$bp` against lane `$lane` of every row of `$av`.
macro_rules! sdot_group {
    ($acc:ident, $av:ident, $bp:expr, $lane:literal) => {{
        // SAFETY: `$bp` is a group row (< kc/4) of the B panel: 32 readable bytes (contract).
        let (b0, b1) = unsafe { (vld1q_s8($bp), vld1q_s8($bp.add(16))) };
        for (c, &a) in $acc.iter_mut().zip(&$av) {
            sdot_lane!(c[0], b0, a, $lane);
            sdot_lane!(c[1], b1, a, $lane);
        }
    }};
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; NEON and dotprod present.
#[inline]
#[target_feature(enable = "neon,dotprod")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_sdot<const R: usize>(
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
    let flip = vdupq_n_u8(0x80);
    let groups = kc / 4;
    let (mut ap, mut bp) = (a, b);
    for _ in 0..groups / 4 {
        let mut av = [vdupq_n_s8(0); R];
        for (i, v) in av.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 16) are 4 whole groups left in row i's kc bytes.
            let x = unsafe { vld1q_u8(ap.add(i * a_rs)) };
            *v = vreinterpretq_s8_u8(veorq_u8(x, flip));
        }
        sdot_group!(acc, av, bp, 0);
        sdot_group!(acc, av, bp.add(4 * PANEL), 1);
        sdot_group!(acc, av, bp.add(8 * PANEL), 2);
        sdot_group!(acc, av, bp.add(12 * PANEL), 3);
        ap = ap.wrapping_add(16);
        bp = bp.wrapping_add(16 * PANEL);
    }
    for _ in 0..groups % 4 {
        let mut av = [vdupq_n_s8(0); R];
        for (i, v) in av.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 4) is a group left in row i's kc bytes.
            let w = unsafe { (ap.add(i * a_rs) as *const u32).read_unaligned() };
            *v = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(w)), flip));
        }
        sdot_group!(acc, av, bp, 0);
        ap = ap.wrapping_add(4);
        bp = bp.wrapping_add(4 * PANEL);
    }
    if !epi.quant.is_some() {
        // Integer output: add 128·Σ_block q_B back, column by column.
        let ones = vdupq_n_s8(1);
        let mut cs = [vdupq_n_s32(0); 2];
        let mut bp = b;
        for _ in 0..groups {
            // SAFETY: group rows g < kc/4 of the B panel, 32 readable bytes each.
            let (b0, b1) = unsafe { (vld1q_s8(bp), vld1q_s8(bp.add(16))) };
            for (s, bv) in cs.iter_mut().zip([b0, b1]) {
                // SAFETY: register-only arithmetic; dotprod is enabled here and present.
                unsafe {
                    asm!(
                        "sdot {s:v}.4s, {b:v}.16b, {o:v}.16b",
                        s = inout(vreg) *s,
                        b = in(vreg) bv,
                        o = in(vreg) ones,
                        options(pure, nomem, nostack, preserves_flags),
                    )
                };
            }
            bp = bp.wrapping_add(4 * PANEL);
        }
        let cs = [vshlq_n_s32::<7>(cs[0]), vshlq_n_s32::<7>(cs[1])];
        for row in acc.iter_mut() {
            *row = [vaddq_s32(row[0], cs[0]), vaddq_s32(row[1], cs[1])];
        }
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands; the sums are
    // Σ (q_A − 128)·q_B exactly when dequantized, hence the −128.
    unsafe { store_tile::<R>(&acc, -128, c, rs_c, cols, epi) }
}
