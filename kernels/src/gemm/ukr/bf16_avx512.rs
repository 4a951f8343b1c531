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
use super::{L2Prefetch, MicroKernel, TileEpi};
use crate::gemm::pack::{LINE, PANEL};

const MR: usize = 12;
const NR: usize = 32;
/// How many pair steps ahead the B panel is prefetched into L1 (each is 128 bytes).
const PF_PAIRS: usize = 16;

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

/// The pair-step loop of both kernels: `$step(acc0, acc1, a_pair, b0, b1)` updates row i's two
/// accumulators from its broadcast A pair and the pair row's two B vectors (prepared once per
/// pair step by `$prep`).
macro_rules! pair_loop {
    ($kc:ident, $a:ident, $a_rs:ident, $b:ident, $c:ident, $rs_c:ident, $cols:ident, $epi:ident,
     |$b0:ident, $b1:ident| $prep:expr, |$acc0:ident, $acc1:ident, $ap:ident, $ops:ident| $step:expr) => {{
        let mut c0 = [_mm512_setzero_ps(); R];
        let mut c1 = [_mm512_setzero_ps(); R];
        if !$epi.first {
            // Start fetching the C tile now; it is read only after the k loop.
            for i in 0..R {
                let row = $c.wrapping_add(i * $rs_c) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(row);
                _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(LINE));
            }
        }
        let pairs = $kc / 2;
        let mut b = $b;
        // Prefetch B PF_PAIRS pair steps ahead; over the last ones, the next tile's B.
        let main = pairs.saturating_sub(PF_PAIRS);
        let mut pf = b.wrapping_add(PF_PAIRS * 2 * PANEL) as *const i8;
        let mut l2 = L2Prefetch::new($epi, pairs);
        for q in 0..pairs {
            l2.step();
            if q == main {
                pf = $epi.next_b as *const i8;
            }
            _mm_prefetch::<_MM_HINT_T0>(pf);
            _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(LINE));
            pf = pf.wrapping_add(2 * PANEL * 2);
            // SAFETY: q < kc/2, so b..b+64 is pair row q of the B panel (two 64-byte vectors);
            // A(i, 2q..2q+2) are the two elements at a + i·a_rs + 2q, inside row i of A
            // (contract).
            unsafe {
                let $b0 = _mm512_loadu_si512(b as *const __m512i);
                let $b1 = _mm512_loadu_si512(b.add(NR) as *const __m512i);
                let $ops = $prep;
                for i in 0..R {
                    let $ap = $a.add(i * $a_rs + 2 * q);
                    let ($acc0, $acc1) = (&mut c0[i], &mut c1[i]);
                    $step;
                }
                b = b.add(2 * PANEL);
            }
        }
        // SAFETY: forwarded contract: the C tile, bias and residual are as `store_tile` needs.
        unsafe { store_tile::<R>(&c0, &c1, $c, $rs_c, $cols, $epi) }
    }};
}

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
    pair_loop!(
        kc,
        a,
        a_rs,
        b,
        c,
        rs_c,
        cols,
        epi,
        |b0, b1| {
            // (Inside the loop's unsafe block: __m512i and __m512bh are both 512 bits of plain
            // data, so the transmutes reinterpret the pair lanes as bf16 pairs.)
            (
                std::mem::transmute::<__m512i, __m512bh>(b0),
                std::mem::transmute::<__m512i, __m512bh>(b1),
            )
        },
        |acc0, acc1, ap, ops| {
            let w = (ap as *const u32).read_unaligned();
            let av = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(w as i32));
            *acc0 = _mm512_dpbf16_ps(*acc0, av, ops.0);
            *acc1 = _mm512_dpbf16_ps(*acc1, av, ops.1);
        }
    )
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
    pair_loop!(
        kc,
        a,
        a_rs,
        b,
        c,
        rs_c,
        cols,
        epi,
        |b0, b1| {
            let hi = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
            (
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b0)),
                _mm512_castsi512_ps(_mm512_and_si512(b0, hi)),
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(b1)),
                _mm512_castsi512_ps(_mm512_and_si512(b1, hi)),
            )
        },
        |acc0, acc1, ap, ops| {
            // A is already widened (bf16 values as fp32): two broadcasts from memory, folded
            // into the FMAs.
            let a_even = _mm512_set1_ps(*ap);
            let a_odd = _mm512_set1_ps(*ap.add(1));
            *acc0 = _mm512_fmadd_ps(a_even, ops.0, _mm512_fmadd_ps(a_odd, ops.1, *acc0));
            *acc1 = _mm512_fmadd_ps(a_even, ops.2, _mm512_fmadd_ps(a_odd, ops.3, *acc1));
        }
    )
}
