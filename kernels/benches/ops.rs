//! Row-wise op benches at BERT-large's 384-token shapes, every ISA this CPU has (the reference is
//! the baseline). Throughput in bytes read + written; for attention, in FLOP (4·len²·d per head:
//! Q·Kᵀ and P·V), one and two threads.
//!
//! ```text
//! cargo bench -p bertqa-kernels --bench ops
//! ```

use bertqa_kernels::{AttentionScratch, AttentionShape, Bf16Kernels, Bf16Path, Isa, Kernels};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn ops(cr: &mut Criterion) {
    let (tokens, hidden, inter, heads) = (384usize, 1024usize, 4096usize, 16usize);
    let g = rand_vec(hidden, 1);
    let b = rand_vec(hidden, 2);
    let x0 = rand_vec(tokens * hidden, 3);
    let res = rand_vec(tokens * hidden, 4);
    let isas = Isa::supported();

    let mut grp = cr.benchmark_group("layer_norm/384x1024");
    grp.throughput(Throughput::Bytes((2 * 4 * tokens * hidden) as u64));
    grp.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &isa in &isas {
        let mut x = x0.clone();
        grp.bench_function(BenchmarkId::new(isa.name(), "plain"), |bch| {
            bch.iter(|| {
                x.copy_from_slice(&x0);
                Kernels::of(isa).layer_norm(black_box(&mut x), &g, &b, 1e-12)
            })
        });
        grp.bench_function(BenchmarkId::new(isa.name(), "add"), |bch| {
            bch.iter(|| {
                x.copy_from_slice(&x0);
                Kernels::of(isa).add_layer_norm(black_box(&mut x), &res, &g, &b, 1e-12)
            })
        });
    }
    grp.finish();

    let s0 = rand_vec(heads * tokens * tokens, 5);
    let keep: Vec<bool> = (0..tokens).map(|i| i < 300).collect();
    let mut grp = cr.benchmark_group("masked_softmax/16x384x384");
    grp.throughput(Throughput::Bytes((2 * 4 * heads * tokens * tokens) as u64));
    grp.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &isa in &isas {
        let mut s = s0.clone();
        grp.bench_function(BenchmarkId::new(isa.name(), "t1"), |bch| {
            bch.iter(|| {
                s.copy_from_slice(&s0);
                for row in s.chunks_exact_mut(tokens) {
                    Kernels::of(isa).masked_softmax(row, 0.125, &keep);
                }
            })
        });
        grp.bench_function(BenchmarkId::new(isa.name(), "unnormalized"), |bch| {
            bch.iter(|| {
                s.copy_from_slice(&s0);
                for row in s.chunks_exact_mut(tokens) {
                    black_box(Kernels::of(isa).softmax_unnormalized(row));
                }
            })
        });
    }
    grp.finish();

    // The whole attention of one BERT-large layer at 384 tokens (SIMD ISAs; the reference GEMM
    // would take seconds).
    let d = hidden / heads;
    let qkv = rand_vec(tokens * 3 * hidden, 7);
    let all = vec![true; tokens];
    let lens = [tokens];
    let shape = AttentionShape {
        heads,
        head_dim: d,
        scale: 1.0 / (d as f32).sqrt(),
        lens: &lens,
    };
    let mut grp = cr.benchmark_group("attention/16x384x64");
    grp.throughput(Throughput::Elements(
        (4 * heads * tokens * tokens * d) as u64,
    ));
    grp.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for &isa in isas.iter().filter(|&&i| i != Isa::Reference) {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut ctx = vec![0.0; tokens * hidden];
            let mut scratch = AttentionScratch::new();
            grp.bench_function(BenchmarkId::new(isa.name(), format!("t{threads}")), |bch| {
                pool.install(|| {
                    bch.iter(|| {
                        Kernels::of(isa).attention(
                            &qkv,
                            &shape,
                            &all,
                            black_box(&mut ctx),
                            &mut scratch,
                        )
                    })
                })
            });
        }
    }
    // bf16 products (the bf16 precision's attention), on the bf16 path of each SIMD level.
    for path in Bf16Path::ALL
        .into_iter()
        .filter(|p| p.is_supported() && p.oracle() != *p)
    {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut ctx = vec![0.0; tokens * hidden];
            let mut scratch = AttentionScratch::new();
            let id = BenchmarkId::new(
                format!("bf16_{}", path.kernel_name()),
                format!("t{threads}"),
            );
            grp.bench_function(id, |bch| {
                pool.install(|| {
                    bch.iter(|| {
                        Bf16Kernels::of(path).attention(
                            &qkv,
                            &shape,
                            &all,
                            black_box(&mut ctx),
                            &mut scratch,
                        )
                    })
                })
            });
        }
    }
    grp.finish();

    let h0 = rand_vec(tokens * inter, 6);
    let mut grp = cr.benchmark_group("gelu/384x4096");
    grp.throughput(Throughput::Bytes((2 * 4 * tokens * inter) as u64));
    grp.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &isa in &isas {
        let mut h = h0.clone();
        grp.bench_function(BenchmarkId::new(isa.name(), "t1"), |bch| {
            bch.iter(|| {
                h.copy_from_slice(&h0);
                Kernels::of(isa).gelu(black_box(&mut h))
            })
        });
    }
    grp.finish();
}

criterion_group!(benches, ops);
criterion_main!(benches);
