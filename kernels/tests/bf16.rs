//! bf16 GEMM: every path this CPU has against the scalar model of its instruction's arithmetic
//! (`Bf16Path::oracle`), and both scalar models against an f64 product of the bf16-rounded
//! operands.
//!
//! * x86-64: the widening paths (AVX-512F, AVX2: bf16 → fp32 by a shift, then FMAs, odd k
//!   first) must equal the `vdpbf16ps` model (`Bf16Path::Reference`) **bit for bit**: their
//!   arithmetic is the same rounding sequence. The `vdpbf16ps` path must equal it bit for bit
//!   too: the model follows the arithmetic of Intel's pseudo-code for the instruction (odd
//!   product first, each sum rounded to nearest even), which AMD Zen 5 implements exactly
//!   (this test, docs/numerics.md).
//! * x86-64 with AMX-BF16: the `tdpbf16ps` path must equal its model
//!   (`Bf16Path::ReferenceAmx`: per instruction, even and odd products in two fused chains from
//!   zero, then added; denormals flushed; see `gemm::ukr::bf16_reference::amx_chunk`) **bit for
//!   bit**, on ordinary and on edge data.
//! * aarch64: the `bfdot` and `bfmmla` paths must equal the model of Arm's BFloat16 dot product
//!   (`Bf16Path::ReferenceArm`: products, pair sums and accumulations rounded to odd, denormals
//!   flushed; see `gemm::ukr::bf16_reference`) **bit for bit**, on ordinary data and on data
//!   whose products and sums flush to zero, overflow and cancel.
//! * GELU epilogues are compared within 4e-6·(1+|x|): each ISA's GELU is within 2e-6 of the
//!   exact one (docs/numerics.md), the products before it are bit-identical.
//! * All three models are within the dot-product bound 4·ε·(k+1)·Σ|a·b| (plus 2e-6 for GELU) of
//!   the f64 product of the rounded operands: only fp32 accumulation error remains (round-to-odd
//!   loses up to one ulp per operation where nearest-even loses half; the bound has room).

mod common;

use bertqa_kernels::gemm::bf16::{from_bf16, to_bf16};
use bertqa_kernels::{gemm_bf16, Bf16Kernels, Bf16Path, Epilogue, PackedBf16};
use common::{erf, Rng};

fn paths() -> Vec<Bf16Path> {
    common::report_skipped();
    Bf16Path::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

struct Case {
    m: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    bias: Vec<f32>,
    res: Vec<f32>,
}

impl Case {
    fn new(m: usize, n: usize, k: usize, rng: &mut Rng) -> Case {
        Case {
            m,
            n,
            a: rng.vec(m * k),
            b: rng.vec(n * k),
            bias: rng.vec(n),
            res: rng.vec(m * n),
        }
    }

    fn epilogue(&self, kind: u32) -> Epilogue<'_> {
        match kind {
            0 => Epilogue::None,
            1 => Epilogue::Bias(&self.bias),
            2 => Epilogue::BiasGelu(&self.bias),
            _ => Epilogue::BiasResidual {
                bias: &self.bias,
                residual: &self.res,
            },
        }
    }

    fn run(&self, path: Bf16Path, packed: &PackedBf16, kind: u32) -> Vec<f32> {
        let mut c = vec![f32::NAN; self.m * self.n];
        Bf16Kernels::of(path).gemm(self.m, &self.a, packed, &mut c, self.epilogue(kind));
        c
    }
}

const M: &[usize] = &[1, 2, 4, 5, 11, 12, 13, 25, 32, 37, 65];
const N: &[usize] = &[1, 15, 16, 17, 32, 33, 64, 97];
// 2048: rows 4 KiB apart in bf16, rounded into rows one cache line further apart.
const K: &[usize] = &[0, 1, 2, 3, 17, 64, 767, 768, 769, 1537, 2048];

/// Runs every supported path that is not its own oracle on the case and compares it with its
/// oracle (bit for bit, GELU within 4e-6).
fn check_paths(case: &Case, k: usize, packed: &PackedBf16, kind: u32, paths: &[Bf16Path]) {
    let mut oracles: Vec<(Bf16Path, Vec<f32>)> = Vec::new();
    for &path in paths {
        let oracle = path.oracle();
        if oracle == path {
            continue;
        }
        if !oracles.iter().any(|(o, _)| *o == oracle) {
            oracles.push((oracle, case.run(oracle, packed, kind)));
        }
        let want = &oracles.iter().find(|(o, _)| *o == oracle).unwrap().1;
        let got = case.run(path, packed, kind);
        let (m, n) = (case.m, case.n);
        if kind == 2 {
            // The SIMD GELU is an approximation of its own (docs/numerics.md):
            // products bit-exact; each GELU within 2e-6 of the exact one, so 4e-6 apart.
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 4e-6 * (1.0 + w.abs()) || (g.is_nan() && w.is_nan()),
                    "{path:?} {m}x{n}x{k} GELU: element {i}: {g} vs {w}"
                );
            }
        } else {
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                assert!(
                    g.to_bits() == w.to_bits(),
                    "{path:?} {m}x{n}x{k} kind {kind}: element {i}: {g:e} ({:#x}) \
                     vs {oracle:?} {w:e} ({:#x})",
                    g.to_bits(),
                    w.to_bits()
                );
            }
        }
    }
}

/// Prints what was checked per path, by kernel name (the test's record of what it ran).
fn report(paths: &[Bf16Path]) {
    for path in Bf16Path::ALL {
        let what = if !paths.contains(&path) {
            "not on this CPU; not run".to_string()
        } else if path.oracle() == path {
            "a model (checked against f64 below)".to_string()
        } else {
            format!("bit-identical to {}", path.oracle().kernel_name())
        };
        eprintln!("{path:?} ({}): {what}", path.kernel_name());
    }
}

#[test]
fn every_path_matches_its_model() {
    let mut rng = Rng(0x5eed_bf16);
    let paths = paths();
    for &k in K {
        for &m in M {
            for &n in N {
                let case = Case::new(m, n, k, &mut rng);
                let packed = PackedBf16::pack(&case.b, n, k);
                let kind = (m + n + k) as u32 % 4;
                check_paths(&case, k, &packed, kind, &paths);
            }
        }
    }
    report(&paths);
}

/// Rows of A and columns of B in three classes — tiny (2⁻⁷⁶…2⁻⁶⁴), huge (2⁵⁵…2⁷⁵), spread
/// (2⁻⁷⁰…2⁷⁰) — with either sign and some exact zeros: products and pair sums that flush to
/// zero (< 2⁻¹²⁶; tiny·tiny flushes whole dot products) or overflow (≥ 2¹²⁸), ∞ − ∞, sums
/// that cancel — the edges where the models' rules (round-to-odd, fused chains, flush-to-zero,
/// ∞, default NaN) decide. The NEON paths against the Arm model, AMX against its model; the
/// other x86 paths are not run here (an FMA does not flush where `vdpbf16ps` does,
/// docs/numerics.md).
#[test]
fn flushing_paths_match_their_models_at_the_edges() {
    const MODELS: [Bf16Path; 2] = [Bf16Path::ReferenceArm, Bf16Path::ReferenceAmx];
    let paths: Vec<Bf16Path> = paths()
        .into_iter()
        .filter(|&p| MODELS.contains(&p.oracle()) && !MODELS.contains(&p))
        .collect();
    let mut rng = Rng(0xed9e);
    // `lines` rows (or columns) of `k` values, line l in class l % 3.
    let mut wide = |lines: usize, k: usize| -> Vec<f32> {
        (0..lines * k)
            .map(|i| {
                let r = rng.next();
                let (lo, span) = [(-76, 12), (55, 21), (-70, 141)][(i / k.max(1)) % 3];
                if r.is_multiple_of(16) {
                    0.0
                } else {
                    let e = lo + ((r >> 8) % span) as i32;
                    let x = 2f32.powi(e) * (1.0 + (r >> 32) as f32 / 2f32.powi(32));
                    if r & 2 == 0 {
                        x
                    } else {
                        -x
                    }
                }
            })
            .collect()
    };
    let (mut flushed, mut infinite, mut nan) = (0, 0, 0);
    for &(m, n, k) in &[
        (13, 17, 7),
        (12, 8, 8),
        (5, 33, 64),
        (25, 40, 17),
        (33, 40, 70),
        (3, 9, 770),
    ] {
        let case = Case {
            m,
            n,
            a: wide(m, k),
            b: wide(n, k),
            bias: vec![0.0; n],
            res: vec![0.0; m * n],
        };
        let packed = PackedBf16::pack(&case.b, n, k);
        for kind in [0, 1] {
            check_paths(&case, k, &packed, kind, &paths);
        }
        for model in MODELS {
            let model = case.run(model, &packed, 0);
            flushed += model.iter().filter(|v| **v == 0.0).count();
            infinite += model.iter().filter(|v| v.is_infinite()).count();
            nan += model.iter().filter(|v| v.is_nan()).count();
        }
    }
    eprintln!("edge data: {flushed} zeros, {infinite} ±∞, {nan} NaN among the models' results");
    assert!(flushed > 0 && infinite > 0 && nan > 0);
    for path in &paths {
        eprintln!(
            "{path:?} ({}): bit-identical to {} on edge data",
            path.kernel_name(),
            path.oracle().kernel_name()
        );
    }
    if paths.is_empty() {
        eprintln!("no NEON or AMX bf16 path on this CPU: only the models ran on edge data");
    }
}

/// The `avx512bf16` level runs AMX `tdpbf16ps` where the CPU and OS have the tiles, else
/// `vdpbf16ps` on AMD CPUs and the widening kernel on Intel ones, whose `vdpbf16ps` multiplies
/// at half their FMA rate (those two reproduce the same oracle, so that choice changes speed,
/// not results), unless `BERTQA_BF16_PATH` overrides it.
#[test]
fn avx512bf16_runs_amx_else_the_vendors_kernel() {
    use bertqa_kernels::dispatch::{amx_bf16, cpu_is_intel, Isa};
    if !Isa::Avx512Bf16.is_supported() || std::env::var_os("BERTQA_BF16_PATH").is_some() {
        eprintln!("no avx512bf16 level here (or BERTQA_BF16_PATH set): nothing to check");
        return;
    }
    let path = Bf16Path::for_isa(Isa::Avx512Bf16);
    let want = if amx_bf16() {
        Bf16Path::Amx
    } else if cpu_is_intel() {
        Bf16Path::Avx512Widen
    } else {
        Bf16Path::Avx512Bf16
    };
    eprintln!("avx512bf16 level: bf16 path {path:?}");
    assert_eq!(path, want);
    assert!(path.is_supported());
    if path != Bf16Path::Amx {
        assert_eq!(path.oracle(), Bf16Path::Avx512Bf16.oracle());
    }
}

/// `gemm_bf16` runs the current level's path (the table's entry: `bfmmla` for neonbf16,
/// `vdpbf16ps` for avx512bf16, …), bit for bit its model.
#[test]
fn gemm_bf16_runs_the_levels_path() {
    let path = Bf16Path::current();
    assert_eq!(path, Bf16Path::for_isa(bertqa_kernels::dispatch::isa()));
    eprintln!(
        "level {}: bf16 path {path:?} ({})",
        bertqa_kernels::dispatch::isa(),
        path.kernel_name()
    );
    let (m, n, k) = (29, 45, 70);
    let case = Case::new(m, n, k, &mut Rng(11));
    let packed = PackedBf16::pack(&case.b, n, k);
    let mut c = vec![f32::NAN; m * n];
    gemm_bf16(m, &case.a, &packed, &mut c, case.epilogue(1));
    let want = case.run(path.oracle(), &packed, 1);
    assert!(c.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()));
}

/// The three models are different arithmetic (so bit-identity to the right one is a real
/// check): on ordinary data most sums differ in their last bits, within a few ulp·k.
#[test]
fn the_models_differ_in_the_last_bits() {
    let (m, n, k) = (5, 33, 769);
    let case = Case::new(m, n, k, &mut Rng(3));
    let packed = PackedBf16::pack(&case.b, n, k);
    let rne = case.run(Bf16Path::Reference, &packed, 0);
    for other in [Bf16Path::ReferenceArm, Bf16Path::ReferenceAmx] {
        let got = case.run(other, &packed, 0);
        let differ = rne
            .iter()
            .zip(&got)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let worst = rne
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
            .fold(0.0f32, f32::max);
        eprintln!(
            "vdpbf16ps model vs {other:?}, {m}x{n}x{k}: {differ} of {} differ, max rel. {worst:e}",
            m * n
        );
        assert!(differ > m * n / 2, "{other:?}: {differ}");
        assert!(worst < 1e-4, "{other:?}: {worst}");
    }
}

#[test]
fn both_models_are_the_exact_product_of_rounded_operands() {
    let mut rng = Rng(42);
    let eps = f32::EPSILON as f64;
    for &(m, n, k) in &[(5, 33, 769), (13, 17, 64), (1, 1, 3), (4, 64, 1537)] {
        let case = Case::new(m, n, k, &mut rng);
        let packed = PackedBf16::pack(&case.b, n, k);
        for (kind, model) in (0..4).flat_map(|kind| {
            [
                Bf16Path::Reference,
                Bf16Path::ReferenceArm,
                Bf16Path::ReferenceAmx,
            ]
            .map(|model| (kind, model))
        }) {
            let got = case.run(model, &packed, kind);
            for i in 0..m {
                for j in 0..n {
                    let (mut dot, mut s) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        let x =
                            from_bf16(to_bf16(case.a[i * k + p])) as f64 * packed.get(j, p) as f64;
                        dot += x;
                        s += x.abs();
                    }
                    let mut want = dot;
                    if kind >= 1 {
                        want += case.bias[j] as f64;
                    }
                    if kind == 2 {
                        want = 0.5 * want * (1.0 + erf(want / std::f64::consts::SQRT_2));
                    }
                    if kind == 3 {
                        want += case.res[i * n + j] as f64;
                    }
                    let g = got[i * n + j] as f64;
                    let tol = 4.0 * eps * (k as f64 + 1.0) * (s + 1.0) + 2e-6;
                    assert!(
                        (g - want).abs() <= tol,
                        "{model:?} {m}x{n}x{k} kind {kind} ({i},{j}): {g} vs {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = Rng(7);
    let case = Case::new(200, 300, 1000, &mut rng);
    let packed = PackedBf16::pack(&case.b, 300, 1000);
    for path in paths() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| case.run(path, &packed, 3));
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| case.run(path, &packed, 3));
        assert!(
            one.iter()
                .zip(&three)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{path:?}"
        );
    }
}

#[test]
fn nan_and_infinity_propagate() {
    let (m, n, k) = (3, 5, 4);
    let mut a = vec![1.0f32; m * k];
    a[0] = f32::NAN;
    a[k] = f32::INFINITY;
    let b = vec![0.5f32; n * k];
    let packed = PackedBf16::pack(&b, n, k);
    for path in paths() {
        let mut c = vec![0.0; m * n];
        Bf16Kernels::of(path).gemm(m, &a, &packed, &mut c, Epilogue::None);
        assert!(c[..n].iter().all(|v| v.is_nan()), "{path:?}");
        assert!(c[n..2 * n].iter().all(|&v| v == f32::INFINITY), "{path:?}");
        assert!(c[2 * n..].iter().all(|&v| v == 2.0), "{path:?}");
    }
}
