//! SQuAD 2.0 dev on a REAL trained QA model against PyTorch, null answers included.
//!
//! The model is `$BERTQA_QA_MODEL` (minilm-squad) and the data `$BERTQA_SQUAD2_DEV` (the official
//! dev-v2.0.json); .ci/run points both at ../shared. The reference is
//! `tests/fixtures/squad/minilm_v2_{step,overlap}_{predictions,null_odds}.json` and
//! `minilm_v2_reference.json`, written by `weights/squad_v2_reference.py` (PyTorch +
//! transformers 4.57: run_squad.py's rules with `version_2_with_negative` for `step`, run_qa.py's
//! windows and `postprocess_qa_predictions` for `overlap`; null score = the minimum over windows
//! of the `[CLS]` start + end logit, no answer when null score − best span score > 0.0; the
//! official evaluate-v2.0 metrics).
//!
//! Without the two variables the tests say so loudly and pass, except under CI (`CI` set), where
//! missing inputs are a failure. The full dev set is an ignored test, run by hand
//! (docs/accuracy.md):
//!
//! ```sh
//! BERTQA_QA_MODEL=$PWD/../shared/models/minilm-squad BERTQA_SQUAD2_DEV=$PWD/../shared/data/squad-v2.0-dev.json \
//!     cargo test --release --test squad2_real -- --ignored --nocapture
//! ```

mod common;

use bertqa::tools::squad::{
    evaluate_v2, load_null_odds, load_predictions, null_odds, predict_answers, prediction_text,
    Dataset, Example, NullOdds, ScoresV2,
};
use bertqa::{NullAnswer, QaModel, QaOptions, StrideMode};
use common::{env_path, squad_fixture};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Least share of predictions equal to PyTorch's (the issue's bound).
const MIN_SAME: f64 = 0.999;

/// Largest difference between bertqa's null odds (score diff) and PyTorch's: four logits, each
/// within 1e-4 of PyTorch's (tests/reference.rs, tests/real_weights.rs), plus f32 rounding.
const ODDS_TOLERANCE: f64 = 1e-3;

fn reference() -> Value {
    let path = squad_fixture("minilm_v2_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn reference_files(mode: &str) -> (HashMap<String, String>, NullOdds) {
    (
        load_predictions(squad_fixture(&format!("minilm_v2_{mode}_predictions.json"))).unwrap(),
        load_null_odds(squad_fixture(&format!("minilm_v2_{mode}_null_odds.json"))).unwrap(),
    )
}

/// The reference's settings, in `mode`, with its null-answer rule.
fn options(mode: &str) -> QaOptions {
    let r = reference();
    let s = &r["settings"];
    let get = |k: &str| s[k].as_u64().unwrap() as usize;
    QaOptions {
        max_seq_length: get("max_seq_length"),
        max_query_length: get("max_query_length"),
        doc_stride: get("doc_stride"),
        n_best: get("n_best"),
        max_answer_length: get("max_answer_length"),
        stride_mode: match mode {
            "step" => StrideMode::Step,
            _ => StrideMode::Overlap,
        },
        max_batch_tokens: 4096,
        null_answer: NullAnswer::ScoreDiff {
            threshold: s["null_score_diff_threshold"].as_f64().unwrap() as f32,
        },
        ..QaOptions::default()
    }
}

fn na_prob_thresh() -> f64 {
    reference()["settings"]["na_prob_thresh"].as_f64().unwrap()
}

/// `scores` against the reference's figures: every key of evaluate-v2.0's object within `tol`.
fn assert_scores(scores: &ScoresV2, want: &Value, tol: f64, what: &str) {
    let got = serde_json::to_value(scores).unwrap();
    let (got, want) = (got.as_object().unwrap(), want.as_object().unwrap());
    let keys: Vec<&String> = got.keys().collect();
    assert_eq!(keys, want.keys().collect::<Vec<_>>(), "{what}: keys");
    for (k, v) in got {
        let (a, b) = (v.as_f64().unwrap(), want[k].as_f64().unwrap());
        assert!(
            (a - b).abs() <= tol,
            "{what}: {k} {a} vs {b} (tolerance {tol})"
        );
    }
}

/// The dev set is the one the reference ran on, and bertqa's evaluate-v2.0 on the reference's
/// predictions and null odds gives the reference's figures (computed in Python by
/// weights/squad_reference_v2.py): the same sums in the same order, so to the last bit in
/// practice (checked to 1e-9).
#[test]
fn reference_v2_files_score_as_the_official_script() {
    let Some(dev) = env_path(
        "BERTQA_SQUAD2_DEV",
        "reference_v2_files_score_as_the_official_script",
    ) else {
        return;
    };
    let dataset = Dataset::load(&dev).unwrap();
    let r = reference();
    assert!(dataset.is_v2());
    assert_eq!(dataset.len(), r["questions"].as_u64().unwrap() as usize);
    assert_eq!(dataset.len(), 11_873);
    assert_eq!(dataset.unanswerable(), 5_945);
    for mode in ["step", "overlap"] {
        let (preds, odds) = reference_files(mode);
        assert_eq!(
            (preds.len(), odds.len()),
            (dataset.len(), dataset.len()),
            "{mode}"
        );
        let want = &r["modes"][mode];
        let with = evaluate_v2(&dataset, &preds, Some(&odds), na_prob_thresh()).unwrap();
        assert_scores(&with, &want["metrics"], 1e-9, mode);
        let without = evaluate_v2(&dataset, &preds, None, na_prob_thresh()).unwrap();
        assert_scores(&without, &want["metrics_without_null_odds"], 1e-9, mode);
    }
}

/// How bertqa's answers to `examples` compare with the reference of `mode`.
struct Comparison {
    questions: usize,
    same: usize,
    /// Differing predictions: (id, bertqa, PyTorch, PyTorch's score diff).
    differ: Vec<(String, String, String, f64)>,
    /// Largest |bertqa − PyTorch| null odds.
    max_odds_gap: f64,
    ours: ScoresV2,
    theirs: ScoresV2,
    seconds: f64,
}

/// Runs `examples` through bertqa eval's code path (`tools::squad::predict_answers` with the
/// reference's settings) and scores both sides on them.
fn compare(model: &QaModel, examples: &[Example], mode: &str) -> Comparison {
    let (want, want_odds) = reference_files(mode);
    let t = std::time::Instant::now();
    let answers = predict_answers(model, examples, &options(mode), |_| {}).unwrap();
    let seconds = t.elapsed().as_secs_f64();
    let (mut differ, mut max_odds_gap) = (Vec::new(), 0.0f64);
    let mut ours = HashMap::new();
    let mut our_odds = NullOdds::new();
    for (ex, a) in examples.iter().zip(&answers) {
        let text = prediction_text(a);
        let odds = f64::from(null_odds(a).expect("null answers are on"));
        let theirs = want_odds.get(&ex.id).unwrap();
        max_odds_gap = max_odds_gap.max((odds - theirs).abs());
        if text != want[&ex.id] {
            differ.push((
                ex.id.clone(),
                text.to_string(),
                want[&ex.id].clone(),
                theirs,
            ));
        }
        ours.insert(ex.id.clone(), text.to_string());
        our_odds.insert(ex.id.clone(), odds);
    }
    let slice = Dataset {
        version: Some("v2.0".into()),
        examples: examples.to_vec(),
    };
    let thresh = na_prob_thresh();
    Comparison {
        questions: examples.len(),
        same: examples.len() - differ.len(),
        differ,
        max_odds_gap,
        ours: evaluate_v2(&slice, &ours, Some(&our_odds), thresh).unwrap(),
        theirs: evaluate_v2(&slice, &want, Some(&want_odds), thresh).unwrap(),
        seconds,
    }
}

impl Comparison {
    fn report(&self, mode: &str) {
        eprintln!(
            "{mode}: {} of {} predictions equal to PyTorch's ({:.3} %), null odds within {:.1e}, \
             in {:.1} s ({:.1} questions/s)",
            self.same,
            self.questions,
            100.0 * self.same as f64 / self.questions as f64,
            self.max_odds_gap,
            self.seconds,
            self.questions as f64 / self.seconds
        );
        for (id, ours, theirs, diff) in &self.differ {
            eprintln!("  {id}: bertqa {ours:?}, PyTorch {theirs:?} (PyTorch score diff {diff:e})");
        }
        let (a, b) = (
            serde_json::to_value(&self.ours).unwrap(),
            serde_json::to_value(&self.theirs).unwrap(),
        );
        for (k, v) in a.as_object().unwrap() {
            eprintln!(
                "  {k:>18}  bertqa {:>20}  PyTorch {:>20}",
                v.to_string(),
                b[k].to_string()
            );
        }
    }

    /// The issue's bounds: ≥ 99.9 % the same prediction, null odds within ODDS_TOLERANCE, every
    /// figure within `tol`.
    fn check(&self, mode: &str, tol: f64) {
        self.report(mode);
        let share = self.same as f64 / self.questions as f64;
        assert!(
            share >= MIN_SAME,
            "{mode}: only {:.3} % the same",
            100.0 * share
        );
        assert!(
            self.max_odds_gap <= ODDS_TOLERANCE,
            "{mode}: null odds off by {}",
            self.max_odds_gap
        );
        assert_scores(
            &self.ours,
            &serde_json::to_value(&self.theirs).unwrap(),
            tol,
            mode,
        );
    }
}

/// The first articles of the dev set, at least `n` questions in whole articles.
fn first_articles(dataset: &Dataset, n: usize) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    for ex in &dataset.examples {
        if out.len() >= n && !std::sync::Arc::ptr_eq(&out[out.len() - 1].title, &ex.title) {
            break;
        }
        out.push(ex.clone());
    }
    out
}

fn ids(v: &Value) -> HashSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The CI slice: the first four articles (1,160 questions) in step mode, and in overlap mode
/// every question of the dev set whose context needs more than one window (where the modes'
/// windows differ). At most 0.1 % of the predictions may differ from PyTorch's (none did when
/// this was written), the null odds agree within 1e-3, and the figures on the slice within 0.01
/// — or, where a prediction differs, within what that one question can move them (100 / n).
#[test]
fn dev_v2_slice_equals_pytorch() {
    let (Some(dir), Some(dev)) = (
        env_path("BERTQA_QA_MODEL", "dev_v2_slice_equals_pytorch"),
        env_path("BERTQA_SQUAD2_DEV", "dev_v2_slice_equals_pytorch"),
    ) else {
        return;
    };
    let model = QaModel::load(&dir).unwrap();
    let dataset = Dataset::load(&dev).unwrap();
    let slice = first_articles(&dataset, 1_000);
    assert_eq!(slice.len(), 1_160);
    let step = compare(&model, &slice, "step");
    step.check(
        "step",
        0.01 + 100.0 * step.differ.len() as f64 / slice.len() as f64,
    );
    let multi = ids(&reference()["modes"]["overlap"]["multi_window"]);
    let multi: Vec<Example> = dataset
        .examples
        .iter()
        .filter(|e| multi.contains(&e.id))
        .cloned()
        .collect();
    assert!(multi.len() > 100, "{} multi-window questions", multi.len());
    let overlap = compare(&model, &multi, "overlap");
    overlap.check(
        "overlap",
        0.01 + 100.0 * overlap.differ.len() as f64 / multi.len() as f64,
    );
}

/// The full dev set in both modes (about 2 × 150 s on 2 cores): ≥ 99.9 % the same predictions
/// and every evaluate-v2.0 figure within 0.01 of PyTorch's. Run by hand (see the module
/// documentation); docs/accuracy.md has the last results.
#[test]
#[ignore = "the full SQuAD 2.0 dev set, minutes: run by hand with --ignored --nocapture"]
fn full_dev_v2_against_pytorch() {
    let (Some(dir), Some(dev)) = (
        env_path("BERTQA_QA_MODEL", "full_dev_v2_against_pytorch"),
        env_path("BERTQA_SQUAD2_DEV", "full_dev_v2_against_pytorch"),
    ) else {
        return;
    };
    let model = QaModel::load(&dir).unwrap();
    let dataset = Dataset::load(&dev).unwrap();
    for mode in ["step", "overlap"] {
        compare(&model, &dataset.examples, mode).check(mode, 0.01);
    }
}
