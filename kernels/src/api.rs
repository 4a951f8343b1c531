//! The entry points: the only module that reads the kernel table (`table.rs`). Each call
//! checks its operands, looks its level or path up once and runs the driver the entry holds;
//! drivers and micro-kernels never import the table (`tests/module_order.rs`).
//!
//! * The free functions ([`gemm_packed`], [`gemm_bf16`], [`gemm_i8`], [`attention`],
//!   [`layer_norm`], …) run on the level [`isa`] chose (the best the CPU has, or
//!   `BERTQA_ISA`).
//! * [`Kernels`], [`Bf16Kernels`] and [`I8Kernels`] are a level's or a path's kernels picked
//!   explicitly — what tests and benches use to run every level the CPU supports side by side.

use crate::attention::{self, AttentionScratch, AttentionShape};
use crate::dispatch::{isa, Isa};
use crate::gemm::bf16::{Bf16Scratch, PackedBf16};
use crate::gemm::int8::{padded_k, quantized_operands, I8Scratch, PackedI8};
use crate::gemm::pack::{self, with_buffers, with_thread_scratch};
use crate::gemm::{
    check_strided, packed_operands, Epi, Epilogue, GemmScratch, MatMut, MatRef, PackedMatrix,
};
use crate::table::{self, Bf16Entry, Bf16Path, Entry, I8Entry, I8Path};
use std::cell::Cell;

/// The kernels of one instruction-set level: its fp32 GEMMs, attention and row operations,
/// and (through [`Kernels::bf16`], [`Kernels::int8`]) the low-precision paths it runs.
#[derive(Clone, Copy)]
pub struct Kernels {
    isa: Isa,
    entry: &'static Entry,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels")
            .field("isa", &self.isa)
            .field("gemm", &self.entry.gemm_name)
            .finish()
    }
}

impl Kernels {
    /// The kernels of `isa`.
    ///
    /// # Panics
    /// If the CPU does not support `isa` (running its instructions would be undefined
    /// behaviour).
    pub fn of(isa: Isa) -> Kernels {
        assert!(isa.is_supported(), "this CPU does not support {isa}");
        Kernels {
            isa,
            entry: table::of(isa),
        }
    }

    /// The kernels of the level every free function uses ([`isa`]).
    pub fn current() -> Kernels {
        let isa = isa();
        Kernels {
            isa,
            entry: table::of(isa),
        }
    }

    /// The level.
    pub fn isa(self) -> Isa {
        self.isa
    }

    /// The fp32 micro-kernel's name (`gemm_ukr_<isa>_<MR>x<NR>`): the id of its tests and
    /// benches.
    pub fn gemm_name(self) -> &'static str {
        self.entry.gemm_name
    }

    /// The bf16 path this level runs ([`Bf16Path::for_isa`]: the table's, but widening on
    /// Intel's AVX512_BF16 CPUs, unless `BERTQA_BF16_PATH` names another).
    pub fn bf16(self) -> Bf16Kernels {
        Bf16Kernels::of(Bf16Path::for_isa(self.isa))
    }

    /// The int8 path this level runs ([`I8Path::for_isa`]: the table's, unless
    /// `BERTQA_INT8_PATH` names another).
    pub fn int8(self) -> I8Kernels {
        I8Kernels::of(I8Path::for_isa(self.isa))
    }

    /// C[m×n] = A[m×k]·Bᵀ then the epilogue. A and C are row-major with row strides k and n.
    ///
    /// # Panics
    /// If a slice is shorter than its shape requires or an epilogue operand has the wrong
    /// length.
    pub fn gemm_packed(self, m: usize, a: &[f32], b: &PackedMatrix, c: &mut [f32], epi: Epilogue) {
        with_buffers(|abuf, _| self.packed_in(abuf, m, a, b, c, epi))
    }

    /// [`Kernels::gemm_packed`] with a caller-owned [`GemmScratch`] (for A's padded copy):
    /// once it has served the largest m×k, calls allocate nothing.
    ///
    /// # Panics
    /// As [`Kernels::gemm_packed`].
    pub fn gemm_packed_in(
        self,
        scratch: &mut GemmScratch,
        m: usize,
        a: &[f32],
        b: &PackedMatrix,
        c: &mut [f32],
        epilogue: Epilogue,
    ) {
        self.packed_in(&mut scratch.a, m, a, b, c, epilogue)
    }

    fn packed_in(
        self,
        abuf: &mut pack::AlignedBuf,
        m: usize,
        a: &[f32],
        b: &PackedMatrix,
        c: &mut [f32],
        epilogue: Epilogue,
    ) {
        if let Some((a, rs, epi)) = packed_operands(abuf, m, a, b, c, epilogue) {
            (self.entry.gemm_packed)(m, a, rs, b, c, epi)
        }
    }

    /// C[m×n] = α·A[m×k]·B[k×n] on strided views (overwrites C). Single-threaded.
    ///
    /// # Panics
    /// If a view's storage does not hold every element its shape and strides address.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_strided(
        self,
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: MatRef,
        b: MatRef,
        c: MatMut,
    ) {
        check_strided(m, n, k, &a, &b, &c);
        if m == 0 || n == 0 {
            return;
        }
        with_buffers(|abuf, bbuf| (self.entry.gemm_strided)(abuf, bbuf, m, n, k, alpha, a, b, c))
    }

    /// Multi-head attention (the [module docs](mod@crate::attention)): writes `ctx[..tokens·H]`.
    ///
    /// # Panics
    /// If a slice is shorter than the shape requires.
    pub fn attention(
        self,
        qkv: &[f32],
        shape: &AttentionShape,
        keep: &[bool],
        ctx: &mut [f32],
        scratch: &mut AttentionScratch,
    ) {
        if attention::check(qkv, shape, keep, ctx) {
            (self.entry.attention)(&self.entry.ops, qkv, shape, keep, ctx, scratch)
        }
    }

    /// LayerNorm of each row of `x` (rows of length `gamma.len()`), in place:
    /// `x = (x − mean) / sqrt(var + eps) · gamma + beta`, statistics accumulated in f64.
    ///
    /// # Panics
    /// If `x.len()` is not a multiple of the row length or `beta.len() != gamma.len()`.
    pub fn layer_norm(self, x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        self.entry.ops.layer_norm(x, gamma, beta, eps)
    }

    /// `x = LayerNorm(x + residual)` row by row; see [`Kernels::layer_norm`].
    ///
    /// # Panics
    /// As [`Kernels::layer_norm`], and if `residual.len() != x.len()`.
    pub fn add_layer_norm(
        self,
        x: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        self.entry.ops.add_layer_norm(x, residual, gamma, beta, eps)
    }

    /// Exact (erf) GELU in place.
    pub fn gelu(self, x: &mut [f32]) {
        self.entry.ops.gelu(x)
    }

    /// Softmax of `row · scale` over the positions where `keep` is true, in place; masked
    /// positions become exactly 0. If nothing is kept, every position gets 1/len (what an
    /// additive mask of f32::MIN gives in PyTorch).
    ///
    /// # Panics
    /// If `keep.len() != row.len()`.
    pub fn masked_softmax(self, row: &mut [f32], scale: f32, keep: &[bool]) {
        self.entry.ops.masked_softmax(row, scale, keep)
    }

    /// `row[j] = exp(row[j] − max(row))`, returning Σ row: a softmax whose division by the
    /// sum is left to the caller. An empty row returns 0.
    pub fn softmax_unnormalized(self, row: &mut [f32]) -> f32 {
        self.entry.ops.softmax_unnormalized(row)
    }
}

/// The handle of one low-precision path: the struct, its `Debug`, and `of`, `current`, `path`
/// and `name`, the same for every path type.
macro_rules! path_kernels {
    ($(#[$doc:meta])* $name:ident, $path:ty, $entry:ty, $lookup:path, $level:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name {
            path: $path,
            entry: &'static $entry,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("path", &self.path)
                    .field("gemm", &self.entry.name)
                    .finish()
            }
        }

        impl $name {
            /// The kernels of `path`.
            ///
            /// # Panics
            /// If the CPU does not support `path`.
            pub fn of(path: $path) -> $name {
                assert!(path.is_supported(), "this CPU does not support {path:?}");
                $name {
                    path,
                    entry: $lookup(path),
                }
            }

            /// The path of the level every free function uses.
            pub fn current() -> $name {
                Kernels::current().$level()
            }

            /// The path.
            pub fn path(self) -> $path {
                self.path
            }

            /// The micro-kernel's name (test and bench id).
            pub fn name(self) -> &'static str {
                self.entry.name
            }
        }
    };
}

path_kernels!(
    /// The kernels of one bf16 path: the GEMM on bf16 weights and attention on bf16 products.
    Bf16Kernels,
    Bf16Path,
    Bf16Entry,
    table::bf16,
    bf16
);

path_kernels!(
    /// The kernels of one int8 path: the GEMM on int8 weights and activations quantized per
    /// row.
    I8Kernels,
    I8Path,
    I8Entry,
    table::int8,
    int8
);

thread_local! {
    static BF16_SCRATCH: Cell<Bf16Scratch> = Cell::new(Bf16Scratch::default());
    static I8_SCRATCH: Cell<I8Scratch> = Cell::new(I8Scratch::default());
}

impl Bf16Kernels {
    /// C[m×n] = bf16(A)[m×k]·Bᵀ then the epilogue. A and C are row-major with row strides k
    /// and n; A is rounded to bf16 into a thread-local buffer.
    ///
    /// # Panics
    /// If a slice is shorter than its shape requires or an epilogue operand has the wrong
    /// length.
    pub fn gemm(self, m: usize, a: &[f32], b: &PackedBf16, c: &mut [f32], epilogue: Epilogue) {
        with_thread_scratch(&BF16_SCRATCH, Bf16Scratch::len, |scratch| {
            self.gemm_in(scratch, m, a, b, c, epilogue)
        })
    }

    /// [`Bf16Kernels::gemm`] rounding A into a caller-owned [`Bf16Scratch`].
    ///
    /// # Panics
    /// As [`Bf16Kernels::gemm`].
    pub fn gemm_in(
        self,
        scratch: &mut Bf16Scratch,
        m: usize,
        a: &[f32],
        b: &PackedBf16,
        c: &mut [f32],
        epilogue: Epilogue,
    ) {
        if let Some(epi) = Epi::checked("gemm_bf16", m, b.n(), b.k(), a, c, epilogue) {
            (self.entry.gemm)(scratch, m, a, b, c, epi)
        }
    }

    /// [`Kernels::attention`] with Q·Kᵀ and P·V on this path's GEMM kernels: K, V, Q and
    /// each strip's probabilities rounded to bf16; scores, softmax and the context fp32.
    /// An odd head width (not BERT's) runs the fp32 attention of the path's level.
    ///
    /// # Panics
    /// If a slice is shorter than the shape requires.
    pub fn attention(
        self,
        qkv: &[f32],
        shape: &AttentionShape,
        keep: &[bool],
        ctx: &mut [f32],
        scratch: &mut AttentionScratch,
    ) {
        let level = Kernels::of(self.entry.isa);
        if !shape.head_dim.is_multiple_of(2) {
            // (Q is rounded at row stride H: an odd head width would pair its last column
            // with the next head's first.)
            return level.attention(qkv, shape, keep, ctx, scratch);
        }
        if attention::check(qkv, shape, keep, ctx) {
            (self.entry.attention)(&level.entry.ops, qkv, shape, keep, ctx, scratch)
        }
    }
}

impl I8Kernels {
    /// C[m×n] = dequant(q(A)[m×k]·q(B)ᵀ) then the epilogue; A is quantized per row on the way
    /// in, into a thread-local buffer. A and C are row-major with row strides k and n.
    ///
    /// # Panics
    /// If a slice is shorter than its shape requires or an epilogue operand has the wrong
    /// length.
    pub fn gemm(self, m: usize, a: &[f32], b: &PackedI8, c: &mut [f32], epilogue: Epilogue) {
        with_thread_scratch(&I8_SCRATCH, I8Scratch::len, |scratch| {
            self.gemm_in(scratch, m, a, b, c, epilogue)
        })
    }

    /// [`I8Kernels::gemm`] quantizing A into a caller-owned [`I8Scratch`].
    ///
    /// # Panics
    /// As [`I8Kernels::gemm`].
    pub fn gemm_in(
        self,
        scratch: &mut I8Scratch,
        m: usize,
        a: &[f32],
        b: &PackedI8,
        c: &mut [f32],
        epilogue: Epilogue,
    ) {
        assert!(a.len() >= m * b.k(), "gemm_i8: a is shorter than m×k");
        self.quantize(scratch, m, a, b);
        self.gemm_quantized(scratch, b, c, epilogue)
    }

    /// Quantizes B [n×k] (row-major fp32, PyTorch's `Linear.weight`) per column of C to the
    /// levels this path packs to ([`I8Path::weight_levels`]) and packs it. Any path computes
    /// with any [`PackedI8`]; this one's own packing is the one it is fastest and most
    /// accurate on.
    ///
    /// # Panics
    /// As [`PackedI8::pack`].
    pub fn pack(self, b: &[f32], n: usize, k: usize) -> PackedI8 {
        PackedI8::pack_to(b, n, k, self.path.weight_levels())
    }

    /// The largest activation level this path's kernel takes against `b`
    /// ([`I8Path::activation_levels`] of its [`PackedI8::levels`]).
    pub fn activation_levels(self, b: &PackedI8) -> u8 {
        self.path.activation_levels(b.levels())
    }

    /// Quantizes A [m×k] (row-major, k = `b.k()`) per row into `scratch` to the levels this
    /// path takes against `b`, for its next [`I8Kernels::gemm_quantized`] with `b` (or a
    /// matrix of the same k and levels).
    ///
    /// # Panics
    /// If `a` is shorter than m×k.
    pub fn quantize(self, scratch: &mut I8Scratch, m: usize, a: &[f32], b: &PackedI8) {
        scratch.quantize(m, b.k(), a, self.activation_levels(b))
    }

    /// Whether `scratch` holds an unconsumed quantization of `a` [m×k] for a product of this
    /// path with `b` ([`I8Scratch::holds`] at its levels).
    pub fn holds(self, scratch: &I8Scratch, m: usize, a: &[f32], b: &PackedI8) -> bool {
        scratch.holds(m, b.k(), a, self.activation_levels(b))
    }

    /// C[m×n] = dequant(A·q(B)ᵀ) then the epilogue, for the A [m×k] that `scratch` holds
    /// ([`I8Kernels::quantize`], k = `b.k()`). Consumes the quantization (the next product
    /// needs a new one), so a buffer refilled in place is never read stale.
    ///
    /// # Panics
    /// If `scratch` holds no quantization of that k to this path's levels, `c` is shorter
    /// than m×n, or an epilogue operand has the wrong length.
    pub fn gemm_quantized(
        self,
        scratch: &mut I8Scratch,
        b: &PackedI8,
        c: &mut [f32],
        epilogue: Epilogue,
    ) {
        if let Some((m, a, rs, epi)) =
            quantized_operands(scratch, b, c, epilogue, self.activation_levels(b))
        {
            (self.entry.gemm)(m, a, rs, b, c, epi)
        }
    }

    /// The integer product alone: `c[i·n + j] = Σ_p a[i·kp + p]·q_B[j, p]` (wrapping i32),
    /// for A already quantized (rows of `kp = padded_k(k)` bytes). The int8 kernels' test
    /// oracle: every path must give the same integers as its [`I8Path::oracle`] for any A,
    /// and as exact arithmetic for A within its [`I8Kernels::activation_levels`] against `b`.
    ///
    /// # Panics
    /// If a slice is shorter than its shape requires.
    pub fn sums(self, m: usize, a: &[u8], b: &PackedI8, c: &mut [i32]) {
        let (n, kp) = (b.n(), padded_k(b.k()));
        assert!(a.len() >= m * kp, "gemm_i8_sums: a is shorter than m×kp");
        assert!(c.len() >= m * n, "gemm_i8_sums: c is shorter than m×n");
        if m == 0 || n == 0 {
            return;
        }
        // The kernels keep i32 sums in C's bits: run them on an f32 buffer and read the bits
        // back.
        let mut bits = vec![0.0f32; m * n];
        (self.entry.gemm)(m, &a[..m * kp], kp, b, &mut bits, Epi::scaled(1.0));
        for (d, s) in c.iter_mut().zip(&bits) {
            *d = s.to_bits() as i32;
        }
    }
}

/// C[m×n] = A[m×k]·Bᵀ then the epilogue ([`Kernels::gemm_packed`] on the current level).
///
/// # Panics
/// If a slice is shorter than its shape requires or an epilogue operand has the wrong length.
pub fn gemm_packed(m: usize, a: &[f32], b: &PackedMatrix, c: &mut [f32], epilogue: Epilogue) {
    Kernels::current().gemm_packed(m, a, b, c, epilogue)
}

/// [`gemm_packed`] with a caller-owned [`GemmScratch`]: once it has served the largest m×k,
/// calls allocate nothing.
///
/// # Panics
/// As [`gemm_packed`].
pub fn gemm_packed_in(
    scratch: &mut GemmScratch,
    m: usize,
    a: &[f32],
    b: &PackedMatrix,
    c: &mut [f32],
    epilogue: Epilogue,
) {
    Kernels::current().gemm_packed_in(scratch, m, a, b, c, epilogue)
}

/// C[m×n] = α·A[m×k]·B[k×n] on strided views ([`Kernels::gemm_strided`] on the current
/// level).
///
/// # Panics
/// If a view's storage does not hold every element its shape and strides address.
pub fn gemm_strided(m: usize, n: usize, k: usize, alpha: f32, a: MatRef, b: MatRef, c: MatMut) {
    Kernels::current().gemm_strided(m, n, k, alpha, a, b, c)
}

/// C[m×n] = bf16(A)[m×k]·Bᵀ then the epilogue ([`Bf16Kernels::gemm`] on the current level's
/// path).
///
/// # Panics
/// If a slice is shorter than its shape requires or an epilogue operand has the wrong length.
pub fn gemm_bf16(m: usize, a: &[f32], b: &PackedBf16, c: &mut [f32], epilogue: Epilogue) {
    Bf16Kernels::current().gemm(m, a, b, c, epilogue)
}

/// [`gemm_bf16`] rounding A into a caller-owned [`Bf16Scratch`].
///
/// # Panics
/// As [`gemm_bf16`].
pub fn gemm_bf16_in(
    scratch: &mut Bf16Scratch,
    m: usize,
    a: &[f32],
    b: &PackedBf16,
    c: &mut [f32],
    epilogue: Epilogue,
) {
    Bf16Kernels::current().gemm_in(scratch, m, a, b, c, epilogue)
}

/// C[m×n] = dequant(q(A)[m×k]·q(B)ᵀ) then the epilogue ([`I8Kernels::gemm`] on the current
/// level's path).
///
/// # Panics
/// If a slice is shorter than its shape requires or an epilogue operand has the wrong length.
pub fn gemm_i8(m: usize, a: &[f32], b: &PackedI8, c: &mut [f32], epilogue: Epilogue) {
    I8Kernels::current().gemm(m, a, b, c, epilogue)
}

/// [`gemm_i8`] quantizing A into a caller-owned [`I8Scratch`].
///
/// # Panics
/// As [`gemm_i8`].
pub fn gemm_i8_in(
    scratch: &mut I8Scratch,
    m: usize,
    a: &[f32],
    b: &PackedI8,
    c: &mut [f32],
    epilogue: Epilogue,
) {
    I8Kernels::current().gemm_in(scratch, m, a, b, c, epilogue)
}

/// [`I8Kernels::quantize`] on the current level's path: what [`gemm_i8_quantized`] with `b`
/// consumes.
///
/// # Panics
/// As [`I8Kernels::quantize`].
pub fn quantize_i8(scratch: &mut I8Scratch, m: usize, a: &[f32], b: &PackedI8) {
    I8Kernels::current().quantize(scratch, m, a, b)
}

/// B [n×k] quantized and packed for the current level's int8 path ([`I8Kernels::pack`]).
///
/// # Panics
/// As [`PackedI8::pack`].
pub fn pack_i8(b: &[f32], n: usize, k: usize) -> PackedI8 {
    I8Kernels::current().pack(b, n, k)
}

/// [`I8Kernels::gemm_quantized`] on the current level's path.
///
/// # Panics
/// As [`I8Kernels::gemm_quantized`].
pub fn gemm_i8_quantized(scratch: &mut I8Scratch, b: &PackedI8, c: &mut [f32], epilogue: Epilogue) {
    I8Kernels::current().gemm_quantized(scratch, b, c, epilogue)
}

/// Multi-head attention ([`Kernels::attention`] on the current level).
///
/// # Panics
/// If a slice is shorter than the shape requires.
pub fn attention(
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    Kernels::current().attention(qkv, shape, keep, ctx, scratch)
}

/// Attention on the bf16 GEMM kernels ([`Bf16Kernels::attention`] on the current level's
/// path).
///
/// # Panics
/// If a slice is shorter than the shape requires.
pub fn attention_bf16(
    qkv: &[f32],
    shape: &AttentionShape,
    keep: &[bool],
    ctx: &mut [f32],
    scratch: &mut AttentionScratch,
) {
    Bf16Kernels::current().attention(qkv, shape, keep, ctx, scratch)
}

/// LayerNorm of each row of `x` ([`Kernels::layer_norm`] on the current level).
///
/// # Panics
/// If `x.len()` is not a multiple of the row length or `beta.len() != gamma.len()`.
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    Kernels::current().layer_norm(x, gamma, beta, eps)
}

/// `x = LayerNorm(x + residual)` row by row ([`Kernels::add_layer_norm`] on the current level).
///
/// # Panics
/// As [`layer_norm`], and if `residual.len() != x.len()`.
pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    Kernels::current().add_layer_norm(x, residual, gamma, beta, eps)
}

/// Exact (erf) GELU in place ([`Kernels::gelu`] on the current level).
pub fn gelu(x: &mut [f32]) {
    Kernels::current().gelu(x)
}

/// Masked, scaled softmax of one row ([`Kernels::masked_softmax`] on the current level).
///
/// # Panics
/// If `keep.len() != row.len()`.
pub fn masked_softmax(row: &mut [f32], scale: f32, keep: &[bool]) {
    Kernels::current().masked_softmax(row, scale, keep)
}

/// Unnormalised softmax of one row, returning its sum ([`Kernels::softmax_unnormalized`] on
/// the current level).
pub fn softmax_unnormalized(row: &mut [f32]) -> f32 {
    Kernels::current().softmax_unnormalized(row)
}
