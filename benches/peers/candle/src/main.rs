//! Peer benchmark for `benches/peers/peers.py`: BERT extractive QA (BertModel + the
//! `qa_outputs` Linear head) with candle on the CPU, from a Hugging Face model directory.
//!
//!     bertqa-peer-candle --model DIR --input FILE.json [--iters K] [--warmup W] [--logits]
//!
//! FILE holds {"input_ids": [[..]], "token_type_ids": [[..]]} (batch 1; the attention mask is
//! all ones). Runs W untimed forward passes, then K timed ones, and prints one JSON object:
//! {"median_ms", "p90_ms", "min_ms", "samples_ms": [..], "load_s", "threads"} and, with
//! --logits, "start_logits"/"end_logits" ([[..]], as `bertqa logits` prints them).
//! Threads: candle's CPU backend reads RAYON_NUM_THREADS (peers.py sets it to 2).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let mut model: Option<PathBuf> = None;
    let mut input: Option<PathBuf> = None;
    let (mut iters, mut warmup, mut want_logits) = (3usize, 1usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--input" => input = args.next().map(PathBuf::from),
            "--iters" => iters = args.next().ok_or("--iters needs a value")?.parse()?,
            "--warmup" => warmup = args.next().ok_or("--warmup needs a value")?.parse()?,
            "--logits" => want_logits = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let model = model.ok_or("--model DIR is required")?;
    let input = input.ok_or("--input FILE is required")?;

    let t0 = Instant::now();
    let cfg: Config = serde_json::from_slice(&std::fs::read(model.join("config.json"))?)?;
    let dev = Device::Cpu;
    let weights = model.join("model.safetensors");
    // SAFETY: the file is not modified while mapped (a read-only benchmark input).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &dev)? };
    let bert = BertModel::load(vb.clone(), &cfg)?;
    let head = candle_nn::linear(cfg.hidden_size, 2, vb.pp("qa_outputs"))?;
    let load_s = t0.elapsed().as_secs_f64();

    let inp: serde_json::Value = serde_json::from_slice(&std::fs::read(&input)?)?;
    let row = |key: &str| -> Res<Vec<u32>> {
        let r = inp[key][0]
            .as_array()
            .ok_or_else(|| format!("{key}[0] missing"))?;
        Ok(r.iter().map(|v| v.as_u64().unwrap_or(0) as u32).collect())
    };
    let ids = row("input_ids")?;
    let types = row("token_type_ids")?;
    let n = ids.len();
    let ids = Tensor::from_vec(ids, (1, n), &dev)?;
    let types = Tensor::from_vec(types, (1, n), &dev)?;
    let mask = Tensor::ones((1, n), DType::U32, &dev)?;

    // One forward pass: encoder, QA head, logits copied out (candle's CPU backend is eager).
    let forward = || -> Res<(Vec<f32>, Vec<f32>)> {
        let hidden = bert.forward(&ids, &types, Some(&mask))?;
        let logits = head.forward(&hidden)?; // [1, n, 2]
        let start = logits.i((0, .., 0))?.to_vec1::<f32>()?;
        let end = logits.i((0, .., 1))?.to_vec1::<f32>()?;
        Ok((start, end))
    };
    for _ in 0..warmup {
        forward()?;
    }
    let mut samples = Vec::with_capacity(iters);
    let mut last = None;
    for _ in 0..iters {
        let t = Instant::now();
        let out = forward()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    let (start, end) = match last {
        Some(l) => l,
        None => forward()?,
    };
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
    };
    let mut out = serde_json::json!({
        "median_ms": pick(0.5), "p90_ms": pick(0.9), "min_ms": pick(0.0),
        "samples_ms": samples, "load_s": load_s, "seq": n,
        "threads": candle_core::utils::get_num_threads(),
        "avx512": candle_core::utils::with_avx(),
    });
    if want_logits {
        out["start_logits"] = serde_json::json!([start]);
        out["end_logits"] = serde_json::json!([end]);
    }
    println!("{out}");
    Ok(())
}
