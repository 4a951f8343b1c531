//! GFLOP/s of bertqa's fused attention (fp32 and the bf16 path of the ISA level) at the shapes of
//! the models bertqa runs, against the FMA peak measured in the same run.
//!
//! ```text
//! cargo run --release -p bertqa-kernels --example attention_table [-- --isa NAME] [--threads T]
//!     [--shape HEADS D LEN[,LEN...]] [--rounds N] [--only fp32|bf16]
//! ```
//! Default shapes: BERT-large (16 heads × 64) and MiniLM (12 × 32) at 384 and 128 tokens, and
//! MiniLM on a ragged batch of SQuAD-like windows (what `bertqa eval` runs). FLOP per call:
//! 4·len²·d per head and sequence (two products, each multiply-add counted as 2). Times are
//! medians of `--rounds` (default 200) calls, fp32 and bf16 interleaved.

#[path = "common/mod.rs"]
mod common;

use bertqa_kernels::peak::Burst;
use bertqa_kernels::{AttentionScratch, AttentionShape, Isa, Kernels};
use common::rand_vec;
use std::hint::black_box;
use std::time::Instant;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let isa = arg(&args, "--isa")
        .map(|s| Isa::from_name(s).expect("--isa reference|avx2|avx512|neon"))
        .unwrap_or_else(bertqa_kernels::dispatch::isa);
    let threads: usize = arg(&args, "--threads").map_or(1, |t| t.parse().expect("--threads N"));
    let rounds: usize = arg(&args, "--rounds").map_or(200, |t| t.parse().expect("--rounds N"));
    // `--only fp32|bf16`: time one of the two (for a profiler).
    let only = arg(&args, "--only");
    let shapes: Vec<(usize, usize, Vec<usize>)> = match arg(&args, "--shape") {
        Some(_) => {
            let i = args.iter().position(|a| a == "--shape").unwrap();
            let heads = args[i + 1].parse().expect("--shape HEADS D LEN[,LEN..]");
            let d = args[i + 2].parse().expect("--shape HEADS D LEN[,LEN..]");
            let lens = args[i + 3]
                .split(',')
                .map(|l| l.parse().expect("--shape HEADS D LEN[,LEN..]"))
                .collect();
            vec![(heads, d, lens)]
        }
        None => vec![
            (16, 64, vec![384]),
            (16, 64, vec![128]),
            (12, 32, vec![384]),
            (12, 32, vec![128]),
            (12, 32, vec![178, 203, 161, 190, 384, 214, 150, 171]),
        ],
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let peak = Burst::for_fp32(isa).map_or(0.0, |b| b.peak(threads));
    let kernels = Kernels::of(isa);
    let bf16 = kernels.bf16();
    println!(
        "attention on {isa} ({} / bf16 {}), {threads} thread(s); fp32 FMA peak {peak:.1} GFLOP/s",
        kernels.gemm_name(),
        bf16.name()
    );
    println!(
        "{:>6} {:>4} {:>22} | {:>9} {:>7} {:>6} | {:>9} {:>7}",
        "heads", "d", "lens", "fp32 µs", "GFLOP/s", "%peak", "bf16 µs", "GFLOP/s"
    );
    for (heads, d, lens) in shapes {
        let tokens: usize = lens.iter().sum();
        let hidden = heads * d;
        let qkv = rand_vec(tokens * 3 * hidden, 7);
        let keep = vec![true; tokens];
        let shape = AttentionShape {
            heads,
            head_dim: d,
            scale: 1.0 / (d as f32).sqrt(),
            lens: &lens,
        };
        let flop: f64 = lens.iter().map(|&l| 4.0 * (l * l * d * heads) as f64).sum();
        let mut ctx = vec![0.0; tokens * hidden];
        let (mut s32, mut s16) = (AttentionScratch::new(), AttentionScratch::new());
        let (mut t32, mut t16) = (Vec::new(), Vec::new());
        pool.install(|| {
            for round in 0..=rounds {
                let t0 = Instant::now();
                if only != Some("bf16") {
                    kernels.attention(&qkv, &shape, &keep, black_box(&mut ctx), &mut s32);
                }
                let t1 = Instant::now();
                if only != Some("fp32") {
                    bf16.attention(&qkv, &shape, &keep, black_box(&mut ctx), &mut s16);
                }
                let t2 = Instant::now();
                if round > 0 {
                    t32.push((t1 - t0).as_secs_f64());
                    t16.push((t2 - t1).as_secs_f64());
                }
            }
        });
        let median = |t: &mut Vec<f64>| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        };
        let (m32, m16) = (median(&mut t32), median(&mut t16));
        let lens_s = if lens.len() > 3 {
            format!("{} seqs, {tokens} tok", lens.len())
        } else {
            format!("{lens:?}")
        };
        println!(
            "{heads:>6} {d:>4} {lens_s:>22} | {:>9.1} {:>7.1} {:>5.1}% | {:>9.1} {:>7.1}",
            m32 * 1e6,
            flop / m32 / 1e9,
            100.0 * flop / m32 / 1e9 / peak,
            m16 * 1e6,
            flop / m16 / 1e9,
        );
    }
}
