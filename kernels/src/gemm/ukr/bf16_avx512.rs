//! AVX-512 bf16 micro-kernels, 12 rows × 32 columns of C in 24 zmm accumulators, A read
//! row-major (one 32-bit bf16 pair broadcast per row and pair step), B from bf16 pair panels
//! (2 × 64-byte loads per pair step):
//!
//! * `gemm_ukr_avx512bf16_12x32`: `vdpbf16ps` — 24 instructions per pair step, each two
//!   multiply-adds per lane (AVX512_BF16);
//! * `gemm_ukr_avx512_bf16widen_12x32`: AVX-512F only — B's bf16 pairs widened to fp32 in
//!   registers (a 16-bit shift for the even k, a mask for the odd k), A read as bf16-rounded
//!   values already widened to fp32 (so its broadcasts fold into the FMAs), then 48 FMAs per
//!   pair step, odd k first: the arithmetic of `vdpbf16ps` (see `gemm::bf16`), with half the
//!   weight bytes.
//!
//! Both share the fp32 kernel's epilogue (`avx512::store_tile`).

use std::arch::x86_64::*;

use super::avx512::store_tile;
use super::x86_loop::k_loop;
use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 12;
const NR: usize = 32;

/// `vdpbf16ps` 12×32 kernel.
#[allow(non_camel_case_types)]
pub struct Avx512Bf16_12x32;

/// AVX-512F widening 12×32 bf16 kernel.
#[allow(non_camel_case_types)]
pub struct Avx512Bf16Widen_12x32;

macro_rules! bf16_kernel {
    ($ty:ident, $a:ty, $name:literal, $tile:ident, $supported:expr) => {
        impl MicroKernel for $ty {
            type A = $a;
            type B = u16;
            const MR: usize = MR;
            const NR: usize = NR;
            const K_GROUP: usize = 2;
            const NAME: &'static str = $name;

            fn supported() -> bool {
                $supported
            }

            #[inline(always)]
            unsafe fn tile(
                kc: usize,
                a: *const $a,
                a_rs: usize,
                b: *const u16,
                c: *mut f32,
                rs_c: usize,
                rows: usize,
                cols: usize,
                epi: &TileEpi,
            ) {
                debug_assert!(a_rs > 0 || kc == 0, "bf16 kernels read A row-major");
                // SAFETY: forwarded trait contract (features present, pointers valid, rows = R,
                // A row-major at stride a_rs).
                unsafe {
                    super::rows_dispatch!($tile, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                        12 1 2 3 4 5 6 7 8 9 10 11)
                }
            }
        }
    };
}

bf16_kernel!(
    Avx512Bf16_12x32,
    u16,
    "gemm_ukr_avx512bf16_12x32",
    tile_dp,
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
);
bf16_kernel!(
    Avx512Bf16Widen_12x32,
    f32,
    "gemm_ukr_avx512_bf16widen_12x32",
    tile_widen,
    is_x86_feature_detected!("avx512f")
);

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX512_BF16 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_dp<const R: usize>(
    kc: usize,
    a: *const u16,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // SAFETY: `k_loop` passes a pair row of the B panel (two 64-byte vectors) of a pair step
    // q < kc/2 (contract). __m512i and __m512bh are both 512 bits of plain data: the
    // transmutes reinterpret the lanes as bf16 pairs.
    let load = |bp: *const u16| unsafe {
        (
            std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(bp.cast())),
            std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(bp.add(NR).cast())),
        )
    };
    let update = |x, y, ap: *const u16, &(b0, b1): &(__m512bh, __m512bh)| {
        // SAFETY: `k_loop` passes the pair A(i, 2q..2q+2) of a row i < R and a pair step
        // q < kc/2, inside row i of A (contract); the transmute as in `load`.
        let av = unsafe {
            let w = (ap as *const u32).read_unaligned();
            std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(w as i32))
        };
        (_mm512_dpbf16_ps(x, av, b0), _mm512_dpbf16_ps(y, av, b1))
    };
    // SAFETY: forwarded contract: kc/2 pair steps of A (2 elements a step, row a_rs) and of the
    // B panel (2·PANEL elements a step) are inside A and B; avx512f present.
    let (c0, c1) = unsafe { pair_steps::<R, _, _>(kc, a, a_rs, b, c, rs_c, epi, load, update) };
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_widen<const R: usize>(
    kc: usize,
    a: *const f32,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let load = |bp: *const u16| {
        // SAFETY: as in `tile_dp`.
        let (b0, b1) = unsafe {
            (
                _mm512_loadu_si512(bp.cast()),
                _mm512_loadu_si512(bp.add(NR).cast()),
            )
        };
        let hi = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
        (
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b0)),
            _mm512_castsi512_ps(_mm512_and_si512(b0, hi)),
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b1)),
            _mm512_castsi512_ps(_mm512_and_si512(b1, hi)),
        )
    };
    let update = |x, y, ap: *const f32, ops: &(__m512, __m512, __m512, __m512)| {
        // A is already widened (bf16 values as fp32): two broadcasts from memory, folded
        // into the FMAs.
        // SAFETY: as in `tile_dp`.
        let (a_even, a_odd) = unsafe { (_mm512_set1_ps(*ap), _mm512_set1_ps(*ap.add(1))) };
        (
            _mm512_fmadd_ps(a_even, ops.0, _mm512_fmadd_ps(a_odd, ops.1, x)),
            _mm512_fmadd_ps(a_even, ops.2, _mm512_fmadd_ps(a_odd, ops.3, y)),
        )
    };
    // SAFETY: as in `tile_dp`.
    let (c0, c1) = unsafe { pair_steps::<R, _, _>(kc, a, a_rs, b, c, rs_c, epi, load, update) };
    // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}

/// Both kernels' k loop: `kc / 2` pair steps of the shared 12×32 loop (`avx512::k_loop`),
/// A row-major at `a_rs`, 2 elements a step; B 2·PANEL bf16 (128 bytes) a step.
///
/// # Safety
/// As `avx512::k_loop` with those steps.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pair_steps<const R: usize, A, Ops>(
    kc: usize,
    a: *const A,
    a_rs: usize,
    b: *const u16,
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpi,
    load: impl Fn(*const u16) -> Ops,
    update: impl Fn(__m512, __m512, *const A, &Ops) -> (__m512, __m512),
) -> ([__m512; R], [__m512; R]) {
    // SAFETY: forwarded; a zero vector needs only SSE's registers in the caller's AVX-512.
    unsafe {
        k_loop::<R, 2, __m512, A, u16, Ops>(
            kc / 2,
            (a, 2, a_rs),
            (b, 2 * PANEL),
            (c, rs_c),
            epi,
            _mm512_setzero_ps(),
            load,
            update,
        )
    }
}
