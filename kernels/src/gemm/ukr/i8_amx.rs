//! AMX int8 micro-kernel `gemm_ukr_amx_i8_32x32` (Intel Sapphire Rapids and later Xeons):
//! `tdpbusd` on tiles — each instruction a 16×16 block of i32 sums += a 16-row × 64-byte u8
//! tile of A times a 16-group-row × 64-byte s8 tile of B (16 columns × 4 k per row), 16·16·64
//! u8·s8 products. The products and sums are `vpdpbusd`'s (four u8·s8 products added to an i32
//! lane, wrapping like two's complement, never saturating), so the kernel computes exactly the
//! reference's integers, on the VNNI path's quantization and panels.
//!
//! Tiles: C in tmm0–3 (rows 0..16 / 16..32 × columns 0..16 / 16..32), A in tmm4–5 (its two row
//! halves), B in tmm6–7 (the two 16-column halves of the 32-wide panel: a panel's group row is
//! 128 bytes, so each half is a tile loaded at stride 128). Per 64 k: 4 tile loads, 4
//! `tdpbusd`. A is read in place (row stride `a_rs`) when all 32 rows exist; an edge tile
//! (fewer rows) and the last k chunk when kc is not a multiple of 64 go through zero-padded
//! stack buffers, so nothing outside A's rows or B's `kc / 4` group rows is read. The tile
//! configuration is loaded at the start of every call and released at its end (so the 8 KiB
//! of tile state is not live between calls, and whatever else in the process uses the tiles
//! finds them released). The sums leave the tiles through a 32×32 i32 stack buffer into the
//! VNNI kernel's epilogue (`i8_avx512::store_tile`: dequantize, then bias, GELU, residual),
//! 12 rows at a time.

use std::arch::asm;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::i8_avx512::store_tile;
use super::{MicroKernel, QuantTile, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 32;
const NR: usize = 32;
/// k of one tile row of A: 64 bytes.
const CHUNK: usize = 64;
/// Bytes of a group row of a B panel (PANEL columns × 4 k).
const B_ROW: usize = PANEL * 4;

/// AMX-INT8 32×32 kernel.
#[allow(non_camel_case_types)]
pub struct AmxI8_32x32;

/// `ldtilecfg`'s 64-byte operand: palette 1, eight tiles of 16 rows × 64 bytes.
#[repr(C, align(64))]
pub(crate) struct TileConfig(pub(crate) [u8; 64]);

/// The tile layout of the kernel (and of the `tdpbusd` peak burst, `kernels::peak`).
pub(crate) const CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1; // palette 1
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // colsb (u16, little-endian)
        c[48 + t] = 16; // rows
        t += 1;
    }
    TileConfig(c)
};

#[repr(C, align(64))]
struct Aligned<T>(T);

impl MicroKernel for AmxI8_32x32 {
    type A = u8;
    type B = i8;
    const MR: usize = MR;
    const NR: usize = NR;
    const K_GROUP: usize = 4;
    const NAME: &'static str = "gemm_ukr_amx_i8_32x32";

    fn supported() -> bool {
        crate::dispatch::Isa::Avx512Vnni.is_supported() && crate::dispatch::amx_int8()
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
        // SAFETY: forwarded trait contract; `supported` (AMX-INT8 granted, AVX-512 VNNI).
        unsafe { tile_amx(kc, a, a_rs, b, c, rs_c, rows, cols, epi) }
    }
}

/// # Safety
/// The [`MicroKernel::tile`] contract, A row-major; AMX-INT8 usable by this process and
/// AVX-512F/BW/VNNI present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_amx(
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
    let full = kc / CHUNK * CHUNK;
    // Staging for A chunks the tiles cannot read in place. Rows at and beyond `rows` are
    // never written: their sums are computed from whatever the buffer holds and never stored,
    // so the buffer is not cleared (the tile loads read it as bytes, initialized or not).
    let mut a_buf = MaybeUninit::<Aligned<[[u8; CHUNK]; MR]>>::uninit();
    let a_buf = a_buf.as_mut_ptr().cast::<u8>();
    // The share of the next B block this tile fetches into L2 (`TileEpi::l2_next`), spread
    // over its chunks.
    let chunks = kc.div_ceil(CHUNK).max(1);
    let lines = epi.l2_lines;
    let mut l2 = epi.l2_next;
    // SAFETY: AMX usable (contract); the configuration is a valid palette-1 layout.
    unsafe {
        asm!(
            "ldtilecfg [{cfg}]",
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            cfg = in(reg) CONFIG.0.as_ptr(),
            options(nostack, readonly)
        )
    };
    let mut p = 0;
    while p < full {
        let (ap, stride) = if rows == MR {
            (a.wrapping_add(p), a_rs)
        } else {
            for i in 0..rows {
                // SAFETY: row i < rows of A, columns p..p + 64 ≤ kc: inside A (contract); the
                // buffer's row i (64 bytes), a distinct allocation.
                unsafe {
                    std::ptr::copy_nonoverlapping(a.add(i * a_rs + p), a_buf.add(i * CHUNK), CHUNK)
                };
            }
            (a_buf.cast_const(), CHUNK)
        };
        let c = p / CHUNK;
        for _ in c * lines / chunks..(c + 1) * lines / chunks {
            // (A prefetch is a hint: it never faults.)
            _mm_prefetch::<_MM_HINT_T1>(l2.cast());
            l2 = l2.wrapping_add(crate::gemm::pack::LINE);
        }
        // SAFETY: the A tiles read 32 rows × 64 bytes at `ap` (stride `stride`): A's rows
        // (all 32 exist) or the buffer; the B tiles read group rows p/4..p/4 + 16 < kc/4 of the
        // panel, 64 bytes each of its 128 (contract). The tiles are configured above.
        unsafe { chunk(ap, stride, b.wrapping_add(p / 4 * B_ROW)) };
        p += CHUNK;
    }
    if full < kc {
        // The last kc − full (a multiple of 4, < 64) k: zero-padded copies of A's and B's part.
        let rem = kc - full;
        // B's group rows beyond kc/4 are 0 here, so A's bytes beyond kc count for nothing.
        let mut b_buf = Aligned([[0i8; B_ROW]; CHUNK / 4]);
        for i in 0..rows {
            // SAFETY: row i < rows of A, columns full..kc: inside A (contract); the buffer's
            // row i.
            unsafe {
                std::ptr::copy_nonoverlapping(a.add(i * a_rs + full), a_buf.add(i * CHUNK), rem)
            };
        }
        for (g, row) in b_buf.0.iter_mut().enumerate().take(rem / 4) {
            // SAFETY: group row full/4 + g < kc/4 of the panel, 128 bytes (contract).
            let src = unsafe { std::slice::from_raw_parts(b.add((full / 4 + g) * B_ROW), B_ROW) };
            row.copy_from_slice(src);
        }
        // SAFETY: both buffers hold the tiles' 32 × 64 and 16 × 128 bytes.
        unsafe { chunk(a_buf, CHUNK, b_buf.0.as_ptr().cast()) };
    }
    let mut sums = MaybeUninit::<Aligned<[[i32; NR]; MR]>>::uninit();
    let s = sums.as_mut_ptr().cast::<i32>();
    // SAFETY: each store writes 16 rows × 64 bytes at stride 128 inside the 32 × 32 i32
    // buffer; then the tile state is released.
    unsafe {
        asm!(
            "tilestored [{c0} + {st}*1], tmm0",
            "tilestored [{c1} + {st}*1], tmm1",
            "tilestored [{c2} + {st}*1], tmm2",
            "tilestored [{c3} + {st}*1], tmm3",
            "tilerelease",
            c0 = in(reg) s,
            c1 = in(reg) s.add(16),
            c2 = in(reg) s.add(16 * NR),
            c3 = in(reg) s.add(16 * NR + 16),
            st = in(reg) NR * 4,
            options(nostack)
        )
    };
    // SAFETY: the four tile stores wrote all 32 × 32 sums.
    let sums = unsafe { sums.assume_init() };
    // The epilogue, 12 rows at a time (the VNNI kernel's, on registers loaded from the sums).
    let mut r0 = 0;
    while r0 < rows {
        let n = (rows - r0).min(12);
        let q = &epi.quant;
        let sub = TileEpi {
            residual: offset(epi.residual, r0 * epi.rs_res),
            quant: QuantTile {
                row_scale: offset(q.row_scale, r0),
                row_zp: if q.row_zp.is_null() {
                    q.row_zp
                } else {
                    q.row_zp.wrapping_add(r0)
                },
                ..*q
            },
            ..*epi
        };
        let rows_at = &sums.0[r0..r0 + n];
        // SAFETY: rows r0..r0 + n < rows of the C tile (and of residual / quant, offset
        // alike): the contract's, for an n-row tile at row r0.
        unsafe {
            super::rows_dispatch!(store_rows, n, (rows_at, c.add(r0 * rs_c), rs_c, cols, &sub),
                12 1 2 3 4 5 6 7 8 9 10 11)
        };
        r0 += n;
    }
}

/// `p` advanced `by` elements, or null if it is null (an absent epilogue operand).
fn offset<T>(p: *const T, by: usize) -> *const T {
    if p.is_null() {
        p
    } else {
        p.wrapping_add(by)
    }
}

/// One 64-k chunk: A tiles from `a` (32 rows at `stride`), B tiles from `b` (16 group rows at
/// 128 bytes), four `tdpbusd` into the C tiles.
///
/// # Safety
/// The tiles are configured; the bytes the loads read are readable.
#[inline(always)]
unsafe fn chunk(a: *const u8, stride: usize, b: *const i8) {
    // SAFETY: forwarded.
    unsafe {
        asm!(
            "tileloadd tmm4, [{a0} + {sa}*1]",
            "tileloadd tmm5, [{a1} + {sa}*1]",
            "tileloadd tmm6, [{b0} + {sb}*1]",
            "tileloadd tmm7, [{b1} + {sb}*1]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tdpbusd tmm1, tmm4, tmm7",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            a0 = in(reg) a,
            a1 = in(reg) a.wrapping_add(16 * stride),
            sa = in(reg) stride,
            b0 = in(reg) b,
            b1 = in(reg) b.wrapping_add(64),
            sb = in(reg) B_ROW,
            options(nostack, readonly)
        )
    };
}

/// Rows `0..R` of `sums` (columns 0..16 and 16..32 as two zmm each) through the VNNI epilogue.
///
/// # Safety
/// The C part of the [`MicroKernel::tile`] contract for an R-row tile; AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_rows<const R: usize>(
    sums: &[[i32; NR]],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // SAFETY: each row holds 32 i32 (two 64-byte loads).
    let c0: [__m512i; R] =
        std::array::from_fn(|i| unsafe { _mm512_loadu_si512(sums[i].as_ptr().cast()) });
    // SAFETY: as above.
    let c1: [__m512i; R] =
        std::array::from_fn(|i| unsafe { _mm512_loadu_si512(sums[i][16..].as_ptr().cast()) });
    // SAFETY: forwarded.
    unsafe { store_tile::<R>(&c0, &c1, c, rs_c, cols, epi) }
}
