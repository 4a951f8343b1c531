//! Every peak burst this CPU has, at 1 and 2 threads (or `--threads N`): the instruction, its
//! measured rate, and which level or path of the kernels is measured against it.
//!
//! `cargo run --release -p bertqa-kernels --example peaks [-- --threads N]`

use bertqa_kernels::peak::{self, Burst};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: Vec<usize> = match args.iter().position(|a| a == "--threads") {
        Some(i) => vec![args[i + 1].parse().expect("--threads N")],
        None => vec![1, 2],
    };
    println!(
        "kernels: {} (fp32 peak {}, bf16 peak {}, int8 peak {})",
        bertqa_kernels::dispatch::isa(),
        peak::fp32_burst().map_or("none", Burst::name),
        peak::bf16_burst().map_or("none", Burst::name),
        peak::int8_burst().map_or("none", Burst::name),
    );
    for b in Burst::ALL {
        if !b.is_supported() {
            continue;
        }
        let rates: Vec<String> = threads
            .iter()
            .map(|&t| format!("{t} thr {:7.1}", b.peak(t)))
            .collect();
        println!("{:<26} {}  {}", b.name(), rates.join("  "), b.unit());
    }
}
