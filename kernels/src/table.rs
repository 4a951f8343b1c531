//! The kernel table: which kernels each instruction-set level and each low-precision path
//! runs, and the block sizes they run with, in one place. The entry points ([`crate::api`])
//! look a level or path up here once per call and call what the entry holds; the drivers and
//! micro-kernels below never read this table (`tests/module_order.rs`).
//!
//! * [`of`]`(isa)` — the fp32 kernels of a level (GEMM drivers, attention, row operations) and
//!   the bf16 and int8 paths that level runs;
//! * [`bf16`]`(path)` — a bf16 path's GEMM and attention;
//! * [`int8`]`(path)` — an int8 path's GEMM.
//!
//! Each GEMM entry is a whole driver monomorphised for one micro-kernel and its deepest k
//! block (`packed_driver::<Avx512_12x32, KC>`), so the only indirection is one call per
//! product; the drivers assert at compile time that the kernel's tile fits the panels
//! (`PANEL % NR == 0`, `KC % K_GROUP == 0`, in `gemm::driver_raw`) and attention that its MR
//! fits the probability strips (`MR <= MAX_ROWS`), for every kernel named here.
//!
//! A new ISA level is a new `Isa` variant (`dispatch.rs`: its name and CPU check), its kernel
//! files, and one entry here; a new precision path is a variant of [`Bf16Path`] or
//! [`I8Path`], its kernel files and an entry here (docs/kernels.md lists the files).

use crate::attention::{self, AttentionScratch, AttentionShape, PV_KB};
use crate::dispatch::{isa, Isa};
use crate::gemm::bf16::{bf16_driver, Bf16Scratch, PackedBf16};
use crate::gemm::int8::{i8_driver, PackedI8, U7, U8, W7, W8};
use crate::gemm::pack::AlignedBuf;
use crate::gemm::ukr::bf16_reference::ReferenceBf16_4x16;
use crate::gemm::ukr::i8_reference::{ReferenceI8_4x16, ReferenceMaddubsI8_4x16};
use crate::gemm::ukr::reference::Reference4x16;
use crate::gemm::ukr::MicroKernel;
use crate::gemm::{packed_driver, strided_driver, Epi, MatMut, MatRef, PackedMatrix};
use crate::ops::{reference, Ops};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Block sizes: the deepest k block (loop 2 of `gemm`) each kernel is registered with below.

/// Deepest k block of the fp32 kernels: one A micro-panel, MR·KC·4 bytes (12·384·4 = 18 KiB),
/// stays in a 32–48 KiB L1d while it meets every B micro-panel of the block; larger blocks
/// store the C tile less often. A constant, not derived from the caches at run time, because
/// the summation order depends on it: results are then bit-identical across machines with the
/// same kernels, not only across thread counts (`gemm::blocking`).
pub const KC: usize = 384;

/// Deepest k block of the bf16 kernels (every one of them, the scalar reference included): k =
/// 1024 (BERT-large's QKV, attention output, FFN up) in one block, so the C tile is stored
/// once; an A micro-panel (12·1024·2 bytes = 24 KiB) still leaves half of a 48 KiB L1d to the
/// B stream. Measured at 1 thread on Zen 5 against 768: level to +6 % (`benches/gemm.rs`).
/// Part of the bf16 numerics.
pub const KC_BF16: usize = 1024;

/// Deepest k block of the int8 kernels: k = 1024 in one block; an A tile (12 rows · 1024
/// bytes) is 12 KiB of a 32–48 KiB L1d. Unlike the float kernels it is not part of the
/// numerics: integer sums do not depend on the blocking.
pub const KC_I8: usize = 1024;

/// Deepest k block of the AMX int8 kernel: 4096, every k of BERT-large in one block. Each
/// tile call ends in a 4 KiB trip of its sums through memory and the VNNI epilogue, which is
/// not small next to a block's `tdpbusd` work; in the model (`bertqa --threads 2 --precision
/// int8 bench --synthetic large --seq 384`, Sapphire-Rapids-class Xeon, session 12) KC 256 /
/// 512 / 1024 / 4096 took 334–350 / 238–266 / 215–222 / 205 ms. Integer sums do not depend on
/// the blocking.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const KC_AMX: usize = 4096;

/// Deepest k block of the AMX bf16 kernel and of its scalar model, in the GEMMs and in
/// attention's P·V (part of their numerics: `tdpbf16ps` chains restart at every chunk of 32 k
/// from a block's start, see `gemm::ukr::bf16_reference::amx_chunk`): 4096, every k of
/// BERT-large and every sequence in one block — each tile call ends in a trip of its sums
/// through memory and the epilogue, as for [`KC_AMX`].
pub(crate) const KC_AMX_BF16: usize = 4096;

// ---------------------------------------------------------------------------------------------
// The paths: how a level runs its bf16 and int8 products.

/// A bf16 GEMM implementation: which micro-kernel runs the pair steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bf16Path {
    /// Scalar model of `vdpbf16ps`: the fallback and the test oracle of the x86-64 paths and
    /// the widening ones.
    Reference,
    /// Scalar model of Arm's `BFDOT`/`BFMMLA` arithmetic (round-to-odd, flush-to-zero; see
    /// `gemm::ukr::bf16_reference`): the test oracle of the FEAT_BF16 paths, runs anywhere,
    /// never a level's path.
    ReferenceArm,
    /// AVX2+FMA: bf16 widened to fp32 in registers (half the bytes of fp32 weights).
    Avx2Widen,
    /// AVX-512F without AVX512_BF16: widened to fp32 in registers.
    Avx512Widen,
    /// AVX512_BF16 `vdpbf16ps`: two bf16 products per fp32 lane and instruction.
    Avx512Bf16,
    /// aarch64 NEON without FEAT_BF16: widened to fp32 in registers (`fmla`).
    NeonWiden,
    /// aarch64 FEAT_BF16 `bfdot` (by element): two bf16 products per fp32 lane and
    /// instruction, on the pair panels as they are.
    NeonBfdot,
    /// aarch64 FEAT_BF16 `bfmmla`: a 2×4 by 4×2 bf16 block into 2×2 fp32 per instruction
    /// (16 multiply-adds), B's pair rows zipped into 4-k columns in registers.
    NeonBfmmla,
    /// Scalar model of Intel AMX `tdpbf16ps` (chunks of 32 k: even and odd products in two
    /// fused chains, then added; flush-to-zero; see `gemm::ukr::bf16_reference::amx_chunk`):
    /// the test oracle of [`Bf16Path::Amx`], runs anywhere, never a level's path.
    ReferenceAmx,
    /// AMX-BF16 `tdpbf16ps` (Intel Sapphire Rapids and later Xeons): a 16×16 fp32 block += a
    /// 16 × 32 bf16 tile times a 32 × 16 one per instruction. The path of the `avx512bf16`
    /// level wherever the CPU has AMX-BF16 and the OS grants the tiles (`dispatch::amx_bf16`).
    Amx,
}

impl Bf16Path {
    /// Every path: the scalar ones, then each architecture's, lowest first.
    pub const ALL: [Bf16Path; 10] = [
        Bf16Path::Reference,
        Bf16Path::ReferenceArm,
        Bf16Path::ReferenceAmx,
        Bf16Path::Avx2Widen,
        Bf16Path::Avx512Widen,
        Bf16Path::Avx512Bf16,
        Bf16Path::Amx,
        Bf16Path::NeonWiden,
        Bf16Path::NeonBfdot,
        Bf16Path::NeonBfmmla,
    ];

    /// The scalar path whose arithmetic this path reproduces bit for bit (GELU aside): its
    /// test oracle. `vdpbf16ps` and the widening kernels (exact products, one rounding per
    /// sum) match [`Bf16Path::Reference`]; `bfdot`/`bfmmla` match Arm's model,
    /// [`Bf16Path::ReferenceArm`]; `tdpbf16ps` matches [`Bf16Path::ReferenceAmx`].
    pub fn oracle(self) -> Bf16Path {
        match self {
            Bf16Path::ReferenceArm | Bf16Path::NeonBfdot | Bf16Path::NeonBfmmla => {
                Bf16Path::ReferenceArm
            }
            Bf16Path::ReferenceAmx | Bf16Path::Amx => Bf16Path::ReferenceAmx,
            Bf16Path::Reference
            | Bf16Path::Avx2Widen
            | Bf16Path::Avx512Widen
            | Bf16Path::Avx512Bf16
            | Bf16Path::NeonWiden => Bf16Path::Reference,
        }
    }

    /// Whether the path multiplies bf16 in hardware (`vdpbf16ps`, `bfdot`, `bfmmla`) rather
    /// than widening it to fp32 for the FMAs (or modelling it in scalar code): only then can
    /// bf16 products be faster than fp32 ones — a widening path does fp32's multiply-adds and
    /// the widening on top (it saves memory traffic, which weights need and attention does not).
    pub fn is_native(self) -> bool {
        match self {
            Bf16Path::Avx512Bf16 | Bf16Path::Amx | Bf16Path::NeonBfdot | Bf16Path::NeonBfmmla => {
                true
            }
            Bf16Path::Reference
            | Bf16Path::ReferenceArm
            | Bf16Path::ReferenceAmx
            | Bf16Path::Avx2Widen
            | Bf16Path::Avx512Widen
            | Bf16Path::NeonWiden => false,
        }
    }

    /// The name `BERTQA_BF16_PATH` takes.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Path::Reference => "reference",
            Bf16Path::ReferenceArm => "referencearm",
            Bf16Path::ReferenceAmx => "referenceamx",
            Bf16Path::Amx => "amx",
            Bf16Path::Avx2Widen => "avx2widen",
            Bf16Path::Avx512Widen => "avx512widen",
            Bf16Path::Avx512Bf16 => "avx512bf16",
            Bf16Path::NeonWiden => "neonwiden",
            Bf16Path::NeonBfdot => "neonbfdot",
            Bf16Path::NeonBfmmla => "neonbfmmla",
        }
    }

    /// Parses a `BERTQA_BF16_PATH` value.
    pub fn from_name(s: &str) -> Option<Bf16Path> {
        Bf16Path::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The path an ISA level runs: the table's, except that the `avx512bf16` level of an Intel
    /// CPU runs [`Bf16Path::Avx512Widen`] — its `vdpbf16ps` multiplies at half the rate of its
    /// fp32 FMAs ([`crate::dispatch::cpu_is_intel`]; BERT-large bf16 at 128 tokens, 2 threads:
    /// 427–441 ms on `vdpbf16ps`, 306 ms widened, fp32 319–326 ms). Both compute
    /// [`Bf16Path::Reference`]'s results bit for bit, so this is a choice of speed only. For
    /// every level, `BERTQA_BF16_PATH` names another (read once).
    ///
    /// # Panics
    /// On first use, if `BERTQA_BF16_PATH` names an unknown path or one this CPU lacks.
    pub fn for_isa(isa: Isa) -> Bf16Path {
        static OVERRIDE: OnceLock<Option<Bf16Path>> = OnceLock::new();
        let chosen = *OVERRIDE.get_or_init(|| {
            env_path(
                "BERTQA_BF16_PATH",
                &Bf16Path::ALL,
                Bf16Path::name,
                |p| (p.is_supported(), p.kernel_name()),
                "bf16",
            )
        });
        match (chosen, of(isa).bf16) {
            (Some(p), _) => p,
            (None, Bf16Path::Avx512Bf16) if Bf16Path::Amx.is_supported() => Bf16Path::Amx,
            (None, Bf16Path::Avx512Bf16) if crate::dispatch::cpu_is_intel() => {
                Bf16Path::Avx512Widen
            }
            (None, p) => p,
        }
    }

    /// The ISA level whose CPU support the path needs and whose row operations (softmax,
    /// epilogues) go with it.
    pub fn isa(self) -> Isa {
        bf16(self).isa
    }

    /// The path the kernels use (from [`isa`]).
    pub fn current() -> Bf16Path {
        Self::for_isa(isa())
    }

    /// The micro-kernel's name (test and bench id).
    pub fn kernel_name(self) -> &'static str {
        bf16(self).name
    }

    /// Whether this CPU can run the path (for [`Bf16Path::Amx`], also whether the OS grants
    /// the tiles: `dispatch::amx_bf16`).
    pub fn is_supported(self) -> bool {
        self.isa().is_supported() && (self != Bf16Path::Amx || crate::dispatch::amx_bf16())
    }
}

/// An int8 GEMM implementation: which micro-kernel runs the groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum I8Path {
    /// Scalar: the fallback and the test oracle.
    Reference,
    /// Scalar model of `vpmaddubsw` + `vpmaddwd` (each int16 sum of two u8·s8 products
    /// saturated, then the pairs added in i32): the oracle of [`I8Path::Avx2Maddubs`], runs
    /// anywhere, never a level's path. On the operands its levels allow it never saturates,
    /// so it computes [`I8Path::Reference`]'s integers.
    ReferenceMaddubs,
    /// AVX2: int8/uint8 widened to int16, `vpmaddwd` (CPUs without AVX512_VNNI).
    Avx2Widen,
    /// AVX2: `vpmaddubsw` (u8·s8 pairs into saturating int16) + `vpmaddwd` by ones (into
    /// i32), on weights packed to 7 bits (−63..=63, [`I8Path::weight_levels`]) — or, for
    /// weights of 8 bits, on activations quantized to 7 bits ([`I8Path::activation_levels`])
    /// — so that no pair sum can saturate: exact, at twice the multiply rate of
    /// [`I8Path::Avx2Widen`].
    Avx2Maddubs,
    /// AVX-VNNI: the 256-bit VEX `vpdpbusd`, four u8·i8 products per i32 lane and instruction
    /// (AVX2 CPUs with AVX-VNNI: Alder Lake and later client cores, E-core Xeons).
    AvxVnni,
    /// AVX512_VNNI `vpdpbusd`: four u8·i8 products per i32 lane and instruction.
    Avx512Vnni,
    /// AMX-INT8 `tdpbusd` (Intel Sapphire Rapids and later Xeons): a 16×16 i32 block += a
    /// 16 × 64 u8 tile times a 64 × 16 s8 tile per instruction, the products and sums of
    /// `vpdpbusd`. The path of the AVX-512 VNNI levels wherever the CPU has AMX-INT8 and the
    /// OS grants the tiles (`dispatch::amx_int8`).
    Amx,
    /// aarch64 Advanced SIMD: uint8/int8 widened to int16, `smlal` by element (CPUs without
    /// FEAT_DotProd).
    NeonWiden,
    /// aarch64 FEAT_DotProd `sdot`: four s8·s8 products per i32 lane and instruction, on A
    /// flipped to `q_A − 128` (the 128·colsum folded back in the epilogue).
    NeonSdot,
    /// aarch64 FEAT_I8MM `usmmla`: a 2×8 u8 by 8×2 s8 block (32 products) per instruction.
    NeonI8mm,
}

impl I8Path {
    /// Every path, lowest first (x86-64's, then aarch64's).
    pub const ALL: [I8Path; 10] = [
        I8Path::Reference,
        I8Path::ReferenceMaddubs,
        I8Path::Avx2Widen,
        I8Path::Avx2Maddubs,
        I8Path::AvxVnni,
        I8Path::Avx512Vnni,
        I8Path::Amx,
        I8Path::NeonWiden,
        I8Path::NeonSdot,
        I8Path::NeonI8mm,
    ];

    /// The name `BERTQA_INT8_PATH` takes.
    pub fn name(self) -> &'static str {
        match self {
            I8Path::Reference => "reference",
            I8Path::ReferenceMaddubs => "referencemaddubs",
            I8Path::Avx2Widen => "avx2widen",
            I8Path::Avx2Maddubs => "avx2maddubs",
            I8Path::AvxVnni => "avxvnni",
            I8Path::Avx512Vnni => "avx512vnni",
            I8Path::Amx => "amx",
            I8Path::NeonWiden => "neonwiden",
            I8Path::NeonSdot => "neonsdot",
            I8Path::NeonI8mm => "neoni8mm",
        }
    }

    /// Parses a `BERTQA_INT8_PATH` value.
    pub fn from_name(s: &str) -> Option<I8Path> {
        I8Path::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The path an ISA level runs: the table's, or, for every level, the one
    /// `BERTQA_INT8_PATH` names (read once; to compare paths on one level, e.g.
    /// `BERTQA_ISA=avx2 BERTQA_INT8_PATH=avx2widen`).
    ///
    /// # Panics
    /// On first use, if `BERTQA_INT8_PATH` names an unknown path or one this CPU lacks.
    pub fn for_isa(isa: Isa) -> I8Path {
        path_override().unwrap_or_else(|| match of(isa).int8 {
            I8Path::Avx512Vnni if I8Path::Amx.is_supported() => I8Path::Amx,
            p => p,
        })
    }

    /// The scalar path whose integers this path reproduces bit for bit for any A (its test
    /// oracle): [`I8Path::ReferenceMaddubs`] for the `vpmaddubsw` path, else
    /// [`I8Path::Reference`].
    pub fn oracle(self) -> I8Path {
        match self {
            I8Path::ReferenceMaddubs | I8Path::Avx2Maddubs => I8Path::ReferenceMaddubs,
            _ => I8Path::Reference,
        }
    }

    /// The levels each side of 0 the path quantizes weights to when it packs them
    /// ([`I8Kernels::pack`](crate::I8Kernels::pack)): 63 (`gemm::int8::W7`) for the paths on
    /// `vpmaddubsw`, whose int16 pair sums would saturate on 8-bit weights against 8-bit
    /// activations, else 127 (`W8`). A property of the path, the same on every architecture.
    pub fn weight_levels(self) -> u8 {
        match self {
            I8Path::Avx2Maddubs | I8Path::ReferenceMaddubs => W7,
            _ => W8,
        }
    }

    /// The largest level the path quantizes activations to for a product with weights of
    /// `weight_levels` ([`PackedI8::levels`]): 255 (`gemm::int8::U8`), except on the paths on
    /// `vpmaddubsw` against weights of more than 63 levels (a file packed for another CPU),
    /// where it is 127 (`U7`) so that no int16 pair sum can saturate (255·63·2 and 127·128·2
    /// are both below 32,767).
    pub fn activation_levels(self, weight_levels: u8) -> u8 {
        match self {
            I8Path::Avx2Maddubs | I8Path::ReferenceMaddubs if weight_levels > W7 => U7,
            _ => U8,
        }
    }

    /// The ISA level whose CPU support the path needs.
    pub fn isa(self) -> Isa {
        int8(self).isa
    }

    /// The path the kernels use (from [`isa`]).
    pub fn current() -> I8Path {
        Self::for_isa(isa())
    }

    /// The micro-kernel's name (test and bench id).
    pub fn kernel_name(self) -> &'static str {
        int8(self).name
    }

    /// Whether this CPU can run the path (for [`I8Path::Amx`], also whether the OS grants
    /// the tiles: `dispatch::amx_int8`).
    pub fn is_supported(self) -> bool {
        self.isa().is_supported() && (self != I8Path::Amx || crate::dispatch::amx_int8())
    }
}

// ---------------------------------------------------------------------------------------------
// The entries.

/// The packed-B fp32 GEMM: `(m, A rows, A row stride, B, C, epilogue)`.
pub(crate) type GemmPacked = fn(usize, &[f32], usize, &PackedMatrix, &mut [f32], Epi<'_>);
/// The strided fp32 GEMM: `(A buffer, B buffer, m, n, k, α, A, B, C)`.
pub(crate) type GemmStrided = fn(
    &mut AlignedBuf,
    &mut AlignedBuf,
    usize,
    usize,
    usize,
    f32,
    MatRef<'_>,
    MatRef<'_>,
    MatMut<'_>,
);
/// Attention: `(row operations, qkv, shape, keep, ctx, scratch)`.
pub(crate) type Attention =
    fn(&Ops, &[f32], &AttentionShape<'_>, &[bool], &mut [f32], &mut AttentionScratch);
/// The bf16 GEMM: `(scratch for rounded A, m, A, B, C, epilogue)`.
pub(crate) type GemmBf16 = fn(&mut Bf16Scratch, usize, &[f32], &PackedBf16, &mut [f32], Epi<'_>);
/// The int8 GEMM: `(m, quantized A rows, their stride, B, C, epilogue)`.
pub(crate) type GemmI8 = fn(usize, &[u8], usize, &PackedI8, &mut [f32], Epi<'_>);

/// The kernels of one ISA level.
pub(crate) struct Entry {
    /// The fp32 micro-kernel's name (`gemm_ukr_<isa>_<MR>x<NR>`).
    pub gemm_name: &'static str,
    pub gemm_packed: GemmPacked,
    pub gemm_strided: GemmStrided,
    pub attention: Attention,
    pub ops: Ops,
    /// The bf16 path this level runs.
    pub bf16: Bf16Path,
    /// The int8 path this level runs.
    pub int8: I8Path,
}

/// The kernels of one bf16 path.
pub(crate) struct Bf16Entry {
    /// The level whose CPU support the path needs, and whose row operations go with it.
    pub isa: Isa,
    pub name: &'static str,
    pub gemm: GemmBf16,
    pub attention: Attention,
}

/// The kernels of one int8 path.
pub(crate) struct I8Entry {
    /// The level whose CPU support the path needs.
    pub isa: Isa,
    pub name: &'static str,
    pub gemm: GemmI8,
}

/// The int8 path `BERTQA_INT8_PATH` names, if set (read once).
fn path_override() -> Option<I8Path> {
    static PATH: OnceLock<Option<I8Path>> = OnceLock::new();
    *PATH.get_or_init(|| {
        env_path(
            "BERTQA_INT8_PATH",
            &I8Path::ALL,
            I8Path::name,
            |p| (p.is_supported(), p.kernel_name()),
            "int8",
        )
    })
}

/// The path of `all` whose `name` the environment variable `var` holds (any case; `None` when
/// unset or empty), logged.
///
/// # Panics
/// If it names an unknown path or one this CPU lacks.
fn env_path<P: Copy + std::fmt::Debug>(
    var: &str,
    all: &[P],
    name: fn(P) -> &'static str,
    supported_and_kernel: fn(P) -> (bool, &'static str),
    what: &str,
) -> Option<P> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => {
            let want = (all.iter().copied())
                .find(|&p| name(p).eq_ignore_ascii_case(v.trim()))
                .unwrap_or_else(|| {
                    let names: Vec<_> = all.iter().map(|&p| name(p)).collect();
                    panic!("{var}={v:?}: expected one of {}", names.join(", "))
                });
            let (supported, kernel) = supported_and_kernel(want);
            assert!(supported, "{var}={v}: this CPU does not support {want:?}");
            eprintln!("bertqa-kernels: {what} on {kernel} ({var})");
            Some(want)
        }
        _ => None,
    }
}

const REFERENCE_KERNELS: Entry = Entry {
    gemm_name: Reference4x16::NAME,
    gemm_packed: packed_driver::<Reference4x16, KC>,
    gemm_strided: strided_driver::<Reference4x16, KC>,
    attention: attention::run::<Reference4x16, PV_KB>,
    ops: Ops {
        isa: Isa::Reference,
        layer_norm_row: reference::layer_norm,
        add_layer_norm_row: reference::add_layer_norm,
        gelu: reference::gelu,
        masked_softmax: reference::masked_softmax,
        softmax_unnormalized: reference::softmax_unnormalized,
    },
    bf16: Bf16Path::Reference,
    int8: I8Path::Reference,
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::gemm::ukr::{avx2::Avx2_6x16, avx512::Avx512_12x32};
    use crate::ops::{avx2, avx512};

    /// AVX2 + FMA: the fp32 kernels of both AVX2 levels.
    pub(super) static AVX2: Entry = AVX2_F32;

    const AVX2_F32: Entry = Entry {
        gemm_name: Avx2_6x16::NAME,
        gemm_packed: packed_driver::<Avx2_6x16, KC>,
        gemm_strided: strided_driver::<Avx2_6x16, KC>,
        attention: attention::run::<Avx2_6x16, PV_KB>,
        ops: Ops {
            isa: Isa::Avx2,
            layer_norm_row: avx2::layer_norm_row,
            add_layer_norm_row: avx2::add_layer_norm_row,
            gelu: avx2::gelu,
            masked_softmax: avx2::masked_softmax,
            softmax_unnormalized: avx2::softmax_unnormalized,
        },
        bf16: Bf16Path::Avx2Widen,
        int8: I8Path::Avx2Maddubs,
    };

    /// AVX2 + AVX-VNNI: AVX2's fp32 and bf16 kernels, int8 on the 256-bit `vpdpbusd`.
    pub(super) static AVX2_VNNI: Entry = Entry {
        int8: I8Path::AvxVnni,
        ..AVX2_F32
    };

    /// AVX-512F: the fp32 kernels of every AVX-512 level.
    const AVX512_F32: Entry = Entry {
        gemm_name: Avx512_12x32::NAME,
        gemm_packed: packed_driver::<Avx512_12x32, KC>,
        gemm_strided: strided_driver::<Avx512_12x32, KC>,
        attention: attention::run::<Avx512_12x32, PV_KB>,
        ops: Ops {
            isa: Isa::Avx512,
            layer_norm_row: avx512::layer_norm_row,
            add_layer_norm_row: avx512::add_layer_norm_row,
            gelu: avx512::gelu,
            masked_softmax: avx512::masked_softmax,
            softmax_unnormalized: avx512::softmax_unnormalized,
        },
        bf16: Bf16Path::Avx512Widen,
        // Without VNNI: AVX2's `vpmaddubsw` kernel (a 512-bit one would be faster still;
        // Skylake-SP/Cascade Lake-less-VNNI CPUs are the only ones left in this case).
        int8: I8Path::Avx2Maddubs,
    };

    pub(super) static AVX512: Entry = AVX512_F32;

    pub(super) static AVX512_VNNI: Entry = Entry {
        int8: I8Path::Avx512Vnni,
        ..AVX512_F32
    };

    pub(super) static AVX512_BF16: Entry = Entry {
        bf16: Bf16Path::Avx512Bf16,
        int8: I8Path::Avx512Vnni,
        ..AVX512_F32
    };

    pub(super) static BF16_AVX2: Bf16Entry = {
        use crate::gemm::ukr::bf16_avx2::Avx2Bf16Widen_4x16 as K;
        Bf16Entry {
            isa: Isa::Avx2,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };

    pub(super) static BF16_AVX512_WIDEN: Bf16Entry = {
        use crate::gemm::ukr::bf16_avx512::Avx512Bf16Widen_12x32 as K;
        Bf16Entry {
            isa: Isa::Avx512,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };

    pub(super) static BF16_AVX512_BF16: Bf16Entry = {
        use crate::gemm::ukr::bf16_avx512::Avx512Bf16_12x32 as K;
        Bf16Entry {
            isa: Isa::Avx512Bf16,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };

    pub(super) static I8_AVX2: I8Entry = {
        use crate::gemm::ukr::i8_avx2::Avx2I8Widen_4x8 as K;
        I8Entry {
            isa: Isa::Avx2,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    pub(super) static I8_AVX2_MADDUBS: I8Entry = {
        use crate::gemm::ukr::i8_avx2::Avx2I8Maddubs_4x16 as K;
        I8Entry {
            isa: Isa::Avx2,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    pub(super) static I8_AVX_VNNI: I8Entry = {
        use crate::gemm::ukr::i8_avxvnni::AvxVnniI8_6x16 as K;
        I8Entry {
            isa: Isa::Avx2Vnni,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    /// AMX (`tdpbf16ps`), k blocks of `KC_AMX_BF16`.
    pub(super) static BF16_AMX: Bf16Entry = {
        use crate::gemm::ukr::amx::AmxBf16_32x32 as K;
        Bf16Entry {
            isa: Isa::Avx512Bf16,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_AMX_BF16>,
            attention: attention::run::<K, KC_AMX_BF16>,
        }
    };

    /// AMX (`tdpbusd`), k blocks of `KC_AMX`.
    pub(super) static I8_AMX: I8Entry = {
        use crate::gemm::ukr::amx::AmxI8_32x32 as K;
        I8Entry {
            isa: Isa::Avx512Vnni,
            name: K::NAME,
            gemm: i8_driver::<K, KC_AMX>,
        }
    };

    pub(super) static I8_AVX512_VNNI: I8Entry = {
        use crate::gemm::ukr::i8_avx512::Avx512VnniI8_12x32 as K;
        I8Entry {
            isa: Isa::Avx512Vnni,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };
}

const BF16_REFERENCE_KERNELS: Bf16Entry = Bf16Entry {
    isa: Isa::Reference,
    name: ReferenceBf16_4x16::NAME,
    gemm: bf16_driver::<ReferenceBf16_4x16, KC_BF16>,
    attention: attention::run::<ReferenceBf16_4x16, PV_KB>,
};

/// The scalar model of Arm's BFloat16 dot product: the NEON paths' oracle, on every target.
static BF16_REFERENCE_ARM: Bf16Entry = {
    use crate::gemm::ukr::bf16_reference::ReferenceArmBf16_4x16 as K;
    Bf16Entry {
        isa: Isa::Reference,
        name: K::NAME,
        gemm: bf16_driver::<K, KC_BF16>,
        attention: attention::run::<K, PV_KB>,
    }
};

/// The scalar model of AMX `tdpbf16ps`: the AMX path's oracle, on every target, in its blocks.
static BF16_REFERENCE_AMX: Bf16Entry = {
    use crate::gemm::ukr::bf16_reference::ReferenceAmxBf16_4x16 as K;
    Bf16Entry {
        isa: Isa::Reference,
        name: K::NAME,
        gemm: bf16_driver::<K, KC_AMX_BF16>,
        attention: attention::run::<K, KC_AMX_BF16>,
    }
};

const I8_REFERENCE_KERNELS: I8Entry = I8Entry {
    isa: Isa::Reference,
    name: ReferenceI8_4x16::NAME,
    gemm: i8_driver::<ReferenceI8_4x16, KC_I8>,
};

/// The scalar model of `vpmaddubsw`: the `Avx2Maddubs` path's oracle, on every target.
static I8_REFERENCE_MADDUBS: I8Entry = I8Entry {
    isa: Isa::Reference,
    name: ReferenceMaddubsI8_4x16::NAME,
    gemm: i8_driver::<ReferenceMaddubsI8_4x16, KC_I8>,
};

static REFERENCE: Entry = REFERENCE_KERNELS;
static BF16_REFERENCE: Bf16Entry = BF16_REFERENCE_KERNELS;
static I8_REFERENCE: I8Entry = I8_REFERENCE_KERNELS;

/// aarch64: the kernels of each NEON level. Every level starts from the fp32 kernels of
/// [`aarch64::NEON`] and adds the int8 and bf16 paths its features allow.
#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;
    use crate::gemm::ukr::neon::Neon6x16;
    use crate::ops::neon;

    /// Advanced SIMD: the fp32 kernels of every aarch64 level.
    const NEON_F32: Entry = Entry {
        gemm_name: Neon6x16::NAME,
        gemm_packed: packed_driver::<Neon6x16, KC>,
        gemm_strided: strided_driver::<Neon6x16, KC>,
        attention: attention::run::<Neon6x16, PV_KB>,
        ops: Ops {
            isa: Isa::Neon,
            layer_norm_row: neon::layer_norm_row,
            add_layer_norm_row: neon::add_layer_norm_row,
            gelu: neon::gelu,
            masked_softmax: neon::masked_softmax,
            softmax_unnormalized: neon::softmax_unnormalized,
        },
        bf16: Bf16Path::NeonWiden,
        ..REFERENCE_KERNELS
    };

    pub(super) static NEON: Entry = Entry {
        int8: I8Path::NeonWiden,
        ..NEON_F32
    };

    pub(super) static NEON_DOT: Entry = Entry {
        int8: I8Path::NeonSdot,
        ..NEON_F32
    };

    pub(super) static NEON_I8MM: Entry = Entry {
        int8: I8Path::NeonI8mm,
        ..NEON_F32
    };

    /// bf16 on `bfmmla` (16 multiply-adds per instruction, `bfdot`'s 8; see
    /// `gemm/ukr/bf16_neonbf16.rs`).
    pub(super) static NEON_BF16: Entry = Entry {
        bf16: Bf16Path::NeonBfmmla,
        int8: I8Path::NeonI8mm,
        ..NEON_F32
    };

    pub(super) static BF16_NEON_BFMMLA: Bf16Entry = {
        use crate::gemm::ukr::bf16_neonbf16::NeonBfmmla_12x8 as K;
        Bf16Entry {
            isa: Isa::NeonBf16,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };

    pub(super) static BF16_NEON_BFDOT: Bf16Entry = {
        use crate::gemm::ukr::bf16_neonbf16::NeonBfdot_8x8 as K;
        Bf16Entry {
            isa: Isa::NeonBf16,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };

    pub(super) static I8_NEON_WIDEN: I8Entry = {
        use crate::gemm::ukr::i8_neon::NeonI8Widen_8x8 as K;
        I8Entry {
            isa: Isa::Neon,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    pub(super) static I8_NEON_SDOT: I8Entry = {
        use crate::gemm::ukr::i8_neondot::NeonDotI8_8x8 as K;
        I8Entry {
            isa: Isa::NeonDot,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    pub(super) static I8_NEON_I8MM: I8Entry = {
        use crate::gemm::ukr::i8_neoni8mm::NeonI8mmI8_12x8 as K;
        I8Entry {
            isa: Isa::NeonI8mm,
            name: K::NAME,
            gemm: i8_driver::<K, KC_I8>,
        }
    };

    pub(super) static BF16_NEON_WIDEN: Bf16Entry = {
        use crate::gemm::ukr::bf16_neon::NeonBf16Widen_4x16 as K;
        Bf16Entry {
            isa: Isa::Neon,
            name: K::NAME,
            gemm: bf16_driver::<K, KC_BF16>,
            attention: attention::run::<K, PV_KB>,
        }
    };
}

/// Elsewhere (neither x86-64 nor aarch64), and on each architecture for the other's levels
/// and paths: never supported there (their `isa` is not), so the entry points, which assert
/// support first, never call what these hold.
#[allow(dead_code)]
mod unavailable {
    use super::*;

    /// A level this architecture never supports: the other architecture's highest (the x86
    /// levels are false on aarch64 and elsewhere, the aarch64 ones on x86-64).
    #[cfg(target_arch = "x86_64")]
    const NEVER: Isa = Isa::NeonBf16;
    #[cfg(not(target_arch = "x86_64"))]
    const NEVER: Isa = Isa::Avx512Bf16;

    pub(super) static UNAVAILABLE: Entry = Entry {
        gemm_name: "unavailable",
        ..REFERENCE_KERNELS
    };
    pub(super) static BF16_UNAVAILABLE: Bf16Entry = Bf16Entry {
        isa: NEVER,
        name: "unavailable",
        ..BF16_REFERENCE_KERNELS
    };
    pub(super) static I8_UNAVAILABLE: I8Entry = I8Entry {
        isa: NEVER,
        name: "unavailable",
        ..I8_REFERENCE_KERNELS
    };
}

/// The kernels of `isa`.
pub(crate) fn of(isa: Isa) -> &'static Entry {
    match isa {
        Isa::Reference => &REFERENCE,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &x86::AVX2,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Vnni => &x86::AVX2_VNNI,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &x86::AVX512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => &x86::AVX512_VNNI,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Bf16 => &x86::AVX512_BF16,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => &aarch64::NEON,
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDot => &aarch64::NEON_DOT,
        #[cfg(target_arch = "aarch64")]
        Isa::NeonI8mm => &aarch64::NEON_I8MM,
        #[cfg(target_arch = "aarch64")]
        Isa::NeonBf16 => &aarch64::NEON_BF16,
        #[allow(unreachable_patterns)]
        _ => &unavailable::UNAVAILABLE,
    }
}

/// The kernels of a bf16 path.
pub(crate) fn bf16(path: Bf16Path) -> &'static Bf16Entry {
    match path {
        Bf16Path::Reference => &BF16_REFERENCE,
        Bf16Path::ReferenceArm => &BF16_REFERENCE_ARM,
        Bf16Path::ReferenceAmx => &BF16_REFERENCE_AMX,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx2Widen => &x86::BF16_AVX2,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx512Widen => &x86::BF16_AVX512_WIDEN,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx512Bf16 => &x86::BF16_AVX512_BF16,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Amx => &x86::BF16_AMX,
        #[cfg(target_arch = "aarch64")]
        Bf16Path::NeonWiden => &aarch64::BF16_NEON_WIDEN,
        #[cfg(target_arch = "aarch64")]
        Bf16Path::NeonBfdot => &aarch64::BF16_NEON_BFDOT,
        #[cfg(target_arch = "aarch64")]
        Bf16Path::NeonBfmmla => &aarch64::BF16_NEON_BFMMLA,
        #[allow(unreachable_patterns)]
        _ => &unavailable::BF16_UNAVAILABLE,
    }
}

/// The kernels of an int8 path.
pub(crate) fn int8(path: I8Path) -> &'static I8Entry {
    match path {
        I8Path::Reference => &I8_REFERENCE,
        I8Path::ReferenceMaddubs => &I8_REFERENCE_MADDUBS,
        #[cfg(target_arch = "x86_64")]
        I8Path::Avx2Widen => &x86::I8_AVX2,
        #[cfg(target_arch = "x86_64")]
        I8Path::Avx2Maddubs => &x86::I8_AVX2_MADDUBS,
        #[cfg(target_arch = "x86_64")]
        I8Path::AvxVnni => &x86::I8_AVX_VNNI,
        #[cfg(target_arch = "x86_64")]
        I8Path::Avx512Vnni => &x86::I8_AVX512_VNNI,
        #[cfg(target_arch = "x86_64")]
        I8Path::Amx => &x86::I8_AMX,
        #[cfg(target_arch = "aarch64")]
        I8Path::NeonWiden => &aarch64::I8_NEON_WIDEN,
        #[cfg(target_arch = "aarch64")]
        I8Path::NeonSdot => &aarch64::I8_NEON_SDOT,
        #[cfg(target_arch = "aarch64")]
        I8Path::NeonI8mm => &aarch64::I8_NEON_I8MM,
        #[allow(unreachable_patterns)]
        _ => &unavailable::I8_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each supported level's entry names an fp32 micro-kernel of its own width class and
    /// paths that need no more than the level; each path's entry is its own.
    #[test]
    fn every_level_and_path_has_its_entry() {
        for isa in Isa::supported() {
            let k = of(isa);
            assert!(k.gemm_name.starts_with("gemm_ukr_"), "{}", k.gemm_name);
            assert!(k.bf16.isa() <= isa && k.int8.isa() <= isa, "{isa}");
            assert!(k.ops.isa <= isa && k.ops.isa.is_supported(), "{isa}");
            assert!(k.bf16.is_supported() && k.int8.is_supported(), "{isa}");
        }
        assert_eq!(of(Isa::Reference).gemm_name, Reference4x16::NAME);
        // vpmaddubsw's paths pack 7-bit weights and take 8-bit activations against them, or
        // 7-bit activations against 8-bit weights; every other path packs 8-bit weights and
        // takes 8-bit activations against any. No level runs the scalar model.
        for path in I8Path::ALL {
            let maddubs = matches!(path, I8Path::Avx2Maddubs | I8Path::ReferenceMaddubs);
            let (w, a8) = if maddubs { (W7, U7) } else { (W8, U8) };
            assert_eq!(path.weight_levels(), w, "{path:?}");
            assert_eq!(path.activation_levels(path.weight_levels()), U8, "{path:?}");
            assert_eq!(path.activation_levels(W8), a8, "{path:?}");
            // No int16 pair sum of vpmaddubsw can saturate at the levels a path pairs.
            if maddubs {
                for wl in [W7, W8] {
                    let pair = 2 * path.activation_levels(wl) as i32 * (wl as i32 + 1);
                    assert!(pair <= i16::MAX as i32, "{path:?} {wl}: {pair}");
                }
            }
        }
        for isa in Isa::ALL {
            assert_ne!(of(isa).int8, I8Path::ReferenceMaddubs, "{isa}");
        }
        for path in Bf16Path::ALL {
            assert_eq!(bf16(path).name, path.kernel_name());
            // A supported path has kernels of its own (the other architecture's never is).
            if path.is_supported() {
                assert!(path.kernel_name().starts_with("gemm_ukr_"), "{path:?}");
            }
        }
        for path in I8Path::ALL {
            assert_eq!(I8Path::from_name(path.name()), Some(path));
            // A path and its oracle quantize alike, so their results compare bit for bit.
            assert_eq!(
                path.weight_levels(),
                path.oracle().weight_levels(),
                "{path:?}"
            );
            for wl in [W7, W8] {
                assert_eq!(
                    path.activation_levels(wl),
                    path.oracle().activation_levels(wl),
                    "{path:?}"
                );
            }
            assert_eq!(path.oracle().isa(), Isa::Reference);
            assert_eq!(int8(path).name, path.kernel_name());
            assert!(
                path.kernel_name() != "unavailable" || !path.is_supported(),
                "{path:?}"
            );
        }
    }

    /// Every aarch64 level runs the NEON fp32 kernels, and NEON alone the widening bf16 path.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn neon_levels_run_the_neon_kernels() {
        use crate::gemm::ukr::neon::Neon6x16;
        for isa in Isa::supported().into_iter().filter(|&i| i >= Isa::Neon) {
            assert_eq!(of(isa).gemm_name, Neon6x16::NAME, "{isa}");
        }
        assert_eq!(of(Isa::Neon).bf16, Bf16Path::NeonWiden);
        assert_eq!(
            Bf16Path::NeonWiden.kernel_name(),
            "gemm_ukr_neon_bf16widen_4x16"
        );
        assert_eq!(Bf16Path::NeonWiden.is_supported(), Isa::Neon.is_supported());
    }
}
