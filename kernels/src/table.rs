//! The kernel table: which kernels each instruction-set level and each low-precision path
//! runs, in one place. Every public entry point (`gemm_packed`, `gemm_bf16`, `gemm_i8_*`,
//! `attention*`, the row operations of [`crate::ops`]) looks its level or path up here once per
//! call and calls what the entry holds; none of them matches on an ISA itself.
//!
//! * [`of`]`(isa)` — the fp32 kernels of a level (GEMM drivers, attention, row operations) and
//!   the bf16 and int8 paths that level runs;
//! * [`bf16`]`(path)` — a bf16 path's GEMM and attention;
//! * [`int8`]`(path)` — an int8 path's GEMM.
//!
//! Each GEMM entry is a whole driver monomorphised for one micro-kernel
//! (`packed_driver::<Avx512_12x32>`), so the only indirection is one call per product; the
//! drivers assert at compile time that the kernel's tile fits the panels (`PANEL % NR == 0`,
//! `KC % K_GROUP == 0`, in `gemm::driver_raw`) and attention that its MR fits the probability
//! strips (`MR <= MAX_MR`), for every kernel named here.
//!
//! A new ISA level is a new `Isa` variant (`dispatch.rs`: its name and CPU check), its kernel
//! files, and one entry here; a new precision path is its enum, its kernel files and a table
//! of its own here (docs/kernels.md lists the files).

use crate::attention::{self, AttentionScratch, AttentionShape};
use crate::dispatch::Isa;
use crate::gemm::bf16::{bf16_driver, Bf16Path, Bf16Scratch, PackedBf16};
use crate::gemm::int8::{i8_driver, I8Path, PackedI8};
use crate::gemm::pack::AlignedBuf;
use crate::gemm::ukr::bf16_reference::ReferenceBf16_4x16;
use crate::gemm::ukr::i8_reference::ReferenceI8_4x16;
use crate::gemm::ukr::reference::Reference4x16;
use crate::gemm::ukr::MicroKernel;
use crate::gemm::{packed_driver, strided_driver, Epi, MatMut, MatRef, PackedMatrix};
use crate::ops::reference;

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
/// Attention: `(ISA of the row operations, qkv, shape, keep, ctx, scratch)`.
pub(crate) type Attention =
    fn(Isa, &[f32], &AttentionShape<'_>, &[bool], &mut [f32], &mut AttentionScratch);
/// The bf16 GEMM: `(scratch for rounded A, m, A, B, C, epilogue)`.
pub(crate) type GemmBf16 = fn(&mut Bf16Scratch, usize, &[f32], &PackedBf16, &mut [f32], Epi<'_>);
/// The int8 GEMM: `(m, quantized A rows, their stride, B, C, epilogue)`.
pub(crate) type GemmI8 = fn(usize, &[u8], usize, &PackedI8, &mut [f32], Epi<'_>);

/// LayerNorm of one row (see [`Ops`]).
pub(crate) type RowNorm = unsafe fn(&mut [f32], &[f32], &[f32], f32);
/// LayerNorm of one row plus a residual row (see [`Ops`]).
pub(crate) type RowAddNorm = unsafe fn(&mut [f32], &[f32], &[f32], &[f32], f32);

/// The row operations of a level. `unsafe`: the SIMD ones may only be called on a CPU that
/// has their level (the callers in [`crate::ops`] assert it first); the slices are as the
/// safe functions of [`crate::ops`] document.
#[derive(Clone, Copy)]
pub(crate) struct Ops {
    /// LayerNorm of one row: `(row, γ, β, ε)`.
    pub layer_norm_row: RowNorm,
    /// LayerNorm of one row plus its residual: `(row, residual, γ, β, ε)`.
    pub add_layer_norm_row: RowAddNorm,
    /// Exact GELU in place.
    pub gelu: unsafe fn(&mut [f32]),
    /// Masked, scaled softmax of one row.
    pub masked_softmax: unsafe fn(&mut [f32], f32, &[bool]),
    /// `exp(x − max)` of one row, returning the sum.
    pub softmax_unnormalized: unsafe fn(&mut [f32]) -> f32,
}

/// The kernels of one ISA level.
pub(crate) struct Kernels {
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
pub(crate) struct Bf16Kernels {
    /// The level whose CPU support the path needs, and whose fp32 kernels (softmax,
    /// epilogues) go with it.
    pub isa: Isa,
    pub name: &'static str,
    pub gemm: GemmBf16,
    pub attention: Attention,
}

/// The kernels of one int8 path.
pub(crate) struct I8Kernels {
    /// The level whose CPU support the path needs.
    pub isa: Isa,
    pub name: &'static str,
    pub gemm: GemmI8,
}

const REFERENCE_KERNELS: Kernels = Kernels {
    gemm_name: Reference4x16::NAME,
    gemm_packed: packed_driver::<Reference4x16>,
    gemm_strided: strided_driver::<Reference4x16>,
    attention: attention::run::<Reference4x16>,
    ops: Ops {
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

    pub(super) static AVX2: Kernels = Kernels {
        gemm_name: Avx2_6x16::NAME,
        gemm_packed: packed_driver::<Avx2_6x16>,
        gemm_strided: strided_driver::<Avx2_6x16>,
        attention: attention::run::<Avx2_6x16>,
        ops: Ops {
            layer_norm_row: avx2::layer_norm_row,
            add_layer_norm_row: avx2::add_layer_norm_row,
            gelu: avx2::gelu,
            masked_softmax: avx2::masked_softmax,
            softmax_unnormalized: avx2::softmax_unnormalized,
        },
        bf16: Bf16Path::Avx2Widen,
        int8: I8Path::Avx2Widen,
    };

    /// AVX-512F: the fp32 kernels of every AVX-512 level.
    const AVX512_F32: Kernels = Kernels {
        gemm_name: Avx512_12x32::NAME,
        gemm_packed: packed_driver::<Avx512_12x32>,
        gemm_strided: strided_driver::<Avx512_12x32>,
        attention: attention::run::<Avx512_12x32>,
        ops: Ops {
            layer_norm_row: avx512::layer_norm_row,
            add_layer_norm_row: avx512::add_layer_norm_row,
            gelu: avx512::gelu,
            masked_softmax: avx512::masked_softmax,
            softmax_unnormalized: avx512::softmax_unnormalized,
        },
        bf16: Bf16Path::Avx512Widen,
        // Without VNNI the 512-bit widening adds nothing over AVX2's `vpmaddwd`.
        int8: I8Path::Avx2Widen,
    };

    pub(super) static AVX512: Kernels = AVX512_F32;

    pub(super) static AVX512_VNNI: Kernels = Kernels {
        int8: I8Path::Avx512Vnni,
        ..AVX512_F32
    };

    pub(super) static AVX512_BF16: Kernels = Kernels {
        bf16: Bf16Path::Avx512Bf16,
        int8: I8Path::Avx512Vnni,
        ..AVX512_F32
    };

    pub(super) static BF16_AVX2: Bf16Kernels = {
        use crate::gemm::ukr::bf16_avx2::Avx2Bf16Widen_4x16 as K;
        Bf16Kernels {
            isa: Isa::Avx2,
            name: K::NAME,
            gemm: bf16_driver::<K>,
            attention: attention::run::<K>,
        }
    };

    pub(super) static BF16_AVX512_WIDEN: Bf16Kernels = {
        use crate::gemm::ukr::bf16_avx512::Avx512Bf16Widen_12x32 as K;
        Bf16Kernels {
            isa: Isa::Avx512,
            name: K::NAME,
            gemm: bf16_driver::<K>,
            attention: attention::run::<K>,
        }
    };

    pub(super) static BF16_AVX512_BF16: Bf16Kernels = {
        use crate::gemm::ukr::bf16_avx512::Avx512Bf16_12x32 as K;
        Bf16Kernels {
            isa: Isa::Avx512Bf16,
            name: K::NAME,
            gemm: bf16_driver::<K>,
            attention: attention::run::<K>,
        }
    };

    pub(super) static I8_AVX2: I8Kernels = {
        use crate::gemm::ukr::i8_avx2::Avx2I8Widen_4x8 as K;
        I8Kernels {
            isa: Isa::Avx2,
            name: K::NAME,
            gemm: i8_driver::<K>,
        }
    };

    pub(super) static I8_AVX512_VNNI: I8Kernels = {
        use crate::gemm::ukr::i8_avx512::Avx512VnniI8_12x32 as K;
        I8Kernels {
            isa: Isa::Avx512Vnni,
            name: K::NAME,
            gemm: i8_driver::<K>,
        }
    };
}

const BF16_REFERENCE_KERNELS: Bf16Kernels = Bf16Kernels {
    isa: Isa::Reference,
    name: ReferenceBf16_4x16::NAME,
    gemm: bf16_driver::<ReferenceBf16_4x16>,
    attention: attention::run::<ReferenceBf16_4x16>,
};

/// The scalar model of Arm's BFloat16 dot product: the NEON paths' oracle, on every target.
static BF16_REFERENCE_ARM: Bf16Kernels = {
    use crate::gemm::ukr::bf16_reference::ReferenceArmBf16_4x16 as K;
    Bf16Kernels {
        isa: Isa::Reference,
        name: K::NAME,
        gemm: bf16_driver::<K>,
        attention: attention::run::<K>,
    }
};

const I8_REFERENCE_KERNELS: I8Kernels = I8Kernels {
    isa: Isa::Reference,
    name: ReferenceI8_4x16::NAME,
    gemm: i8_driver::<ReferenceI8_4x16>,
};

static REFERENCE: Kernels = REFERENCE_KERNELS;
static BF16_REFERENCE: Bf16Kernels = BF16_REFERENCE_KERNELS;
static I8_REFERENCE: I8Kernels = I8_REFERENCE_KERNELS;

/// aarch64: the kernels of each NEON level. Every level starts from the fp32 kernels of
/// [`aarch64::NEON`] and adds the int8 and bf16 paths its features allow.
#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;

    /// Advanced SIMD: the fp32 kernels of every aarch64 level.
    const NEON_F32: Kernels = Kernels {
        ..REFERENCE_KERNELS
    };

    pub(super) static NEON: Kernels = NEON_F32;

    pub(super) static NEON_DOT: Kernels = Kernels { ..NEON_F32 };

    pub(super) static NEON_I8MM: Kernels = Kernels { ..NEON_F32 };

    /// bf16 on `bfmmla` (16 multiply-adds per instruction, `bfdot`'s 8; see
    /// `gemm/ukr/bf16_neon.rs`).
    pub(super) static NEON_BF16: Kernels = Kernels {
        bf16: Bf16Path::NeonBfmmla,
        ..NEON_F32
    };

    pub(super) static BF16_NEON_BFMMLA: Bf16Kernels = {
        use crate::gemm::ukr::bf16_neon::NeonBfmmla_12x8 as K;
        Bf16Kernels {
            isa: Isa::NeonBf16,
            name: K::NAME,
            gemm: bf16_driver::<K>,
            attention: attention::run::<K>,
        }
    };

    pub(super) static BF16_NEON_BFDOT: Bf16Kernels = {
        use crate::gemm::ukr::bf16_neon::NeonBfdot_8x8 as K;
        Bf16Kernels {
            isa: Isa::NeonBf16,
            name: K::NAME,
            gemm: bf16_driver::<K>,
            attention: attention::run::<K>,
        }
    };
}

/// Elsewhere (neither x86-64 nor aarch64), and on each architecture for the other's levels
/// and paths: never supported there (their `isa` is not), so the entry points, which assert
/// support first, never call what these hold.
#[allow(dead_code)]
mod unavailable {
    use super::*;

    pub(super) static UNAVAILABLE: Kernels = Kernels {
        gemm_name: "unavailable",
        ..REFERENCE_KERNELS
    };
    pub(super) static BF16_UNAVAILABLE: Bf16Kernels = Bf16Kernels {
        // A level of the other architecture (never supported here: the x86 entries'
        // Avx512Bf16 would be on an x86 CPU, for the NEON paths).
        isa: if cfg!(target_arch = "x86_64") {
            Isa::NeonBf16
        } else {
            Isa::Avx512Bf16
        },
        name: "unavailable",
        ..BF16_REFERENCE_KERNELS
    };
    pub(super) static I8_UNAVAILABLE: I8Kernels = I8Kernels {
        isa: Isa::Avx512Vnni,
        name: "unavailable",
        ..I8_REFERENCE_KERNELS
    };
}

/// The kernels of `isa`.
pub(crate) fn of(isa: Isa) -> &'static Kernels {
    match isa {
        Isa::Reference => &REFERENCE,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &x86::AVX2,
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
pub(crate) fn bf16(path: Bf16Path) -> &'static Bf16Kernels {
    match path {
        Bf16Path::Reference => &BF16_REFERENCE,
        Bf16Path::ReferenceArm => &BF16_REFERENCE_ARM,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx2Widen => &x86::BF16_AVX2,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx512Widen => &x86::BF16_AVX512_WIDEN,
        #[cfg(target_arch = "x86_64")]
        Bf16Path::Avx512Bf16 => &x86::BF16_AVX512_BF16,
        #[cfg(target_arch = "aarch64")]
        Bf16Path::NeonBfdot => &aarch64::BF16_NEON_BFDOT,
        #[cfg(target_arch = "aarch64")]
        Bf16Path::NeonBfmmla => &aarch64::BF16_NEON_BFMMLA,
        #[allow(unreachable_patterns)]
        _ => &unavailable::BF16_UNAVAILABLE,
    }
}

/// The kernels of an int8 path.
pub(crate) fn int8(path: I8Path) -> &'static I8Kernels {
    match path {
        I8Path::Reference => &I8_REFERENCE,
        #[cfg(target_arch = "x86_64")]
        I8Path::Avx2Widen => &x86::I8_AVX2,
        #[cfg(target_arch = "x86_64")]
        I8Path::Avx512Vnni => &x86::I8_AVX512_VNNI,
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
            assert!(k.bf16.isa() <= isa && k.int8_isa() <= isa, "{isa}");
            assert!(k.bf16.is_supported() && k.int8.is_supported(), "{isa}");
        }
        assert_eq!(of(Isa::Reference).gemm_name, Reference4x16::NAME);
        for path in Bf16Path::ALL {
            assert_eq!(bf16(path).name, path.kernel_name());
            // A supported path has kernels of its own (the other architecture's never is).
            if path.is_supported() {
                assert!(path.kernel_name().starts_with("gemm_ukr_"), "{path:?}");
            }
        }
        for path in I8Path::ALL {
            assert_eq!(int8(path).name, path.kernel_name());
        }
    }

    impl Kernels {
        fn int8_isa(&self) -> Isa {
            int8(self.int8).isa
        }
    }
}
