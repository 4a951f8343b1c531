//! AVX-VNNI int8 micro-kernel `gemm_ukr_avxvnni_i8_6x16`, for CPUs with the VEX-encoded
//! 256-bit `vpdpbusd` but no AVX-512 (Intel Alder Lake and later client cores, the E-core
//! Xeons; Zen 5 has it too but runs its AVX-512 level): `_mm256_dpbusd_avx_epi32`, four u8·i8
//! products per i32 lane and instruction, wrapping like two's complement i32 addition (not
//! the saturating `vpdpbusds`) — the arithmetic of the AVX512_VNNI kernel and of the
//! reference, on the same packed panels, so the same integers.
//!
//! 6 rows × 16 columns: 12 ymm i32 accumulators, 2 B vectors (one 64-byte line of a group
//! row: 16 columns × 4 k) and an A broadcast (`vpbroadcastd` from memory, one 32-bit group of
//! a row) = 15 of the 16 ymm registers. Per group: 2 + 6 loads, 12 `vpdpbusd` (384 u8·i8
//! multiply-adds). Twelve independent accumulators cover `vpdpbusd`'s latency (5 cycles) at
//! two per cycle (Golden Cove: 10 in flight needed); 4×16 (8 accumulators) would stall on
//! it, 8×16 does not fit. The tile is the fp32 AVX2 kernel's (`avx2::Avx2_6x16`), so a
//! 32-wide panel is two tiles. The epilogue is `i8_avx2::store_tile` (dequantize, then the
//! fp32 AVX2 epilogue).

use std::arch::x86_64::*;

use super::i8_avx2::store_tile;
use super::{L2Prefetch, MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 6;
const NR: usize = 16;
/// How many groups ahead the B panel is prefetched into L1 (one 64-byte line each).
const PF_GROUPS: usize = 16;

/// AVX-VNNI 6×16 int8 kernel.
#[allow(non_camel_case_types)]
pub struct AvxVnniI8_6x16;

impl MicroKernel for AvxVnniI8_6x16 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_avxvnni_i8_6x16";

    fn supported() -> bool {
        crate::dispatch::Isa::Avx2Vnni.is_supported()
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
        // SAFETY: forwarded trait contract (features present, pointers valid, rows = R).
        unsafe {
            super::rows_dispatch!(tile_vnni, rows, (kc, a, a_rs, b, c, rs_c, cols, epi),
                6 1 2 3 4 5)
        }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract with `rows = R`, A row-major; AVX2, FMA and AVX-VNNI
/// present.
#[inline]
#[target_feature(enable = "avx2,fma,avxvnni")]
#[allow(clippy::needless_range_loop)] // `i` indexes A's rows and both accumulator halves
#[allow(clippy::too_many_arguments)]
unsafe fn tile_vnni<const R: usize>(
    kc: usize,
    a: *const u8,
    a_rs: usize,
    b: *const i8,
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let mut acc = [[_mm256_setzero_si256(); R]; 2];
    if !epi.first {
        // Start fetching the C tile (the partial sums) now; it is read only after the k loop.
        for i in 0..R {
            _mm_prefetch::<_MM_HINT_T0>(c.wrapping_add(i * rs_c) as *const i8);
        }
    }
    let groups = kc / 4;
    let mut bp = b;
    // Prefetch B PF_GROUPS groups ahead; over the last ones, the next tile's B.
    let main = groups.saturating_sub(PF_GROUPS);
    let mut pf = b.wrapping_add(PF_GROUPS * 4 * PANEL);
    let mut l2 = L2Prefetch::new(epi, groups);
    for g in 0..groups {
        l2.step();
        if g == main {
            pf = epi.next_b as *const i8;
        }
        _mm_prefetch::<_MM_HINT_T0>(pf);
        pf = pf.wrapping_add(4 * PANEL);
        // SAFETY: g < kc/4, so bp..bp+64 is group row g of the tile's B (16 columns × 4 k);
        // A(i, 4g..4g+4) are the four bytes at a + i·a_rs + 4g, inside row i of A (contract).
        unsafe {
            let b0 = _mm256_loadu_si256(bp as *const __m256i);
            let b1 = _mm256_loadu_si256(bp.add(32) as *const __m256i);
            for i in 0..R {
                let w = (a.add(i * a_rs + 4 * g) as *const u32).read_unaligned();
                let av = _mm256_set1_epi32(w as i32);
                acc[0][i] = _mm256_dpbusd_avx_epi32(acc[0][i], av, b0);
                acc[1][i] = _mm256_dpbusd_avx_epi32(acc[1][i], av, b1);
            }
            bp = bp.add(4 * PANEL);
        }
    }
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands; AVX2 and FMA
    // are present.
    unsafe { store_tile::<R, 2>(&acc, c, rs_c, cols, epi) }
}
