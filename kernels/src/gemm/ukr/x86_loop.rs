//! The k loop of the x86-64 broadcast kernels (fp32 AVX-512 12×32, the AVX-512 bf16 ones, int8
//! AVX-512 VNNI and AVX-VNNI 6×16): up to 12 rows × two vectors of accumulators, generic over
//! the vector type and over what a k step does with B and A. (The AVX2 fp32 kernel has its
//! own loop of the same shape: on this loop it measured 1–2 % slower, BERT-large and MiniLM on
//! the `avx2` level, for reasons not found — the k loops' instructions are the same.)
//!
//! Why one loop, written so: (1) the accumulators are named variables, not an indexed array —
//! some monomorphisations of an array kept it in memory, every update then storing to the
//! stack (the AVX2 fp32 kernel's row-major and short-row copies did: a third of attention's
//! time); (2) the loop is unrolled by 4 steps with the L2-prefetch counter advanced once per
//! 4 (`L2Prefetch::step4`): one step per iteration left ~10 integer µops per 24 vector updates
//! in the AVX-512 kernels, which share the two FMA ports with them — the fp32 kernel ran at
//! 73–80 % of the `vfmadd231ps zmm` peak with its data in L1, and the fp32 forward pass of
//! BERT-large took 1.09–1.12× its present time, int8 1.10× (Sapphire-Rapids-class Xeon,
//! session 12; docs/kernels.md).

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

use super::{L2Prefetch, TileEpi};
use crate::gemm::pack::{LINE, PANEL};

/// `steps` k steps of one tile (a float, a bf16 pair or a 4-byte int8 group per column each; a
/// step is one 128-byte row of the B panel, of which the tile reads `LINES` lines): B's
/// operands are read once per step (`load`, from the step's row), then for each row `i < R`
/// its two accumulators are updated from A(i, step) (`update(c_i0, c_i1, &A(i, step), &ops)`).
/// Returns the accumulators of rows `0..R` (first vector, second vector).
///
/// `a` = (A, step, row): A(i, s) is at `A + s·step + i·row` (elements; A is not prefetched:
/// prefetching a packed A ahead like B measured 2 % slower on the AVX2 level, neutral on
/// AVX-512, BERT-large 128 tokens). `b` = (B, elements per step); `c` =
/// (C, rs_c) only to prefetch the C tile (its first `LINES` lines a row) when `!epi.first`. B
/// is prefetched 32 steps ahead; over the last 32 steps, the next tile's (`epi.next_b`).
///
/// # Safety
/// `load` is called with `B + s·b_step` and `update` with `A + s·step + i·row` for `s <
/// steps`, `i < R` only: those must be readable as the closures read them. R ≤ 12, `LINES` ∈
/// {1, 2}.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn k_loop<const R: usize, const LINES: usize, Acc: Copy, A, B, Ops>(
    steps: usize,
    (a, step, row): (*const A, usize, usize),
    (b, b_step): (*const B, usize),
    (c, rs_c): (*const f32, usize),
    epi: &TileEpi,
    zero: Acc,
    load: impl Fn(*const B) -> Ops,
    update: impl Fn(Acc, Acc, *const A, &Ops) -> (Acc, Acc),
) -> ([Acc; R], [Acc; R]) {
    const { assert!(R <= 12 && (LINES == 1 || LINES == 2)) };
    /// Bytes of a k step of B: one row of a panel.
    const STEP_BYTES: usize = PANEL * 4;
    // How many k steps ahead B is prefetched into L1 (16 and 32 measured the same for the
    // AVX-512 fp32 kernel, m = 16…384, `gemm_table --isa avx512 --threads 1`).
    let pf_steps = 32;
    debug_assert_eq!(b_step * std::mem::size_of::<B>(), STEP_BYTES);
    if !epi.first {
        // Start fetching the C tile now; it is read only after the k loop.
        for i in 0..R {
            let row = c.wrapping_add(i * rs_c) as *const i8;
            for l in 0..LINES {
                // SAFETY: a prefetch is a hint (SSE, x86-64 baseline); it never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(l * LINE)) };
            }
        }
    }
    let z = zero;
    let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21) = (z, z, z, z, z, z);
    let (mut c30, mut c31, mut c40, mut c41, mut c50, mut c51) = (z, z, z, z, z, z);
    let (mut c60, mut c61, mut c70, mut c71, mut c80, mut c81) = (z, z, z, z, z, z);
    let (mut c90, mut c91, mut ca0, mut ca1, mut cb0, mut cb1) = (z, z, z, z, z, z);
    // Rows 3j..3j+3 are addressed from `aj`, so each A read is one addressing mode (base +
    // row·{0, 1, 2} + constant); a step moves ⌈R/3⌉ pointers.
    let mut a0 = a;
    let mut a3 = a.wrapping_add(3 * row);
    let mut a6 = a.wrapping_add(6 * row);
    let mut a9 = a.wrapping_add(9 * row);
    let mut b = b;
    let mut l2 = L2Prefetch::new(epi, steps);
    macro_rules! row {
        ($i:literal, $x:ident, $y:ident, $u:expr, $ops:expr) => {
            if R > $i {
                let base = match $i / 3 {
                    0 => a0,
                    1 => a3,
                    2 => a6,
                    _ => a9,
                };
                let ap = base.wrapping_add(($i % 3) * row + $u * step);
                ($x, $y) = update($x, $y, ap, $ops);
            }
        };
    }
    // One k step `u` steps past the pointers; its B lines were prefetched `pf_steps` before.
    macro_rules! k_step {
        ($u:expr, $pf:expr) => {{
            let u: usize = $u;
            let pb = $pf.wrapping_add(u * STEP_BYTES);
            for l in 0..LINES {
                // SAFETY: a hint; never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(pb.wrapping_add(l * LINE)) };
            }
            let ops = load(b.wrapping_add(u * b_step));
            row!(0, c00, c01, u, &ops);
            row!(1, c10, c11, u, &ops);
            row!(2, c20, c21, u, &ops);
            row!(3, c30, c31, u, &ops);
            row!(4, c40, c41, u, &ops);
            row!(5, c50, c51, u, &ops);
            row!(6, c60, c61, u, &ops);
            row!(7, c70, c71, u, &ops);
            row!(8, c80, c81, u, &ops);
            row!(9, c90, c91, u, &ops);
            row!(10, ca0, ca1, u, &ops);
            row!(11, cb0, cb1, u, &ops);
        }};
    }
    macro_rules! advance {
        ($n:expr, $pf:ident) => {{
            let n: usize = $n;
            a0 = a0.wrapping_add(n * step);
            a3 = a3.wrapping_add(n * step);
            a6 = a6.wrapping_add(n * step);
            a9 = a9.wrapping_add(n * step);
            b = b.wrapping_add(n * b_step);
            $pf = $pf.wrapping_add(n * STEP_BYTES);
        }};
    }
    // The first steps − pf_steps steps prefetch B ahead, the last ones the next tile's B from
    // its start; each part unrolled by 4. (Two expansions, not a loop over the parts: a loop
    // there may keep the accumulators in memory.)
    macro_rules! part {
        ($steps:expr, $pf:expr) => {{
            let (mut left, mut pf): (usize, *const i8) = ($steps, $pf);
            while left >= 4 {
                l2.step4();
                k_step!(0, pf);
                k_step!(1, pf);
                k_step!(2, pf);
                k_step!(3, pf);
                advance!(4, pf);
                left -= 4;
            }
            while left > 0 {
                l2.step();
                k_step!(0, pf);
                advance!(1, pf);
                left -= 1;
            }
        }};
    }
    let main = steps.saturating_sub(pf_steps);
    part!(main, b.wrapping_add(pf_steps * b_step) as *const i8);
    part!(steps - main, epi.next_b.cast::<i8>());
    let c0 = [c00, c10, c20, c30, c40, c50, c60, c70, c80, c90, ca0, cb0];
    let c1 = [c01, c11, c21, c31, c41, c51, c61, c71, c81, c91, ca1, cb1];
    (
        std::array::from_fn(|i| c0[i]),
        std::array::from_fn(|i| c1[i]),
    )
}
