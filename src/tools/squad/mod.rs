//! SQuAD evaluation: dataset and predictions loading, answering a dataset with a model
//! ([`predict`], what `bertqa eval` runs), and the official metrics (also per article,
//! [`evaluate_per_article`]).
//!
//! One file per job:
//!
//! | file | what |
//! |---|---|
//! | `dataset.rs` | SQuAD files: [`Dataset`] (flattened into [`Example`]s), predictions files |
//! | `normalize.rs` | [`normalize_answer`], the official scripts' normalization |
//! | `metrics_v1.rs` | the official evaluate-v1.1.py: [`evaluate`], [`Scores`] |
//! | `metrics_v2.rs` | the official evaluate-v2.0.py: [`evaluate_v2`], [`ScoresV2`] |
//! | `predict.rs` | answering a dataset with a [`QaModel`](crate::QaModel): [`predict`], [`predict_answers`] |
//!
//! The metrics reproduce the official `evaluate-v1.1.py` script exactly:
//!
//! * [`normalize_answer`]: lower-case, drop ASCII punctuation (`string.punctuation`), replace
//!   the articles `a`/`an`/`the` (regex `\b(a|an|the)\b`) by a space, collapse whitespace;
//! * [`exact_match_score`]: normalized strings are equal;
//! * [`f1_score`]: F1 of the multiset overlap of normalized whitespace-separated tokens;
//! * [`metric_max_over_ground_truths`]: best score over a question's reference answers;
//! * [`evaluate`]: both metrics summed over **all** questions of the dataset (a question
//!   without a prediction scores 0), times 100 over the number of questions.
//!
//! Sums are accumulated in dataset order with the script's operation order, so the scores are
//! bit-for-bit those of the script (`tests/fixtures/squad/expected.json`, written by
//! `weights/squad_reference.py`, checks this). Where normalization may still differ from
//! Python (rare Unicode characters) is described in `normalize.rs`.
//!
//! Reading files, a leading UTF-8 byte-order mark is skipped (Python's `json.load` would
//! reject it); everything else malformed is an error.

mod dataset;
mod metrics_v1;
mod metrics_v2;
mod normalize;
mod predict;

pub use dataset::{
    load_null_odds, load_predictions, null_odds_from_json, predictions_from_json, predictions_json,
    Dataset, Example, NullOdds,
};
pub use metrics_v1::{
    evaluate, evaluate_per_article, exact_match_score, f1_score, metric_max_over_ground_truths,
    score_files, ArticleScores, Scores,
};
pub use metrics_v2::{
    evaluate_v2, evaluate_v2_per_article, question_scores_v2, score_files_v2, ArticleScoresV2,
    BestThresholds, ScoresV2, SubsetScores, NA_PROB_THRESH,
};
pub use normalize::normalize_answer;
pub use predict::{null_odds, predict, predict_answers, prediction_text, PREDICT_BATCH_TOKENS};

/// Helpers shared by the unit tests of the files of this module.
#[cfg(test)]
mod test_support {
    use super::Example;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    /// A file of `tests/fixtures/squad`.
    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/squad")
            .join(name)
    }

    /// Predictions from (id, text) pairs.
    pub fn preds(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A question `id` with these reference answers.
    pub fn example(id: &str, answers: &[&str]) -> Example {
        Example {
            id: id.into(),
            title: Arc::from("t"),
            question: "q?".into(),
            context: Arc::from("c"),
            answers: answers.iter().map(|a| a.to_string()).collect(),
            impossible: answers.is_empty(),
            plausible_answers: Vec::new(),
        }
    }
}
