//! AVX2+FMA micro-kernel `gemm_ukr_avx2_6x16`: 6 rows × 16 columns of C in 12 ymm accumulators;
//! per k step 2 vector loads of B, 6 broadcasts of A, 12 FMAs. A 32-wide B panel is covered by
//! two 16-wide tiles. Edge tiles: `R`-row monomorphised copies, masked column loads/stores.

use std::arch::x86_64::*;

use super::{L2Prefetch, MicroKernel, StridedKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};
use crate::math::erf::avx2::gelu;

/// AVX2+FMA 6×16 kernel.
pub struct Avx2_6x16;

const MR: usize = 6;
const NR: usize = 16;
/// How many k steps ahead the B panel is prefetched into L1.
const PF_ROWS: usize = 32;

impl MicroKernel for Avx2_6x16 {
    const MR: usize = MR;
    const NR: usize = NR;
    type A = f32;
    type B = f32;
    const NAME: &'static str = "gemm_ukr_avx2_6x16";

    fn supported() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
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
                    // SAFETY: forwarded trait contract (avx2+fma present, pointers valid, rows = R).
                    $(($r, true) => unsafe { tile_r::<$r, false>(kc, a, 0, b, c, rs_c, cols, epi) },)*
                    // SAFETY: as above, A read row-major at stride a_rs.
                    $(($r, false) => unsafe { tile_r::<$r, true>(kc, a, a_rs, b, c, rs_c, cols, epi) },)*
                    _ => unreachable!("rows = {rows} > MR"),
                }
            };
        }
        go!(6 1 2 3 4 5)
    }
}

impl StridedKernel for Avx2_6x16 {
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

#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn mask(cols: usize, half: usize) -> (__m256i, bool) {
    let c = cols.saturating_sub(8 * half).min(8) as i32;
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    (_mm256_cmpgt_epi32(_mm256_set1_epi32(c), lanes), c > 0)
}

/// 8 floats at `p`: a plain load when all 8 are inside the tile (`full`), else the lanes
/// of `mk` only (the rest 0).
///
/// # Safety
/// AVX2; the lanes read (all, or those of `mk`) are readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn load8(p: *const f32, mk: __m256i, full: bool) -> __m256 {
    // SAFETY: forwarded.
    unsafe {
        if full {
            _mm256_loadu_ps(p)
        } else {
            _mm256_maskload_ps(p, mk)
        }
    }
}

/// Stores `v` at `p`: a plain store when all 8 floats are inside the tile (`full`), else the
/// lanes of `mk` only. (`vmaskmovps` to memory is several µops on Intel cores and microcoded
/// on AMD's Zen cores, per the published instruction tables; a tile's 12 stores are then not
/// small next to a k = 32 tile's 384 FMAs — attention's Q·Kᵀ on 32-wide heads. Not measured
/// on an AMD core: on this project's Intel Xeon plain and masked stores time the same.)
///
/// # Safety
/// AVX2; the lanes written (all, or those of `mk`) are writable.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn store8(p: *mut f32, mk: __m256i, full: bool, v: __m256) {
    // SAFETY: forwarded.
    unsafe {
        if full {
            _mm256_storeu_ps(p, v)
        } else {
            _mm256_maskstore_ps(p, mk, v)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // `h` indexes masks, bias and the accumulator pair alike
#[allow(clippy::too_many_arguments)]
unsafe fn tile_r<const R: usize, const DIRECT: bool>(
    kc: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // The accumulators are twelve named variables, not arrays indexed in a loop: an array of
    // them is kept in memory by some monomorphisations (the row-major and short-row ones; every
    // FMA then stored its result to the stack, which cost attention a third of its time).
    let z = _mm256_setzero_ps();
    let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21) = (z, z, z, z, z, z);
    let (mut c30, mut c31, mut c40, mut c41, mut c50, mut c51) = (z, z, z, z, z, z);
    if !epi.first {
        // Start fetching the C tile now; it is read only after the k loop.
        for i in 0..R {
            _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * rs_c) as *const i8);
        }
    }
    // A(i, p) is at `a + p·step + i·row`: packed, step MR and row 1; row-major (DIRECT), step 1
    // and row a_rs. Rows 0..3 are addressed from `a0`, rows 3.. from `a3`, so each broadcast is
    // one addressing mode (base + row·{0, 1, 2} + constant) and a k step moves two pointers.
    let (step, row) = if DIRECT { (1, a_rs) } else { (MR, 1) };
    let mut a0 = a;
    let mut a3 = a.wrapping_add(3 * row);
    let mut b = b;
    let mut l2 = L2Prefetch::new(epi, kc);
    // Row `i` of a k step: one broadcast of A(i, p), two FMAs into the row's accumulators.
    macro_rules! row {
        ($i:literal, $x:ident, $y:ident, $u:expr, $b0:expr, $b1:expr) => {
            if R > $i {
                let src = if $i < 3 {
                    a0.wrapping_add($i * row)
                } else {
                    a3.wrapping_add(($i - 3) * row)
                };
                // SAFETY: A(i, p) for i < R is inside A (contract), at a0/a3 + u·step +
                // (i mod 3)·row.
                let av = unsafe { _mm256_broadcast_ss(&*src.add($u * step)) };
                $x = _mm256_fmadd_ps(av, $b0, $x);
                $y = _mm256_fmadd_ps(av, $b1, $y);
            }
        };
    }
    // One k step `u` steps past the pointers: B's 16 floats, R broadcasts, 2·R FMAs, one L1
    // prefetch of B (`pf`, one 64-byte line per k step); the L2 prefetches' counter advances
    // once per 4 steps (`L2Prefetch::step4`: its compare and branch per step cost 2–4 % of the
    // forward pass, BERT-large and MiniLM on this level).
    macro_rules! k_step {
        ($u:expr, $pf:expr) => {{
            let u: usize = $u;
            _mm_prefetch::<_MM_HINT_T0>($pf.wrapping_add(u * PANEL) as *const i8);
            // SAFETY: the step is < kc, so b + u·PANEL .. +16 is within that row of the B panel.
            let (b0, b1) = unsafe {
                let bp = b.add(u * PANEL);
                (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8)))
            };
            row!(0, c00, c01, u, b0, b1);
            row!(1, c10, c11, u, b0, b1);
            row!(2, c20, c21, u, b0, b1);
            row!(3, c30, c31, u, b0, b1);
            row!(4, c40, c41, u, b0, b1);
            row!(5, c50, c51, u, b0, b1);
        }};
    }
    // The first kc − PF_ROWS steps prefetch B PF_ROWS steps ahead, the last PF_ROWS the next
    // tile's B from its start; each part unrolled by 4 (the loop's pointer updates and branch
    // once per 4 steps: with 12 FMAs per step the loop is otherwise bound by its own issue).
    // (Two expansions, not a loop over the parts: a loop there keeps the accumulators in
    // memory.)
    macro_rules! part {
        ($steps:expr, $pf:expr) => {{
            let (mut left, mut pf): (usize, *const f32) = ($steps, $pf);
            while left >= 4 {
                l2.step4();
                k_step!(0, pf);
                k_step!(1, pf);
                k_step!(2, pf);
                k_step!(3, pf);
                a0 = a0.wrapping_add(4 * step);
                a3 = a3.wrapping_add(4 * step);
                b = b.wrapping_add(4 * PANEL);
                pf = pf.wrapping_add(4 * PANEL);
                left -= 4;
            }
            while left > 0 {
                l2.step();
                k_step!(0, pf);
                a0 = a0.wrapping_add(step);
                a3 = a3.wrapping_add(step);
                b = b.wrapping_add(PANEL);
                pf = pf.wrapping_add(PANEL);
                left -= 1;
            }
        }};
    }
    let main = kc.saturating_sub(PF_ROWS);
    part!(main, b.wrapping_add(PF_ROWS * PANEL));
    part!(kc - main, epi.next_b.cast::<f32>());
    let c0: [__m256; R] = std::array::from_fn(|i| [c00, c10, c20, c30, c40, c50][i]);
    let c1: [__m256; R] = std::array::from_fn(|i| [c01, c11, c21, c31, c41, c51][i]);
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}

/// The epilogue of every avx2,fma kernel (fp32 and bf16 alike): the accumulators `c0`
/// (columns 0..) and `c1` (the next half) of rows `0..R`, then (+ C) (·alpha) (+ bias) →
/// C, then GELU and residual (see the [module docs](super)).
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract, with `rows = R`.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // `h` indexes masks, bias and the accumulator pair alike
pub(crate) unsafe fn store_tile<const R: usize>(
    c0: &[__m256; R],
    c1: &[__m256; R],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let m = [mask(cols, 0), mask(cols, 1)];
    // Whether each half's 8 columns are all inside the tile: plain loads and stores.
    let full = [cols >= 8, cols >= 16];
    let scale = epi.last && epi.alpha != 1.0;
    let alpha = _mm256_set1_ps(epi.alpha);
    let mut bias = [_mm256_setzero_ps(); 2];
    let has_bias = epi.last && !epi.bias.is_null();
    if has_bias {
        for h in 0..2 {
            // SAFETY: reads only the first `cols` bias floats, which exist.
            bias[h] = unsafe { load8(epi.bias.add(8 * h), m[h].0, full[h]) };
        }
    }
    // Phase 1, straight from the registers: v = acc (+ C) (·alpha) (+ bias) → C. Masked
    // loads/stores (edge columns only) with an all-zero mask touch nothing.
    for i in 0..R {
        for h in 0..2 {
            let mk = m[h].0;
            let mut v = if h == 0 { c0[i] } else { c1[i] };
            // SAFETY: row i < rows, columns 8h.. masked to < cols: inside the C tile.
            let cp = unsafe { c.add(i * rs_c + 8 * h) };
            if !epi.first {
                // SAFETY: as above; C is readable when not `first`.
                v = _mm256_add_ps(unsafe { load8(cp, mk, full[h]) }, v);
            }
            if scale {
                v = _mm256_mul_ps(v, alpha);
            }
            if has_bias {
                v = _mm256_add_ps(v, bias[h]);
            }
            // SAFETY: inside the writable C tile (masked to cols unless the half is full).
            unsafe { store8(cp, mk, full[h], v) };
        }
    }
    // Phase 2, only for the FFN epilogues: GELU and residual on the tile, now in L1.
    if epi.last && (epi.gelu || !epi.residual.is_null()) {
        for i in 0..R {
            for h in 0..2 {
                let (mk, any) = m[h];
                if !any {
                    continue;
                }
                // SAFETY: row i < rows, columns 8h.. masked to < cols: inside the C tile,
                // which phase 1 has just written.
                let cp = unsafe { c.add(i * rs_c + 8 * h) };
                // SAFETY: as above.
                let mut v = unsafe { load8(cp, mk, full[h]) };
                if epi.gelu {
                    v = gelu(v);
                }
                if !epi.residual.is_null() {
                    // SAFETY: the residual tile has the same rows × cols, masked to cols.
                    let r = unsafe { load8(epi.residual.add(i * epi.rs_res + 8 * h), mk, full[h]) };
                    v = _mm256_add_ps(v, r);
                }
                // SAFETY: inside the writable C tile (as in phase 1).
                unsafe { store8(cp, mk, full[h], v) };
            }
        }
    }
}
