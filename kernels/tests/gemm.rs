//! GEMM against a plain f64 oracle, on every ISA this CPU has, over awkward shapes.
//!
//! Tolerance per element: 4·ε·k·Σₚ|aᵢₚ·bₚⱼ| (the classic dot-product error bound, so it grows with
//! k) plus 2e-6 for the GELU approximation. Packing bugs are caught exactly by the identity test.

mod common;

use bertqa_kernels::dispatch::{isa, Isa};
use bertqa_kernels::{math, Epilogue, Kernels, MatMut, MatRef, PackedMatrix};
use common::Rng;

/// (C, |A|·|B|) with C = A·Bᵀ, A [m×k], B [n×k], in f64.
fn oracle(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0.0; m * n];
    let mut s = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                let x = a[i * k + p] as f64 * b[j * k + p] as f64;
                c[i * n + j] += x;
                s[i * n + j] += x.abs();
            }
        }
    }
    (c, s)
}

fn check(what: &str, got: &[f32], want: &[f64], scale: &[f64], k: usize, extra: f64) {
    let eps = f32::EPSILON as f64;
    let (mut max_abs, mut num, mut den) = (0.0f64, 0.0f64, 0.0f64);
    let mut bad = None;
    for (idx, ((&g, &w), &s)) in got.iter().zip(want).zip(scale).enumerate() {
        let d = (g as f64 - w).abs();
        max_abs = max_abs.max(d);
        num += d * d;
        den += w * w;
        let ok = d <= 4.0 * eps * (k as f64 + 1.0) * s + extra; // false for NaN
        if !ok && bad.is_none() {
            bad = Some((idx, g, w));
        }
    }
    if let Some((idx, g, w)) = bad {
        panic!(
            "{what}: element {idx}: got {g}, want {w}; max |err| {max_abs:e}, NMSE {:e}",
            num / den.max(1e-300)
        );
    }
}

/// Every ISA this CPU supports (each runs its own monomorphised driver).
fn isas() -> Vec<Isa> {
    common::report_skipped();
    Isa::supported()
}

const SIZES: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 37, 47, 48, 63, 64, 65, 97,
];
const K_SIZES: &[usize] = &[0, 1, 2, 3, 7, 8, 15, 17, 64, 101, 383, 384, 385, 768, 769];

fn run_packed_case(isa: Isa, m: usize, n: usize, k: usize, epi_kind: u32, rng: &mut Rng) {
    let a = rng.vec(m * k);
    let b = rng.vec(n * k);
    let bias = rng.vec(n);
    let residual = rng.vec(m * n);
    let pb = PackedMatrix::pack(&b, n, k);
    let (mut want, scale) = oracle(m, n, k, &a, &b);
    let mut c = vec![f32::NAN; m * n];
    let (epi, extra) = match epi_kind {
        0 => (Epilogue::None, 0.0),
        1 => (Epilogue::Bias(&bias), 1e-6),
        2 => (Epilogue::BiasGelu(&bias), 3e-6),
        _ => (
            Epilogue::BiasResidual {
                bias: &bias,
                residual: &residual,
            },
            2e-6,
        ),
    };
    for i in 0..m {
        for j in 0..n {
            let w = &mut want[i * n + j];
            match epi_kind {
                0 => {}
                1 => *w += bias[j] as f64,
                2 => {
                    let x = *w + bias[j] as f64;
                    *w = 0.5 * x * (1.0 + math::erf((x / std::f64::consts::SQRT_2) as f32) as f64);
                }
                _ => *w += bias[j] as f64 + residual[i * n + j] as f64,
            }
        }
    }
    Kernels::of(isa).gemm_packed(m, &a, &pb, &mut c, epi);
    check(
        &format!("{isa} packed m={m} n={n} k={k} epi={epi_kind}"),
        &c,
        &want,
        &scale,
        k,
        extra,
    );
    if epi_kind == 0 {
        // The same product through gemm_strided with A stored transposed (cs ≠ 1), so A goes
        // through pack_a's MR-row panels instead of being read in place.
        let mut at = vec![0.0; m * k];
        for i in 0..m {
            for p in 0..k {
                at[p * m + i] = a[i * k + p];
            }
        }
        let mut c2 = vec![f32::NAN; m * n];
        Kernels::of(isa).gemm_strided(
            m,
            n,
            k,
            1.0,
            MatRef {
                data: &at,
                rs: 1,
                cs: m,
            },
            MatRef {
                data: &b,
                rs: 1,
                cs: k,
            },
            MatMut {
                data: &mut c2,
                rs: n,
                cs: 1,
            },
        );
        check(
            &format!("{isa} strided packed-A m={m} n={n} k={k}"),
            &c2,
            &want,
            &scale,
            k,
            0.0,
        );
    }
}

#[test]
fn packed_random_shapes_every_isa() {
    for isa in isas() {
        eprintln!("{isa}: {}", Kernels::of(isa).gemm_name());
        let mut rng = Rng(0x5EED_0001);
        for case in 0..160 {
            let m = rng.pick(SIZES);
            let n = rng.pick(SIZES);
            let k = rng.pick(K_SIZES);
            run_packed_case(isa, m, n, k, case % 4, &mut rng);
        }
        // Bigger than one NC block and one work item, odd sizes.
        run_packed_case(isa, 131, 1061, 389, 2, &mut rng);
        run_packed_case(isa, 25, 700, 1031, 3, &mut rng);
    }
}

#[test]
fn packed_bert_shape_sample() {
    // One real BERT-large shape (FFN in, GELU) on the detected ISA, rows sampled by the oracle.
    let (m, n, k) = (128, 4096, 1024);
    let mut rng = Rng(42);
    let a = rng.vec(m * k);
    let b = rng.vec(n * k);
    let bias = rng.vec(n);
    let pb = PackedMatrix::pack(&b, n, k);
    let mut c = vec![0.0; m * n];
    bertqa_kernels::gemm_packed(m, &a, &pb, &mut c, Epilogue::BiasGelu(&bias));
    for &i in &[0, 1, 11, 12, 77, 127] {
        let (want, scale) = oracle(1, n, k, &a[i * k..(i + 1) * k], &b);
        let want: Vec<f64> = want
            .iter()
            .zip(&bias)
            .map(|(&w, &bi)| {
                let x = w + bi as f64;
                0.5 * x * (1.0 + math::erf((x / std::f64::consts::SQRT_2) as f32) as f64)
            })
            .collect();
        check(
            &format!("{} bert row {i}", isa()),
            &c[i * n..(i + 1) * n],
            &want,
            &scale,
            k,
            3e-6,
        );
    }
}

/// matrixmultiply's test: A·I = A exactly (every product is x·1 or x·0, sums of one nonzero term).
#[test]
fn identity_is_exact_every_isa() {
    for isa in isas() {
        for &(m, k) in &[(1, 1), (13, 33), (12, 32), (37, 385), (100, 97)] {
            let mut rng = Rng(7 + m as u64);
            let a = rng.vec(m * k);
            let mut eye = vec![0.0; k * k];
            for i in 0..k {
                eye[i * k + i] = 1.0;
            }
            let pb = PackedMatrix::pack(&eye, k, k);
            let mut c = vec![0.0; m * k];
            Kernels::of(isa).gemm_packed(m, &a, &pb, &mut c, Epilogue::None);
            assert_eq!(c, a, "{isa}: A·I != A for m={m} k={k}");
            // Strided too, with A read transposed from storage.
            let mut at = vec![0.0; k * m];
            for i in 0..m {
                for p in 0..k {
                    at[p * m + i] = a[i * k + p];
                }
            }
            let mut c2 = vec![0.0; m * k];
            Kernels::of(isa).gemm_strided(
                m,
                k,
                k,
                1.0,
                MatRef {
                    data: &at,
                    rs: 1,
                    cs: m,
                },
                MatRef {
                    data: &eye,
                    rs: k,
                    cs: 1,
                },
                MatMut {
                    data: &mut c2,
                    rs: k,
                    cs: 1,
                },
            );
            assert_eq!(c2, a, "{isa}: strided A·I != A for m={m} k={k}");
        }
    }
}

/// Same bits whatever the rayon thread count (n and m are split, never k).
#[test]
fn bit_identical_across_thread_counts() {
    let mut rng = Rng(99);
    for &(m, n, k) in &[
        (200, 700, 500),
        (16, 1024, 1024),
        (385, 96, 64),
        (3, 5000, 40),
    ] {
        let a = rng.vec(m * k);
        let b = rng.vec(n * k);
        let bias = rng.vec(n);
        let pb = PackedMatrix::pack(&b, n, k);
        for isa in isas() {
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = vec![0.0; m * n];
                pool.install(|| {
                    Kernels::of(isa).gemm_packed(m, &a, &pb, &mut c, Epilogue::BiasGelu(&bias))
                });
                c
            };
            let c1 = run(1);
            for t in [2, 3] {
                assert!(
                    c1.iter()
                        .zip(&run(t))
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{isa} m={m} n={n} k={k}: {t} threads differ from 1"
                );
            }
        }
    }
}

/// Attention's two products, read out of a fused QKV buffer [tokens × 3·hidden].
#[test]
fn strided_attention_views_every_isa() {
    let mut rng = Rng(1234);
    for isa in isas() {
        for &(seq, d, heads) in &[
            (1, 64, 2),
            (13, 64, 2),
            (97, 64, 2),
            (384, 64, 1),
            (33, 5, 3),
        ] {
            let hidden = d * heads;
            let ld = 3 * hidden;
            let qkv = rng.vec(seq * ld);
            let h = heads - 1; // last head: offsets inside the row
            let (q, kk, v) = (
                &qkv[h * d..],
                &qkv[hidden + h * d..],
                &qkv[2 * hidden + h * d..],
            );
            let alpha = 1.0 / (d as f32).sqrt();
            // S = α·Q·Kᵀ: A = Q (rs = ld, cs = 1), B = Kᵀ (rs = 1, cs = ld).
            let mut s = vec![0.0; seq * seq];
            Kernels::of(isa).gemm_strided(
                seq,
                seq,
                d,
                alpha,
                MatRef {
                    data: q,
                    rs: ld,
                    cs: 1,
                },
                MatRef {
                    data: kk,
                    rs: 1,
                    cs: ld,
                },
                MatMut {
                    data: &mut s,
                    rs: seq,
                    cs: 1,
                },
            );
            let qm: Vec<f32> = (0..seq)
                .flat_map(|i| q[i * ld..i * ld + d].to_vec())
                .collect();
            let km: Vec<f32> = (0..seq)
                .flat_map(|i| kk[i * ld..i * ld + d].to_vec())
                .collect();
            let (want, scale) = oracle(seq, seq, d, &qm, &km);
            let want: Vec<f64> = want.iter().map(|w| w * alpha as f64).collect();
            let scale: Vec<f64> = scale.iter().map(|w| w * alpha as f64).collect();
            check(&format!("{isa} QK seq={seq}"), &s, &want, &scale, d, 0.0);
            // ctx = P·V written into a [seq × hidden] buffer: B = V (rs = ld, cs = 1).
            let p = rng.vec(seq * seq);
            let mut ctx = vec![0.0; seq * hidden];
            Kernels::of(isa).gemm_strided(
                seq,
                d,
                seq,
                1.0,
                MatRef {
                    data: &p,
                    rs: seq,
                    cs: 1,
                },
                MatRef {
                    data: v,
                    rs: ld,
                    cs: 1,
                },
                MatMut {
                    data: &mut ctx[h * d..],
                    rs: hidden,
                    cs: 1,
                },
            );
            let vt: Vec<f32> = (0..d)
                .flat_map(|j| (0..seq).map(move |t| (t, j)))
                .map(|(t, j)| v[t * ld + j])
                .collect();
            let (want, scale) = oracle(seq, d, seq, &p, &vt);
            let got: Vec<f32> = (0..seq)
                .flat_map(|i| ctx[i * hidden + h * d..i * hidden + h * d + d].to_vec())
                .collect();
            check(
                &format!("{isa} PV seq={seq}"),
                &got,
                &want,
                &scale,
                seq,
                0.0,
            );
            // Transposed C (cs ≠ 1) goes through the scatter path.
            let mut st = vec![0.0; seq * seq];
            Kernels::of(isa).gemm_strided(
                seq,
                seq,
                d,
                alpha,
                MatRef {
                    data: q,
                    rs: ld,
                    cs: 1,
                },
                MatRef {
                    data: kk,
                    rs: 1,
                    cs: ld,
                },
                MatMut {
                    data: &mut st,
                    rs: 1,
                    cs: seq,
                },
            );
            for i in 0..seq {
                for j in 0..seq {
                    assert_eq!(st[j * seq + i].to_bits(), s[i * seq + j].to_bits());
                }
            }
        }
    }
}

#[test]
fn empty_and_k_zero() {
    for isa in isas() {
        let pb = PackedMatrix::pack(&[], 5, 0);
        let bias = [1.0, 2.0, 3.0, 4.0, -1.0];
        let mut c = vec![f32::NAN; 2 * 5];
        Kernels::of(isa).gemm_packed(2, &[], &pb, &mut c, Epilogue::BiasGelu(&bias));
        for (j, &x) in c[5..].iter().enumerate() {
            assert!(
                (x - math::gelu_erf(bias[j])).abs() < 2e-6,
                "{isa}: k=0 col {j}: {x}"
            );
        }
        let pb = PackedMatrix::pack(&[], 0, 3);
        Kernels::of(isa).gemm_packed(4, &[0.0; 12], &pb, &mut [], Epilogue::None);
        let pb = PackedMatrix::pack(&[1.0; 6], 2, 3);
        Kernels::of(isa).gemm_packed(0, &[], &pb, &mut [], Epilogue::None);
    }
}

/// `BERTQA_REQUIRE_ISA=avx2,avx512,…` (level names as `BERTQA_ISA` takes them,
/// comma-separated): every level named must be supported by this CPU — and so tested by these
/// tests, which run every supported level — or this test fails. CI sets it from what the CPU
/// reports (`.ci/run`, `.ci/aarch64.sh`), so a machine that lost a feature (a VM moved to an
/// older CPU model) fails instead of quietly skipping kernels. Unset or empty: no requirement.
#[test]
fn required_levels_are_supported() {
    common::report_skipped();
    let v = std::env::var("BERTQA_REQUIRE_ISA").unwrap_or_default();
    if v.trim().is_empty() {
        common::say("BERTQA_REQUIRE_ISA unset: no level required");
        return;
    }
    let mut missing = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let level = Isa::from_name(name).unwrap_or_else(|| {
            panic!(
                "BERTQA_REQUIRE_ISA={v:?}: unknown level {name:?}; expected some of {}",
                Isa::ALL.map(Isa::name).join(", ")
            )
        });
        if !level.is_supported() {
            missing.push(level.name());
        }
    }
    assert!(
        missing.is_empty(),
        "BERTQA_REQUIRE_ISA={v}: this CPU lacks {}, so its kernels were SKIPPED (best level here: {})",
        missing.join(", "),
        Isa::detect()
    );
    common::say(&format!(
        "BERTQA_REQUIRE_ISA={v}: every required level is supported here, and tested"
    ));
}

/// `BERTQA_ISA` forces a level: re-run this test binary's `env_child` with each supported level.
#[test]
fn env_var_forces_isa() {
    let exe = std::env::current_exe().unwrap();
    for level in Isa::supported() {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "env_child", "--nocapture", "--test-threads=1"])
            .env("BERTQA_ISA", level.name())
            .env("BERTQA_EXPECT_ISA", level.name())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "BERTQA_ISA={level}: {text}");
        assert!(
            text.contains("1 passed"),
            "BERTQA_ISA={level}: child ran no test: {text}"
        );
    }
}

#[test]
fn env_child() {
    let Ok(expect) = std::env::var("BERTQA_EXPECT_ISA") else {
        return;
    };
    assert_eq!(isa().name(), expect);
    let mut rng = Rng(5);
    let (m, n, k) = (29, 45, 70);
    let a = rng.vec(m * k);
    let b = rng.vec(n * k);
    let pb = PackedMatrix::pack(&b, n, k);
    let mut c = vec![0.0; m * n];
    bertqa_kernels::gemm_packed(m, &a, &pb, &mut c, Epilogue::None);
    let (want, scale) = oracle(m, n, k, &a, &b);
    check(&format!("env {expect}"), &c, &want, &scale, k, 0.0);
}
