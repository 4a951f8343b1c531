//! aarch64 Advanced SIMD (NEON) micro-kernel `gemm_ukr_neon_6x16`: 6 rows × 16 columns of C in
//! 24 of the 32 128-bit registers; a 32-wide B panel is covered by two 16-wide tiles.
//!
//! # Why 6×16
//!
//! NEON has 32 vector registers of 4 floats, and `fmla` by element (`vfmaq_laneq_f32`)
//! multiplies a B vector by one lane of an A register, so A needs no broadcast registers.
//! NR must divide the 32-wide B panel (16: four B vectors; 8 would halve the reuse of each A
//! value, 12 does not divide 32). With NR = 16 the rows are bounded by the register file:
//!
//! | tile | accumulators | + B | + A | registers | `fmla` per k step | per loaded vector (packed A) |
//! |---|---|---|---|---|---|---|
//! | 6×16 | 24 | 4 | 3 (12 floats: 2 k steps) | **31** | 24 | 48 / (8 B + 3 A) = 4.4 |
//! | 7×16 | 28 | 4 | 2–4 | 34–36: spills | 28 | — |
//! | 8×16 | 32 | 4 | 2 | 38: spills | 32 | — |
//!
//! So 6×16, the AVX2 kernel's tile. Per k step it loads 4 B vectors (64 bytes) and runs 24
//! `fmla`; A is read one of two ways (the [contract](super)):
//!
//! * **packed** (`a_rs = 0`, `gemm_strided`'s transposed A): two k steps at a time, the
//!   12 floats `a[p·6 .. p·6 + 12]` in 3 vector loads, each row's value used in place as lane
//!   `(s·6 + i) % 4` of vector `(s·6 + i) / 4` (`vfmaq_laneq_f32`): 48 `fmla` per 11 loads;
//! * **row-major** (`a_rs > 0`: `gemm_packed`'s activations, attention's Q and P, read in
//!   place): one scalar load per row and k step (`ldr s` / `ld1r`, then `fmla` by element),
//!   6 + 4 loads per 24 `fmla` — a vector load of 4 k values per row would need 6 more live
//!   registers than the 32 there are.
//!
//! Both keep 24 accumulators + 4 B + at most 3 A registers live: no spills in the k loop.
//! Prefetch hints (`prfm`, never faulting): B 32 k steps ahead into L1 (one 64-byte line per
//! step, then the next tile's B), a share of the next B block into L2 (`L2Prefetch`), and the
//! C tile before the k loop when it will be read. (Not measured on ARM hardware: the
//! development machines only run aarch64 under qemu.)
//!
//! Edge tiles: `R`-row monomorphised copies (R = 1…6; packed A panels are zero-padded to 6 rows
//! and read whole); partial columns go through a 16-float stack buffer in the epilogue, so
//! C, bias and residual are never touched outside the tile. The epilogue (`store_tile`,
//! shared with the bf16 kernel) follows the reference kernel's order: `acc (+ C)`, `·α`,
//! `+ bias`, then GELU and `+ residual` in a second pass over the tile.

use std::arch::aarch64::*;

use super::{prefetch_l1, L2Prefetch, MicroKernel, StridedKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};
use crate::math::erf::neon::gelu;

/// NEON 6×16 kernel.
pub struct Neon6x16;

const MR: usize = 6;
const NR: usize = 16;
/// How many k steps ahead the B panel is prefetched into L1.
const PF_ROWS: usize = 32;

impl MicroKernel for Neon6x16 {
    const MR: usize = MR;
    const NR: usize = NR;
    type A = f32;
    type B = f32;
    const NAME: &'static str = "gemm_ukr_neon_6x16";

    fn supported() -> bool {
        std::arch::is_aarch64_feature_detected!("neon")
    }

    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        a_rs: usize,
        b: *const f32,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    ) {
        macro_rules! go {
            ($($r:literal)*) => {
                match (rows, a_rs == 0) {
                    // SAFETY: forwarded trait contract (neon present, pointers valid, rows = R).
                    $(($r, true) => unsafe { tile_packed::<$r>(kc, a, b, c, rs_c, cols, epi) },)*
                    // SAFETY: as above, A read row-major at stride a_rs.
                    $(($r, false) => unsafe { tile_direct::<$r>(kc, a, a_rs, b, c, rs_c, cols, epi) },)*
                    _ => unreachable!("rows = {rows} > MR"),
                }
            };
        }
        go!(6 1 2 3 4 5)
    }
}

impl StridedKernel for Neon6x16 {
    fn pack_a(
        m: usize,
        k: usize,
        a: &[f32],
        rs: usize,
        cs: usize,
        out: &mut AlignedBuf,
        par: bool,
    ) {
        pack_a::<MR>(m, k, a, rs, cs, out, par);
    }
}

/// The 6×16 accumulators of a tile (rows × 4 vectors of 4 columns).
type Acc<const R: usize> = [[float32x4_t; 4]; R];

/// The L1 prefetch stream of B: `PF_ROWS` k steps ahead within the tile's micro-panel, then
/// (over the last `PF_ROWS` steps) the next tile's, plus the L2 share of the next B block.
struct Prefetch {
    pf: *const f32,
    step: usize,
    main: usize,
    next_b: *const f32,
    l2: L2Prefetch,
}

impl Prefetch {
    #[inline(always)]
    fn new(b: *const f32, kc: usize, epi: &TileEpi) -> Self {
        Prefetch {
            pf: b.wrapping_add(PF_ROWS * PANEL),
            step: 0,
            main: kc.saturating_sub(PF_ROWS),
            next_b: epi.next_b.cast(),
            l2: L2Prefetch::new(epi, kc),
        }
    }

    /// One k step: one L1 prefetch (of one 64-byte row of 16 floats), maybe one L2 prefetch.
    #[inline(always)]
    fn step(&mut self) {
        self.l2.step();
        if self.step == self.main {
            self.pf = self.next_b;
        }
        prefetch_l1(self.pf.cast());
        self.pf = self.pf.wrapping_add(PANEL);
        self.step += 1;
    }
}

/// Hints the C tile's rows into L1 when the epilogue will read them.
#[inline(always)]
fn prefetch_c<const R: usize>(c: *mut f32, rs_c: usize, epi: &TileEpi) {
    if !epi.first {
        for i in 0..R {
            prefetch_l1(c.wrapping_add(i * rs_c) as *const u8);
        }
    }
}

/// The 4 B vectors of k row `b` (16 floats).
///
/// # Safety
/// `b..b + 16` is readable.
#[inline(always)]
unsafe fn load_b(b: *const f32) -> [float32x4_t; 4] {
    // SAFETY: 16 readable floats (contract).
    unsafe {
        [
            vld1q_f32(b),
            vld1q_f32(b.add(4)),
            vld1q_f32(b.add(8)),
            vld1q_f32(b.add(12)),
        ]
    }
}

/// `acc + b·A` with A the flat-indexed value `f` (< 12) of the 3 vectors `a`: lane `f % 4` of
/// vector `f / 4` (`fmla` by element; `f` is a constant once the row loops are unrolled, and
/// the match folds away). A macro, so that it expands inside the `neon` functions.
macro_rules! fma_lane {
    ($acc:expr, $b:expr, $a:expr, $f:expr) => {
        match $f {
            0 => vfmaq_laneq_f32::<0>($acc, $b, $a[0]),
            1 => vfmaq_laneq_f32::<1>($acc, $b, $a[0]),
            2 => vfmaq_laneq_f32::<2>($acc, $b, $a[0]),
            3 => vfmaq_laneq_f32::<3>($acc, $b, $a[0]),
            4 => vfmaq_laneq_f32::<0>($acc, $b, $a[1]),
            5 => vfmaq_laneq_f32::<1>($acc, $b, $a[1]),
            6 => vfmaq_laneq_f32::<2>($acc, $b, $a[1]),
            7 => vfmaq_laneq_f32::<3>($acc, $b, $a[1]),
            8 => vfmaq_laneq_f32::<0>($acc, $b, $a[2]),
            9 => vfmaq_laneq_f32::<1>($acc, $b, $a[2]),
            10 => vfmaq_laneq_f32::<2>($acc, $b, $a[2]),
            11 => vfmaq_laneq_f32::<3>($acc, $b, $a[2]),
            f => unreachable!("A lane {f} ≥ 12"),
        }
    };
}

/// Packed A (`a_rs = 0`): `a[p·MR + i]`, two k steps per 3 vector loads.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, `a_rs = 0`.
// Not inlined into the driver: its live values would crowd the 31 registers of the k loop
// (inlined, LLVM spilled an accumulator); one call per tile of kc·24 `fmla`.
#[inline(never)]
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // `i` indexes the accumulators and picks A's lane alike
unsafe fn tile_packed<const R: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc: Acc<R> = [[vdupq_n_f32(0.0); 4]; R];
    prefetch_c::<R>(c, rs_c, epi);
    let mut pf = Prefetch::new(b, kc, epi);
    let (mut a, mut b) = (a, b);
    for _ in 0..kc / 2 {
        // SAFETY: two k steps remain: the packed panel holds a..a + 2·MR (= 12 floats), and
        // B rows b, b + PANEL hold 16 floats each (contract).
        unsafe {
            let av = [vld1q_f32(a), vld1q_f32(a.add(4)), vld1q_f32(a.add(8))];
            // The two k steps written out (as a loop, LLVM left it rolled at R = 6, so the
            // lanes were not constants).
            macro_rules! k_step {
                ($s:literal) => {
                    pf.step();
                    let bv = load_b(b.add($s * PANEL));
                    for i in 0..R {
                        for v in 0..4 {
                            acc[i][v] = fma_lane!(acc[i][v], bv[v], av, $s * MR + i);
                        }
                    }
                };
            }
            k_step!(0);
            k_step!(1);
            a = a.add(2 * MR);
            b = b.add(2 * PANEL);
        }
    }
    if kc % 2 == 1 {
        pf.step();
        // SAFETY: one k step remains: a..a + MR (4 + 2 floats) and B row b are inside the
        // panels (contract).
        unsafe {
            let z = vdupq_n_f32(0.0);
            let av = [
                vld1q_f32(a),
                vcombine_f32(vld1_f32(a.add(4)), vget_low_f32(z)),
                z,
            ];
            let bv = load_b(b);
            for i in 0..R {
                for v in 0..4 {
                    acc[i][v] = fma_lane!(acc[i][v], bv[v], av, i);
                }
            }
        }
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&acc, c, rs_c, cols, epi) }
}

/// Row-major A (`a_rs > 0`): `a[i·a_rs + p]`, one scalar per row and k step.
///
/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, `a_rs > 0`.
// Not inlined into the driver: its live values would crowd the 31 registers of the k loop
// (inlined, LLVM spilled an accumulator); one call per tile of kc·24 `fmla`.
#[inline(never)]
#[target_feature(enable = "neon")]
#[allow(clippy::needless_range_loop)] // `i` indexes the accumulators and A's rows alike
#[allow(clippy::too_many_arguments)]
unsafe fn tile_direct<const R: usize>(
    kc: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc: Acc<R> = [[vdupq_n_f32(0.0); 4]; R];
    prefetch_c::<R>(c, rs_c, epi);
    let mut pf = Prefetch::new(b, kc, epi);
    let (mut a, mut b) = (a, b);
    for _ in 0..kc {
        pf.step();
        // SAFETY: p < kc: B row b holds 16 floats; A(i, p) for i < R is a[i·a_rs] (`a`
        // advanced p columns), inside A (contract).
        unsafe {
            let bv = load_b(b);
            for i in 0..R {
                let av = *a.add(i * a_rs);
                for v in 0..4 {
                    acc[i][v] = vfmaq_n_f32(acc[i][v], bv[v], av);
                }
            }
            a = a.add(1);
            b = b.add(PANEL);
        }
    }
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&acc, c, rs_c, cols, epi) }
}

/// The first `cols` (≤ 16) floats at `p` as 4 vectors, zero past `cols`.
///
/// # Safety
/// `p..p + cols` is readable.
#[inline(always)]
unsafe fn load_row(p: *const f32, cols: usize) -> [float32x4_t; 4] {
    if cols == NR {
        // SAFETY: 16 readable floats (contract).
        unsafe { load_b(p) }
    } else {
        let mut buf = [0.0f32; NR];
        // SAFETY: `cols` < 16 readable floats into the 16 of `buf`; then `buf` is read whole.
        unsafe {
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), cols);
            load_b(buf.as_ptr())
        }
    }
}

/// Writes the first `cols` (≤ 16) lanes of `v` to `p`.
///
/// # Safety
/// `p..p + cols` is writable.
#[inline(always)]
unsafe fn store_row(p: *mut f32, cols: usize, v: &[float32x4_t; 4]) {
    let mut buf = [0.0f32; NR];
    let dst = if cols == NR { p } else { buf.as_mut_ptr() };
    // SAFETY: `dst` is 16 writable floats: the row (cols = 16, contract) or `buf`.
    unsafe {
        for (h, &x) in v.iter().enumerate() {
            vst1q_f32(dst.add(4 * h), x);
        }
    }
    if cols < NR {
        // SAFETY: `cols` floats of `buf` to the `cols` writable floats at `p` (contract).
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, cols) };
    }
}

/// The epilogue of every NEON kernel (fp32 and bf16 alike): the accumulators of rows `0..R`
/// (4 vectors of 4 columns each), then (+ C) (·alpha) (+ bias) → C, then GELU and residual
/// (see the [module docs](super)), in the reference kernel's order, so a bf16 tile whose
/// accumulators equal the reference's is stored bit for bit as the reference stores it.
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract, with `rows = R`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) unsafe fn store_tile<const R: usize>(
    acc: &[[float32x4_t; 4]; R],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let scale = epi.last && epi.alpha != 1.0;
    let alpha = vdupq_n_f32(epi.alpha);
    let has_bias = epi.last && !epi.bias.is_null();
    let bias = if has_bias {
        // SAFETY: a non-null bias holds `cols` floats (contract).
        unsafe { load_row(epi.bias, cols) }
    } else {
        [vdupq_n_f32(0.0); 4]
    };
    // Phase 1, straight from the registers: v = acc (+ C) (·alpha) (+ bias) → C.
    for (i, row) in acc.iter().enumerate() {
        let cp = c.wrapping_add(i * rs_c);
        let mut v = *row;
        if !epi.first {
            // SAFETY: row i < rows, columns < cols: inside the C tile, readable unless first.
            let old = unsafe { load_row(cp, cols) };
            for h in 0..4 {
                v[h] = vaddq_f32(old[h], v[h]);
            }
        }
        for x in &mut v {
            if scale {
                *x = vmulq_f32(*x, alpha);
            }
        }
        if has_bias {
            for h in 0..4 {
                v[h] = vaddq_f32(v[h], bias[h]);
            }
        }
        // SAFETY: row i < rows, columns < cols: inside the writable C tile.
        unsafe { store_row(cp, cols, &v) };
    }
    // Phase 2, only for the FFN epilogues: GELU and residual on the tile, now in L1.
    if epi.last && (epi.gelu || !epi.residual.is_null()) {
        for i in 0..R {
            let cp = c.wrapping_add(i * rs_c);
            // SAFETY: inside the C tile, which phase 1 has just written.
            let mut v = unsafe { load_row(cp, cols) };
            if epi.gelu {
                for x in &mut v {
                    *x = gelu(*x);
                }
            }
            if !epi.residual.is_null() {
                // SAFETY: the residual tile has the same rows × cols at stride rs_res.
                let r = unsafe { load_row(epi.residual.add(i * epi.rs_res), cols) };
                for h in 0..4 {
                    v[h] = vaddq_f32(v[h], r[h]);
                }
            }
            // SAFETY: inside the writable C tile.
            unsafe { store_row(cp, cols, &v) };
        }
    }
}
