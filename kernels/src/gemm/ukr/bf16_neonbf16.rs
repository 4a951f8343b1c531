//! aarch64 bf16 micro-kernels on FEAT_BF16, reading the pair panels of `PackedBf16` as they are
//! (32-wide, each 32-bit lane one column's `(B[j, 2q], B[j, 2q+1])`, `K_GROUP = 2`: the layout
//! `vdpbf16ps` wants, so one packed model file serves both architectures) and A as bf16 bits,
//! row-major, from the rounding scratch (`RoundedA for u16`):
//!
//! * `gemm_ukr_neonbf16_bfmmla_12x8` — `bfmmla vd.4s, vn.8h, vm.8h`: vn holds a 2×4 block of A
//!   (row i: k0..3, row i+1: k0..3), vm a 4×2 block of B stored by column (column j: k0..3,
//!   column j+1: k0..3), vd the 2×2 fp32 block [C(i,j), C(i,j+1), C(i+1,j), C(i+1,j+1)] —
//!   16 multiply-adds per instruction. B's operands come from two consecutive pair rows of 4
//!   columns, `zip1`/`zip2` on 32-bit lanes ((j: k0 k1) with (j: k2 k3)); A's from 8 bytes of
//!   each of two rows. The accumulators hold 2×2 blocks, which the epilogue de-interleaves
//!   into rows (`zip1`/`zip2` on 64-bit lanes). An odd last pair step (k blocks are whole
//!   pairs, not whole quads) runs as `bfdot` (vector) on the same 2×2 layout, so every
//!   element sees exactly one `BFDotAdd` per pair step, in k order.
//! * `gemm_ukr_neonbf16_bfdot_8x8` — `bfdot vd.4s, vn.8h, vm.2h[lane]`: vn is one pair row of
//!   4 columns straight from the panel, vm[lane] one pair of an A row (a 16-byte load of a row
//!   holds 4 pair steps' worth, lanes 0..3) — 8 multiply-adds per instruction.
//!
//! # Tiles: 32 vector registers, multiply-adds per loaded byte
//!
//! **BFMMLA 12×8**: 6 row pairs × 4 column pairs = 24 accumulators; per k quad (4 k) 4 B
//! operands (two 32-byte pair rows zipped) and one A operand at a time (8 bytes of each row
//! of a pair): 24 + 4 + 1, plus 2 for the unzipped B rows while they are zipped = 31 of 32
//! (compiled, the k loop keeps the 24 accumulators in v0–v7 and v16–v31 without a spill; the
//! `asm!` blocks are deliberately not `pure`/`nomem`, which keeps the loads in source order —
//! as pure instructions LLVM hoisted all 12 A loads of a step ahead and spilled accumulators).
//! Per k quad: 24 `bfmmla` = 384 multiply-adds for 64 bytes of B and 96 of A: **2.4
//! multiply-adds per loaded byte**. The candidates that fit: 8×8 (16 accumulators; with its
//! 8-k steps, 16-byte A loads and both quads' B operands live, 28 registers) 2.0; 4×16 (16
//! accumulators, 8 B operands) 1.6; 12×16 or 8×16 need 48 or 32 accumulators; NR must
//! divide the 32-wide panel (no 12 columns). MR = 12 is also attention's strip height.
//!
//! **BFDOT 8×8**: 8 rows × 2 vectors of 4 columns = 16 accumulators, 8 A registers held for
//! 4 pair steps (one per row, 4 pairs in its lanes), 2 B vectors per pair step: 26 registers.
//! Per 4 pair steps 64 `bfdot` = 512 multiply-adds for 128 bytes of A and 128 of B: 2.0 per
//! byte. 12×8 would need 24 + 12 + 2 = 38 registers; 8×16 32 accumulators alone.
//!
//! `BFMMLA` runs the table's NEON_BF16 level: 16 multiply-adds per instruction against
//! `BFDOT`'s 8, and Arm "expects that the BFMMLA instruction will deliver a peak BFloat16
//! multiply throughput that is at least as high as can be achieved using two BFDOT (vector)
//! instructions, with a goal that it should have significantly higher throughput" (Arm ARM,
//! BFMMLA); its tile also loads fewer bytes per multiply-add (2.4 against 2.0 per byte).
//! Neither has been timed on ARM hardware (there is none here; qemu says nothing of speed).
//!
//! # Numerics
//!
//! Arm specifies both instructions (FEAT_BF16 without FEAT_EBF16, or FPCR.EBF = 0 — Linux
//! starts every process with FPCR = 0 and nothing here writes it) as an unfused sum rounded
//! **to odd** with denormals flushed, whatever the FPCR (see `bf16_reference`, which models
//! it: [`arm_bfdot_add`](super::bf16_reference::arm_bfdot_add)); `BFMMLA` is two such 2-way
//! dot products per element, pair (k0, k1) then (k2, k3). That is not `vdpbf16ps`'s
//! nearest-even arithmetic, so these kernels are tested **bit for bit against the Arm model**
//! (`Bf16Path::ReferenceArm`, the scalar 4×16 kernel running it per pair step in k order),
//! and through it within the dot-product bound of the exact product, like the x86 paths' model:
//! `kernels/tests/bf16.rs` on every shape and epilogue, and this file's tests instruction by
//! instruction on special operands (products and sums that flush or overflow, ∞, NaN, −0)
//! — under qemu 7.2, whose `bfdotadd` follows the Arm pseudo-code (round-to-odd softfloat,
//! flush-to-zero, default NaN). If a process sets FPCR.EBF = 1 on a CPU with FEAT_EBF16, the
//! products are summed unrounded and rounded by the FPCR's mode: results then differ from the
//! model in the last bits but keep the same error bound.
//!
//! The epilogue (`store_rows`: + C, ·α, + bias, GELU, + residual) is NEON on the fp32 rows,
//! with the GELU of `math::erf` (the rational every SIMD kernel evaluates, here as NEON FMAs
//! in the scalar twin's order); edge tiles go through an 8-float row buffer.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

/// `bfmmla` 12×8 kernel.
#[allow(non_camel_case_types)]
pub struct NeonBfmmla_12x8;

/// `bfdot` (by element) 8×8 kernel.
#[allow(non_camel_case_types)]
pub struct NeonBfdot_8x8;

/// Columns of both tiles: two vectors of 4 fp32.
const NR: usize = 8;

fn bf16_supported() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
        && std::arch::is_aarch64_feature_detected!("bf16")
}

macro_rules! neon_bf16_kernel {
    ($ty:ident, $mr:literal, $name:literal, $tile:ident, $($r:literal)*) => {
        impl MicroKernel for $ty {
            type A = u16;
            type B = u16;
            const MR: usize = $mr;
            const NR: usize = NR;
            const K_GROUP: usize = 2;
            const NAME: &'static str = $name;

            fn supported() -> bool {
                bf16_supported()
            }

            #[inline(always)]
            unsafe fn tile(
                kc: usize,
                a: *const u16,
                a_rs: usize,
                b: *const u16,
                c: *mut f32,
                rs_c: usize,
                rows: usize,
                cols: usize,
                epi: &TileEpi,
            ) {
                debug_assert!(a_rs > 0 || kc == 0, "bf16 kernels read A row-major");
                // SAFETY: forwarded trait contract (FEAT_BF16 present, pointers valid,
                // rows = R, A row-major at stride a_rs).
                unsafe {
                    super::rows_dispatch!($tile, rows, (kc, a, a_rs, b, c, rs_c, cols, epi), $($r)*)
                }
            }
        }
    };
}

neon_bf16_kernel!(
    NeonBfmmla_12x8,
    12,
    "gemm_ukr_neonbf16_bfmmla_12x8",
    tile_mmla,
    12 1 2 3 4 5 6 7 8 9 10 11
);
neon_bf16_kernel!(NeonBfdot_8x8, 8, "gemm_ukr_neonbf16_bfdot_8x8", tile_dot, 8 1 2 3 4 5 6 7);

/// `acc + a·b` by `bfmmla` (a: 2×4 of A by rows, b: 4×2 of B by columns, acc: 2×2 by rows).
///
/// # Safety
/// FEAT_BF16 must be present.
#[inline]
#[target_feature(enable = "neon,bf16")]
unsafe fn bfmmla(acc: float32x4_t, a: uint16x8_t, b: uint16x8_t) -> float32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction of FEAT_BF16 (enabled here, present per the
    // contract); no memory, stack or flags are touched.
    unsafe {
        asm!(
            "bfmmla {acc:v}.4s, {a:v}.8h, {b:v}.8h",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(nostack, preserves_flags)
        )
    };
    acc
}

/// `acc + a·b` by `bfdot` (vector): lane e gets `BFDotAdd` of pair e of `a` and of `b`.
///
/// # Safety
/// FEAT_BF16 must be present.
#[inline]
#[target_feature(enable = "neon,bf16")]
unsafe fn bfdot(acc: float32x4_t, a: uint16x8_t, b: uint16x8_t) -> float32x4_t {
    let mut acc = acc;
    // SAFETY: as in `bfmmla`.
    unsafe {
        asm!(
            "bfdot {acc:v}.4s, {a:v}.8h, {b:v}.8h",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(nostack, preserves_flags)
        )
    };
    acc
}

/// `bfdot acc.4s, b.8h, a.2h[LANE]`: lane e of `acc` gets `BFDotAdd` of pair e of `b` and
/// pair `LANE` of `a` (the lane a literal: an instruction field).
macro_rules! bfdot_lane {
    ($acc:expr, $b:expr, $a:expr, $lane:literal) => {{
        let mut acc: float32x4_t = $acc;
        let (b, a): (uint16x8_t, uint16x8_t) = ($b, $a);
        // SAFETY: a register-only instruction of FEAT_BF16, which the enclosing function
        // enables (and the CPU has, per its contract); no memory, stack or flags are touched.
        unsafe {
            asm!(
                concat!("bfdot {acc:v}.4s, {b:v}.8h, {a:v}.2h[", $lane, "]"),
                acc = inout(vreg) acc,
                b = in(vreg) b,
                a = in(vreg) a,
                options(nostack, preserves_flags)
            )
        };
        acc
    }};
}

/// The `bfmmla` tile, `R` rows (1..=12).
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; FEAT_BF16 present.
#[inline]
#[target_feature(enable = "neon,bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_mmla<const R: usize>(
    kc: usize,
    a: *const u16,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // Row pairs; an odd R's last pair repeats its row (readable; the copy is never stored).
    let pairs_of_rows = R.div_ceil(2);
    let row = |i: usize| a.wrapping_add(i.min(R - 1) * a_rs);
    // acc[p][h]: rows 2p, 2p+1 × columns 2h, 2h+1.
    let mut acc = [[vdupq_n_f32(0.0); 4]; 6];
    let pairs = kc / 2;
    let mut bq = b;
    for s in 0..pairs / 2 {
        // SAFETY: pair rows 2s and 2s+1 < kc/2 of the panel, columns 0..8 (16 bf16 from each
        // row's start, 2·PANEL apart): inside B (contract). A: elements 4s..4s+4 < kc of rows
        // < R (or row R−1 again), inside A (contract). Everything else is registers.
        unsafe {
            let (p0, p1) = (vld1q_u32(bq.cast()), vld1q_u32(bq.add(8).cast()));
            let (q0, q1) = (
                vld1q_u32(bq.add(2 * PANEL).cast()),
                vld1q_u32(bq.add(2 * PANEL + 8).cast()),
            );
            // (j: k0 k1 | j: k2 k3 | j+1: k0 k1 | j+1: k2 k3) for j = 0, 2, 4, 6.
            let bop = [
                vreinterpretq_u16_u32(vzip1q_u32(p0, q0)),
                vreinterpretq_u16_u32(vzip2q_u32(p0, q0)),
                vreinterpretq_u16_u32(vzip1q_u32(p1, q1)),
                vreinterpretq_u16_u32(vzip2q_u32(p1, q1)),
            ];
            for (p, accp) in acc.iter_mut().enumerate().take(pairs_of_rows) {
                // (i: k0..3 | i+1: k0..3)
                let aop = vcombine_u16(
                    vld1_u16(row(2 * p).add(4 * s)),
                    vld1_u16(row(2 * p + 1).add(4 * s)),
                );
                for (x, &bv) in accp.iter_mut().zip(&bop) {
                    *x = bfmmla(*x, aop, bv);
                }
            }
            bq = bq.add(4 * PANEL);
        }
    }
    if pairs % 2 == 1 {
        let q = pairs - 1;
        // SAFETY: pair row q < kc/2, columns 0..8; A elements 2q, 2q+1 < kc of rows < R
        // (contract).
        unsafe {
            let p0 = vreinterpretq_u64_u32(vld1q_u32(bq.cast()));
            let p1 = vreinterpretq_u64_u32(vld1q_u32(bq.add(8).cast()));
            // The 2×2 layout's B lanes: (j, j+1, j, j+1).
            let bop = [
                vreinterpretq_u16_u64(vdupq_laneq_u64::<0>(p0)),
                vreinterpretq_u16_u64(vdupq_laneq_u64::<1>(p0)),
                vreinterpretq_u16_u64(vdupq_laneq_u64::<0>(p1)),
                vreinterpretq_u16_u64(vdupq_laneq_u64::<1>(p1)),
            ];
            for (p, accp) in acc.iter_mut().enumerate().take(pairs_of_rows) {
                // A lanes (i, i, i+1, i+1).
                let w0 = row(2 * p).add(2 * q).cast::<u32>().read_unaligned();
                let w1 = row(2 * p + 1).add(2 * q).cast::<u32>().read_unaligned();
                let aop = vreinterpretq_u16_u32(vcombine_u32(vdup_n_u32(w0), vdup_n_u32(w1)));
                for (x, &bv) in accp.iter_mut().zip(&bop) {
                    *x = bfdot(*x, aop, bv);
                }
            }
        }
    }
    // De-interleave: rows 2p and 2p+1 are the low and high 64-bit halves of the blocks.
    let mut out = [[vdupq_n_f32(0.0); 2]; 12];
    for p in 0..pairs_of_rows {
        for h in 0..2 {
            let (x, y) = (
                vreinterpretq_u64_f32(acc[p][2 * h]),
                vreinterpretq_u64_f32(acc[p][2 * h + 1]),
            );
            out[2 * p][h] = vreinterpretq_f32_u64(vzip1q_u64(x, y));
            if 2 * p + 1 < R {
                out[2 * p + 1][h] = vreinterpretq_f32_u64(vzip2q_u64(x, y));
            }
        }
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_rows` needs.
    unsafe { store_rows::<R>(&out, c, rs_c, cols, epi) }
}

/// The `bfdot` tile, `R` rows (1..=8).
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; FEAT_BF16 present.
#[inline]
#[target_feature(enable = "neon,bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_dot<const R: usize>(
    kc: usize,
    a: *const u16,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc = [[vdupq_n_f32(0.0); 2]; 12];
    let pairs = kc / 2;
    let mut bq = b;
    // One pair step: both B vectors of pair row `bq`, every row's lane `$lane` of `av`.
    macro_rules! step {
        ($av:ident, $lane:literal) => {{
            // SAFETY: `bq` is a pair row < kc/2 of the panel, columns 0..8 (contract).
            let (b0, b1) = unsafe { (vld1q_u16(bq), vld1q_u16(bq.add(8))) };
            for (x, &av) in acc.iter_mut().zip(&$av).take(R) {
                x[0] = bfdot_lane!(x[0], b0, av, $lane);
                x[1] = bfdot_lane!(x[1], b1, av, $lane);
            }
            bq = bq.wrapping_add(2 * PANEL);
        }};
    }
    for s in 0..pairs / 4 {
        let mut av = [vdupq_n_u16(0); 8];
        for (i, v) in av.iter_mut().enumerate().take(R) {
            // SAFETY: elements 8s..8s+8 < kc of row i < R: inside A (contract).
            *v = unsafe { vld1q_u16(a.add(i * a_rs + 8 * s)) };
        }
        step!(av, 0);
        step!(av, 1);
        step!(av, 2);
        step!(av, 3);
    }
    for q in pairs / 4 * 4..pairs {
        let mut av = [vdupq_n_u16(0); 8];
        for (i, v) in av.iter_mut().enumerate().take(R) {
            // SAFETY: elements 2q, 2q+1 < kc of row i < R: inside A (contract).
            let w = unsafe { a.add(i * a_rs + 2 * q).cast::<u32>().read_unaligned() };
            *v = vreinterpretq_u16_u32(vdupq_n_u32(w));
        }
        step!(av, 0);
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_rows` needs.
    unsafe { store_rows::<R>(&acc, c, rs_c, cols, epi) }
}

/// GELU of 4 lanes: `math::erf`'s rational, in the operations and order of its scalar twin
/// `math::erf::gelu_f32` (fused multiply-adds, then one division), so equal to it bit for bit.
#[inline]
#[target_feature(enable = "neon")]
fn gelu(x: float32x4_t) -> float32x4_t {
    use crate::math::erf::{ALPHA, BETA, CLAMP};
    let h = vmulq_n_f32(x, 0.5);
    let t = vmulq_n_f32(x, std::f32::consts::FRAC_1_SQRT_2);
    let t = vmaxq_f32(vminq_f32(t, vdupq_n_f32(CLAMP)), vdupq_n_f32(-CLAMP));
    let t2 = vmulq_f32(t, t);
    let mut p = vdupq_n_f32(ALPHA[0]);
    for &k in &ALPHA[1..] {
        p = vfmaq_f32(vdupq_n_f32(k), p, t2);
    }
    let mut q = vdupq_n_f32(BETA[0]);
    for &k in &BETA[1..] {
        q = vfmaq_f32(vdupq_n_f32(k), q, t2);
    }
    let erf = vdivq_f32(vmulq_f32(t, p), q);
    vfmaq_f32(h, h, erf)
}

/// The epilogue of both NEON bf16 kernels: rows `0..R` of `acc` (two vectors of 4 columns
/// each), then `v = acc (+ C)`, and on the last k block `(·α) (+ bias) (GELU) (+ residual)`,
/// into the first `cols` columns of C (see the contract in [`super`]). A partial tile (`cols <
/// 8`) goes through an 8-float buffer per row, so only its `cols` columns of C, bias and
/// residual are read or written.
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract, with `rows = R`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn store_rows<const R: usize>(
    acc: &[[float32x4_t; 2]; 12],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let full = cols == NR;
    // Copies `cols` floats from `src` into an 8-float buffer, zero past them.
    let partial = |src: *const f32| {
        let mut buf = [0.0f32; NR];
        // SAFETY: the callers pass rows of C, bias or residual that hold `cols` floats.
        unsafe { std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), cols) };
        buf
    };
    let load = |p: *const f32| -> [float32x4_t; 2] {
        // SAFETY: `p` holds 8 floats: a whole row of the tile, or a buffer.
        unsafe { [vld1q_f32(p), vld1q_f32(p.add(4))] }
    };
    let last = epi.last;
    let scale = last && epi.alpha != 1.0;
    let bias = (last && !epi.bias.is_null()).then(|| {
        if full {
            load(epi.bias)
        } else {
            load(partial(epi.bias).as_ptr())
        }
    });
    let residual = last && !epi.residual.is_null();
    for (i, row) in acc.iter().enumerate().take(R) {
        // SAFETY: row i < rows of C (and of the residual), `cols` floats from each start.
        let (cp, rp) = unsafe { (c.add(i * rs_c), epi.residual.wrapping_add(i * epi.rs_res)) };
        let mut buf = [0.0f32; NR];
        let mut v = *row;
        if !epi.first {
            let cv = if full {
                load(cp)
            } else {
                buf = partial(cp);
                load(buf.as_ptr())
            };
            v = [vaddq_f32(cv[0], v[0]), vaddq_f32(cv[1], v[1])];
        }
        if scale {
            v = v.map(|x| vmulq_n_f32(x, epi.alpha));
        }
        if let Some(bv) = bias {
            v = [vaddq_f32(v[0], bv[0]), vaddq_f32(v[1], bv[1])];
        }
        if last && epi.gelu {
            v = v.map(|x| gelu(x));
        }
        if residual {
            let rv = if full {
                load(rp)
            } else {
                load(partial(rp).as_ptr())
            };
            v = [vaddq_f32(v[0], rv[0]), vaddq_f32(v[1], rv[1])];
        }
        let dst = if full { cp } else { buf.as_mut_ptr() };
        // SAFETY: `dst` is C's row i with 8 columns (full tile) or the row buffer.
        unsafe {
            vst1q_f32(dst, v[0]);
            vst1q_f32(dst.add(4), v[1]);
        }
        if !full {
            // SAFETY: the first `cols` floats of C's row i are writable (contract).
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), cp, cols) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::bf16::from_bf16;
    use crate::gemm::ukr::bf16_reference::arm_bfdot_add;

    /// bf16 operands that exercise every rule of the model: ±0, products and sums below
    /// 2⁻¹²⁶ (flushed) or from 2¹²⁸ on (∞), ∞, NaN, cancellation, and ordinary values with
    /// every exponent in between, as random bit patterns with skewed exponents.
    fn operands(seed: u64, n: usize) -> Vec<u16> {
        let mut s = seed;
        let special = [
            0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x3F80, 0xBF80, 0x0080, 0x8080, 0x7F7F, 0x0001,
            0x1F80, 0x9F80, 0x5F80, 0xDF80,
        ];
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match s % 8 {
                    0 => special[(s >> 8) as usize % special.len()],
                    // exponents near the flush and overflow limits of the products and sums
                    1 => ((s >> 16) as u16 & 0x807F) | ((((s >> 32) % 24) as u16 + 0x20) << 7),
                    2 => ((s >> 16) as u16 & 0x807F) | ((((s >> 32) % 24) as u16 + 0x58) << 7),
                    3 => ((s >> 16) as u16 & 0x807F) | ((((s >> 32) % 24) as u16 + 0xA0) << 7),
                    _ => ((s >> 16) as u16 & 0x807F) | ((((s >> 32) % 16) as u16 + 0x78) << 7),
                }
            })
            .collect()
    }

    fn f32s(seed: u64, n: usize) -> Vec<f32> {
        let ops = operands(seed, 2 * n);
        ops.chunks(2)
            .map(|p| from_bf16(p[0]) * f32::from_bits(0x3F80_0000 | u32::from(p[1] & 0x7F) << 16))
            .collect()
    }

    /// `bfdot` (vector and by element) and `bfmmla` on the CPU against the scalar model, bit for
    /// bit, on operands that hit flush, overflow, ∞, NaN and signed zeros.
    #[test]
    fn instructions_match_the_model() {
        if !bf16_supported() {
            eprintln!("no FEAT_BF16 on this CPU: bfdot/bfmmla not run");
            return;
        }
        /// # Safety
        /// FEAT_BF16 present.
        #[target_feature(enable = "neon,bf16")]
        unsafe fn run(acc: [f32; 4], a: [u16; 8], b: [u16; 8]) -> [[f32; 4]; 3] {
            // SAFETY: the arrays hold 4 floats or 8 halves each.
            let (accv, av, bv) = unsafe {
                (
                    vld1q_f32(acc.as_ptr()),
                    vld1q_u16(a.as_ptr()),
                    vld1q_u16(b.as_ptr()),
                )
            };
            // SAFETY: FEAT_BF16 is present (contract).
            let (dot, mmla) = unsafe { (bfdot(accv, av, bv), bfmmla(accv, av, bv)) };
            let lane = bfdot_lane!(accv, bv, av, 2);
            let mut out = [[0.0f32; 4]; 3];
            for (o, v) in out.iter_mut().zip([dot, mmla, lane]) {
                // SAFETY: `o` holds 4 floats.
                unsafe { vst1q_f32(o.as_mut_ptr(), v) };
            }
            out
        }
        let (mut flushed, mut inf, mut nan) = (0, 0, 0);
        for t in 0..4000u64 {
            let mut ops = operands(t * 7 + 1, 16);
            let mut accs = f32s(t * 13 + 5, 4);
            if t % 4 == 0 {
                // Every product below 2⁻¹²⁶ (flushed), accumulators 0 or tiny.
                ops.iter_mut().for_each(|h| *h = (*h & 0x807F) | 0x1800);
                accs.iter_mut().for_each(|x| *x *= 1e-30);
            }
            let acc: [f32; 4] = accs.try_into().unwrap();
            let a: [u16; 8] = ops[..8].try_into().unwrap();
            let b: [u16; 8] = ops[8..].try_into().unwrap();
            // SAFETY: FEAT_BF16 is present (checked).
            let [dot, mmla, lane] = unsafe { run(acc, a, b) };
            let pair = |v: &[u16; 8], e: usize| [v[2 * e], v[2 * e + 1]];
            for e in 0..4 {
                let want = arm_bfdot_add(acc[e], pair(&a, e), pair(&b, e));
                assert_eq!(
                    dot[e].to_bits(),
                    want.to_bits(),
                    "bfdot lane {e}: {acc:?} {a:x?} {b:x?}"
                );
                let want = arm_bfdot_add(acc[e], pair(&b, e), pair(&a, 2));
                assert_eq!(
                    lane[e].to_bits(),
                    want.to_bits(),
                    "bfdot [2] lane {e}: {acc:?} {a:x?} {b:x?}"
                );
                // bfmmla: element (i, j) = row i of a (pairs 2i, 2i+1) · column j of b.
                let (i, j) = (e / 2, e % 2);
                let first = arm_bfdot_add(acc[e], pair(&a, 2 * i), pair(&b, 2 * j));
                let want = arm_bfdot_add(first, pair(&a, 2 * i + 1), pair(&b, 2 * j + 1));
                assert_eq!(
                    mmla[e].to_bits(),
                    want.to_bits(),
                    "bfmmla ({i},{j}): {acc:?} {a:x?} {b:x?}"
                );
                flushed += usize::from(want == 0.0);
                inf += usize::from(want.is_infinite());
                nan += usize::from(want.is_nan());
            }
        }
        // The operands did reach the rules' edges.
        assert!(
            flushed > 100 && inf > 100 && nan > 100,
            "{flushed} {inf} {nan}"
        );
    }

    /// The NEON GELU is its scalar twin's arithmetic, bit for bit.
    #[test]
    fn gelu_is_the_scalar_twin() {
        let xs: Vec<f32> = (-2000..=2000)
            .map(|i| i as f32 * 3.7e-3)
            .chain([f32::NAN, 1e30, -1e30])
            .collect();
        for x in xs.chunks_exact(4) {
            // SAFETY: NEON is part of every aarch64 CPU; `x` holds 4 floats.
            let got = unsafe { gelu(vld1q_f32(x.as_ptr())) };
            let mut out = [0.0f32; 4];
            // SAFETY: `out` holds 4 floats.
            unsafe { vst1q_f32(out.as_mut_ptr(), got) };
            for (g, &v) in out.iter().zip(x) {
                let want = crate::math::erf::gelu_f32(v);
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{v}: {g} vs {want}"
                );
            }
        }
    }
}
