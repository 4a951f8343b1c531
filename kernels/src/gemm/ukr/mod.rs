//! Micro-kernels: one MR×NR tile of C += A-panel·B-panel over kc, then the fused epilogue.
//!
//! Every ISA provides one type implementing [`MicroKernel`]; the driver in [`super`] is generic
//! over it, so `gemm::<Avx512_12x32>` is a whole monomorphised loop nest with the kernel inlined.
//!
//! # Contract of [`MicroKernel::tile`] (after BLIS's KernelsHowTo)
//!
//! ```text
//!            b: kc rows, NR floats each, row stride PANEL (32)
//!            ┌──────────── NR ───────────┐
//!            │ b[p·32 + j]               │ kc
//!            └───────────────────────────┘
//!  a: MR×kc  ┌──┐  ┌───────────────────────────┐
//!  a[p·MR+i] │  │  │ C tile, rows × cols       │  c[i·rs_c + j], rows ≤ MR, cols ≤ NR
//!            └──┘  └───────────────────────────┘
//! ```
//!
//! A comes either packed (`a_rs = 0`: a[p·MR + i], an MR-row panel) or straight from a
//! row-major matrix (`a_rs > 0`: a[i·a_rs + p], one pointer per row — no packing needed, the
//! broadcasts read any address).
//!
//! acc = Σₚ A(i, p)·b[p·32 + j] for i < rows, j < cols, accumulated in p order in f32 (fused
//! multiply-add where the ISA has it). Then `v = acc` (`epi.first`) or `v = c + acc`; if `epi.last`:
//! `v = v·alpha` (if alpha ≠ 1), `v += bias[j]`, `v = gelu(v)`, `v += residual[i·rs_res + j]` —
//! each only if present. Only the `rows × cols` part of C (and of bias/residual) is read or written:
//! edge tiles use masked loads/stores (AVX), a stack buffer (NEON) or scalar loops, never
//! out-of-bounds accesses. A and B are always full (zero-padded) panels, so they are read whole.

#[cfg(target_arch = "x86_64")]
pub mod amx;
#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod bf16_avx2;
#[cfg(target_arch = "x86_64")]
pub mod bf16_avx512;
#[cfg(target_arch = "aarch64")]
pub mod bf16_neon;
#[cfg(target_arch = "aarch64")]
pub mod bf16_neonbf16;
#[cfg(target_arch = "x86_64")]
pub mod i8_avx2;
#[cfg(target_arch = "x86_64")]
pub mod i8_avx512;
#[cfg(target_arch = "x86_64")]
pub mod i8_avxvnni;
#[cfg(target_arch = "aarch64")]
pub mod i8_neon;
#[cfg(target_arch = "aarch64")]
pub mod i8_neondot;
#[cfg(target_arch = "aarch64")]
pub mod i8_neoni8mm;
#[cfg(target_arch = "aarch64")]
pub mod neon;
#[cfg(target_arch = "x86_64")]
mod x86_loop;
use super::pack::{AlignedBuf, Elem, LINE};

pub mod bf16_reference;
pub mod i8_reference;
pub mod reference;

/// Calls `$tile::<R>(args)` for the literal `R` equal to `$rows` (monomorphised edge tiles).
#[allow(unused_macros)]
macro_rules! rows_dispatch {
    ($tile:ident, $rows:expr, $args:tt, $($r:literal)*) => {
        match $rows {
            $($r => $tile::<$r> $args,)*
            rows => unreachable!("rows = {rows} > MR"),
        }
    };
}
#[allow(unused_imports)]
pub(crate) use rows_dispatch;

/// What the micro-kernel does with its tile after the k loop. Pointers are already offset to the
/// tile's first row/column.
#[derive(Clone, Copy, Debug)]
pub struct TileEpi {
    /// First k block: C is overwritten, not read.
    pub first: bool,
    /// Last k block: apply alpha, bias, GELU and residual.
    pub last: bool,
    /// Scale applied to the finished product (1 = none).
    pub alpha: f32,
    /// `cols` floats, or null.
    pub bias: *const f32,
    /// Apply the exact GELU after the bias.
    pub gelu: bool,
    /// `rows × cols` floats at row stride `rs_res`, or null.
    pub residual: *const f32,
    /// Row stride of `residual`.
    pub rs_res: usize,
    /// Where the next tile's B micro-panel starts: only prefetched (a hint, never dereferenced).
    pub next_b: *const u8,
    /// Start of `l2_lines` cache lines ([`LINE`] bytes each, contiguous) of the B block the
    /// caller reads next, to fetch into L2 spread over this tile's k steps (hints, never
    /// dereferenced), so that block's first pass does not wait on L3 or memory.
    pub l2_next: *const u8,
    /// How many lines from `l2_next` (0 = none).
    pub l2_lines: usize,
    /// int8 kernels only: how the last k block dequantizes its i32 sums (see `gemm::int8`).
    pub quant: QuantTile,
}

/// The int8 epilogue's operands for one tile, already offset to its first row / column; all
/// null: no dequantization, the int8 kernels store the i32 sums themselves (their bits) in C.
/// int8 kernels also keep the i32 partial sums of k blocks before the last in C this way (in
/// a representation of their own that only they read back: the aarch64 `sdot` kernel keeps
/// `Σ (q_A − 128)·q_B` there when it dequantizes, see `i8_neondot`).
#[derive(Clone, Copy, Debug)]
pub struct QuantTile {
    /// `rows` activation scales, or null.
    pub row_scale: *const f32,
    /// `rows` activation zero points.
    pub row_zp: *const i32,
    /// `cols` weight scales.
    pub col_scale: *const f32,
    /// `cols` weight column sums (Σₖ of the int8 weights).
    pub col_sum: *const i32,
}

impl QuantTile {
    /// No dequantization (every kernel but the int8 ones ignores the field).
    pub const NONE: QuantTile = QuantTile {
        row_scale: std::ptr::null(),
        row_zp: std::ptr::null(),
        col_scale: std::ptr::null(),
        col_sum: std::ptr::null(),
    };

    /// Whether the tile is dequantized.
    #[inline(always)]
    pub fn is_some(&self) -> bool {
        !self.row_scale.is_null()
    }
}

/// Spreads a tile's `l2_lines` L2 prefetches of the caller's next B block evenly over its `kc`
/// k steps, at most one per step (a Bresenham counter: `lines` added per step, one prefetch per
/// `kc`), so they never queue up behind each other or crowd the tile's own B stream.
/// Used by the SIMD kernels (x86-64 and aarch64; hence the `allow` elsewhere).
#[derive(Clone, Copy)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) struct L2Prefetch {
    next: *const u8,
    acc: usize,
    lines: usize,
    kc: usize,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
impl L2Prefetch {
    #[inline(always)]
    pub(crate) fn new(epi: &TileEpi, kc: usize) -> Self {
        L2Prefetch {
            next: epi.l2_next,
            acc: kc / 2,
            lines: epi.l2_lines.min(kc),
            kc,
        }
    }

    /// Four k steps at once (for a k loop unrolled by 4): the same lines as four [`Self::step`]s,
    /// one counter update and branch instead of four (the AVX2 fp32 kernel and the k loop of
    /// `x86_loop`).
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn step4(&mut self) {
        self.acc += 4 * self.lines;
        while self.acc >= self.kc {
            self.acc -= self.kc;
            prefetch_l2(self.next);
            self.next = self.next.wrapping_add(LINE);
        }
    }

    /// One k step: maybe one prefetch.
    #[inline(always)]
    pub(crate) fn step(&mut self) {
        self.acc += self.lines;
        if self.acc >= self.kc {
            self.acc -= self.kc;
            prefetch_l2(self.next);
            self.next = self.next.wrapping_add(LINE);
        }
    }
}

/// Hints the cache line at `p` into L2 (`prefetcht1` on x86-64, `prfm pldl2keep` on aarch64,
/// nothing elsewhere). Never faults, whatever `p` is.
#[inline(always)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
fn prefetch_l2(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it has no architectural effect and never faults, for
    // any address; its instruction set (SSE) is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        _mm_prefetch::<_MM_HINT_T1>(p as *const i8)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is only a hint (base ARMv8-A): it has no architectural effect, never
    // faults, for any address, and touches no register but its address operand.
    unsafe {
        std::arch::asm!(
            "prfm pldl2keep, [{0}]",
            in(reg) p,
            options(nostack, readonly, preserves_flags)
        )
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Hints the cache line at `p` into L1 for reading (`prfm pldl1keep`; the x86-64 kernels use
/// `_mm_prefetch` directly). Never faults, whatever `p` is.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub(crate) fn prefetch_l1(p: *const u8) {
    // SAFETY: PRFM is only a hint (base ARMv8-A): it has no architectural effect, never
    // faults, for any address, and touches no register but its address operand.
    unsafe {
        std::arch::asm!(
            "prfm pldl1keep, [{0}]",
            in(reg) p,
            options(nostack, readonly, preserves_flags)
        )
    };
}

/// A register-blocked micro-kernel for one ISA and one precision.
pub trait MicroKernel {
    /// Element of A as the kernel reads it (row-major or packed).
    type A: Elem;
    /// Element of the packed B panels.
    type B: Elem;
    /// Rows of the C tile (broadcast from A).
    const MR: usize;
    /// Columns of the C tile (vector loads from packed B); divides [`PANEL`](super::pack::PANEL).
    const NR: usize;
    /// Consecutive k values stored together per column of a B panel (1: f32, one value per k
    /// step; 2: bf16 pairs for vdpbf16ps). Every k block starts at a multiple of it, and the k
    /// the kernel sees is padded to a multiple of it.
    const K_GROUP: usize = 1;
    /// Name, also the test and bench id: `gemm_ukr_<isa>_<MR>x<NR>`.
    const NAME: &'static str;
    /// Whether this CPU can run the kernel.
    fn supported() -> bool;

    /// Runs `f`, a run of [`Self::tile`] calls on this thread (a driver's work item, an
    /// attention block), inside whatever state the kernel keeps across its calls: the AMX
    /// kernels load their tile configuration here once, instead of in every call, and release
    /// the tiles when `f` returns (or unwinds). Nothing else on this thread may use that state
    /// while `f` runs. The register-tile kernels keep none: `f()`.
    #[inline(always)]
    fn session<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// Computes one tile; see the [module docs](self).
    ///
    /// # Safety
    /// * [`Self::supported`] is true; `kc` is a multiple of [`Self::K_GROUP`]; the call is
    ///   inside [`Self::session`];
    /// * `a_rs = 0`: `a` addresses `kc·MR` readable elements (packed); `a_rs > 0`:
    ///   `a + i·a_rs + p` is readable for `i < rows, p < kc`; `b` addresses rows
    ///   `g < kc / K_GROUP` of `NR·K_GROUP` readable elements at `b + g·PANEL·K_GROUP`;
    /// * `1 ≤ rows ≤ MR`, `1 ≤ cols ≤ NR`; `c + i·rs_c + j` is writable (and readable unless
    ///   `epi.first`) for `i < rows, j < cols`, and no other thread accesses it meanwhile;
    /// * non-null `epi.bias` addresses `cols` readable floats, non-null `epi.residual` addresses
    ///   `residual + i·rs_res + j` for `i < rows, j < cols`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: *const Self::A,
        a_rs: usize,
        b: *const Self::B,
        c: *mut f32,
        rs_c: usize,
        rows: usize,
        cols: usize,
        epi: &TileEpi,
    );
}

/// An fp32 micro-kernel that can also pack strided operands (`gemm_strided`, attention).
pub trait StridedKernel: MicroKernel<A = f32, B = f32> {
    /// Packs A into MR-row panels (see `gemm::pack::pack_a`).
    fn pack_a(m: usize, k: usize, a: &[f32], rs: usize, cs: usize, out: &mut AlignedBuf, par: bool);
    /// Packs a strided B into 32-wide panels (see `gemm::pack::pack_b`); only the AVX-512
    /// kernel lets packing use AVX-512 instructions, so a forced lower ISA uses none.
    fn pack_b(k: usize, n: usize, b: &[f32], rs: usize, cs: usize, out: &mut AlignedBuf) {
        super::pack::pack_b(k, n, b, rs, cs, out, Self::AVX512_PACKING);
    }
    /// Whether packing may use AVX-512 instructions (gathers for transposed panels).
    const AVX512_PACKING: bool = false;
}
