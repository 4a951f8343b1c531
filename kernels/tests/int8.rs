//! int8 GEMM: every path this CPU has against the scalar reference kernel, and the reference
//! against exact arithmetic.
//!
//! * **Integer sums are equal bit for bit** on every path to its oracle (`I8Path::oracle`: the
//!   reference, or for `vpmaddubsw` its saturating scalar model) for k below, at and above the
//!   k block (partial sums kept in C between blocks), edge tiles included, on 8-bit and on
//!   7-bit activations with their extremes (0/255, 0/127) against weights of 8 and of 7 bits
//!   (±127, ±63); and to exact arithmetic on the activations each path takes against those
//!   weights (`I8Path::activation_levels`).
//! * The `vpmaddubsw` path never saturates at the levels it pairs: all-extreme inputs at
//!   k = 4096 (7-bit activations, 127, against ±127 and −128; 8-bit ones, 255, against its own
//!   7-bit weights ±63 and against −64) give the exact sums; on 8-bit activations against
//!   8-bit weights its model does saturate, and the SIMD kernel with it.
//! * The dequantized products and the bias / bias+residual epilogues are equal bit for bit too
//!   (the same fp32 operations in the same order); GELU epilogues within 4e-6·(1+|x|) (each
//!   ISA's GELU is within 2e-6 of the exact one, docs/numerics.md).
//! * The reference's sums equal an i64 product; the dequantized result is within the bound
//!   the quantization steps allow of the f64 product of the unquantized operands.
//! * Quantization: round trip within half a step; zero and constant rows; a huge outlier;
//!   NaN and ±∞ give finite levels, never a panic.

mod common;

use bertqa_kernels::gemm::int8::{
    a_stride, dequantize, padded_k, quantize_row, quantize_row_reference, quantize_rows, U7, U8,
    W7, W8,
};
use bertqa_kernels::{Epilogue, I8Kernels, I8Path, I8Scratch, PackedI8, KC_I8};
use common::{erf, Rng};
use std::sync::Arc;

fn paths() -> Vec<I8Path> {
    common::report_skipped();
    I8Path::ALL
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

const M: &[usize] = &[1, 2, 3, 4, 5, 11, 12, 13, 25, 32, 65];
const N: &[usize] = &[1, 7, 8, 9, 16, 31, 32, 33, 64, 97];
const K: &[usize] = &[0, 1, 3, 4, 5, 64, 255, KC_I8, KC_I8 + 4, 2 * KC_I8 + 9];

/// Weights whose quantized values cover −127..=127 (each row's extreme maps to ±127).
fn weights(n: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    rng.vec(n * k)
}

/// The exact product of quantized A (rows of `padded_k(k)` bytes) and B, in i64.
fn exact_sums(m: usize, k: usize, a: &[u8], b: &PackedI8) -> Vec<i64> {
    let (n, kp) = (b.n(), padded_k(k));
    let mut out = vec![0i64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|p| a[i * kp + p] as i64 * b.get(j, p) as i64)
                .sum();
        }
    }
    out
}

fn sums(path: I8Path, m: usize, a: &[u8], b: &PackedI8) -> Vec<i32> {
    let mut c = vec![-1i32; m * b.n()];
    I8Kernels::of(path).sums(m, a, b, &mut c);
    c
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
                let b = weights(n, k, &mut rng);
                let kp = padded_k(k);
                for (wl, max) in [W8, W7].into_iter().flat_map(|w| [(w, U8), (w, U7)]) {
                    let packed = PackedI8::pack_to(&b, n, k, wl);
                    // Rows of levels 0..=max with the extremes present.
                    let a: Vec<u8> = (0..m * kp)
                        .map(|i| match i % 7 {
                            0 => max,
                            1 => 0,
                            _ => ((rng.next() >> 40) % (max as u64 + 1)) as u8,
                        })
                        .collect();
                    let exact = exact_sums(m, k, &a, &packed);
                    for path in paths() {
                        let want = sums(path.oracle(), m, &a, &packed);
                        if max <= path.activation_levels(wl) {
                            // The oracle on the activations this path takes: exact.
                            let want64: Vec<i64> = want.iter().map(|&v| v as i64).collect();
                            let what = format!("{:?} {m}x{n}x{k} ±{wl} ≤ {max}", path.oracle());
                            assert_eq!(want64, exact, "{what}");
                        }
                        let got = sums(path, m, &a, &packed);
                        assert_eq!(got, want, "{path:?} {m}x{n}x{k} ±{wl} ≤ {max}: sums differ");
                    }
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
    // A = the path's top level everywhere, B = −w or +w everywhere (its own packing and 8-bit
    // weights): the largest sums a layer can have (k = 4096: ±132,648,960 on 8 bits), where
    // int16 pair sums of 8-bit operands (vpmaddubsw) would saturate.
    let (m, n, k) = (13, 40, 4096);
    let b: Vec<f32> = (0..n * k)
        .map(|i| if (i / k) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    for path in paths() {
        for packed in [PackedI8::pack(&b, n, k), I8Kernels::of(path).pack(&b, n, k)] {
            let (wl, max) = (packed.levels(), path.activation_levels(packed.levels()));
            let got = sums(path, m, &vec![max; m * k], &packed);
            for (idx, &v) in got.iter().enumerate() {
                let sign = if (idx % n) % 2 == 0 { 1 } else { -1 };
                assert_eq!(
                    v,
                    sign * max as i32 * wl as i32 * k as i32,
                    "{path:?} ±{wl} element {idx}"
                );
            }
        }
    }
}

/// Panels of n×k int8 weights, all `v` in the columns where `col(j)`, else `−v`, through
/// `from_shared` (so −128, which `pack` never produces, can be tested too).
fn constant_panels(n: usize, k: usize, v: i8, col: impl Fn(usize) -> bool) -> PackedI8 {
    let kp = padded_k(k);
    let mut panels = vec![0i8; PackedI8::panel_len(n, k)];
    let mut col_sums = vec![0i32; n];
    for j in 0..n {
        let x = if col(j) { v } else { v.saturating_neg() };
        for p in 0..k {
            panels[(j / 32) * 32 * kp + (p / 4) * 128 + (j % 32) * 4 + p % 4] = x;
        }
        col_sums[j] = x as i32 * k as i32;
    }
    let levels = v.unsigned_abs().min(W8);
    PackedI8::from_shared(n, k, levels, Arc::new(panels), vec![1.0; n], col_sums)
}

#[test]
fn maddubs_never_saturates_at_its_levels() {
    // All-extreme inputs at k = 4096: A = 127 everywhere against B = ±127 and against −128 /
    // +127 (which pack never produces, but a file could hold): every pair sum is at its
    // largest, |127·128·2| = 32,512 < 32,767; A = 255 against the path's own 7-bit weights,
    // ±63, and against −64 / +64: |255·64·2| = 32,640. The saturating model and the kernel
    // must give the plain i32 sums.
    let (m, n, k) = (13, 40, 4096);
    for (v, top, what) in [
        (127i8, U7, "U7 ±127"),
        (-128, U7, "U7 −128/127"),
        (63, U8, "U8 ±63"),
        (-64, U8, "U8 −64/64"),
    ] {
        let packed = constant_panels(n, k, v, |j| j % 3 != 1);
        let a = vec![top; m * k];
        let exact = exact_sums(m, k, &a, &packed);
        for path in [I8Path::ReferenceMaddubs, I8Path::Avx2Maddubs] {
            if !path.is_supported() {
                continue;
            }
            let got: Vec<i64> = sums(path, m, &a, &packed)
                .into_iter()
                .map(|v| v as i64)
                .collect();
            assert_eq!(got, exact, "{path:?} {what}");
        }
    }
    // The model does saturate where the instruction does (8-bit activations: ±255·127·2 =
    // ±64,770 → 32,767 or −32,768 per pair), and the kernel with it, bit for bit.
    let packed = constant_panels(n, k, 127, |j| j % 2 == 0);
    let a = vec![U8; m * k];
    let model = sums(I8Path::ReferenceMaddubs, m, &a, &packed);
    for (idx, &v) in model.iter().enumerate() {
        let pair = if (idx % n) % 2 == 0 { 32_767 } else { -32_768 };
        assert_eq!(v, 2 * pair * (k as i32 / 4), "model element {idx}");
    }
    if I8Path::Avx2Maddubs.is_supported() {
        assert_eq!(sums(I8Path::Avx2Maddubs, m, &a, &packed), model);
    }
}

#[test]
#[should_panic(expected = "this path needs 0..=255")]
fn a_quantization_serves_only_paths_of_its_levels() {
    let (m, n, k) = (3, 8, 16);
    let packed = PackedI8::pack(&vec![0.5; n * k], n, k);
    let a = vec![1.0f32; m * k];
    let mut scratch = I8Scratch::default();
    // vpmaddubsw's model against 8-bit weights: 7-bit activations, which no other path takes.
    I8Kernels::of(I8Path::ReferenceMaddubs).quantize(&mut scratch, m, &a, &packed);
    let mut c = vec![0.0; m * n];
    I8Kernels::of(I8Path::Reference).gemm_quantized(&mut scratch, &packed, &mut c, Epilogue::None);
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
        (70, 40, 520), // AMX: two full 32-row tiles and an edge, 12-row epilogue pieces
    ] {
        let case = Case::new(m, n, k, &mut rng);
        let packings = [
            PackedI8::pack(&case.b, n, k),
            PackedI8::pack_to(&case.b, n, k, W7),
        ];
        for kind in 0..4 {
            for (path, packed) in paths()
                .into_iter()
                .flat_map(|p| packings.iter().map(move |b| (p, b)))
            {
                let want = case.run(path.oracle(), packed, kind);
                let got = case.run(path, packed, kind);
                for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    if kind == 2 {
                        assert!(
                            (g - w).abs() <= 4e-6 * (1.0 + w.abs()),
                            "{path:?} ±{} {m}x{n}x{k} GELU: element {i}: {g} vs {w}",
                            packed.levels()
                        );
                    } else {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{path:?} ±{} {m}x{n}x{k} kind {kind}: element {i}: {g} vs {w}",
                            packed.levels()
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
    let mut q = vec![0u8; m * k];
    let (mut scale, mut zp) = (vec![0.0f32; m], vec![0i32; m]);
    for path in paths() {
        let packed = I8Kernels::of(path).pack(&case.b, n, k);
        quantize_rows(
            &case.a,
            k,
            &mut q,
            &mut scale,
            &mut zp,
            I8Kernels::of(path).activation_levels(&packed),
        );
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
        let kp = padded_k(k);
        let mut q = vec![0u8; kp];
        // Each scalar path on 8-bit weights and on its own packing (maddubs: 7-bit ones).
        for (kind, path, wl) in [0u32, 1, 2, 3].into_iter().flat_map(|kind| {
            [I8Path::Reference, I8Path::ReferenceMaddubs]
                .into_iter()
                .flat_map(move |p| [(kind, p, W8), (kind, p, p.weight_levels())])
        }) {
            let packed = PackedI8::pack_to(&case.b, n, k, wl);
            let got = case.run(path, &packed, kind);
            for i in 0..m {
                let row = &case.a[i * k..(i + 1) * k];
                let rq = quantize_row(row, &mut q, path.activation_levels(wl));
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
                        "{path:?} {m}x{n}x{k} kind {kind} ({i},{j}): {g} vs {want} (bound {tol})"
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
    for path in paths() {
        let packed = I8Kernels::of(path).pack(&case.b, 300, 1500);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| case.run(path, &packed, 3))
        };
        let (one, three) = (run(1), run(3));
        let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same(&one, &three), "{path:?}");
        // And equal to the oracle's (bias+residual: no GELU, so bit for bit).
        assert!(
            same(&one, &case.run(path.oracle(), &packed, 3)),
            "{path:?} vs oracle"
        );
    }
}

#[test]
fn quantization_round_trips_within_half_a_step() {
    let mut rng = Rng(3);
    let row: Vec<f32> = (0..333).map(|_| rng.f() * 3.0 - 0.5).collect();
    let mut q = vec![7u8; 340];
    let rq = quantize_row(&row, &mut q, U8);
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
    quantize_row(&[0.0], &mut one, U8);
    assert_eq!(one[0], 0);
    let with_zero = [0.0f32, 1.0, -0.3];
    let mut q3 = [0u8; 3];
    let r3 = quantize_row(&with_zero, &mut q3, U8);
    assert_eq!(q3[0] as i32, r3.zero_point);
}

#[test]
fn quantization_of_awkward_rows() {
    let mut q = vec![0u8; 8];
    // All zeros: scale 1, zero point 0, all levels 0.
    let r = quantize_row(&[0.0; 8], &mut q, U8);
    assert_eq!((r.scale, r.zero_point), (1.0, 0));
    assert!(q.iter().all(|&v| v == 0));
    // A constant positive row: range [0, c]; c maps to 255 and back exactly enough.
    let r = quantize_row(&[2.5; 8], &mut q, U8);
    assert_eq!(r.zero_point, 0);
    assert!(q.iter().all(|&v| v == 255));
    assert!((r.scale * 255.0 - 2.5).abs() < 1e-6);
    // On 7 bits: the top level is 127.
    let r = quantize_row(&[2.5; 8], &mut q, U7);
    assert_eq!(r.zero_point, 0);
    assert!(q.iter().all(|&v| v == 127));
    assert!((r.scale * 127.0 - 2.5).abs() < 1e-6);
    // A constant negative row: zero point at the top level, values at level 0.
    for max in [U8, U7] {
        let r = quantize_row(&[-4.0; 8], &mut q, max);
        assert_eq!(r.zero_point, max as i32);
        assert!(q.iter().all(|&v| v == 0));
    }
    // One huge outlier: it is represented, small values collapse to the zero point.
    let mut row = [0.01f32; 8];
    row[3] = 1.0e6;
    let r = quantize_row(&row, &mut q, U8);
    assert_eq!(q[3], 255);
    assert!(q
        .iter()
        .enumerate()
        .all(|(i, &v)| i == 3 || v as i32 == r.zero_point));
    // NaN and infinities: finite levels, no panic.
    for max in [U8, U7] {
        let r = quantize_row(&[f32::NAN, 1.0, -1.0, 0.5], &mut q[..4], max);
        assert!(r.scale.is_finite());
        assert!(q[..4].iter().all(|&v| v <= max));
        let _ = quantize_row(&[f32::INFINITY, 1.0, f32::NEG_INFINITY], &mut q[..3], max);
        assert!(q[..3].iter().all(|&v| v <= max));
    }
    // Many rows at once equal row by row.
    let mut rng = Rng(11);
    let (rows, k) = (70, 1001);
    let src = rng.vec(rows * k);
    let kp = padded_k(k);
    let (mut dst, mut sc, mut zp) = (vec![0u8; rows * kp], vec![0.0; rows], vec![0; rows]);
    for max in [U8, U7] {
        quantize_rows(&src, k, &mut dst, &mut sc, &mut zp, max);
        let mut one = vec![0u8; kp];
        for i in 0..rows {
            let r = quantize_row(&src[i * k..(i + 1) * k], &mut one, max);
            assert_eq!((r.scale, r.zero_point), (sc[i], zp[i]));
            assert_eq!(&one[..], &dst[i * kp..(i + 1) * kp]);
            assert!(one.iter().all(|&v| v <= max));
        }
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
            for max in [U8, U7] {
                let (mut a, mut b) = (vec![9u8; len + 3], vec![7u8; len + 3]);
                let (qa, qb) = (
                    quantize_row(&row, &mut a, max),
                    quantize_row_reference(&row, &mut b, max),
                );
                assert_eq!(
                    (qa.scale.to_bits(), qa.zero_point),
                    (qb.scale.to_bits(), qb.zero_point)
                );
                assert_eq!(a, b, "len {len} case {case} max {max}");
            }
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
