//! int8 and bf16 GEMM throughput on BERT-large's shapes, against each precision's measured
//! instruction peak (`kernels::peak`), for 1 and 2 threads.
//!
//! ```text
//! cargo run --release -p bertqa-kernels --example lowp_table [-- --precision int8|bf16] [--shape M N K] [--threads T] [--pin] [--cold] [--gelu]
//! ```
//! bf16 rows give the GEMM with A's rounding included (the `+quant` column). int8 rows give the product alone (`gemm`: the median of quantize + product minus the median
//! of the quantization alone) and, in `+quant`, with the per-row quantization of A (what a
//! layer runs).
//! Each figure is the median of interleaved calls; 1 thread is timed in this thread's CPU
//! time, 2 threads in wall time (see `gemm_table` for why).

#[path = "common/mod.rs"]
mod common;

use bertqa_kernels::{
    gemm_bf16_in, gemm_i8_quantized, pack_i8, quantize_i8, Bf16Scratch, I8Scratch, PackedBf16,
    PackedI8,
};
use bertqa_kernels::{peak, Epilogue};
use common::{pin_to_cpu, rand_vec, thread_cpu_seconds};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median seconds of each closure, run round-robin for `budget` (≥ 5 rounds).
fn median_interleaved(fs: &mut [&mut dyn FnMut()], budget: Duration, cpu: bool) -> Vec<f64> {
    let epoch = Instant::now();
    let now = || {
        if cpu {
            thread_cpu_seconds()
        } else {
            epoch.elapsed().as_secs_f64()
        }
    };
    for f in fs.iter_mut() {
        f();
    }
    let mut ts = vec![Vec::new(); fs.len()];
    let start = Instant::now();
    while ts[0].len() < 5 || (start.elapsed() < budget && ts[0].len() < 200) {
        for (f, t) in fs.iter_mut().zip(ts.iter_mut()) {
            let t0 = now();
            f();
            t.push(now() - t0);
        }
    }
    ts.into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect()
}

/// "GOP/s  %peak", or dashes where a column does not apply (bf16 has no separate conversion).
fn cell(g: f64, peak: f64) -> String {
    if g.is_nan() {
        format!("{:>7} {:>6}", "-", "-")
    } else {
        format!("{g:>7.1} {:>5.1}%", 100.0 * g / peak)
    }
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let int8 = arg(&args, "--precision").is_none_or(|p| p == "int8");
    let pin = args.iter().any(|a| a == "--pin");
    // `--cold`: cycle through enough copies of B (≥ 64 MiB) that each call reads its weights
    // from memory, as a forward pass does (BERT-large's weights do not fit any cache).
    let cold = args.iter().any(|a| a == "--cold");
    // `--gelu`: the FFN-up epilogue (bias + GELU) instead of none, to see what it costs.
    let gelu = args.iter().any(|a| a == "--gelu");
    let only_threads: Option<usize> =
        arg(&args, "--threads").map(|t| t.parse().expect("--threads N"));
    let shapes: Vec<(usize, usize, usize)> = match args.iter().position(|a| a == "--shape") {
        Some(i) => {
            let v: Vec<usize> = args[i + 1..i + 4]
                .iter()
                .map(|s| s.parse().expect("--shape M N K"))
                .collect();
            vec![(v[0], v[1], v[2])]
        }
        None => [128, 384]
            .into_iter()
            .flat_map(|m| {
                [
                    (m, 3072, 1024),
                    (m, 1024, 1024),
                    (m, 4096, 1024),
                    (m, 1024, 4096),
                ]
            })
            .collect(),
    };
    let budget = Duration::from_millis(1200);
    let what = if int8 {
        format!("int8 ({})", bertqa_kernels::I8Path::current().kernel_name())
    } else {
        format!(
            "bf16 ({})",
            bertqa_kernels::Bf16Path::current().kernel_name()
        )
    };
    println!("bertqa {what} GEMM, GOP/s (median of interleaved calls)");
    for threads in [1usize, 2] {
        if only_threads.is_some_and(|t| t != threads) {
            continue;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .start_handler(move |i| {
                if pin {
                    pin_to_cpu(i)
                }
            })
            .build()
            .unwrap();
        pool.install(|| {
            let pk = if int8 {
                peak::int8_peak_gops(threads)
            } else {
                peak::bf16_peak_gflops(threads)
            };
            let burst = if int8 {
                peak::int8_burst()
            } else {
                peak::bf16_burst()
            };
            println!(
                "\nthreads = {threads}: measured peak {pk:.0} GOP/s ({})",
                burst.map_or("none", |b| b.name())
            );
            println!(
                "{:>5} {:>5} {:>5} | {:>7} {:>6} | {:>7} {:>6}",
                "m", "n", "k", "gemm", "%peak", "+quant", "%peak"
            );
            for &(m, n, k) in &shapes {
                let a = rand_vec(m * k, 1);
                let b = rand_vec(n * k, 2);
                let mut c = vec![0.0f32; m * n];
                let ops = 2.0 * (m * n * k) as f64;
                let bias = vec![0.01f32; n];
                let epi = || {
                    if gelu {
                        Epilogue::BiasGelu(&bias)
                    } else {
                        Epilogue::None
                    }
                };
                let ts = if int8 {
                    let copies = if cold {
                        (64usize << 20).div_ceil(n * k).max(2)
                    } else {
                        1
                    };
                    let pbs: Vec<PackedI8> = (0..copies).map(|_| pack_i8(&b, n, k)).collect();
                    let mut next = 0;
                    let (mut s1, mut s2) = (I8Scratch::default(), I8Scratch::default());
                    let mut quant = || quantize_i8(&mut s1, m, black_box(&a), &pbs[0]);
                    let mut full = || {
                        next = (next + 1) % copies;
                        quantize_i8(&mut s2, m, black_box(&a), &pbs[next]);
                        gemm_i8_quantized(&mut s2, black_box(&pbs[next]), &mut c, epi())
                    };
                    let t = median_interleaved(&mut [&mut quant, &mut full], budget, threads == 1);
                    vec![t[1] - t[0], t[1]]
                } else {
                    let copies = if cold {
                        (32usize << 20).div_ceil(n * k).max(2)
                    } else {
                        1
                    };
                    let pbs: Vec<PackedBf16> =
                        (0..copies).map(|_| PackedBf16::pack(&b, n, k)).collect();
                    let mut next = 0;
                    let mut s = Bf16Scratch::default();
                    let mut full = || {
                        next = (next + 1) % copies;
                        gemm_bf16_in(&mut s, m, black_box(&a), &pbs[next], &mut c, epi())
                    };
                    let t = median_interleaved(&mut [&mut full], budget, threads == 1);
                    vec![f64::NAN, t[0]]
                };
                let g: Vec<f64> = ts.iter().map(|t| ops / t / 1e9).collect();
                println!(
                    "{m:>5} {n:>5} {k:>5} | {} | {}",
                    cell(g[0], pk),
                    cell(g[1], pk)
                );
            }
        });
    }
}
