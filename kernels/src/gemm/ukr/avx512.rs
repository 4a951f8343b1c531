//! AVX-512F micro-kernel `gemm_ukr_avx512_12x32`: 12 rows × 32 columns of C in 24 zmm
//! accumulators; per k step 2 vector loads of B and 12 broadcasts of A (folded into the FMAs as
//! `{1to16}` memory operands), 24 FMAs. Edge tiles: fewer rows run a monomorphised `R`-row copy
//! of the kernel (no wasted FMAs on padding rows); fewer columns use masked loads/stores.

use std::arch::x86_64::*;

use super::x86_loop::k_loop;
use super::{MicroKernel, StridedKernel, TileEpi};
use crate::gemm::pack::{pack_a, AlignedBuf, PANEL};
use crate::math::erf::avx512::gelu;

/// AVX-512F 12×32 kernel.
pub struct Avx512_12x32;

const MR: usize = 12;
const NR: usize = 32;

impl MicroKernel for Avx512_12x32 {
    const MR: usize = MR;
    const NR: usize = NR;
    type A = f32;
    type B = f32;
    const NAME: &'static str = "gemm_ukr_avx512_12x32";

    fn supported() -> bool {
        is_x86_feature_detected!("avx512f")
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
                    // SAFETY: forwarded trait contract (avx512f present, pointers valid, rows = R).
                    $(($r, true) => unsafe { tile_r::<$r, false>(kc, a, 0, b, c, rs_c, cols, epi) },)*
                    // SAFETY: as above, A read row-major at stride a_rs.
                    $(($r, false) => unsafe { tile_r::<$r, true>(kc, a, a_rs, b, c, rs_c, cols, epi) },)*
                    _ => unreachable!("rows = {rows} > MR"),
                }
            };
        }
        go!(12 1 2 3 4 5 6 7 8 9 10 11)
    }
}

impl StridedKernel for Avx512_12x32 {
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

    const AVX512_PACKING: bool = true;
}

#[inline]
pub(crate) fn mask(cols: usize, half: usize) -> __mmask16 {
    let c = cols.saturating_sub(16 * half).min(16);
    ((1u32 << c) - 1) as __mmask16
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`.
#[inline]
#[target_feature(enable = "avx512f")]
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
    let load = |bp: *const f32| unsafe { (_mm512_loadu_ps(bp), _mm512_loadu_ps(bp.add(16))) };
    let update = |x, y, ap: *const f32, &(b0, b1): &(__m512, __m512)| {
        // SAFETY: `k_loop` passes A(i, step) of a row i < R and a step < kc, inside A.
        let av = _mm512_set1_ps(unsafe { *ap });
        (_mm512_fmadd_ps(av, b0, x), _mm512_fmadd_ps(av, b1, y))
    };
    let zero = _mm512_setzero_ps();
    // SAFETY: forwarded contract: kc steps of A (at that step and row) and of the B panel
    // (PANEL floats a step) are inside A and B; the C tile is rows × cols at rs_c.
    let (c0, c1) = unsafe {
        k_loop::<R, 2, _, _, _, _>(
            kc,
            (a, step, row),
            (b, PANEL),
            (c, rs_c),
            epi,
            zero,
            load,
            update,
        )
    };
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}

/// The epilogue of every avx512f kernel (fp32 and bf16 alike): the accumulators `c0`
/// (columns 0..) and `c1` (the next half) of rows `0..R`, then (+ C) (·alpha) (+ bias) →
/// C, then GELU and residual (see the [module docs](super)).
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract, with `rows = R`.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // `h` indexes masks, bias and the accumulator pair alike
pub(crate) unsafe fn store_tile<const R: usize>(
    c0: &[__m512; R],
    c1: &[__m512; R],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let m = [mask(cols, 0), mask(cols, 1)];
    let scale = epi.last && epi.alpha != 1.0;
    let alpha = _mm512_set1_ps(epi.alpha);
    let mut bias = [_mm512_setzero_ps(); 2];
    let has_bias = epi.last && !epi.bias.is_null();
    if has_bias {
        for h in 0..2 {
            // SAFETY: masked load reads only the first `cols` bias floats, which exist.
            bias[h] = unsafe { _mm512_maskz_loadu_ps(m[h], epi.bias.add(16 * h)) };
        }
    }
    // Phase 1, straight from the registers (small enough to unroll fully):
    // v = acc (+ C) (·alpha) (+ bias) → C. Masked loads/stores with an all-zero mask touch nothing.
    for i in 0..R {
        for h in 0..2 {
            let mut v = if h == 0 { c0[i] } else { c1[i] };
            // SAFETY: row i < rows, columns 16h.. masked to < cols: inside the C tile.
            let cp = unsafe { c.add(i * rs_c + 16 * h) };
            if !epi.first {
                // SAFETY: as above; C is readable when not `first`.
                v = _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(m[h], cp) }, v);
            }
            if scale {
                v = _mm512_mul_ps(v, alpha);
            }
            if has_bias {
                v = _mm512_add_ps(v, bias[h]);
            }
            // SAFETY: masked store inside the writable C tile.
            unsafe { _mm512_mask_storeu_ps(cp, m[h], v) };
        }
    }
    // Phase 2, only for the FFN epilogues: GELU and residual on the tile, now in L1.
    if epi.last && (epi.gelu || !epi.residual.is_null()) {
        for i in 0..R {
            for h in 0..2 {
                if m[h] == 0 {
                    continue;
                }
                // SAFETY: row i < rows, columns 16h.. masked to < cols: inside the C tile,
                // which phase 1 has just written.
                let cp = unsafe { c.add(i * rs_c + 16 * h) };
                // SAFETY: as above.
                let mut v = unsafe { _mm512_maskz_loadu_ps(m[h], cp) };
                if epi.gelu {
                    v = gelu(v);
                }
                if !epi.residual.is_null() {
                    // SAFETY: the residual tile has the same rows × cols, masked to cols.
                    let r = unsafe {
                        _mm512_maskz_loadu_ps(m[h], epi.residual.add(i * epi.rs_res + 16 * h))
                    };
                    v = _mm512_add_ps(v, r);
                }
                // SAFETY: masked store inside the writable C tile.
                unsafe { _mm512_mask_storeu_ps(cp, m[h], v) };
            }
        }
    }
}
