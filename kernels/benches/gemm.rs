//! GEMM benches on BERT-large's shapes: bertqa (every ISA this CPU has) vs the `gemm` and
//! `matrixmultiply` crates, 1 and 2 threads. Throughput is 2·m·n·k elements, so criterion's
//! "elem/s" reads as FLOP/s.
//!
//! ```text
//! cargo bench -p bertqa-kernels --bench gemm                 # everything (~5 min)
//! cargo bench -p bertqa-kernels --bench gemm -- 384x4096x1024  # one shape
//! ```
//! Group `gemm_packed/{m}x{n}x{k}`, ids `gemm_ukr_<isa>_<MR>x<NR>/t{threads}` (fp32 and, beside
//! them, the bf16 kernels `gemm_ukr_*bf16*`: bf16 weights, activations rounded per call — the
//! same FLOP count, so the rates compare directly; and the int8 kernels `gemm_ukr_*i8*`: int8
//! weights, activations quantized per call, rates in int8 operations), `gemm/t{threads}`, `matrixmultiply/t1`;
//! group `gemm_strided/{m}x{n}x{k}` for attention's per-head products.

use bertqa_kernels::dispatch::{isa, Isa};
use bertqa_kernels::{
    Bf16Kernels, Bf16Path, Epilogue, I8Kernels, I8Path, Kernels, MatMut, MatRef, PackedBf16,
    PackedMatrix,
};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

const MS: [usize; 4] = [16, 128, 384, 1536];
const NKS: [(usize, usize); 4] = [(1024, 1024), (3072, 1024), (4096, 1024), (1024, 4096)];

fn bench_packed(cr: &mut Criterion) {
    let pools: Vec<_> = [1usize, 2]
        .iter()
        .map(|&t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    for m in MS {
        for (n, k) in NKS {
            let a = rand_vec(m * k, 1);
            let b = rand_vec(n * k, 2);
            let pb = PackedMatrix::pack(&b, n, k);
            let pb16 = PackedBf16::pack(&b, n, k);
            let mut c = vec![0.0f32; m * n];
            let mut g = cr.benchmark_group(format!("gemm_packed/{m}x{n}x{k}"));
            g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            for (threads, pool) in &pools {
                for path in Bf16Path::ALL
                    .into_iter()
                    .filter(|p| p.is_supported() && p.oracle() != *p)
                {
                    g.bench_function(
                        BenchmarkId::new(path.kernel_name(), format!("t{threads}")),
                        |bch| {
                            pool.install(|| {
                                bch.iter(|| {
                                    Bf16Kernels::of(path).gemm(
                                        m,
                                        black_box(&a),
                                        &pb16,
                                        &mut c,
                                        Epilogue::None,
                                    )
                                })
                            })
                        },
                    );
                }
                for path in I8Path::ALL
                    .into_iter()
                    .filter(|p| p.is_supported() && *p != I8Path::Reference)
                {
                    // Each path on its own packing (7-bit weights for vpmaddubsw).
                    let pb8 = I8Kernels::of(path).pack(&b, n, k);
                    g.bench_function(
                        BenchmarkId::new(path.kernel_name(), format!("t{threads}")),
                        |bch| {
                            pool.install(|| {
                                bch.iter(|| {
                                    I8Kernels::of(path).gemm(
                                        m,
                                        black_box(&a),
                                        &pb8,
                                        &mut c,
                                        Epilogue::None,
                                    )
                                })
                            })
                        },
                    );
                }
                // (Avx2Vnni runs the Avx2 fp32 kernel, Avx512Vnni and Avx512Bf16 the Avx512 one: one entry each.)
                for level in Isa::supported().into_iter().filter(|&l| {
                    l != Isa::Reference
                        && l != Isa::Avx2Vnni
                        && l != Isa::Avx512Vnni
                        && l != Isa::Avx512Bf16
                }) {
                    g.bench_function(
                        BenchmarkId::new(Kernels::of(level).gemm_name(), format!("t{threads}")),
                        |bch| {
                            pool.install(|| {
                                bch.iter(|| {
                                    Kernels::of(level).gemm_packed(
                                        m,
                                        black_box(&a),
                                        &pb,
                                        &mut c,
                                        Epilogue::None,
                                    )
                                })
                            })
                        },
                    );
                }
                let par = if *threads == 1 {
                    gemm::Parallelism::None
                } else {
                    gemm::Parallelism::Rayon(*threads)
                };
                g.bench_function(BenchmarkId::new("gemm", format!("t{threads}")), |bch| {
                    pool.install(|| {
                        bch.iter(|| {
                            // SAFETY: every pointer addresses a live buffer of the given shape and strides.
                            unsafe {
                                gemm::gemm(
                                    m,
                                    n,
                                    k,
                                    c.as_mut_ptr(),
                                    1,
                                    n as isize,
                                    false,
                                    a.as_ptr(),
                                    1,
                                    k as isize,
                                    b.as_ptr(),
                                    k as isize,
                                    1,
                                    0.0f32,
                                    1.0f32,
                                    false,
                                    false,
                                    false,
                                    par,
                                )
                            }
                        })
                    })
                });
            }
            g.bench_function(BenchmarkId::new("matrixmultiply", "t1"), |bch| {
                bch.iter(|| {
                    // SAFETY: every pointer addresses a live buffer of the given shape and strides.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            1,
                            k as isize,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                })
            });
            g.finish();
        }
    }
}

/// Attention per head at 384 tokens, read out of a fused QKV buffer (ld = 3·1024).
fn bench_strided(cr: &mut Criterion) {
    let (seq, d, ld) = (384usize, 64usize, 3 * 1024usize);
    let qkv = rand_vec(seq * ld, 3);
    let p = rand_vec(seq * seq, 4);
    let mut out = vec![0.0f32; seq * seq];
    // (name, m, n, k, A view, B view, C row stride)
    let cases = [
        (
            "384x384x64_qk",
            seq,
            seq,
            d,
            MatRef {
                data: &qkv,
                rs: ld,
                cs: 1,
            },
            MatRef {
                data: &qkv[1024..],
                rs: 1,
                cs: ld,
            },
            seq,
        ),
        (
            "384x64x384_pv",
            seq,
            d,
            seq,
            MatRef {
                data: &p,
                rs: seq,
                cs: 1,
            },
            MatRef {
                data: &qkv[2048..],
                rs: ld,
                cs: 1,
            },
            d,
        ),
    ];
    for (name, m, n, k, a, b, rs_c) in cases {
        let mut g = cr.benchmark_group(format!("gemm_strided/{name}"));
        g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        for level in Isa::supported()
            .into_iter()
            .filter(|&l| l != Isa::Avx2Vnni && l != Isa::Avx512Vnni && l != Isa::Avx512Bf16)
        {
            g.bench_function(
                BenchmarkId::new(Kernels::of(level).gemm_name(), "t1"),
                |bch| {
                    bch.iter(|| {
                        Kernels::of(level).gemm_strided(
                            m,
                            n,
                            k,
                            0.125,
                            a,
                            b,
                            MatMut {
                                data: &mut out,
                                rs: rs_c,
                                cs: 1,
                            },
                        )
                    })
                },
            );
        }
        g.bench_function(BenchmarkId::new("matrixmultiply", "t1"), |bch| {
            bch.iter(|| {
                // SAFETY: the views address live buffers of the given shapes and strides.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        0.125,
                        a.data.as_ptr(),
                        a.rs as isize,
                        a.cs as isize,
                        b.data.as_ptr(),
                        b.rs as isize,
                        b.cs as isize,
                        0.0,
                        out.as_mut_ptr(),
                        rs_c as isize,
                        1,
                    )
                }
            })
        });
        g.finish();
    }
    let _ = isa();
}

criterion_group!(benches, bench_strided, bench_packed);
criterion_main!(benches);
