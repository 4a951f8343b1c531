//! Portable scalar bf16 micro-kernels, 4×16, the fallbacks and test oracles of the bf16 kernels.
//! Each models one instruction family's arithmetic per pair step, for each C element:
//!
//! * `gemm_ukr_reference_bf16_4x16` — `vdpbf16ps` (see `gemm::bf16`): `acc = acc + a_odd·b_odd`,
//!   then `acc = acc + a_even·b_even`, in fp32 rounded to nearest even (the products of bf16
//!   values are exact in fp32, so each step rounds once, as the instruction does). The oracle
//!   of the x86-64 paths, and the bf16 path of every level without bf16 kernels of its own.
//! * `gemm_ukr_reference_bf16arm_4x16` — Arm's `BFDOT` / `BFMMLA` (FEAT_BF16, with FPCR.EBF
//!   = 0): [`arm_bfdot_add`], one `BFDotAdd` per pair step in k order. The oracle of the NEON
//!   bf16 paths (`gemm/ukr/bf16_neonbf16.rs`), and never a level's path.
//!
//! # Arm's BFloat16 dot-product arithmetic
//!
//! The Arm ARM describes `BFDOT` and `BFMMLA` without FEAT_EBF16, or with it and FPCR.EBF = 0
//! (every Linux process unless it sets the bit itself), as: an *unfused* sum of products —
//! each single-precision product rounded, the sum of the pair's two products rounded, then
//! that sum added to the fp32 accumulator and rounded — in the non-IEEE **round-to-odd** mode
//! (truncate, then force bit 0 of an inexact result to 1; an overflow becomes a signed ∞),
//! **flushing denormal inputs and results to zero** (as FPCR.{FZ, FIZ} = {1, 1}), generating
//! only the default NaN, whatever the FPCR says. `BFMMLA` is "equivalent to accumulating two
//! 2-way unfused dot products per destination element": `BFDotAdd` on k pair (0, 1), then on
//! (2, 3). (With FEAT_EBF16 and FPCR.EBF = 1 the products would instead be summed unrounded and
//! the FPCR's rounding mode used; nothing here sets that bit.) qemu implements exactly this
//! (`target/arm/vec_helper.c`, `bfdotadd`: softfloat with `float_round_to_odd_inf`,
//! `flush_to_zero`, `flush_inputs_to_zero`, `default_nan_mode`, tininess before rounding;
//! `gvec_bfmmla` calls it on pair 0 then pair 1), which the NEON kernels' tests check bit for bit.
//!
//! The model computes each operation's exact result as an f64 pair (hi, lo) with hi + lo exact
//! — a product of two bf16 values is exact in f64, a sum of two f32 values is exact as Knuth's
//! TwoSum — and rounds that to f32 by the rule above ([`round_to_odd`]). Round-to-odd loses at
//! most one ulp per operation where nearest-even loses half, and the flush loses at most 2⁻¹²⁶,
//! so both models sit inside the same dot-product error bound (`kernels/tests/bf16.rs`); they
//! differ from each other in the last bits of most sums.

use super::reference::store_tile;
use super::{MicroKernel, TileEpi};
use crate::gemm::bf16::from_bf16;
use crate::gemm::pack::PANEL;

/// Scalar 4×16 kernel with `vdpbf16ps`'s arithmetic.
#[allow(non_camel_case_types)]
pub struct ReferenceBf16_4x16;

/// Scalar 4×16 kernel with Arm `BFDOT`/`BFMMLA`'s arithmetic ([`arm_bfdot_add`]).
#[allow(non_camel_case_types)]
pub struct ReferenceArmBf16_4x16;

/// Scalar 4×16 kernel with Intel AMX `tdpbf16ps`'s arithmetic ([`amx_chunk`]) in the AMX
/// kernel's chunks of k.
#[allow(non_camel_case_types)]
pub struct ReferenceAmxBf16_4x16;

const MR: usize = 4;
const NR: usize = 16;

/// One pair step of `vdpbf16ps` on one accumulator: odd product first, each sum rounded to
/// nearest even (the products are exact).
#[inline(always)]
fn vdpbf16ps_step(acc: f32, a: [u16; 2], b: [u16; 2]) -> f32 {
    let acc = acc + from_bf16(a[1]) * from_bf16(b[1]);
    acc + from_bf16(a[0]) * from_bf16(b[0])
}

/// The default NaN Arm's BFloat16 instructions generate (FPCR.DN = 1, FPCR.AH = 0).
const DEFAULT_NAN: u32 = 0x7FC0_0000;

/// Rounds the exact real `hi + lo` (`hi` = that sum rounded to f64, as TwoSum or an exact
/// product gives it; NaN and ±∞ only from NaN or ∞ operands) to f32 the way Arm's BFloat16
/// dot products do: round to odd (truncate toward zero, then set bit 0 if anything was cut
/// off), ±∞ for |x| ≥ 2¹²⁸, a zero of x's sign for 0 < |x| < 2⁻¹²⁶ (flush to zero, decided on
/// the unrounded value), the default NaN for any NaN.
pub fn round_to_odd(hi: f64, lo: f64) -> f32 {
    if hi.is_nan() {
        return f32::from_bits(DEFAULT_NAN);
    }
    if hi == 0.0 || hi.is_infinite() {
        // An exact zero (then lo = 0 too; its sign is IEEE's, the same for nearest-even and
        // round-to-odd: −0 only for −0 + −0 or a negative product), or ±∞ from an ∞ operand.
        return hi as f32;
    }
    let sign = ((hi.to_bits() >> 63) as u32) << 31;
    let mag = hi.abs();
    // x = hi + lo lies strictly between hi and zero (|x| < |hi|).
    let below = lo != 0.0 && lo.is_sign_negative() != hi.is_sign_negative();
    const MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64; // 2⁻¹²⁶
    const OVERFLOW: f64 = f64::from_bits((1023 + 128) << 52); // 2¹²⁸
    let bits = if mag < MIN_NORMAL || (mag == MIN_NORMAL && below) {
        0 // flushed
    } else if mag > OVERFLOW || (mag == OVERFLOW && !below) {
        0x7F80_0000 // overflow: ∞
    } else {
        // 2⁻¹²⁶ ≤ |x| < 2¹²⁸: truncate |hi| to f32's 24 significant bits (the cut 29 bits of
        // the f64 fraction), exact in f32 (2¹²⁸ → the bits of ∞, one above f32::MAX).
        const CUT: u64 = (1 << 29) - 1;
        let hb = mag.to_bits();
        let cut = hb & CUT != 0;
        let mut t = (f64::from_bits(hb & !CUT) as f32).to_bits();
        if !cut && below {
            // |x| is a little below the f32 value |hi|: its truncation is the next one down
            // (|lo| is at most half an f64 ulp of hi, so when bits were cut |x| stays above
            // the truncated |hi|).
            t -= 1;
        }
        if cut || lo != 0.0 {
            t |= 1; // inexact: odd
        }
        t
    };
    f32::from_bits(bits | sign)
}

/// A bf16 input as Arm's BFloat16 instructions read it: denormals flushed to a signed zero.
#[inline(always)]
fn arm_input(h: u16) -> f32 {
    from_bf16(if h & 0x7F80 == 0 { h & 0x8000 } else { h })
}

/// Flushes a denormal to a zero of its sign (Arm: FPCR.FIZ = 1 for operands; AMX: every result, and C as read).
#[inline(always)]
fn flush_input(v: f32) -> f32 {
    if v.is_subnormal() {
        0.0f32.copysign(v)
    } else {
        v
    }
}

/// The product of two bf16 values, rounded to f32 as Arm's BFloat16 instructions do: exact
/// unless it leaves f32's normal range — flushed below 2⁻¹²⁶, ∞ from 2¹²⁸.
#[inline(always)]
fn arm_mul(a: u16, b: u16) -> f32 {
    // The exact product has ≤ 16 significant bits: in [2⁻¹²⁶, 2¹²⁸) f32 holds it exactly, so the
    // f32 product is exact there, ∞ exactly when it is ≥ 2¹²⁸, and below 2⁻¹²⁶ at most 2⁻¹²⁶ −
    // 2⁻¹⁴² (it cannot round up to 2⁻¹²⁶): whatever it is there, the result is a flushed zero
    // of its sign. (Same as `round_to_odd(a·b in f64, 0)`; the unit tests check it.)
    let p = arm_input(a) * arm_input(b);
    if p.is_nan() {
        f32::from_bits(DEFAULT_NAN)
    } else if p.abs() < f32::MIN_POSITIVE {
        0.0f32.copysign(p)
    } else {
        p
    }
}

/// `x + y` rounded as Arm's BFloat16 instructions do (denormal inputs flushed first); the
/// definition, on [`round_to_odd`] of the exact f64 TwoSum.
fn arm_add_f64(x: f32, y: f32) -> f32 {
    let (x, y) = (flush_input(x) as f64, flush_input(y) as f64);
    let s = x + y;
    if !s.is_finite() {
        // Only from ∞ or NaN operands (finite f32 sums stay far inside f64's range).
        return round_to_odd(s, 0.0);
    }
    // TwoSum: s + e = x + y exactly.
    let bb = s - x;
    let e = (x - (s - bb)) + (y - bb);
    round_to_odd(s, e)
}

/// [`arm_add_f64`] in f32 (the model's hot path: a few times faster under emulation): the
/// nearest-even sum `r` and its exact error `e` (f32 TwoSum, exact for operands below 2¹²⁶;
/// sums in the denormal range are exact) give the truncation — `r` itself, or one step toward zero
/// when `r` was rounded away from zero — then bit 0 is set if `e ≠ 0`.
#[inline(always)]
fn arm_add(x: f32, y: f32) -> f32 {
    let (x, y) = (flush_input(x), flush_input(y));
    const BIG: f32 = f32::from_bits(0x7E80_0000); // 2¹²⁶
    if !(x.abs() < BIG && y.abs() < BIG) {
        // ∞ or NaN operands, or ones so large that the sum or TwoSum's steps could overflow.
        return arm_add_f64(x, y);
    }
    let r = x + y;
    let bb = r - x;
    let e = (x - (r - bb)) + (y - bb);
    let below = e != 0.0 && (e < 0.0) != (r < 0.0); // |x + y| < |r|
    let ar = r.abs();
    if ar < f32::MIN_POSITIVE || (ar == f32::MIN_POSITIVE && below) {
        // Flushed (an exact zero keeps IEEE's sign, which `r` has).
        return 0.0f32.copysign(r);
    }
    if e == 0.0 {
        return r;
    }
    f32::from_bits((r.to_bits() - u32::from(below)) | 1)
}

/// Arm's `BFDotAdd` (FEAT_BF16, FPCR.EBF = 0): `acc + (a₀·b₀ + a₁·b₁)` with each product, the
/// pair's sum and the accumulation rounded to odd, denormals flushed, NaNs the default NaN
/// (see the [module docs](self)). One `BFDOT` lane per call; one `BFMMLA` element is two calls,
/// k pair (0, 1) then (2, 3).
pub fn arm_bfdot_add(acc: f32, a: [u16; 2], b: [u16; 2]) -> f32 {
    let prod = arm_add(arm_mul(a[0], b[0]), arm_mul(a[1], b[1]));
    arm_add(acc, prod)
}

/// A and B of a reference tile as slices: A (row-major or packed, with A(i, p) at
/// `a[i·at.0 + p·at.1]`) and B (kc/2 pair rows of 2·NR values at stride 2·PANEL).
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `K_GROUP = 2`.
unsafe fn operands<'a>(
    kc: usize,
    a: *const u16,
    a_rs: usize,
    b: *const u16,
    rows: usize,
) -> (&'a [u16], (usize, usize), &'a [u16]) {
    let pairs = kc / 2;
    // A(i, p): packed a[p·MR + i] (a_rs = 0) or row-major a[i·a_rs + p].
    let (a_len, a_at) = if a_rs == 0 {
        (kc * MR, (1, MR))
    } else {
        (if kc == 0 { 0 } else { (rows - 1) * a_rs + kc }, (a_rs, 1))
    };
    let b_len = if pairs == 0 {
        0
    } else {
        (pairs - 1) * 2 * PANEL + 2 * NR
    };
    // SAFETY: the caller guarantees A holds those elements (packed: kc·MR; row-major: rows
    // rows of kc at stride a_rs) and `b` kc/2 pair rows of 2·NR values at stride 2·PANEL.
    unsafe {
        (
            std::slice::from_raw_parts(a, a_len),
            a_at,
            std::slice::from_raw_parts(b, b_len),
        )
    }
}

/// The tile both pair-step reference kernels share: `step(acc, a pair, b pair)` per pair
/// step, k order.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `K_GROUP = 2`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile_with(
    step: impl Fn(f32, [u16; 2], [u16; 2]) -> f32,
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
    // SAFETY: forwarded contract.
    let (a, a_at, b) = unsafe { operands(kc, a, a_rs, b, rows) };
    let mut acc = [[0.0f32; NR]; MR];
    for q in 0..kc / 2 {
        let bq = &b[q * 2 * PANEL..q * 2 * PANEL + 2 * NR];
        for (i, row) in acc.iter_mut().enumerate().take(rows) {
            let ap = [
                a[i * a_at.0 + 2 * q * a_at.1],
                a[i * a_at.0 + (2 * q + 1) * a_at.1],
            ];
            for (x, bj) in row.iter_mut().zip(bq.chunks_exact(2)) {
                *x = step(*x, ap, [bj[0], bj[1]]);
            }
        }
    }
    // SAFETY: forwarded contract (C tile, bias, residual).
    unsafe { store_tile(&acc, rows, cols, c, rs_c, epi) }
}

/// Pairs of k per `tdpbf16ps` of the AMX kernel (a 64-byte tile row of A): its chunk.
pub const AMX_CHUNK: usize = 16;

/// One link of `tdpbf16ps`'s fused chains: `acc + a·b` rounded once to nearest even, denormal
/// inputs read as zero, a denormal result flushed.
#[inline(always)]
fn amx_fma(a: u16, b: u16, acc: f32) -> f32 {
    let (x, y) = (arm_input(a), arm_input(b));
    let p = x * y;
    // A product of two bf16 values has ≤ 16 significant bits: exact in f32 when zero (an operand
    // is) or finite and in the normal range, so `p + acc` rounds once, as the fused operation
    // does. A product below 2⁻¹²⁶ or beyond f32 (unrounded, +2²⁰⁰ added to −∞ is −∞, not NaN),
    // and ∞ or NaN operands, take the fused operation itself (slow without FMA; rare).
    let exact = x == 0.0 || y == 0.0 || (p.abs() >= f32::MIN_POSITIVE && p.is_finite());
    flush_input(if exact { p + acc } else { x.mul_add(y, acc) })
}

/// One AMX `tdpbf16ps` on one C element: the even-k and the odd-k products of a chunk of
/// [`AMX_CHUNK`] pairs summed in two separate fused chains from +0, in k order, then
/// `acc + (even + odd)` — each operation rounded to nearest even, denormal inputs (C
/// included) read as zero and denormal results flushed. Found by measurement on a
/// Sapphire-Rapids-class Xeon (the tests check it bit for bit on every AMX CPU they run on):
/// Intel's pseudo-code for the instruction reads as `vdpbf16ps`'s pair steps, which the
/// hardware does not follow.
pub fn amx_chunk(acc: f32, pairs: impl IntoIterator<Item = ([u16; 2], [u16; 2])>) -> f32 {
    let (mut even, mut odd) = (0.0f32, 0.0f32);
    for (a, b) in pairs {
        even = amx_fma(a[0], b[0], even);
        odd = amx_fma(a[1], b[1], odd);
    }
    flush_input(flush_input(acc) + flush_input(even + odd))
}

/// The AMX model's tile: per C element, chunks of [`AMX_CHUNK`] pairs from the tile's first
/// k ([`amx_chunk`]), the last one padded with zero pairs as the kernel pads it.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `K_GROUP = 2`.
#[allow(clippy::too_many_arguments)]
unsafe fn tile_amx(
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
    // SAFETY: forwarded contract.
    let (a, a_at, b) = unsafe { operands(kc, a, a_rs, b, rows) };
    let pairs = kc / 2;
    let mut acc = [[0.0f32; NR]; MR];
    for q0 in (0..pairs).step_by(AMX_CHUNK) {
        for (i, row) in acc.iter_mut().enumerate().take(rows) {
            for (j, x) in row.iter_mut().enumerate() {
                let pair = |q: usize| {
                    if q < pairs {
                        let bj = &b[q * 2 * PANEL + 2 * j..][..2];
                        (
                            [
                                a[i * a_at.0 + 2 * q * a_at.1],
                                a[i * a_at.0 + (2 * q + 1) * a_at.1],
                            ],
                            [bj[0], bj[1]],
                        )
                    } else {
                        ([0, 0], [0, 0])
                    }
                };
                *x = amx_chunk(*x, (q0..q0 + AMX_CHUNK).map(pair));
            }
        }
    }
    // SAFETY: forwarded contract (C tile, bias, residual).
    unsafe { store_tile(&acc, rows, cols, c, rs_c, epi) }
}

macro_rules! reference_bf16 {
    ($ty:ident, $name:literal, |$kc:ident, $a:ident, $a_rs:ident, $b:ident, $c:ident, $rs_c:ident,
        $rows:ident, $cols:ident, $epi:ident| $body:block) => {
        impl MicroKernel for $ty {
            type A = u16;
            type B = u16;
            const MR: usize = MR;
            const NR: usize = NR;
            const K_GROUP: usize = 2;
            const NAME: &'static str = $name;

            fn supported() -> bool {
                true
            }

            unsafe fn tile(
                $kc: usize,
                $a: *const u16,
                $a_rs: usize,
                $b: *const u16,
                $c: *mut f32,
                $rs_c: usize,
                $rows: usize,
                $cols: usize,
                $epi: &TileEpi,
            ) $body
        }
    };
    ($ty:ident, $name:literal, $step:expr) => {
        reference_bf16!($ty, $name, |kc, a, a_rs, b, c, rs_c, rows, cols, epi| {
            // SAFETY: forwarded trait contract.
            unsafe { tile_with($step, kc, a, a_rs, b, c, rs_c, rows, cols, epi) }
        });
    };
}

reference_bf16!(
    ReferenceBf16_4x16,
    "gemm_ukr_reference_bf16_4x16",
    vdpbf16ps_step
);
reference_bf16!(
    ReferenceArmBf16_4x16,
    "gemm_ukr_reference_bf16arm_4x16",
    arm_bfdot_add
);
reference_bf16!(
    ReferenceAmxBf16_4x16,
    "gemm_ukr_reference_bf16amx_4x16",
    |kc, a, a_rs, b, c, rs_c, rows, cols, epi| {
        // SAFETY: forwarded trait contract.
        unsafe { tile_amx(kc, a, a_rs, b, c, rs_c, rows, cols, epi) }
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::bf16::to_bf16;

    fn bf(x: f32) -> u16 {
        to_bf16(x)
    }

    /// Round-to-odd against a direct definition on exact dyadic values (f64 sums that are
    /// exact), and the flush, overflow and NaN rules.
    #[test]
    fn round_to_odd_rules() {
        let r = |x: f64| round_to_odd(x, 0.0).to_bits();
        assert_eq!(r(1.0), 0x3F80_0000);
        // 1 + 2⁻²⁴ (between 1 and 1 + 2⁻²³): truncated to 1, inexact → odd.
        assert_eq!(r(1.0 + 2f64.powi(-24)), 0x3F80_0001);
        // 1 + 3·2⁻²⁴: truncated to 1 + 2⁻²³ (already odd).
        assert_eq!(r(1.0 + 3.0 * 2f64.powi(-24)), 0x3F80_0001);
        // 1 + 2⁻²² + 2⁻³⁰: truncated to 1 + 2⁻²² (even) → 1 + 3·2⁻²³.
        assert_eq!(r(1.0 + 2f64.powi(-22) + 2f64.powi(-30)), 0x3F80_0003);
        assert_eq!(r(-(1.0 + 2f64.powi(-24))), 0xBF80_0001);
        // The cut part only in lo: 1 − 2⁻¹⁰⁰ → just below 1: 1 − 2⁻²⁴, odd.
        assert_eq!(round_to_odd(1.0, -2f64.powi(-100)).to_bits(), 0x3F7F_FFFF);
        assert_eq!(round_to_odd(1.0, 2f64.powi(-100)).to_bits(), 0x3F80_0001);
        assert_eq!(round_to_odd(-1.0, 2f64.powi(-100)).to_bits(), 0xBF7F_FFFF);
        // Flush: below 2⁻¹²⁶ (decided before rounding), to a zero of the value's sign.
        let min = f32::MIN_POSITIVE as f64;
        assert_eq!(r(min), 0x0080_0000);
        assert_eq!(r(min * 0.75), 0);
        assert_eq!(r(-min * 0.75), 0x8000_0000);
        assert_eq!(round_to_odd(min, -2f64.powi(-200)).to_bits(), 0);
        assert_eq!(round_to_odd(-min, 2f64.powi(-200)).to_bits(), 0x8000_0000);
        // Overflow only at 2¹²⁸: just below it truncates to f32::MAX (odd already).
        let two128 = 2f64.powi(128);
        assert_eq!(r(two128), 0x7F80_0000);
        assert_eq!(r(-two128 * 3.0), 0xFF80_0000);
        assert_eq!(round_to_odd(two128, -1.0).to_bits(), f32::MAX.to_bits());
        assert_eq!(r(f32::MAX as f64 + 2f64.powi(100)), f32::MAX.to_bits());
        assert_eq!(r(f64::NAN), DEFAULT_NAN);
        assert_eq!(r(-0.0), 0x8000_0000);
        // Random exact values: truncation plus sticky bit, computed on the integer significand.
        let mut s = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // A 40-bit significand scaled into f32's normal range: exact in f64.
            let m = (s >> 24) | (1 << 39);
            let e = (s % 200) as i32 - 100;
            let x = m as f64 * 2f64.powi(e - 39);
            let keep = m >> 16; // 24 bits
            let want = (keep | u64::from(m & 0xFFFF != 0)) as f64 * 2f64.powi(e - 23);
            assert_eq!(round_to_odd(x, 0.0), want as f32, "{x:e}");
        }
    }

    /// The f32 hot paths equal the definitions on f64 ([`round_to_odd`]) bit for bit, on
    /// operands of every magnitude (flush, overflow, cancellation, ∞, NaN, ±0, denormals).
    #[test]
    fn fast_paths_equal_the_definition() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let special = [
            0.0f32,
            -0.0,
            f32::INFINITY,
            -f32::INFINITY,
            f32::NAN,
            f32::MAX,
            -f32::MAX,
        ];
        let f = |r: u64| -> f32 {
            match r % 8 {
                0 => special[(r >> 8) as usize % special.len()],
                // near 2⁻¹²⁶ (some denormal), near 2¹²⁸, or anywhere
                1 => f32::from_bits((r >> 32) as u32 & 0x81FF_FFFF),
                2 => f32::from_bits(((r >> 32) as u32 & 0x80FF_FFFF) | 0x7E00_0000),
                _ => f32::from_bits((r >> 32) as u32 & 0xBFFF_FFFF | ((r & 0x4000) as u32) << 16),
            }
        };
        for _ in 0..200_000 {
            let (x, y) = (f(next()), f(next()));
            // Nearby pairs too, where the sum cancels.
            let y2 = -f32::from_bits(x.to_bits() ^ (next() as u32 & 0x3FF));
            for y in [y, y2] {
                let (fast, slow) = (arm_add(x, y), arm_add_f64(x, y));
                assert_eq!(fast.to_bits(), slow.to_bits(), "{x:e} + {y:e}");
            }
            let (a, b) = (next() as u16, (next() >> 16) as u16);
            let slow = round_to_odd(arm_input(a) as f64 * arm_input(b) as f64, 0.0);
            assert_eq!(arm_mul(a, b).to_bits(), slow.to_bits(), "{a:#x}·{b:#x}");
        }
    }

    #[test]
    fn bfdot_add_arithmetic() {
        // Exact cases agree with plain arithmetic.
        assert_eq!(
            arm_bfdot_add(1.0, [bf(2.0), bf(3.0)], [bf(0.5), bf(4.0)]),
            14.0
        );
        // The pair's sum is rounded before the accumulation, to odd: 2²⁴ + 1 + 0.5 →
        // products 2²⁴·1 and 1.5·1 summed: 2²⁴ + 1.5 → truncated to 2²⁴, odd → 2²⁴ + 2.
        let big = 16_777_216.0f32;
        assert_eq!(
            arm_bfdot_add(0.0, [bf(big), bf(1.5)], [bf(1.0), bf(1.0)]),
            big + 2.0
        );
        // Nearest-even (vdpbf16ps) would give 2²⁴ + 2 as well here, but 2²⁴ + 0.5 differs:
        // RNE → 2²⁴, round-to-odd → 2²⁴ + 2.
        assert_eq!(
            arm_bfdot_add(0.0, [bf(big), bf(0.5)], [bf(1.0), bf(1.0)]),
            big + 2.0
        );
        assert_eq!(
            vdpbf16ps_step(0.0, [bf(big), bf(0.5)], [bf(1.0), bf(1.0)]),
            big
        );
        // Products below 2⁻¹²⁶ are flushed (an FMA would keep a denormal).
        let tiny = 2f32.powi(-70);
        assert_eq!(
            arm_bfdot_add(0.0, [bf(tiny), 0], [bf(tiny), 0]).to_bits(),
            0
        );
        assert_eq!(
            arm_bfdot_add(0.0, [bf(-tiny), 0], [bf(tiny), 0]).to_bits(),
            0,
            "+0 + (−0 + +0) = +0"
        );
        // Products overflow to ∞ at 2¹²⁸, ∞ − ∞ and 0·∞ give the default NaN.
        let huge = 2f32.powi(100);
        assert_eq!(
            arm_bfdot_add(0.0, [bf(huge), 0], [bf(huge), 0]),
            f32::INFINITY
        );
        assert_eq!(
            arm_bfdot_add(0.0, [bf(huge), bf(huge)], [bf(huge), bf(-huge)]).to_bits(),
            DEFAULT_NAN
        );
        assert_eq!(
            arm_bfdot_add(1.0, [bf(f32::INFINITY), 0], [0, 0]).to_bits(),
            DEFAULT_NAN
        );
        assert_eq!(
            arm_bfdot_add(f32::NAN, [0, 0], [0, 0]).to_bits(),
            DEFAULT_NAN
        );
        // Denormal inputs count as zero (the kernels never see one: rounding flushes them).
        assert_eq!(arm_bfdot_add(0.0, [0x0001, 0], [bf(1.0), 0]).to_bits(), 0);
        assert_eq!(arm_bfdot_add(1e-40, [0, 0], [0, 0]).to_bits(), 0);
    }
}
