//! int8 GEMM: every path this CPU has against the scalar reference kernel, and the reference
//! against exact arithmetic.
//!
//! * **Integer sums are equal bit for bit** on every path (`gemm_i8_sums_with`), for k below,
//!   at and above the k block (partial sums kept in C between blocks), edge tiles included,
//!   with the extreme values 0/255 and ±127 and −128 in B.
//! * The dequantized products and the bias / bias+residual epilogues are equal bit for bit too
//!   (the same fp32 operations in the same order); GELU epilogues within 4e-6·(1+|x|) (each
//!   ISA's GELU is within 2e-6 of the exact one, docs/numerics.md).
//! * The reference's sums equal an i64 product; the dequantized result is within the bound
//!   the quantization steps allow of the f64 product of the unquantized operands.
//! * Quantization: round trip within half a step; zero and constant rows; a huge outlier;
//!   NaN and ±∞ give finite levels, never a panic.

mod common;

use bertqa_kernels::gemm::int8::{
    a_stride, dequantize, padded_k, quantize_row, quantize_row_reference, quantize_rows,
};
use bertqa_kernels::{Epilogue, I8Kernels, I8Path, PackedI8, KC_I8};
use common::{erf, Rng};

fn paths() -> Vec<I8Path> {
    common::report_skipped();
    I8Path::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

const M: &[usize] = &[1, 2, 3, 4, 5, 11, 12, 13, 25];
const N: &[usize] = &[1, 7, 8, 9, 16, 31, 32, 33, 64, 97];
const K: &[usize] = &[0, 1, 3, 4, 5, 64, 255, KC_I8, KC_I8 + 4, 2 * KC_I8 + 9];

/// Weights whose quantized values cover −127..=127 (each row's extreme maps to ±127).
fn weights(n: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    rng.vec(n * k)
}

#[test]
fn integer_sums_are_equal_on_every_path() {
    let mut rng = Rng(0x1a78);
    for &k in K {
        for &m in M {
            for &n in N {
                if m * n * k > 4_000_000 && !(m == 13 && n == 33) {
                    continue;
                }
                let packed = PackedI8::pack(&weights(n, k, &mut rng), n, k);
                let kp = padded_k(k);
                // uint8 rows with the extremes present.
                let a: Vec<u8> = (0..m * kp)
                    .map(|i| match i % 7 {
                        0 => 255,
                        1 => 0,
                        _ => (rng.next() >> 56) as u8,
                    })
                    .collect();
                let mut want = vec![0i32; m * n];
                I8Kernels::of(I8Path::Reference).sums(m, &a, &packed, &mut want);
                // The reference against i64 arithmetic.
                for i in 0..m {
                    for j in 0..n {
                        let exact: i64 = (0..k)
                            .map(|p| a[i * kp + p] as i64 * packed.get(j, p) as i64)
                            .sum();
                        assert_eq!(want[i * n + j] as i64, exact, "reference {m}x{n}x{k}");
                    }
                }
                for path in paths() {
                    let mut got = vec![-1i32; m * n];
                    I8Kernels::of(path).sums(m, &a, &packed, &mut got);
                    assert_eq!(got, want, "{path:?} {m}x{n}x{k}: sums differ");
                }
            }
        }
    }
    eprintln!(
        "int8 paths tested: {:?}",
        paths().iter().map(|p| p.kernel_name()).collect::<Vec<_>>()
    );
}

#[test]
fn extreme_weights_do_not_saturate() {
    // A = 255 everywhere, B = −127 or +127 everywhere: the largest sums a layer can have
    // (k = 4096: ±132,648,960), where int16 pair sums (vpmaddubsw) would saturate.
    let (m, n, k) = (13, 40, 4096);
    let b: Vec<f32> = (0..n * k)
        .map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let packed = PackedI8::pack(&b, n, k);
    let a = vec![255u8; m * k];
    for path in paths() {
        let mut got = vec![0i32; m * n];
        I8Kernels::of(path).sums(m, &a, &packed, &mut got);
        for (idx, &v) in got.iter().enumerate() {
            let sign = if (idx % n) % 2 == 0 { 1 } else { -1 };
            assert_eq!(v, sign * 255 * 127 * k as i32, "{path:?} element {idx}");
        }
    }
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
        // GELU-like activations: skewed, a few large values.
        let a = (0..m * k)
            .map(|i| {
                let x = rng.f();
                if i % 97 == 0 {
                    8.0 * x
                } else {
                    x.max(-0.2)
                }
            })
            .collect();
        Case {
            m,
            n,
            a,
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

    fn run(&self, path: I8Path, packed: &PackedI8, kind: u32) -> Vec<f32> {
        let mut c = vec![f32::NAN; self.m * self.n];
        I8Kernels::of(path).gemm(self.m, &self.a, packed, &mut c, self.epilogue(kind));
        c
    }
}

#[test]
fn dequantized_results_match_the_reference() {
    let mut rng = Rng(0x005e_ed18);
    for &(m, n, k) in &[
        (1, 1, 1),
        (5, 33, 64),
        (12, 32, 1024),
        (13, 97, 1029),
        (25, 64, 2057),
        (37, 17, 3),
        (4, 8, 0),
    ] {
        let case = Case::new(m, n, k, &mut rng);
        let packed = PackedI8::pack(&case.b, n, k);
        for kind in 0..4 {
            let want = case.run(I8Path::Reference, &packed, kind);
            for path in paths() {
                let got = case.run(path, &packed, kind);
                for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    if kind == 2 {
                        assert!(
                            (g - w).abs() <= 4e-6 * (1.0 + w.abs()),
                            "{path:?} {m}x{n}x{k} GELU: element {i}: {g} vs {w}"
                        );
                    } else {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{path:?} {m}x{n}x{k} kind {kind}: element {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

/// At k = 4096 the quantized rows of A are stored a cache line further apart (`a_stride`);
/// the products must be exactly those of the unpadded rows.
#[test]
fn padded_activation_rows_give_the_same_products() {
    let (m, n, k) = (13, 40, 4096);
    assert!(
        a_stride(k) > padded_k(k),
        "k = {k} should take the padded layout"
    );
    assert_eq!(a_stride(1024), 1024);
    let mut rng = Rng(0x9ad);
    let case = Case::new(m, n, k, &mut rng);
    let packed = PackedI8::pack(&case.b, n, k);
    let mut q = vec![0u8; m * k];
    let (mut scale, mut zp) = (vec![0.0f32; m], vec![0i32; m]);
    quantize_rows(&case.a, k, &mut q, &mut scale, &mut zp);
    for path in paths() {
        let mut sums = vec![0i32; m * n];
        I8Kernels::of(path).sums(m, &q, &packed, &mut sums);
        let got = case.run(path, &packed, 0);
        for i in 0..m {
            for j in 0..n {
                let want = dequantize(
                    sums[i * n + j],
                    zp[i],
                    packed.col_sums()[j],
                    scale[i],
                    packed.scales()[j],
                );
                assert_eq!(
                    got[i * n + j].to_bits(),
                    want.to_bits(),
                    "{path:?} ({i}, {j})"
                );
            }
        }
    }
}

#[test]
fn reference_is_within_the_quantization_bound() {
    // |x·w − x̂·ŵ| ≤ |x|·δw + |w|·δx + δx·δw with δ half a step, summed over k: what
    // rounding both operands to their grids can cost, and no more.
    let mut rng = Rng(42);
    for &(m, n, k) in &[(5, 33, 769), (13, 17, 64), (1, 1, 3), (4, 64, 1537)] {
        let case = Case::new(m, n, k, &mut rng);
        let packed = PackedI8::pack(&case.b, n, k);
        let kp = padded_k(k);
        let mut q = vec![0u8; kp];
        for kind in [0u32, 1, 2, 3] {
            let got = case.run(I8Path::Reference, &packed, kind);
            for i in 0..m {
                let rq = quantize_row(&case.a[i * k..(i + 1) * k], &mut q);
                for j in 0..n {
                    let sw = packed.scales()[j] as f64;
                    let (mut dot, mut bound) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        let (x, w) = (case.a[i * k + p] as f64, case.b[j * k + p] as f64);
                        dot += x * w;
                        bound += x.abs() * sw / 2.0
                            + w.abs() * rq.scale as f64 / 2.0
                            + sw * rq.scale as f64 / 4.0;
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
                    // fp32 dequantization and epilogue rounding on top (relative 1e-6).
                    let tol = bound * 1.0001 + 1e-5 * (1.0 + want.abs());
                    let g = got[i * n + j] as f64;
                    assert!(
                        (g - want).abs() <= tol,
                        "{m}x{n}x{k} kind {kind} ({i},{j}): {g} vs {want} (bound {tol})"
                    );
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = Rng(7);
    let case = Case::new(200, 300, 1500, &mut rng);
    let packed = PackedI8::pack(&case.b, 300, 1500);
    for path in paths() {
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| case.run(path, &packed, 3))
        };
        let (one, three) = (run(1), run(3));
        assert!(
            one.iter()
                .zip(&three)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{path:?}"
        );
    }
}

#[test]
fn quantization_round_trips_within_half_a_step() {
    let mut rng = Rng(3);
    let row: Vec<f32> = (0..333).map(|_| rng.f() * 3.0 - 0.5).collect();
    let mut q = vec![7u8; 340];
    let rq = quantize_row(&row, &mut q);
    assert!(rq.scale > 0.0 && (0..=255).contains(&rq.zero_point));
    for (&x, &v) in row.iter().zip(&q) {
        let back = rq.scale * (v as i32 - rq.zero_point) as f32;
        assert!(
            (back - x).abs() <= rq.scale * 0.5 * 1.0001,
            "{x} → {v} → {back}"
        );
    }
    assert!(q[333..].iter().all(|&v| v == 0), "padding is zeroed");
    // 0.0 is exactly representable (its level is the zero point).
    let mut one = [0u8; 1];
    quantize_row(&[0.0], &mut one);
    assert_eq!(one[0], 0);
    let with_zero = [0.0f32, 1.0, -0.3];
    let mut q3 = [0u8; 3];
    let r3 = quantize_row(&with_zero, &mut q3);
    assert_eq!(q3[0] as i32, r3.zero_point);
}

#[test]
fn quantization_of_awkward_rows() {
    let mut q = vec![0u8; 8];
    // All zeros: scale 1, zero point 0, all levels 0.
    let r = quantize_row(&[0.0; 8], &mut q);
    assert_eq!((r.scale, r.zero_point), (1.0, 0));
    assert!(q.iter().all(|&v| v == 0));
    // A constant positive row: range [0, c]; c maps to 255 and back exactly enough.
    let r = quantize_row(&[2.5; 8], &mut q);
    assert_eq!(r.zero_point, 0);
    assert!(q.iter().all(|&v| v == 255));
    assert!((r.scale * 255.0 - 2.5).abs() < 1e-6);
    // A constant negative row: zero point 255, values at level 0.
    let r = quantize_row(&[-4.0; 8], &mut q);
    assert_eq!(r.zero_point, 255);
    assert!(q.iter().all(|&v| v == 0));
    // One huge outlier: it is represented, small values collapse to the zero point.
    let mut row = [0.01f32; 8];
    row[3] = 1.0e6;
    let r = quantize_row(&row, &mut q);
    assert_eq!(q[3], 255);
    assert!(q
        .iter()
        .enumerate()
        .all(|(i, &v)| i == 3 || v as i32 == r.zero_point));
    // NaN and infinities: finite levels, no panic.
    let r = quantize_row(&[f32::NAN, 1.0, -1.0, 0.5], &mut q[..4]);
    assert!(r.scale.is_finite());
    let _ = quantize_row(&[f32::INFINITY, 1.0, f32::NEG_INFINITY], &mut q[..3]);
    // Many rows at once equal row by row.
    let mut rng = Rng(11);
    let (rows, k) = (70, 1001);
    let src = rng.vec(rows * k);
    let kp = padded_k(k);
    let (mut dst, mut sc, mut zp) = (vec![0u8; rows * kp], vec![0.0; rows], vec![0; rows]);
    quantize_rows(&src, k, &mut dst, &mut sc, &mut zp);
    let mut one = vec![0u8; kp];
    for i in 0..rows {
        let r = quantize_row(&src[i * k..(i + 1) * k], &mut one);
        assert_eq!((r.scale, r.zero_point), (sc[i], zp[i]));
        assert_eq!(&one[..], &dst[i * kp..(i + 1) * kp]);
    }
}

#[test]
fn simd_quantization_equals_the_scalar_one() {
    let mut rng = Rng(99);
    for len in [0usize, 1, 5, 15, 16, 17, 31, 64, 100, 1024, 4096, 4099] {
        for case in 0..4 {
            let mut row: Vec<f32> = (0..len).map(|_| rng.f() * 4.0).collect();
            match case {
                1 if len > 3 => {
                    row[len / 2] = f32::NAN;
                    row[1] = 1e7;
                }
                2 => row.iter_mut().for_each(|x| *x = x.abs() + 0.25),
                3 if len > 2 => row[len - 1] = f32::INFINITY,
                _ => {}
            }
            let (mut a, mut b) = (vec![9u8; len + 3], vec![7u8; len + 3]);
            let (qa, qb) = (
                quantize_row(&row, &mut a),
                quantize_row_reference(&row, &mut b),
            );
            assert_eq!(
                (qa.scale.to_bits(), qa.zero_point),
                (qb.scale.to_bits(), qb.zero_point)
            );
            assert_eq!(a, b, "len {len} case {case}");
        }
    }
}

#[test]
fn weight_quantization_is_per_column_and_symmetric() {
    let (n, k) = (3, 5);
    let b = [
        1.0, -2.0, 0.5, 0.0, 2.0, // amax 2
        0.0, 0.0, 0.0, 0.0, 0.0, // all zero
        -1e-3, 1e-3, 5e-4, 0.0, 0.0, // tiny
    ];
    let p = PackedI8::pack(&b, n, k);
    assert_eq!(p.scales()[0], 2.0 / 127.0);
    assert_eq!((p.get(0, 1), p.get(0, 4)), (-127, 127));
    assert_eq!(p.scales()[1], 0.0);
    assert!((0..k).all(|c| p.get(1, c) == 0));
    assert_eq!((p.get(2, 0), p.get(2, 1)), (-127, 127));
    assert_eq!(p.col_sums(), &p.recompute_col_sums()[..]);
    assert_eq!(
        p.col_sums()[0],
        -127 + 127 + p.get(0, 0) as i32 + p.get(0, 2) as i32
    );
}
