//! `bertqa eval`: every question of a SQuAD v1.1 or 2.0 file, scored as the official script
//! of its version scores.

use super::{print_scores, print_scores_v2, write_file, ModelArgs, QaArgs};
use bertqa::tools::squad::{Example, NA_PROB_THRESH, PREDICT_BATCH_TOKENS};
use bertqa::InputError;
use bertqa::{Answers, Error, NullAnswer, QaOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// SQuAD v1.1 or 2.0 JSON (e.g. dev-v1.1.json, dev-v2.0.json). On a 2.0 file, questions may
    /// get no answer (--null-score-diff-threshold, default 0.0) and the scores are evaluate-v2.0's.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Write the predictions ({"id": "answer", ...}; "" for no answer) here.
    #[arg(long, value_name = "FILE")]
    predictions_out: Option<PathBuf>,
    /// Write the null odds ({"id": null score − best span score, ...}, evaluate-v2.0's
    /// --na-prob-file) here; needs a 2.0 file or a null-answer option.
    #[arg(long, value_name = "FILE")]
    null_odds_out: Option<PathBuf>,
    /// SQuAD 2.0 scoring: null odds above this count as "no answer" (evaluate-v2.0's
    /// --na-prob-thresh).
    #[arg(long, value_name = "P", default_value_t = NA_PROB_THRESH, allow_negative_numbers = true)]
    na_prob_thresh: f64,
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
    /// Score with the SQuAD 2.0 rules.
    v2: bool,
}

impl Progress {
    fn new(total: usize, v2: bool) -> Self {
        use std::io::IsTerminal;
        Progress {
            total,
            start: std::time::Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            scored: 0,
            em: 0.0,
            f1: 0.0,
            v2,
        }
    }

    /// Scores the predictions not seen yet, and shows where the run stands.
    fn update(&mut self, examples: &[Example], predictions: &[Answers]) {
        use bertqa::tools::squad::{
            exact_match_score, f1_score, metric_max_over_ground_truths, prediction_text,
            question_scores_v2,
        };
        use std::io::Write;
        for (ex, answers) in examples[self.scored..]
            .iter()
            .zip(&predictions[self.scored..])
        {
            let p = prediction_text(answers);
            let (em, f1) = if self.v2 {
                question_scores_v2(ex, p)
            } else {
                (
                    metric_max_over_ground_truths(exact_match_score, p, &ex.answers),
                    metric_max_over_ground_truths(f1_score, p, &ex.answers),
                )
            };
            self.em += em;
            self.f1 += f1;
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

pub fn run(args: &EvalArgs, global: &super::Global) -> Result<(), Error> {
    use bertqa::tools::squad::{
        evaluate, evaluate_per_article, evaluate_v2, evaluate_v2_per_article, null_odds,
        predict_answers, prediction_text, predictions_json, NullOdds,
    };
    let data = &args.data;
    let mut dataset = bertqa::tools::squad::Dataset::load(data)?;
    if let Some(n) = args.limit {
        dataset.examples.truncate(n);
    }
    if dataset.is_empty() {
        return Err(Error::Input {
            kind: InputError::Data,
            message: format!("{}: no question to answer", data.display()),
        });
    }
    if args.max_batch_tokens == 0 {
        return Err(Error::Input {
            kind: InputError::Options,
            message: "--max-batch-tokens must be at least 1".into(),
        });
    }
    let v2 = dataset.is_v2();
    // SQuAD 2.0: run_qa's rule with its default threshold unless told otherwise.
    let null_answer = match args.qa.null_answer() {
        Some(rule) => rule,
        None if v2 => NullAnswer::SCORE_DIFF,
        None => NullAnswer::Never,
    };
    if args.null_odds_out.is_some() && null_answer == NullAnswer::Never {
        return Err(Error::Input {
            kind: InputError::Options,
            message: "--null-odds-out needs null answers: a SQuAD 2.0 file, \
                      --null-score-diff-threshold or --handle-impossible-answer"
                .into(),
        });
    }
    let model = args.model.load_qa(global)?;
    let options = QaOptions {
        top_k: 1,
        max_batch_tokens: args.max_batch_tokens,
        null_answer,
        ..args.qa.options()
    };
    let mut progress = Progress::new(dataset.len(), v2);
    let answers = predict_answers(&model, &dataset.examples, &options, |p| {
        progress.update(&dataset.examples, p)
    })?;
    let ids = || dataset.examples.iter().map(|ex| ex.id.as_str());
    if let Some(path) = &args.predictions_out {
        // The official format, {"id": "text", ...}, in dataset order.
        let json = predictions_json(ids().zip(answers.iter().map(prediction_text)));
        write_file(path, &json)?;
    }
    let odds: Option<NullOdds> = (null_answer != NullAnswer::Never).then(|| {
        ids()
            .zip(&answers)
            .map(|(id, a)| (id, null_odds(a).map_or(0.0, f64::from)))
            .collect()
    });
    if let (Some(path), Some(odds)) = (&args.null_odds_out, &odds) {
        write_file(path, &odds.to_json())?;
    }
    let predictions: std::collections::HashMap<String, String> = ids()
        .map(str::to_string)
        .zip(answers.iter().map(|a| prediction_text(a).to_string()))
        .collect();
    if v2 {
        // What evaluate-v2.0.py prints for the files written above.
        let (odds, thresh) = (odds.as_ref(), args.na_prob_thresh);
        let scores = evaluate_v2(&dataset, &predictions, odds, thresh)?;
        let articles = args
            .per_article
            .then(|| evaluate_v2_per_article(&dataset, &predictions, odds, thresh))
            .transpose()?;
        print_scores_v2(&scores, articles.as_deref());
    } else {
        let scores = evaluate(&dataset, &predictions);
        let articles = args
            .per_article
            .then(|| evaluate_per_article(&dataset, &predictions));
        print_scores(&scores, articles.as_deref());
    }
    Ok(())
}
