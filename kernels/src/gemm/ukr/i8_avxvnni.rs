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
use super::x86_loop::k_loop;
use super::{MicroKernel, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 6;
const NR: usize = 16;

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
    // SAFETY: `k_loop` passes a group row of the tile's B (16 columns × 4 k, one 64-byte line)
    // of a group g < kc/4 (contract).
    let load = |bp: *const i8| unsafe {
        (
            _mm256_loadu_si256(bp.cast()),
            _mm256_loadu_si256(bp.add(32).cast()),
        )
    };
    let update = |x, y, ap: *const u8, &(b0, b1): &(__m256i, __m256i)| {
        // SAFETY: `k_loop` passes the group A(i, 4g..4g+4) of a row i < R and a group
        // g < kc/4, inside row i of A (contract).
        let av = _mm256_set1_epi32(unsafe { (ap as *const u32).read_unaligned() } as i32);
        (
            _mm256_dpbusd_avx_epi32(x, av, b0),
            _mm256_dpbusd_avx_epi32(y, av, b1),
        )
    };
    // SAFETY: forwarded contract: kc/4 groups of A (4 bytes a group, row a_rs) and of the B
    // panel (4·PANEL bytes a group) are inside A and B.
    let (c0, c1) = unsafe {
        k_loop::<R, 1, __m256i, u8, i8, _>(
            kc / 4,
            (a, 4, a_rs),
            (b, 4 * PANEL),
            (c, rs_c),
            epi,
            _mm256_setzero_si256(),
            load,
            update,
        )
    };
    let acc = [c0, c1];
    // SAFETY: forwarded contract: the C tile, bias, residual and quant operands; AVX2 and FMA
    // are present.
    unsafe { store_tile::<R, 2>(&acc, c, rs_c, cols, epi) }
}
