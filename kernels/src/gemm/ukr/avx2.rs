//! AVX2+FMA micro-kernel `gemm_ukr_avx2_6x16`: 6 rows × 16 columns of C in 12 ymm accumulators;
//! per k step 2 vector loads of B, 6 broadcasts of A, 12 FMAs. A 32-wide B panel is covered by
//! two 16-wide tiles. Edge tiles: `R`-row monomorphised copies, masked column loads/stores.

use std::arch::x86_64::*;

use super::x86_loop::k_loop;
use super::{MicroKernel, StridedKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};
use crate::math::erf::avx2::gelu;

/// AVX2+FMA 6×16 kernel.
pub struct Avx2_6x16;

const MR: usize = 6;
const NR: usize = 16;

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
    // A(i, p) is at `a + p·step + i·row`: packed, step MR and row 1; row-major (DIRECT), step 1
    // and row a_rs.
    let (step, row) = if DIRECT { (1, a_rs) } else { (MR, 1) };
    // SAFETY: `k_loop` passes the B row of a step < kc, inside the panel (contract).
    let load = |bp: *const f32| unsafe { (_mm256_loadu_ps(bp), _mm256_loadu_ps(bp.add(8))) };
    let update = |x, y, ap: *const f32, &(b0, b1): &(__m256, __m256)| {
        // SAFETY: `k_loop` passes A(i, step) of a row i < R and a step < kc, inside A.
        let av = unsafe { _mm256_broadcast_ss(&*ap) };
        (_mm256_fmadd_ps(av, b0, x), _mm256_fmadd_ps(av, b1, y))
    };
    // SAFETY: forwarded contract: kc steps of A (at that step and row) and of the B panel
    // (PANEL floats a step, the tile's 16 read) are inside A and B; the C tile is rows × cols
    // at rs_c.
    let (c0, c1) = unsafe {
        k_loop::<R, 1, _, _, _, _>(
            kc,
            (a, step, row, !DIRECT),
            (b, PANEL),
            (c, rs_c),
            epi,
            _mm256_setzero_ps(),
            load,
            update,
        )
    };
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
