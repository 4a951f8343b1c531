//! `bertqa eval`: every question of a SQuAD v1.1 file, scored as the official script scores.

use super::{print_scores, ModelArgs, QaArgs};
use bertqa::squad::PREDICT_BATCH_TOKENS;
use bertqa::{Error, QaOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// SQuAD v1.1 JSON (e.g. dev-v1.1.json).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Write the predictions ({"id": "answer", ...}) here.
    #[arg(long, value_name = "FILE")]
    predictions_out: Option<PathBuf>,
    /// Answer only the first N questions (scores are then over those N).
    #[arg(long)]
    limit: Option<usize>,
    /// Also print EM and F1 per article: {"exact_match", "f1", "per_article": [...]}.
    #[arg(long)]
    per_article: bool,
    /// Tokens per forward pass: the windows of many questions run together, up to this.
    #[arg(long, default_value_t = PREDICT_BATCH_TOKENS)]
    max_batch_tokens: usize,
    #[command(flatten)]
    qa: QaArgs,
}

/// Progress of `eval` on stderr: a bar redrawn in place on a terminal, else a plain line every
/// 10 seconds.
struct Progress {
    total: usize,
    start: std::time::Instant,
    last: Option<std::time::Instant>,
    terminal: bool,
    scored: usize,
    em: f64,
    f1: f64,
}

impl Progress {
    fn new(total: usize) -> Self {
        use std::io::IsTerminal;
        Progress {
            total,
            start: std::time::Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            scored: 0,
            em: 0.0,
            f1: 0.0,
        }
    }

    /// Scores the predictions not seen yet, and shows where the run stands.
    fn update(&mut self, examples: &[bertqa::squad::Example], predictions: &[String]) {
        use bertqa::squad::{exact_match_score, f1_score, metric_max_over_ground_truths};
        use std::io::Write;
        for (ex, p) in examples[self.scored..]
            .iter()
            .zip(&predictions[self.scored..])
        {
            self.em += metric_max_over_ground_truths(exact_match_score, p, &ex.answers);
            self.f1 += metric_max_over_ground_truths(f1_score, p, &ex.answers);
        }
        self.scored = predictions.len();
        let (done, total) = (self.scored, self.total);
        let now = std::time::Instant::now();
        let every = std::time::Duration::from_millis(if self.terminal { 200 } else { 10_000 });
        if done < total && self.last.is_some_and(|t| now - t < every) {
            return;
        }
        self.last = Some(now);
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let eta = (total - done) as f64 / rate.max(1e-9);
        let fraction = done as f64 / total.max(1) as f64;
        let (em, f1) = (
            100.0 * self.em / done.max(1) as f64,
            100.0 * self.f1 / done.max(1) as f64,
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            const WIDTH: usize = 30;
            let filled = (fraction * WIDTH as f64).round() as usize;
            write!(
                err,
                "\r[{}{}] {done}/{total} {:5.1}%  EM {em:5.2}  F1 {f1:5.2}  {rate:.1} q/s  ETA {}   ",
                "#".repeat(filled),
                "-".repeat(WIDTH - filled),
                100.0 * fraction,
                clock(eta)
            )
            .and_then(|()| if done == total { writeln!(err) } else { Ok(()) })
        } else {
            writeln!(
                err,
                "bertqa: eval {done}/{total} questions ({:.1}%), EM {em:.2}, F1 {f1:.2}, {rate:.1} questions/s, ETA {}",
                100.0 * fraction,
                clock(eta)
            )
        };
        if done == total {
            let _ = writeln!(
                err,
                "bertqa: answered {total} questions in {elapsed:.1} s ({rate:.1} questions/s)"
            );
        }
    }
}

/// Seconds as m:ss (or h:mm:ss).
fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub fn run(args: &EvalArgs) -> Result<(), Error> {
    use bertqa::squad::{evaluate, evaluate_per_article, predict};
    let data = &args.data;
    let mut dataset = bertqa::squad::Dataset::load(data)?;
    if let Some(n) = args.limit {
        dataset.examples.truncate(n);
    }
    if dataset.is_empty() {
        return Err(Error::Input {
            message: format!("{}: no question to answer", data.display()),
        });
    }
    if args.max_batch_tokens == 0 {
        return Err(Error::Input {
            message: "--max-batch-tokens must be at least 1".into(),
        });
    }
    let model = args.model.load_qa()?;
    let options = QaOptions {
        top_k: 1,
        max_batch_tokens: args.max_batch_tokens,
        ..args.qa.options()
    };
    let mut progress = Progress::new(dataset.len());
    let texts = predict(&model, &dataset.examples, &options, |p| {
        progress.update(&dataset.examples, p)
    })?;
    if let Some(path) = &args.predictions_out {
        // The official format, {"id": "text", ...}, in dataset order.
        let mut json = String::from("{");
        for (i, (ex, text)) in dataset.examples.iter().zip(&texts).enumerate() {
            let sep = if i == 0 { "\n" } else { ",\n" };
            let key = serde_json::to_string(&ex.id).expect("a string");
            let value = serde_json::to_string(text).expect("a string");
            json.push_str(&format!("{sep}{key}: {value}"));
        }
        json.push_str("\n}\n");
        std::fs::write(path, json).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
    }
    let predictions: std::collections::HashMap<String, String> = dataset
        .examples
        .iter()
        .map(|ex| ex.id.clone())
        .zip(texts)
        .collect();
    let scores = evaluate(&dataset, &predictions);
    let articles = args
        .per_article
        .then(|| evaluate_per_article(&dataset, &predictions));
    print_scores(&scores, articles.as_deref());
    Ok(())
}
