//! `bertqa bench`: times the forward pass on deterministic token ids.

use super::ModelArgs;
use bertqa::InputError;
use bertqa::{Error, Precision, QaOptions, Sequence};
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Tokens per sequence.
    #[arg(long, default_value_t = QaOptions::default().max_seq_length)]
    seq: usize,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed iterations (after one warm-up).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also print the time per stage (embeddings, QKV, attention, FFN, layer norms, head).
    #[arg(long)]
    profile: bool,
}

/// `batch` sequences of `seq` deterministic ids shaped like a QA input: [CLS] question(16)
/// [SEP] context [SEP].
fn inputs(seq: usize, batch: usize) -> Vec<Sequence> {
    (0..batch)
        .map(|b| {
            let mut ids: Vec<u32> = (0..seq)
                .map(|i| 1000 + ((i * 7919 + b * 104_729) % 20_000) as u32)
                .collect();
            ids[0] = 101;
            ids[seq - 1] = 102;
            let q = 17.min(seq - 1);
            ids[q] = 102;
            let types = (0..seq).map(|i| u32::from(i > q)).collect();
            Sequence {
                attention_mask: vec![1; seq],
                input_ids: ids,
                token_type_ids: types,
            }
        })
        .collect()
}

pub fn run(args: &BenchArgs, global: &super::Global) -> Result<(), Error> {
    let BenchArgs {
        ref model,
        seq,
        batch,
        iters,
        json,
        profile,
    } = *args;
    if seq < 2 || batch == 0 || iters == 0 {
        return Err(Error::Input {
            kind: InputError::Options,
            message: "--seq must be ≥ 2, --batch and --iters ≥ 1".into(),
        });
    }
    let t0 = std::time::Instant::now();
    let bert = model.load(global)?;
    let load_s = t0.elapsed().as_secs_f64();
    let c = bert.config().clone();
    let seqs = inputs(seq, batch);
    let mut ws = bertqa::model::Workspace::new();
    let mut logits = bertqa::QaLogits::default();
    let mut pass = |ws: &mut bertqa::model::Workspace| -> Result<(), Error> {
        if bert.has_qa_head() {
            bert.forward_into(&seqs, ws, &mut logits)
        } else {
            bert.encode_into(&seqs, ws).map(|_| ())
        }
    };
    pass(&mut ws)?; // warm-up: sizes the workspace
    ws.set_profiling(profile);
    let mut ms = Vec::with_capacity(iters);
    let (threads0, team0) = (threads_now(), bertqa_kernels::team::stats());
    let wall = std::time::Instant::now();
    for _ in 0..iters {
        let t = std::time::Instant::now();
        pass(&mut ws)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let (threads1, team1) = (threads_now(), bertqa_kernels::team::stats());
    let execution = Execution::between(&threads0, &threads1, wall_s, iters, team0, team1);
    let stages: Vec<(&str, f64)> = ws
        .stage_times()
        .entries()
        .iter()
        .map(|(name, d)| (*name, d.as_secs_f64() * 1e3 / iters as f64))
        .collect();
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    let (median, p90, min, max) = (pick(0.5), pick(0.9), ms[0], ms[ms.len() - 1]);
    let flop = c.forward_flop(seq) * batch as f64;
    let gflops = flop / (median * 1e-3) / 1e9;
    let threads = rayon::current_num_threads();
    let precision = bert.precision();
    // % of the peak of the instruction the GEMMs run on — the level's and path's, as the
    // kernels run them (`BERTQA_ISA` included): FMA for fp32, the bf16 path's instruction for
    // bf16, the int8 path's for int8 (a plan with bf16 GEMMs is measured against it too).
    use bertqa_kernels::peak;
    let (burst, peak_name) = match precision {
        Precision::Bf16 => (peak::bf16_burst(), "bf16"),
        Precision::Int8 => (peak::int8_burst(), "int8"),
        _ => (peak::fp32_burst(), "FMA"),
    };
    let peak = burst.map_or(0.0, |b| b.peak(threads));
    let peak_instruction = burst.map(peak::Burst::name);
    let peak_unit = burst.map_or("GFLOP/s", peak::Burst::unit);
    // Resident memory now, weights and a warm workspace included (Linux; 0 elsewhere). VmRSS
    // is in kB whatever the page size (16 or 64 KiB on some ARM kernels).
    let rss_mb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kb| kb / 1024.0);
    // The peak is 0 where no burst exists for the level (the scalar reference; architectures
    // other than x86-64 and aarch64): then there is no percentage to give.
    let percent = (peak > 0.0).then(|| 100.0 * gflops / peak);
    let of_peak = match (percent, peak_instruction) {
        (Some(p), Some(instr)) => format!(
            "{p:.1} % of the measured {peak_name} peak {peak:.1} {peak_unit} ({instr}, {threads} threads)"
        ),
        _ => format!("no {peak_name} peak for these kernels on this CPU"),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"median_ms": median, "p90_ms": p90, "min_ms": min, "max_ms": max, "gflops": gflops,
                "execution": execution.as_ref().map(Execution::json),
                "gflop_per_forward": flop / 1e9, "seq": seq, "batch": batch, "iters": iters,
                "threads": threads, "isa": bertqa_kernels::dispatch::isa().name(), "load_s": load_s,
                "precision": precision.name(), "kernels": bert.kernels_description(),
                "peak_gflops": peak, "percent_of_peak": percent, "rss_mb": rss_mb,
                "peak_instruction": peak_instruction, "peak_kind": peak_name, "peak_unit": peak_unit,
                "peak_threads": threads,
                "stages_ms": profile.then(|| stages.iter().map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>())})
        );
    } else {
        println!(
            "seq {seq} × batch {batch}, {threads} threads, {}: median {median:.1} ms, p90 {p90:.1} ms, min {min:.1} ms; {:.2} GFLOP per forward → {gflops:.1} GFLOP/s = {of_peak} (load {load_s:.2} s, RSS {rss_mb:.0} MB)",
            bert.kernels_description(),
            flop / 1e9
        );
        if let Some(e) = &execution {
            println!("  {}", e.line(max / median));
        }
        if profile {
            let total: f64 = stages.iter().map(|(_, v)| v).sum();
            for (name, v) in &stages {
                println!("  {name:<17} {v:9.1} ms  {:5.1}%", 100.0 * v / total);
            }
        }
    }
    Ok(())
}

/// CPU time (clock ticks) and context switches of each thread of this process, by thread id
/// (Linux `/proc/self/task`; empty elsewhere).
fn threads_now() -> Vec<(u64, u64, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        // stat: fields 14 and 15 (utime, stime) after the parenthesised name.
        let ticks = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|st| {
                let rest = &st[st.rfind(')')? + 2..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
            });
        let switches = std::fs::read_to_string(path.join("status")).ok().map(|st| {
            st.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        });
        if let (Some(t), Some(c)) = (ticks, switches) {
            out.push((tid, t, c));
        }
    }
    out
}

/// How the timed passes used the threads: busy time per thread, context switches, the
/// worker team's sections and parks (kernels::team), per forward.
struct Execution {
    /// CPU seconds of each thread busy during the timed passes over their wall time, busiest
    /// first (threads under 1 %: left out).
    busy: Vec<f64>,
    switches_per_forward: f64,
    sections_per_forward: f64,
    parks_per_forward: f64,
}

impl Execution {
    fn between(
        a: &[(u64, u64, u64)],
        b: &[(u64, u64, u64)],
        wall_s: f64,
        iters: usize,
        team0: (u64, u64),
        team1: (u64, u64),
    ) -> Option<Self> {
        if b.is_empty() || wall_s <= 0.0 {
            return None;
        }
        // Clock ticks are USER_HZ = 100 per second on Linux.
        let mut busy = Vec::new();
        let mut switches = 0;
        for &(tid, t1, c1) in b {
            let (t0, c0) = a.iter().find(|x| x.0 == tid).map_or((0, 0), |x| (x.1, x.2));
            let share = t1.saturating_sub(t0) as f64 / 100.0 / wall_s;
            if share >= 0.01 {
                busy.push(share);
            }
            switches += c1.saturating_sub(c0);
        }
        busy.sort_by(|x, y| y.total_cmp(x));
        let per = |v: u64| v as f64 / iters as f64;
        Some(Execution {
            busy,
            switches_per_forward: per(switches),
            sections_per_forward: per(team1.0 - team0.0),
            parks_per_forward: per(team1.1 - team0.1),
        })
    }

    fn line(&self, max_over_median: f64) -> String {
        let busy: Vec<String> = self
            .busy
            .iter()
            .map(|b| format!("{:.0} %", 100.0 * b))
            .collect();
        let busy = if busy.is_empty() {
            "too short to measure (clock ticks of 10 ms)".to_string()
        } else {
            format!("{} of the wall time", busy.join(" / "))
        };
        format!(
            "execution: slowest/median {max_over_median:.3}; threads busy {busy}; \
             per forward {:.0} context switches, {:.0} team sections, {:.1} helper parks",
            self.switches_per_forward, self.sections_per_forward, self.parks_per_forward
        )
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({"busy": self.busy, "switches_per_forward": self.switches_per_forward,
            "team_sections_per_forward": self.sections_per_forward,
            "team_parks_per_forward": self.parks_per_forward})
    }
}
