//! GFLOP/s of bertqa's GEMM vs the `gemm` and `matrixmultiply` crates on BERT-large shapes, with
//! the machine's measured FMA peak, for 1 and 2 threads.
//!
//! ```text
//! cargo run --release -p bertqa-kernels --example gemm_table [-- [--json] [--quick] [--isa NAME]]
//! ```
//! `--quick`: m ∈ {128, 384} and two (n, k) only; `--shape M N K`: one shape; `--threads T`: only
//! T threads (1 or 2). `--json`: one JSON object per line. `--pin`: pin rayon worker i to CPU i.
//!
//! Columns: GFLOP/s (median); `%peak` of the FMA peak measured in the same run; `×gemm`, `×mmul`:
//! speed-up over those crates. For 2 threads, `×1thr` is the wall-clock speed-up over 1 thread
//! and `cpueff` the GFLOP per CPU-second of all threads over the 1-thread rate (1.00 = the
//! parallel split adds no work; on a box shared with other processes `×1thr` cannot show more).
//! matrixmultiply runs single-threaded only (its thread count is fixed by an env var at start-up).

#[path = "common/mod.rs"]
mod common;

use bertqa_kernels::{Epilogue, Isa, Kernels, PackedMatrix};
use common::{pin_to_cpu, rand_vec, thread_cpu_seconds};
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Seconds of CPU time consumed by the whole process (every thread).
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Median seconds per call of each closure, run round-robin (so background load hits all alike)
/// until `budget` has passed, at least 3 rounds. With `cpu_time` (single-threaded runs), the
/// calling thread's CPU time is measured instead of wall time.
fn time_interleaved(fs: &mut [&mut dyn FnMut()], budget: Duration, cpu_time: bool) -> Vec<f64> {
    let now = || {
        if cpu_time {
            thread_cpu_seconds()
        } else {
            Instant::now().duration_since(*EPOCH).as_secs_f64()
        }
    };
    for f in fs.iter_mut() {
        f();
    }
    let mut ts = vec![Vec::new(); fs.len()];
    let start = Instant::now();
    while ts[0].len() < 3 || (start.elapsed() < budget && ts[0].len() < 100) {
        for (f, t) in fs.iter_mut().zip(ts.iter_mut()) {
            let t0 = now();
            f();
            t.push(now() - t0);
        }
    }
    ts.into_iter()
        .map(|mut t| {
            t.sort_by(|a, b| a.partial_cmp(b).unwrap());
            t[t.len() / 2]
        })
        .collect()
}

/// fp32 GFLOP/s of one burst of independent FMA chains in registers (no memory traffic) of the
/// instruction `isa`'s GEMM runs (`peak::Burst::for_fp32`), timed in this thread's CPU time
/// (`cpu`) or wall time.
fn fma_peak_1core(cpu: bool, isa: Isa) -> f64 {
    let wall = || Instant::now().duration_since(*EPOCH).as_secs_f64();
    let Some(burst) = bertqa_kernels::peak::Burst::for_fp32(isa) else {
        return 0.0;
    };
    if cpu {
        burst.run(&thread_cpu_seconds)
    } else {
        burst.run(&wall)
    }
}

/// Measured FMA peak of `threads` threads running at once: best of 10 bursts. One thread is timed
/// in CPU time (like the single-threaded GEMMs), several in wall time (like the parallel GEMMs),
/// so a core lost to another process lowers the peak as it lowers the GEMM.
fn peak(threads: usize, isa: Isa) -> f64 {
    (0..10)
        .map(|_| {
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|_| s.spawn(move || fma_peak_1core(threads == 1, isa)))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
            })
        })
        .fold(0.0, f64::max)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let pin = args.iter().any(|a| a == "--pin");
    let isa = args
        .iter()
        .position(|a| a == "--isa")
        .and_then(|i| args.get(i + 1))
        .map(|s| Isa::from_name(s).expect("--isa reference|avx2|avx512"))
        .unwrap_or_else(bertqa_kernels::dispatch::isa);
    let shape: Option<Vec<usize>> = args.iter().position(|a| a == "--shape").map(|i| {
        args[i + 1..i + 4]
            .iter()
            .map(|v| v.parse().expect("--shape M N K"))
            .collect()
    });
    let only_threads: Option<usize> = args
        .iter()
        .position(|a| a == "--threads")
        .map(|i| args[i + 1].parse().expect("--threads N"));
    let ms: &[usize] = if quick {
        &[128, 384]
    } else {
        &[16, 128, 384, 1536]
    };
    let nks: &[(usize, usize)] = if quick {
        &[(1024, 1024), (4096, 1024)]
    } else {
        &[(1024, 1024), (3072, 1024), (4096, 1024), (1024, 4096)]
    };
    let budget = Duration::from_millis(if quick { 800 } else { 1000 });

    if !json {
        println!("bertqa GEMM ({isa}) vs gemm 0.19 and matrixmultiply 0.3; GFLOP/s, median of interleaved runs");
    }
    let (ms, nks) = match &shape {
        Some(v) => (vec![v[0]], vec![(v[1], v[2])]),
        None => (ms.to_vec(), nks.to_vec()),
    };
    let burst = bertqa_kernels::peak::Burst::for_fp32(isa).map_or("none", |b| b.name());
    let mut one_thread = std::collections::HashMap::new();
    for threads in [1usize, 2] {
        if only_threads.is_some_and(|t| t != threads) {
            continue;
        }
        let pk = peak(threads, isa);
        if json {
            println!("{{\"peak_gflops\":{pk:.1},\"threads\":{threads},\"peak_instruction\":\"{burst}\"}}");
        } else {
            println!("\nthreads = {threads}: measured FMA peak {pk:.1} GFLOP/s ({burst})");
            let (c4, c6) = if threads == 1 {
                ("mmul", "×mmul")
            } else {
                ("×1thr", "cpueff")
            };
            println!(
                "{:>5} {:>5} {:>5} | {:>8} {:>6} | {:>8} {:>8} | {:>6} {:>6}",
                "m", "n", "k", "bertqa", "%peak", "gemm", c4, "×gemm", c6
            );
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
        for &m in &ms {
            for &(n, k) in &nks {
                let a = rand_vec(m * k, 1);
                let b = rand_vec(n * k, 2);
                let pb = PackedMatrix::pack(&b, n, k);
                let c = vec![0.0f32; m * n];
                let flop = 2.0 * (m * n * k) as f64;
                let par = if threads == 1 {
                    gemm::Parallelism::None
                } else {
                    gemm::Parallelism::Rayon(threads)
                };
                let (mut c1, mut c2, mut c3) = (c.clone(), c.clone(), c);
                let mut ours =
                    || Kernels::of(isa).gemm_packed(m, black_box(&a), &pb, &mut c1, Epilogue::None);
                let mut other_gemm = || {
                    // SAFETY: every pointer addresses a live buffer of the given shape and strides.
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            c2.as_mut_ptr(),
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
                };
                let mut mm = || {
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
                            c3.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    }
                };
                let ts = pool.install(|| {
                    if threads == 1 {
                        time_interleaved(&mut [&mut ours, &mut other_gemm, &mut mm], budget, true)
                    } else {
                        time_interleaved(&mut [&mut ours, &mut other_gemm], budget, false)
                    }
                });
                let (t_ours, t_gemm, t_mm) = (ts[0], ts[1], ts.get(2).copied());
                let g = |t: f64| flop / t / 1e9;
                // With several threads, also the CPU time all threads together spent per call
                // (rayon's idle spinning included): GFLOP per CPU-second equal to the 1-thread
                // rate means the parallel split costs nothing, whatever else runs on the box.
                let cpu_gflops = (threads > 1).then(|| {
                    let mut cs: Vec<f64> = (0..7)
                        .map(|_| {
                            let c0 = process_cpu_seconds();
                            pool.install(&mut ours);
                            process_cpu_seconds() - c0
                        })
                        .collect();
                    cs.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    g(cs[cs.len() / 2])
                });
                if threads == 1 {
                    one_thread.insert((m, n, k), g(t_ours));
                }
                let single = one_thread.get(&(m, n, k)).copied();
                if json {
                    let cpu =
                        cpu_gflops.map_or(String::new(), |c| format!(",\"cpu_gflops\":{c:.1}"));
                    println!("{{\"impl\":\"bertqa\",\"m\":{m},\"n\":{n},\"k\":{k},\"threads\":{threads},\"gflops\":{:.1}{cpu}}}", g(t_ours));
                    println!("{{\"impl\":\"gemm\",\"m\":{m},\"n\":{n},\"k\":{k},\"threads\":{threads},\"gflops\":{:.1}}}", g(t_gemm));
                    if let Some(t) = t_mm {
                        println!("{{\"impl\":\"matrixmultiply\",\"m\":{m},\"n\":{n},\"k\":{k},\"threads\":{threads},\"gflops\":{:.1}}}", g(t));
                    }
                } else {
                    let (mm, xmm) = match (t_mm, cpu_gflops, single) {
                        (Some(t), _, _) => (format!("{:8.1}", g(t)), format!("{:6.2}", t / t_ours)),
                        (None, Some(c), Some(s1)) => {
                            (format!("{:8.2}", g(t_ours) / s1), format!("{:6.2}", c / s1))
                        }
                        _ => (format!("{:>8}", "-"), format!("{:>6}", "-")),
                    };
                    println!(
                        "{m:>5} {n:>5} {k:>5} | {:8.1} {:5.1}% | {:8.1} {mm} | {:6.2} {xmm}",
                        g(t_ours),
                        100.0 * g(t_ours) / pk,
                        g(t_gemm),
                        t_gemm / t_ours
                    );
                }
            }
        }
    }
}
