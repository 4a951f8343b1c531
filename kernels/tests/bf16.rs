//! bf16 GEMM: every path this CPU has against the scalar reference kernel, which models
//! `vdpbf16ps` (see `gemm::bf16`), and the reference against an f64 product of the
//! bf16-rounded operands.
//!
//! * The widening paths (AVX-512F, AVX2: bf16 → fp32 by a shift, then FMAs, odd k first) must
//!   equal the reference **bit for bit**: their arithmetic is the same rounding sequence.
//! * The `vdpbf16ps` path must equal it bit for bit too: the reference follows the arithmetic
//!   of Intel's pseudo-code for the instruction (odd product first, each sum rounded to nearest
//!   even), which AMD Zen 5 implements exactly (this test, docs/numerics.md).
//! * GELU epilogues are compared within 4e-6·(1+|x|): each ISA's GELU is within 2e-6 of the
//!   exact one (docs/numerics.md), the products before it are bit-identical.
//! * The reference is within the dot-product bound 4·ε·(k+1)·Σ|a·b| (plus 2e-6 for GELU) of
//!   the f64 product of the rounded operands: only fp32 accumulation error remains.

mod common;

use bertqa_kernels::gemm::bf16::{from_bf16, to_bf16};
use bertqa_kernels::{Bf16Kernels, Bf16Path, Epilogue, PackedBf16};
use common::{erf, Rng};

fn paths() -> Vec<Bf16Path> {
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

const M: &[usize] = &[1, 2, 4, 5, 11, 12, 13, 25, 37];
const N: &[usize] = &[1, 15, 16, 17, 32, 33, 64, 97];
// 2048: rows 4 KiB apart in bf16, rounded into rows one cache line further apart.
const K: &[usize] = &[0, 1, 2, 3, 17, 64, 767, 768, 769, 1537, 2048];

#[test]
fn every_path_matches_the_reference() {
    for path in paths() {
        eprintln!("{path:?}: {}", path.kernel_name());
    }
    let mut rng = Rng(0x5eed_bf16);
    for &k in K {
        for &m in M {
            for &n in N {
                let case = Case::new(m, n, k, &mut rng);
                let packed = PackedBf16::pack(&case.b, n, k);
                let kind = (m + n + k) as u32 % 4;
                let want = case.run(Bf16Path::Reference, &packed, kind);
                for path in paths() {
                    let got = case.run(path, &packed, kind);
                    if kind == 2 {
                        // The SIMD GELU is an approximation of its own (docs/numerics.md):
                        // products bit-exact; each GELU within 2e-6 of the exact one, so 4e-6 apart.
                        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - w).abs() <= 4e-6 * (1.0 + w.abs()),
                                "{path:?} {m}x{n}x{k} GELU: element {i}: {g} vs {w}"
                            );
                        }
                    } else {
                        assert!(
                            got.iter()
                                .zip(&want)
                                .all(|(g, w)| g.to_bits() == w.to_bits()),
                            "{path:?} {m}x{n}x{k} kind {kind}: not bit-identical to the reference"
                        );
                    }
                }
            }
        }
    }
    let native = Bf16Path::Avx512Bf16.is_supported();
    eprintln!(
        "vdpbf16ps path: {}",
        if native {
            "bit-identical to the reference"
        } else {
            "not on this CPU; not run"
        }
    );
}

#[test]
fn reference_is_the_exact_product_of_rounded_operands() {
    let mut rng = Rng(42);
    let eps = f32::EPSILON as f64;
    for &(m, n, k) in &[(5, 33, 769), (13, 17, 64), (1, 1, 3), (4, 64, 1537)] {
        let case = Case::new(m, n, k, &mut rng);
        let packed = PackedBf16::pack(&case.b, n, k);
        for kind in 0..4 {
            let got = case.run(Bf16Path::Reference, &packed, kind);
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
                        "{m}x{n}x{k} kind {kind} ({i},{j}): {g} vs {want}"
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
