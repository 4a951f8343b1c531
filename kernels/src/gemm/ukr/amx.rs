//! AMX micro-kernels (Intel Sapphire Rapids and later Xeons), 32×32 tiles of C on the tile
//! registers, one per AMX instruction family:
//!
//! * `gemm_ukr_amx_i8_32x32` — `tdpbusd`: each instruction a 16×16 block of i32 sums += a
//!   16-row × 64-byte u8 tile of A times a 16-group-row × 64-byte s8 tile of B (16 columns × 4
//!   k per row). The products and sums are `vpdpbusd`'s (four u8·s8 products added to an i32
//!   lane, wrapping like two's complement, never saturating), so the kernel computes exactly
//!   the reference's integers, on the VNNI path's quantization and panels.
//! * `gemm_ukr_amx_bf16_32x32` — `tdpbf16ps`: a 16×16 block of f32 += a 16-row × 32-bf16 tile
//!   of A times a 16-pair-row tile of B (16 columns × 2 k per row), on the bf16 pair panels as
//!   they are. Its arithmetic is not `vdpbf16ps`'s: per instruction and C element, the even-k
//!   and the odd-k products are summed in two separate fused chains from zero, in k order,
//!   then their sum is added to the element (denormals flushed throughout) — modelled bit for
//!   bit by `bf16_reference::amx_chunk` (see there; measured on a Sapphire-Rapids-class Xeon,
//!   checked on every AMX CPU the tests run on, `kernels/tests/bf16.rs`).
//!
//! Tiles: C in tmm0–3 (rows 0..16 / 16..32 × columns 0..16 / 16..32), A in tmm4–5 (its two row
//! halves), B in tmm6–7 (the two 16-column halves of the 32-wide panel: a panel's row of 4
//! bytes of k per column is 128 bytes, so each half is a tile loaded at stride 128). Per 64
//! bytes of A's row (64 k of int8, 32 of bf16): 4 tile loads, 4 multiply instructions. A is read
//! in place (row stride `a_rs`) when all 32 rows exist; an edge tile (fewer rows) and the last
//! chunk when kc is not a whole number of chunks go through stack buffers (the last chunk's
//! missing k zero in A and in B), so nothing outside A's rows or B's kc rows is read. The tile
//! configuration is loaded once per run of calls (the kernel's `session`: a driver's work item,
//! an attention block) and released at its end, so the 8 KiB of tile state is not live between
//! runs, and whatever else in the process uses the tiles finds them released. The sums leave
//! the tiles through a 32×32 stack buffer into the AVX-512 kernels' epilogues
//! (`i8_avx512::store_tile`: dequantize, then bias, GELU, residual; `avx512::store_tile` for
//! bf16), 12 rows at a time.

use std::arch::asm;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

use super::{MicroKernel, QuantTile, TileEpi};
use crate::gemm::pack::PANEL;

const MR: usize = 32;
const NR: usize = 32;
/// Bytes of one tile row of A: 64 k of int8, 32 of bf16.
const CHUNK: usize = 64;
/// Bytes of a row of a B panel (PANEL columns × 4 bytes of k: an int8 group or a bf16 pair).
const B_ROW: usize = PANEL * 4;

/// AMX-INT8 32×32 kernel.
#[allow(non_camel_case_types)]
pub struct AmxI8_32x32;

/// AMX-BF16 32×32 kernel.
#[allow(non_camel_case_types)]
pub struct AmxBf16_32x32;

/// `ldtilecfg`'s 64-byte operand: palette 1, eight tiles of 16 rows × 64 bytes.
#[repr(C, align(64))]
pub(crate) struct TileConfig(pub(crate) [u8; 64]);

/// The tile layout of the kernels (and of the AMX peak bursts, `kernels::peak`).
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

/// The tiles configured as [`CONFIG`] on this thread, released on drop (a kernel's
/// `session`: one `ldtilecfg` for a run of tile calls rather than one per call, which cost
/// up to a third of a call's time at kc = 64 – 256, `examples/ukr_table`).
struct Tiles;

impl Tiles {
    /// # Safety
    /// The CPU has AMX and the OS granted this process the tile data.
    unsafe fn configure() -> Tiles {
        // SAFETY: AMX usable (contract); the configuration is a valid palette-1 layout.
        unsafe {
            asm!("ldtilecfg [{cfg}]", cfg = in(reg) CONFIG.0.as_ptr(), options(nostack, readonly))
        };
        Tiles
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: the tiles were configured (`configure`, AMX usable); releasing them returns
        // the tile state to its initial one.
        unsafe { asm!("tilerelease", options(nostack)) };
    }
}

/// The 32×32 sums as they leave the tiles: i32 (`tdpbusd`) or f32 (`tdpbf16ps`) bits.
type Sums = [[u32; NR]; MR];

/// What differs between the AMX kernels: the multiply instruction and the epilogue.
trait AmxOp {
    /// One chunk: A tiles from `a` (32 rows of 64 bytes at `stride`), B tiles from `b` (16 rows
    /// of 128 bytes, a half each), four multiplies into the C tiles.
    ///
    /// # Safety
    /// The tiles are configured; the bytes the loads read are readable.
    unsafe fn chunk(a: *const u8, stride: usize, b: *const u8);

    /// Rows `0..rows` (≤ 12) of `sums` through the epilogue into C.
    ///
    /// # Safety
    /// The C, bias, residual and quant parts of the [`MicroKernel::tile`] contract for a
    /// `rows`-row tile.
    unsafe fn store(
        sums: &[[u32; NR]],
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    );
}

/// The chunk instruction sequence of one multiply mnemonic.
macro_rules! amx_chunk {
    ($insn:literal, $a:ident, $stride:ident, $b:ident) => {
        // SAFETY: forwarded (the trait method's contract).
        unsafe {
            asm!(
                "tileloadd tmm4, [{a0} + {sa}*1]",
                "tileloadd tmm5, [{a1} + {sa}*1]",
                "tileloadd tmm6, [{b0} + {sb}*1]",
                "tileloadd tmm7, [{b1} + {sb}*1]",
                concat!($insn, " tmm0, tmm4, tmm6"),
                concat!($insn, " tmm1, tmm4, tmm7"),
                concat!($insn, " tmm2, tmm5, tmm6"),
                concat!($insn, " tmm3, tmm5, tmm7"),
                a0 = in(reg) $a,
                a1 = in(reg) $a.wrapping_add(16 * $stride),
                sa = in(reg) $stride,
                b0 = in(reg) $b,
                b1 = in(reg) $b.wrapping_add(64),
                sb = in(reg) B_ROW,
                options(nostack, readonly)
            )
        }
    };
}

/// An [`AmxOp`]: the multiply mnemonic and the epilogue of one kernel.
macro_rules! amx_op {
    ($op:ident, $insn:literal, $store:ident) => {
        struct $op;

        impl AmxOp for $op {
            #[inline(always)]
            unsafe fn chunk(a: *const u8, stride: usize, b: *const u8) {
                amx_chunk!($insn, a, stride, b)
            }

            #[inline(always)]
            unsafe fn store(
                sums: &[[u32; NR]],
                c: *mut f32,
                rs_c: usize,
                rows: usize,
                cols: usize,
                epi: &TileEpi,
            ) {
                // SAFETY: forwarded.
                unsafe {
                    super::rows_dispatch!($store, rows, (sums, c, rs_c, cols, epi), 12 1 2 3 4 5 6 7 8 9 10 11)
                }
            }
        }
    };
}

amx_op!(Int8, "tdpbusd", store_i8);
amx_op!(Bf16, "tdpbf16ps", store_f32);

macro_rules! amx_kernel {
    ($ty:ident, $op:ident, $a:ty, $b:ty, $group:literal, $name:literal, $supported:expr) => {
        impl MicroKernel for $ty {
            type A = $a;
            type B = $b;
            const MR: usize = MR;
            const NR: usize = NR;
            const K_GROUP: usize = $group;
            const NAME: &'static str = $name;

            fn supported() -> bool {
                $supported
            }

            fn session<R>(f: impl FnOnce() -> R) -> R {
                if !Self::supported() {
                    // No tile will run (the drivers assert support before any call).
                    return f();
                }
                // SAFETY: AMX usable (`supported`).
                let _tiles = unsafe { Tiles::configure() };
                f()
            }

            #[inline(always)]
            unsafe fn tile(
                kc: usize,
                a: *const $a,
                a_rs: usize,
                b: *const $b,
                c: *mut f32,
                rs_c: usize,
                rows: usize,
                cols: usize,
                epi: &TileEpi,
            ) {
                debug_assert!(a_rs > 0 || kc == 0, "AMX kernels read A row-major");
                const E: usize = std::mem::size_of::<$a>();
                // SAFETY: forwarded trait contract (in bytes: kc·E bytes of each A row at
                // stride a_rs·E, B's rows of 4 bytes of k per column); `supported` (the AMX
                // tiles granted, AVX-512F/BW/VNNI).
                unsafe {
                    tile_amx::<$op>(
                        kc * E,
                        a.cast(),
                        a_rs * E,
                        b.cast(),
                        c,
                        rs_c,
                        rows,
                        cols,
                        epi,
                    )
                }
            }
        }
    };
}

amx_kernel!(
    AmxI8_32x32,
    Int8,
    u8,
    i8,
    4,
    "gemm_ukr_amx_i8_32x32",
    crate::dispatch::Isa::Avx512Vnni.is_supported() && crate::dispatch::amx_int8()
);
amx_kernel!(
    AmxBf16_32x32,
    Bf16,
    u16,
    u16,
    2,
    "gemm_ukr_amx_bf16_32x32",
    crate::dispatch::Isa::Avx512Vnni.is_supported() && crate::dispatch::amx_bf16()
);

/// The tile of either kernel, A and k in bytes (`kb` = kc·element size, a multiple of 4; the B
/// row of each 4 bytes of A's row is 128 bytes).
///
/// # Safety
/// The [`MicroKernel::tile`] contract in bytes, A row-major at `a_rs` bytes; the AMX tiles
/// usable by this process and configured ([`Tiles`], the kernel's `session`); AVX-512F/BW/VNNI
/// present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_amx<Op: AmxOp>(
    kb: usize,
    a: *const u8,
    a_rs: usize,
    b: *const u8,
    c: *mut f32,
    rs_c: usize,
    rows: usize,
    cols: usize,
    epi: &TileEpi,
) {
    let full = kb / CHUNK * CHUNK;
    // Staging for A chunks the tiles cannot read in place. Rows at and beyond `rows` are
    // never written: their sums are computed from whatever the buffer holds and never stored
    // (tile rows do not mix), so the buffer is not cleared (the tile loads read it as bytes,
    // initialized or not).
    let mut a_buf = MaybeUninit::<Aligned<[[u8; CHUNK]; MR]>>::uninit();
    let a_buf = a_buf.as_mut_ptr().cast::<u8>();
    // The share of the next B block this tile fetches into L2 (`TileEpi::l2_next`), spread
    // over its chunks.
    let chunks = kb.div_ceil(CHUNK).max(1);
    let lines = epi.l2_lines;
    let mut l2 = epi.l2_next;
    // SAFETY: the tiles are configured (inside the kernel's `session`, contract).
    unsafe {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        )
    };
    let mut p = 0;
    while p < full {
        let (ap, stride) = if rows == MR {
            (a.wrapping_add(p), a_rs)
        } else {
            for i in 0..rows {
                // SAFETY: row i < rows of A, bytes p..p + 64 ≤ kb: inside A (contract); the
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
        // (all 32 exist) or the buffer; the B tiles read rows p/4..p/4 + 16 < kb/4 of the
        // panel, 64 bytes each of its 128 (contract). The tiles are configured above.
        unsafe { Op::chunk(ap, stride, b.wrapping_add(p / 4 * B_ROW)) };
        p += CHUNK;
    }
    if full < kb {
        // The last kb − full (a multiple of 4, < 64) bytes: copies of A's and B's part, the
        // rest zero in both (so the missing k add products of zeros: 0 in i32, +0 in f32 —
        // never a NaN from stale bytes).
        let rem = kb - full;
        let mut b_buf = Aligned([[0u8; B_ROW]; CHUNK / 4]);
        for i in 0..rows {
            // SAFETY: row i < rows of A, bytes full..kb: inside A (contract); the buffer's
            // row i, a distinct allocation: its first rem bytes copied, the rest zeroed.
            unsafe {
                std::ptr::copy_nonoverlapping(a.add(i * a_rs + full), a_buf.add(i * CHUNK), rem);
                std::ptr::write_bytes(a_buf.add(i * CHUNK + rem), 0, CHUNK - rem);
            }
        }
        for (g, row) in b_buf.0.iter_mut().enumerate().take(rem / 4) {
            // SAFETY: row full/4 + g < kb/4 of the panel, 128 bytes (contract).
            let src = unsafe { std::slice::from_raw_parts(b.add((full / 4 + g) * B_ROW), B_ROW) };
            row.copy_from_slice(src);
        }
        // SAFETY: both buffers hold the tiles' 32 × 64 and 16 × 128 bytes.
        unsafe { Op::chunk(a_buf, CHUNK, b_buf.0.as_ptr().cast()) };
    }
    let mut sums = MaybeUninit::<Aligned<Sums>>::uninit();
    let s = sums.as_mut_ptr().cast::<u32>();
    // SAFETY: each store writes 16 rows × 64 bytes at stride 128 inside the 32 × 32 buffer.
    unsafe {
        asm!(
            "tilestored [{c0} + {st}*1], tmm0",
            "tilestored [{c1} + {st}*1], tmm1",
            "tilestored [{c2} + {st}*1], tmm2",
            "tilestored [{c3} + {st}*1], tmm3",
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
    // The epilogue, 12 rows at a time (the AVX-512 kernel's, on registers loaded from the sums).
    let mut r0 = 0;
    while r0 < rows {
        let n = (rows - r0).min(12);
        let q = &epi.quant;
        let sub = TileEpi {
            residual: offset(epi.residual, r0 * epi.rs_res),
            quant: QuantTile {
                row_scale: offset(q.row_scale, r0),
                row_zp: offset(q.row_zp, r0),
                ..*q
            },
            ..*epi
        };
        // SAFETY: rows r0..r0 + n < rows of the C tile (and of residual / quant, offset
        // alike): the contract's, for an n-row tile at row r0.
        unsafe { Op::store(&sums.0[r0..r0 + n], c.add(r0 * rs_c), rs_c, n, cols, &sub) };
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

/// Rows `0..R` of `sums` as two zmm each (columns 0..16 and 16..32), their bits as they are.
///
/// # Safety
/// AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn halves<const R: usize>(sums: &[[u32; NR]]) -> ([__m512i; R], [__m512i; R]) {
    let load = |h: usize| -> [__m512i; R] {
        std::array::from_fn(|i| {
            // SAFETY: row i holds 32 sums: 64 bytes from column 16·h (h < 2) are inside it.
            unsafe { _mm512_loadu_si512(sums[i][16 * h..].as_ptr().cast()) }
        })
    };
    (load(0), load(1))
}

/// Rows `0..R` of `sums` (i32) through the VNNI epilogue.
///
/// # Safety
/// The C part of the [`MicroKernel::tile`] contract for an R-row tile; AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_i8<const R: usize>(
    sums: &[[u32; NR]],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // SAFETY: AVX-512F (this function's); the rest forwarded.
    unsafe {
        let (c0, c1) = halves::<R>(sums);
        super::i8_avx512::store_tile::<R>(&c0, &c1, c, rs_c, cols, epi)
    }
}

/// Rows `0..R` of `sums` (f32 bits) through the fp32 AVX-512 epilogue.
///
/// # Safety
/// The C, bias and residual parts of the [`MicroKernel::tile`] contract for an R-row tile;
/// AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store_f32<const R: usize>(
    sums: &[[u32; NR]],
    c: *mut f32,
    rs_c: usize,
    cols: usize,
    epi: &TileEpi,
) {
    // SAFETY: AVX-512F (this function's); the rest forwarded.
    unsafe {
        let (c0, c1) = halves::<R>(sums);
        let (c0, c1) = (
            c0.map(|v| _mm512_castsi512_ps(v)),
            c1.map(|v| _mm512_castsi512_ps(v)),
        );
        super::avx512::store_tile::<R>(&c0, &c1, c, rs_c, cols, epi)
    }
}
