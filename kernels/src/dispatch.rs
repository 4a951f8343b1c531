//! Which instruction set the kernels use: detected once, overridable by `BERTQA_ISA`.
//!
//! [`isa()`] is resolved on first use and cached in a [`OnceLock`]; every public kernel looks
//! its level up in the kernel table (`table.rs`) once per call and runs what the entry holds — a
//! whole driver monomorphised for one micro-kernel (`packed_driver::<Avx512_12x32>`), so no
//! feature check or indirection sits in a hot loop.
//!
//! `BERTQA_ISA=reference|avx2|avx2vnni|avx512|avx512vnni|avx512bf16` (x86-64) or
//! `neon|neondot|neoni8mm|neonbf16` (aarch64) forces a level, for testing the lower paths on a machine that
//! has the higher ones. Asking for a level the CPU lacks panics with a clear message (running
//! AVX-512 code on a CPU without it would be undefined behaviour). The choice is logged once to
//! stderr when `BERTQA_ISA` is set.

use std::fmt;
use std::sync::OnceLock;

/// An instruction-set level with its own set of kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable scalar Rust: the fallback and the test oracle.
    Reference,
    /// x86-64 AVX2 + FMA (256-bit).
    Avx2,
    /// [`Isa::Avx2`] plus AVX-VNNI (the VEX-encoded 256-bit `vpdpbusd`): AVX2's fp32 and bf16
    /// kernels, the int8 GEMM on the 8-bit dot-product instruction (Intel Alder Lake and later
    /// client cores, Sierra Forest and other E-core Xeons; Zen 5 and Sapphire Rapids have it
    /// too but run their higher AVX-512 level). Not a subset of [`Isa::Avx512`] (Skylake-X
    /// has AVX-512 without it) nor a superset: the order of `ALL` is a preference, and every
    /// CPU that has both prefers its AVX-512 level.
    Avx2Vnni,
    /// x86-64 AVX-512F (512-bit).
    Avx512,
    /// AVX-512F/BW plus AVX512_VNNI (`vpdpbusd`): the fp32 and bf16 kernels of
    /// [`Isa::Avx512`], and the int8 GEMM on the 8-bit dot-product instruction (Cascade Lake,
    /// Ice Lake).
    Avx512Vnni,
    /// [`Isa::Avx512Vnni`] plus AVX512_BF16 (`vdpbf16ps`): the bf16 GEMM on the bf16
    /// dot-product instruction instead of widening to fp32 (Cooper Lake, Sapphire Rapids, Zen 4
    /// and 5 — every CPU with AVX512_BF16 also has AVX512_VNNI).
    Avx512Bf16,
    /// aarch64 Advanced SIMD (NEON, part of every ARMv8-A CPU): the fp32 kernels on `fmla`
    /// (Cortex-A72, Raspberry Pi 4, Graviton 1).
    Neon,
    /// [`Isa::Neon`] plus FEAT_DotProd (`sdot`): the int8 GEMM on the 4-way 8-bit dot product
    /// (Neoverse N1: Graviton 2, Ampere Altra; Apple M1).
    NeonDot,
    /// [`Isa::NeonDot`] plus FEAT_I8MM (`smmla`/`usmmla`): the int8 GEMM on the 2×8·8×2 matrix
    /// multiply-accumulate.
    NeonI8mm,
    /// [`Isa::NeonI8mm`] plus FEAT_BF16 (`bfmmla`, `bfdot`): the bf16 GEMM on the bf16 matrix
    /// multiply-accumulate (Neoverse V1/V2/N2: Graviton 3 and 4, Google Axion; Apple M2 and
    /// later — every CPU with FEAT_BF16 so far also has FEAT_I8MM).
    NeonBf16,
}

impl Isa {
    /// Every level, lowest first (x86-64's, then aarch64's; a CPU supports levels of one
    /// architecture only, so "lowest first" holds within each).
    pub const ALL: [Isa; 10] = [
        Isa::Reference,
        Isa::Avx2,
        Isa::Avx2Vnni,
        Isa::Avx512,
        Isa::Avx512Vnni,
        Isa::Avx512Bf16,
        Isa::Neon,
        Isa::NeonDot,
        Isa::NeonI8mm,
        Isa::NeonBf16,
    ];

    /// The name used by `BERTQA_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Reference => "reference",
            Isa::Avx2 => "avx2",
            Isa::Avx2Vnni => "avx2vnni",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Avx512Bf16 => "avx512bf16",
            Isa::Neon => "neon",
            Isa::NeonDot => "neondot",
            Isa::NeonI8mm => "neoni8mm",
            Isa::NeonBf16 => "neonbf16",
        }
    }

    /// Parses a `BERTQA_ISA` value.
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this CPU can run this level's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Reference => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Vnni => Isa::Avx2.is_supported() && is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bf16 => {
                Isa::Avx512Vnni.is_supported() && is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDot => {
                Isa::Neon.is_supported() && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm => {
                Isa::NeonDot.is_supported() && std::arch::is_aarch64_feature_detected!("i8mm")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonBf16 => {
                Isa::NeonI8mm.is_supported() && std::arch::is_aarch64_feature_detected!("bf16")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The best level this CPU supports.
    pub fn detect() -> Isa {
        Isa::ALL
            .into_iter()
            .rev()
            .find(|i| i.is_supported())
            .unwrap_or(Isa::Reference)
    }

    /// Every level this CPU supports, lowest first.
    pub fn supported() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
    }

    /// The architecture whose CPUs may have this level, as `std::env::consts::ARCH` names it
    /// (`"x86_64"`, `"aarch64"`); `None` for [`Isa::Reference`], which runs everywhere.
    pub fn arch(self) -> Option<&'static str> {
        match self {
            Isa::Reference => None,
            Isa::Avx2 | Isa::Avx2Vnni | Isa::Avx512 | Isa::Avx512Vnni | Isa::Avx512Bf16 => {
                Some("x86_64")
            }
            Isa::Neon | Isa::NeonDot | Isa::NeonI8mm | Isa::NeonBf16 => Some("aarch64"),
        }
    }

    /// The levels of the architecture this was built for that this CPU lacks, lowest first:
    /// the levels whose kernels the tests skip here.
    pub fn unsupported_here() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|i| i.arch() == Some(std::env::consts::ARCH) && !i.is_supported())
            .collect()
    }
}

/// Prints, once per process and straight to stderr (past the test harness's capture), every
/// level of this architecture the CPU lacks — the levels whose kernels the library's unit
/// tests skip here — prefixed `SKIPPED` (the test binaries' helper, `tests/common/mod.rs`,
/// adds the bf16 and int8 paths of those levels).
#[cfg(test)]
pub(crate) fn report_skipped_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let lacking = Isa::unsupported_here();
        let text = if lacking.is_empty() {
            format!(
                "[bertqa-kernels unit tests] SKIPPED nothing: this CPU has every {} level\n",
                std::env::consts::ARCH
            )
        } else {
            lacking
                .iter()
                .map(|i| format!("[bertqa-kernels unit tests] SKIPPED {i}: CPU lacks it\n"))
                .collect()
        };
        // (A failed write to stderr is nothing a test can act on.)
        let _ = std::io::stderr().write_all(text.as_bytes());
    });
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the CPU is Intel's (CPUID vendor `GenuineIntel`), read once; false off x86-64.
/// Intel's AVX512_BF16 cores run `vdpbf16ps` at half the rate of their fp32 FMAs (measured:
/// 101.8 against 201.0 GFLOP/s per core on a Sapphire-Rapids-class Xeon, `kernels/examples/
/// peaks`), AMD's Zen 4 and 5 at twice it, so the bf16 path a level runs depends on it
/// (`Bf16Path::for_isa`).
pub fn cpu_is_intel() -> bool {
    static INTEL: OnceLock<bool> = OnceLock::new();
    *INTEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // CPUID leaf 0 exists on every x86-64 CPU (a safe intrinsic there).
            let r = std::arch::x86_64::__cpuid(0);
            // The vendor string is EBX, EDX, ECX: "Genu" "ineI" "ntel".
            (r.ebx, r.edx, r.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

static ISA: OnceLock<Isa> = OnceLock::new();

/// The level every kernel uses: the best this CPU supports, or the one `BERTQA_ISA` names.
///
/// # Panics
/// On first use, if `BERTQA_ISA` names an unknown level or one this CPU lacks.
pub fn isa() -> Isa {
    *ISA.get_or_init(|| match std::env::var("BERTQA_ISA") {
        Ok(v) if !v.trim().is_empty() => {
            let want = Isa::from_name(&v).unwrap_or_else(|| {
                panic!(
                    "BERTQA_ISA={v:?}: expected one of {}",
                    Isa::ALL.map(Isa::name).join(", ")
                )
            });
            assert!(
                want.is_supported(),
                "BERTQA_ISA={v}: this CPU does not support {want} (best: {})",
                Isa::detect()
            );
            eprintln!("bertqa-kernels: using {want} kernels (BERTQA_ISA)");
            want
        }
        _ => Isa::detect(),
    })
}

/// Whether this CPU and OS can run AMX int8 tiles (`tdpbusd`): [`amx_tiles`] and CPUID's
/// AMX-INT8. (`BERTQA_INT8_PATH=avx512vnni` runs the VNNI path on such a CPU, to compare.)
pub fn amx_int8() -> bool {
    amx_tiles().is_some_and(|edx| edx >> 25 & 1 == 1)
}

/// Whether this CPU and OS can run AMX bf16 tiles (`tdpbf16ps`): [`amx_tiles`] and CPUID's
/// AMX-BF16. (`BERTQA_BF16_PATH=avx512widen` runs the widening path on such a CPU, to compare.)
pub fn amx_bf16() -> bool {
    amx_tiles().is_some_and(|edx| edx >> 22 & 1 == 1)
}

/// CPUID leaf 7's EDX (which names the AMX instruction families) if this process may use the
/// AMX tiles, checked once: CPUID reports AMX-TILE, the OS has enabled the tile state in XCR0
/// (XTILECFG and XTILEDATA, bits 17 and 18), and — Linux 5.16 and later keep the 8 KiB of tile
/// data off until a process asks — `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`
/// granted this process the tile data. None off x86-64 Linux, or if any step says no.
fn amx_tiles() -> Option<u32> {
    static AMX: OnceLock<Option<u32>> = OnceLock::new();
    *AMX.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            use std::arch::x86_64::{__cpuid, __cpuid_count};
            // CPUID leaves 0, 1 and 7 exist on every x86-64 CPU that reports max leaf ≥ 7.
            if __cpuid(0).eax < 7 {
                return None;
            }
            let osxsave = __cpuid(1).ecx >> 27 & 1 == 1;
            let edx = __cpuid_count(7, 0).edx;
            let tile = edx >> 24 & 1 == 1;
            if !(osxsave && tile) {
                return None;
            }
            // SAFETY: XGETBV with ECX = 0 is available when CPUID reports OSXSAVE (checked
            // above); it reads XCR0 and touches nothing else.
            let xcr0 = unsafe { std::arch::x86_64::_xgetbv(0) };
            if xcr0 >> 17 & 3 != 3 {
                return None;
            }
            const SYS_ARCH_PRCTL: i64 = 158;
            const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
            const XFEATURE_XTILEDATA: i64 = 18;
            let ret: i64;
            // SAFETY: the arch_prctl system call with ARCH_REQ_XCOMP_PERM only asks the kernel
            // to allow this process the tile-data state; it reads no memory and returns 0 or a
            // negative errno in RAX. `syscall` clobbers RCX and R11 (declared) and nothing else.
            unsafe {
                std::arch::asm!(
                    "syscall",
                    inlateout("rax") SYS_ARCH_PRCTL => ret,
                    in("rdi") ARCH_REQ_XCOMP_PERM,
                    in("rsi") XFEATURE_XTILEDATA,
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack)
                )
            };
            (ret == 0).then_some(edx)
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the first `/proc/cpuinfo` line starting with `name`, if there is one.
    #[cfg(target_arch = "x86_64")]
    fn cpuinfo_field(name: &str) -> Option<String> {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let value = info
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.split(':').nth(1)))?;
        Some(value.to_owned())
    }

    /// The CPUID vendor read against the kernel's own (`/proc/cpuinfo`), where there is one.
    /// x86-64 only: elsewhere the answer is false by definition, and an aarch64 build under
    /// qemu-user reads the x86 host's cpuinfo.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn cpu_vendor_matches_proc_cpuinfo() {
        let Some(vendor) = cpuinfo_field("vendor_id") else {
            return;
        };
        assert_eq!(
            cpu_is_intel(),
            vendor.trim() == "GenuineIntel",
            "{vendor:?}"
        );
    }

    /// AMX is used only where the kernel lists the tile flags for the CPU (/proc/cpuinfo's
    /// `amx_tile` and `amx_int8`; Linux shows them only with the OS's tile support). The
    /// converse may fail legitimately (a kernel before 5.16 that cannot grant the tile data),
    /// so only this direction is checked; on this project's Sapphire-Rapids-class Xeon both
    /// hold.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn amx_only_where_proc_cpuinfo_lists_it() {
        let Some(flags) = cpuinfo_field("flags") else {
            return;
        };
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        if amx_int8() {
            assert!(
                has("amx_tile") && has("amx_int8"),
                "AMX int8 used, not in {flags}"
            );
        }
        if amx_bf16() {
            assert!(
                has("amx_tile") && has("amx_bf16"),
                "AMX bf16 used, not in {flags}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for i in Isa::ALL {
            assert_eq!(Isa::from_name(i.name()), Some(i));
        }
        assert_eq!(Isa::from_name("AVX512"), Some(Isa::Avx512));
        assert_eq!(Isa::from_name("sse"), None);
        assert!(Isa::Reference.is_supported());
        assert!(isa().is_supported());
    }
}
