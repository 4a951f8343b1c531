//! aarch64 FEAT_I8MM int8 micro-kernel `gemm_ukr_neoni8mm_i8_12x8` (Neoverse V1/V2/N2:
//! Graviton 3 and 4, Google Axion; Apple M2 and later): 12 rows × 8 columns of C in 24 i32
//! accumulators, on `usmmla vd.4s, vn.16b, vm.16b` — vn a 2×8 matrix of **u**int8 (two rows of
//! A, 8 consecutive k each), vm a 2×8 matrix of **s**int8 (two columns of B, the same 8 k),
//! vd += vn·vmᵀ, the 2×2 i32 block `(r0·c0, r0·c1, r1·c0, r1·c1)`: 32 multiply-adds per
//! instruction. u8 × s8 is exactly the scheme's operand pair: no flip, no correction; the
//! integers are the reference's (wrapping i32 sums of exact products).
//!
//! * **B from the unchanged panels**: two consecutive group rows g, g+1 of 4 columns are two
//!   16-byte loads, `(c0 k0..4 | c1 k0..4 | c2 k0..4 | c3 k0..4)` and the same for k4..8;
//!   `zip1`/`zip2` on 32-bit elements make `(c0 k0..8 | c1 k0..8)` and `(c2 k0..8 | c3 k0..8)`,
//!   two `vm` operands. 8 columns: 4 loads + 4 zips per 8 k.
//! * **A from the row-major rows**: `vn` is 8 bytes of row i and 8 of row i+1 (`ldr d` +
//!   `ld1 {v.d}[1]`), one operand per row pair and 8 k.
//! * **Results interleave rows**: accumulator (pair p, column pair q) holds rows 2p, 2p+1 ×
//!   columns 2q, 2q+1; the epilogue de-interleaves with `zip1`/`zip2` on 64-bit elements (row
//!   2p, columns 0..4 = the low halves of column pairs 0 and 1) and then runs the shared
//!   `i8_neon::store_tile`. An odd trailing group (k ≡ 4 mod 8) is multiplied with zeros for
//!   its missing half; an odd row count repeats the last row in its pair (read, never stored).
//!
//! **Registers** (32 × 128-bit): 24 accumulators + 4 B operands + 2 raw B loads + 1–2 A
//! operands ≤ 32 (the compiled loop keeps everything in registers, no spills). Per 8 k:
//! 4 B loads + 4 `zip`, 12 A half-loads, 24 `usmmla` = 768 multiply-adds — 0.17 vector
//! permutes per `usmmla` and 16 bytes of B per 6 `usmmla`. The alternatives: 8×8 has
//! 16 accumulators and 0.25 permutes per instruction; 6×16 the same 24 accumulators but
//! 8 zips per 24 `usmmla`; 12×16 or 8×16 need 48 or 32 accumulators. MR = 12 divides
//! BERT's 384 tokens (and 128: 10 tiles + 8 rows).
//!
//! `usmmla` is written with `asm!` (its intrinsic is unstable in Rust 1.96); everything else
//! is NEON intrinsics.

use std::arch::aarch64::*;
use std::arch::asm;

use super::i8_neon::{store_tile, NR};
use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 12;

/// FEAT_I8MM 12×8 int8 kernel.
#[allow(non_camel_case_types)]
pub struct NeonI8mmI8_12x8;

impl MicroKernel for NeonI8mmI8_12x8 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_neoni8mm_i8_12x8";

    fn supported() -> bool {
        crate::dispatch::Isa::NeonI8mm.is_supported()
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
        macro_rules! dispatch {
            ($($r:literal $p:literal)*) => {
                match rows {
                    // SAFETY: forwarded trait contract (i8mm present, pointers valid, rows = R).
                    $($r => unsafe { tile_mmla::<$r, $p>(kc, a, a_rs, b, c, rs_c, cols, epi) },)*
                    rows => unreachable!("rows = {rows} > MR"),
                }
            };
        }
        dispatch!(12 6 1 1 2 1 3 2 4 2 5 3 6 3 7 4 8 4 9 5 10 5 11 6)
    }
}

/// `$acc += $a·$bᵀ`: the 2×8 u8 block times the 2×8 s8 block, a 2×2 i32 block.
///
/// Deliberately not `pure, nomem`: as far as the compiler knows the instruction may touch
/// memory, so it keeps the loads of A where the source has them, between the row pairs'
/// products. Free to hoist them, LLVM loaded all 6 A operands of a step first: 24
/// accumulators + 4 B + 6 A + temporaries > 32 registers, spills and a 20-`mov` register
/// rotation per step.
macro_rules! usmmla {
    ($acc:expr, $a:expr, $b:expr) => {
        // SAFETY: a register-only arithmetic instruction (it reads and writes no memory);
        // the enclosing function enables i8mm, which the caller has checked the CPU has.
        unsafe {
            asm!(
                "usmmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) $acc,
                a = in(vreg) $a,
                b = in(vreg) $b,
                options(nostack, preserves_flags),
            )
        }
    };
}

/// The four `vm` operands (column pairs 0–1, 2–3, 4–5, 6–7) of 8 k from B's group rows `lo`
/// (k0..4) and `hi` (k4..8), 32 bytes each (8 columns × 4 k).
#[inline]
#[target_feature(enable = "neon")]
fn b_operands(lo: [int8x16_t; 2], hi: [int8x16_t; 2]) -> [int8x16_t; 4] {
    let mut out = [vdupq_n_s8(0); 4];
    for h in 0..2 {
        let (l, u) = (vreinterpretq_s32_s8(lo[h]), vreinterpretq_s32_s8(hi[h]));
        out[2 * h] = vreinterpretq_s8_s32(vzip1q_s32(l, u));
        out[2 * h + 1] = vreinterpretq_s8_s32(vzip2q_s32(l, u));
    }
    out
}

/// The `vn` operand of two rows: 8 bytes at `r0`, then 8 at `r1` (`ldr d` + `ld1 {v.d}[1]`).
///
/// # Safety
/// `r0..r0 + 8` and `r1..r1 + 8` are readable.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn a_pair(r0: *const u8, r1: *const u8) -> uint8x16_t {
    // SAFETY: 8 readable bytes at each (caller); unaligned reads.
    let (lo, hi) = unsafe {
        (
            (r0 as *const u64).read_unaligned(),
            (r1 as *const u64).read_unaligned(),
        )
    };
    vreinterpretq_u8_u64(vsetq_lane_u64::<1>(
        hi,
        vcombine_u64(vcreate_u64(lo), vcreate_u64(0)),
    ))
}

/// The tile with `R` rows in `P = ⌈R/2⌉` row pairs.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; NEON and i8mm present.
#[inline]
#[target_feature(enable = "neon,i8mm")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_mmla<const R: usize, const P: usize>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    b: *const i8,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // Row pairs: [(2p, 2p + 1)], the last one (2p, 2p) when R is odd.
    const { assert!(P == R.div_ceil(2) && R <= MR) };
    let mut acc = [[vdupq_n_s32(0); 4]; P];
    let row_hi = |p: usize| (2 * p + 1).min(R - 1);
    let groups = kc / 4;
    let (mut ap, mut bp) = (a, b);
    for _ in 0..groups / 2 {
        // SAFETY: group rows g, g + 1 (< kc/4) of the B panel, 32 readable bytes each.
        let bv = unsafe {
            let hi = bp.add(4 * PANEL);
            b_operands(
                [vld1q_s8(bp), vld1q_s8(bp.add(16))],
                [vld1q_s8(hi), vld1q_s8(hi.add(16))],
            )
        };
        for (p, c) in acc.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 8) for rows i = 2p and row_hi(p) < R: two whole groups
            // left in those rows' kc bytes.
            let av = unsafe { a_pair(ap.add(2 * p * a_rs), ap.add(row_hi(p) * a_rs)) };
            for (x, &bq) in c.iter_mut().zip(&bv) {
                usmmla!(*x, av, bq);
            }
        }
        ap = ap.wrapping_add(8);
        bp = bp.wrapping_add(8 * PANEL);
    }
    if groups % 2 == 1 {
        let zero = vdupq_n_s8(0);
        // SAFETY: the last group row (< kc/4) of the B panel, 32 readable bytes.
        let bv = unsafe { b_operands([vld1q_s8(bp), vld1q_s8(bp.add(16))], [zero; 2]) };
        for (p, c) in acc.iter_mut().enumerate() {
            // SAFETY: A(i, p..p + 4) is the last group of rows 2p and row_hi(p) < R.
            let (w0, w1) = unsafe {
                (
                    (ap.add(2 * p * a_rs) as *const u32).read_unaligned(),
                    (ap.add(row_hi(p) * a_rs) as *const u32).read_unaligned(),
                )
            };
            // (row 2p: k0..4, 0 0 0 0 | row 2p+1: k0..4, 0 0 0 0); B's k4..8 are zeros too.
            let av =
                vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(w0 as u64), vcreate_u64(w1 as u64)));
            for (x, &bq) in c.iter_mut().zip(&bv) {
                usmmla!(*x, av, bq);
            }
        }
    }
    // De-interleave: row 2p = the low 64 bits of each column-pair block, row 2p+1 the high.
    let mut rows = [[vdupq_n_s32(0); 2]; R];
    for (i, row) in rows.iter_mut().enumerate() {
        let c = &acc[i / 2];
        let (q01, q23, q45, q67) = (
            vreinterpretq_s64_s32(c[0]),
            vreinterpretq_s64_s32(c[1]),
            vreinterpretq_s64_s32(c[2]),
            vreinterpretq_s64_s32(c[3]),
        );
        *row = if i % 2 == 0 {
            [
                vreinterpretq_s32_s64(vzip1q_s64(q01, q23)),
                vreinterpretq_s32_s64(vzip1q_s64(q45, q67)),
            ]
        } else {
            [
                vreinterpretq_s32_s64(vzip2q_s64(q01, q23)),
                vreinterpretq_s32_s64(vzip2q_s64(q45, q67)),
            ]
        };
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands.
    unsafe { store_tile::<R>(&rows, 0, c, rs_c, cols, epi) }
}
