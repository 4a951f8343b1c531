//! The official SQuAD v1.1 metrics (evaluate-v1.1.py): exact match and token F1, over a
//! dataset and per article.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::normalize::tokens;
use super::{load_predictions, normalize_answer, Dataset, Example};
use crate::error::InputError;
use crate::{Error, Result};

/// Exact match: the normalized prediction equals the normalized ground truth.
pub fn exact_match_score(prediction: &str, ground_truth: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(ground_truth)
}

/// Token F1 between a prediction and one ground truth, as the official script computes it:
/// the multiset intersection of the normalized tokens gives `num_same`; the score is 0 when
/// `num_same` is 0 (so also when either side normalizes to nothing, even both), otherwise
/// `2·P·R / (P + R)` with `P = num_same / |prediction|`, `R = num_same / |ground truth|`.
pub fn f1_score(prediction: &str, ground_truth: &str) -> f64 {
    f1_normalized(
        &normalize_answer(prediction),
        &normalize_answer(ground_truth),
    )
}

fn f1_normalized(prediction: &str, ground_truth: &str) -> f64 {
    let prediction_tokens = tokens(prediction);
    let ground_truth_tokens = tokens(ground_truth);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &t in &prediction_tokens {
        *counts.entry(t).or_insert(0) += 1;
    }
    let mut num_same = 0usize;
    for &t in &ground_truth_tokens {
        if let Some(n) = counts.get_mut(t) {
            if *n > 0 {
                *n -= 1;
                num_same += 1;
            }
        }
    }
    if num_same == 0 {
        return 0.0;
    }
    // Same operation order as the script, for bit-identical results.
    let precision = 1.0 * num_same as f64 / prediction_tokens.len() as f64;
    let recall = 1.0 * num_same as f64 / ground_truth_tokens.len() as f64;
    (2.0 * precision * recall) / (precision + recall)
}

/// The best score of `metric(prediction, ground_truth)` over the ground truths (a `bool`
/// metric counts as 0 or 1). With no ground truth (where Python's `max` would raise) it is 0.
///
/// ```
/// use bertqa::tools::squad::{exact_match_score, f1_score, metric_max_over_ground_truths};
/// let truths = ["Denver Broncos", "the Broncos"];
/// assert_eq!(metric_max_over_ground_truths(exact_match_score, "Broncos", &truths), 1.0);
/// assert_eq!(metric_max_over_ground_truths(f1_score, "Broncos", &truths), 1.0);
/// ```
pub fn metric_max_over_ground_truths<T, F, S>(
    mut metric: F,
    prediction: &str,
    ground_truths: &[S],
) -> f64
where
    F: FnMut(&str, &str) -> T,
    T: Into<f64>,
    S: AsRef<str>,
{
    ground_truths
        .iter()
        .map(|g| metric(prediction, g.as_ref()).into())
        .fold(None, |best: Option<f64>, s| {
            Some(best.map_or(s, |b| if s > b { s } else { b }))
        })
        .unwrap_or(0.0)
}

/// SQuAD v1.1 scores, in percent. Serializes to exactly `{"exact_match": .., "f1": ..}`,
/// the official script's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    /// Exact-match score, 0–100.
    pub exact_match: f64,
    /// Token-F1 score, 0–100.
    pub f1: f64,
    /// Number of questions scored (all of the dataset's).
    #[serde(skip)]
    pub total: usize,
    /// Ids of the questions without a prediction (each scored 0), in dataset order; the
    /// official script reports each as "Unanswered question ID will receive score 0.".
    #[serde(skip)]
    pub unanswered: Vec<String>,
}

impl Scores {
    /// Number of questions without a prediction.
    pub fn missing(&self) -> usize {
        self.unanswered.len()
    }
}

/// Scores `predictions` (question id → answer text) against `dataset` as the official
/// script does: every question counts; one without a prediction scores 0; predictions for
/// ids not in the dataset are ignored. An empty dataset (where the script divides by zero)
/// scores 0.
pub fn evaluate(dataset: &Dataset, predictions: &HashMap<String, String>) -> Scores {
    evaluate_examples(&dataset.examples, predictions)
}

/// Exact match (0 or 1) and F1 of one prediction against an example's answers.
fn example_scores(example: &Example, prediction: &str) -> (u64, f64) {
    let prediction = normalize_answer(prediction);
    let truths: Vec<String> = example
        .answers
        .iter()
        .map(|a| normalize_answer(a))
        .collect();
    let em = metric_max_over_ground_truths(|p, g| p == g, &prediction, &truths);
    let f1 = metric_max_over_ground_truths(f1_normalized, &prediction, &truths);
    (em as u64, f1)
}

/// [`evaluate`] over a run of examples (e.g. one article's).
fn evaluate_examples(examples: &[Example], predictions: &HashMap<String, String>) -> Scores {
    let mut exact_match = 0u64;
    let mut f1 = 0.0f64;
    let mut unanswered = Vec::new();
    for example in examples {
        let Some(prediction) = predictions.get(&example.id) else {
            unanswered.push(example.id.clone());
            continue;
        };
        let (em, f) = example_scores(example, prediction);
        exact_match += em;
        f1 += f;
    }
    let total = examples.len();
    let percent = |sum: f64| {
        if total == 0 {
            0.0
        } else {
            100.0 * sum / total as f64
        }
    };
    Scores {
        exact_match: percent(exact_match as f64),
        f1: percent(f1),
        total,
        unanswered,
    }
}

/// The scores of one article (`bertqa eval --per-article`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleScores {
    /// The article's title.
    pub title: String,
    /// Its questions.
    pub questions: usize,
    /// Exact-match score over its questions, 0–100.
    pub exact_match: f64,
    /// Token-F1 score over its questions, 0–100.
    pub f1: f64,
}

/// [`evaluate`] per article, in dataset order: the questions of each article (consecutive
/// examples sharing one title) scored on their own.
pub fn evaluate_per_article(
    dataset: &Dataset,
    predictions: &HashMap<String, String>,
) -> Vec<ArticleScores> {
    dataset
        .articles()
        .map(|article| {
            let scores = evaluate_examples(article, predictions);
            ArticleScores {
                title: article[0].title.to_string(),
                questions: article.len(),
                exact_match: scores.exact_match,
                f1: scores.f1,
            }
        })
        .collect()
}

/// Loads a SQuAD v1.1 dataset and a predictions file and scores them (`bertqa score`).
///
/// Fails as [`Dataset::load`] and [`load_predictions`] do, and with [`Error::Input`] if the
/// dataset holds no question.
pub fn score_files(data: &Path, predictions: &Path) -> Result<Scores> {
    let dataset = Dataset::load(data)?;
    if dataset.is_empty() {
        return Err(Error::input(
            InputError::Data,
            format!("{}: the dataset holds no question", data.display()),
        ));
    }
    let predictions = load_predictions(predictions)?;
    Ok(evaluate(&dataset, &predictions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::squad::load_predictions;
    use crate::tools::squad::test_support::{example, fixture, preds};
    use serde::Deserialize;

    #[test]
    fn exact_match() {
        assert!(exact_match_score("The Denver Broncos!", "denver broncos"));
        assert!(exact_match_score("", ""));
        assert!(exact_match_score("the", "An"));
        assert!(!exact_match_score("Denver", "Denver Broncos"));
        assert!(!exact_match_score("24-10", "24–10"));
    }

    #[test]
    fn f1_partial_overlap() {
        // pred [third super bowl title title], truth [their third super bowl title]:
        // overlap 4, P = 4/5, R = 4/5.
        let f1 = f1_score(
            "third Super Bowl title title",
            "their third Super Bowl title",
        );
        assert!((f1 - 0.8).abs() < 1e-12, "{f1}");
        // Repeated tokens count at most min(count) times: pred [game game game], truth [game]:
        // overlap 1, P = 1/3, R = 1, F1 = 2·(1/3)/(4/3) = 1/2.
        assert_eq!(f1_score("game game game", "the game"), 0.5);
        // pred [a b] truth [b c d] ("a" is an article: use x) -> overlap 1, P=1/2, R=1/3, F1=2/5.
        let f1 = f1_score("x b", "b c d");
        assert!((f1 - 0.4).abs() < 1e-12, "{f1}");
        assert_eq!(f1_score("Denver Broncos", "the denver broncos."), 1.0);
    }

    #[test]
    fn f1_zero_and_empty() {
        assert_eq!(f1_score("Carolina", "Denver"), 0.0);
        assert_eq!(f1_score("", "Denver"), 0.0);
        assert_eq!(f1_score("Denver", ""), 0.0);
        // Both empty: the script's Counter overlap is empty, so F1 is 0 although EM is 1.
        assert_eq!(f1_score("", ""), 0.0);
        assert_eq!(f1_score("the", "a"), 0.0);
        assert!(exact_match_score("the", "a"));
    }

    #[test]
    fn max_over_ground_truths() {
        let truths = [
            "Carolina Panthers",
            "Panthers",
            "the Carolina Panthers team",
        ];
        assert_eq!(
            metric_max_over_ground_truths(exact_match_score, "panthers", &truths),
            1.0
        );
        assert_eq!(
            metric_max_over_ground_truths(f1_score, "Panthers", &truths),
            1.0
        );
        // F1 against each: [carolina panthers] 2/3, [carolina panthers team] 1/2 -> 2/3.
        let f1 = metric_max_over_ground_truths(f1_score, "Panthers", &truths[..1]);
        assert!((f1 - 2.0 / 3.0).abs() < 1e-12);
        let truths = vec!["Carolina".to_string(), "Carolina Panthers team".to_string()];
        let f1 = metric_max_over_ground_truths(f1_score, "Carolina Panthers", &truths);
        assert!((f1 - 0.8).abs() < 1e-12, "{f1}");
        assert_eq!(
            metric_max_over_ground_truths(exact_match_score, "x", &[] as &[&str]),
            0.0
        );
    }

    #[test]
    fn evaluate_counts_missing_predictions() {
        let dataset = Dataset {
            version: Some("1.1".into()),
            examples: vec![
                example("a", &["Denver Broncos", "Broncos"]),
                example("b", &["Carolina Panthers"]),
                example("c", &["February 7, 2016"]),
                example("d", &["Santa Clara"]),
            ],
        };
        let predictions = preds(&[
            ("a", "the Broncos"),
            ("b", "Panthers"),
            ("d", ""),
            ("zzz", "not in the dataset"),
        ]);
        let scores = evaluate(&dataset, &predictions);
        // EM: 1 + 0 + 0 (missing) + 0 = 1 of 4. F1: 1 + 2/3 + 0 + 0 of 4.
        assert_eq!(scores.exact_match, 25.0);
        assert!(
            (scores.f1 - 100.0 * (5.0 / 3.0) / 4.0).abs() < 1e-9,
            "{}",
            scores.f1
        );
        assert_eq!(scores.total, 4);
        assert_eq!(scores.unanswered, vec!["c".to_string()]);
        assert_eq!(scores.missing(), 1);

        let empty = evaluate(&Dataset::default(), &predictions);
        assert_eq!((empty.exact_match, empty.f1, empty.total), (0.0, 0.0, 0));
    }

    #[test]
    fn scores_serialize_to_official_shape() {
        let scores = Scores {
            exact_match: 80.5,
            f1: 88.25,
            total: 7,
            unanswered: vec!["x".into()],
        };
        assert_eq!(
            serde_json::to_string(&scores).unwrap(),
            r#"{"exact_match":80.5,"f1":88.25}"#
        );
    }

    #[test]
    fn per_article_scores_partition_the_questions() {
        let dataset = Dataset::from_json(
            r#"{"data": [
                {"title": "A", "paragraphs": [{"context": "c", "qas": [
                    {"id": "a1", "question": "?", "answers": [{"text": "Denver Broncos"}]},
                    {"id": "a2", "question": "?", "answers": [{"text": "Carolina"}]}]}]},
                {"title": "B", "paragraphs": [{"context": "d", "qas": [
                    {"id": "b1", "question": "?", "answers": [{"text": "Santa Clara"}]}]},
                    {"context": "e", "qas": [
                    {"id": "b2", "question": "?", "answers": [{"text": "Levi's Stadium"}]}]}]}]}"#,
            "x.json",
        )
        .unwrap();
        let predictions = preds(&[
            ("a1", "Broncos"),
            ("a2", "Carolina"),
            ("b2", "Levi's Stadium"),
        ]);
        let per = evaluate_per_article(&dataset, &predictions);
        let got: Vec<_> = per
            .iter()
            .map(|a| (a.title.as_str(), a.questions))
            .collect();
        assert_eq!(got, [("A", 2), ("B", 2)]);
        // A: EM 1 of 2; F1 (2/3 + 1) / 2. B: EM 1 of 2 (b1 unanswered), F1 1 of 2.
        assert_eq!(per[0].exact_match, 50.0);
        assert!((per[0].f1 - 100.0 * (5.0 / 3.0) / 2.0).abs() < 1e-9);
        assert_eq!((per[1].exact_match, per[1].f1), (50.0, 50.0));
        // Weighted by questions, the articles give the whole set's scores.
        let all = evaluate(&dataset, &predictions);
        let f1: f64 = per.iter().map(|a| a.f1 * a.questions as f64).sum::<f64>() / 4.0;
        assert!((f1 - all.f1).abs() < 1e-9);
    }

    /// The committed mini dataset against the official script's numbers
    /// (`weights/squad_reference.py` wrote `expected.json`).
    #[test]
    fn matches_official_script_on_fixture() {
        #[derive(Deserialize)]
        struct Expected {
            scores: ExpectedScores,
            unanswered: Vec<String>,
            questions: Vec<Question>,
        }
        #[derive(Deserialize)]
        struct ExpectedScores {
            exact_match: f64,
            f1: f64,
        }
        #[derive(Deserialize)]
        struct Question {
            id: String,
            normalized_answers: Vec<String>,
            normalized_prediction: Option<String>,
            exact_match: Option<f64>,
            f1: Option<f64>,
        }
        let expected: Expected =
            serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap())
                .unwrap();
        let dataset = Dataset::load(fixture("mini-dev.json")).unwrap();
        let predictions = load_predictions(fixture("mini-preds.json")).unwrap();
        assert_eq!(dataset.len(), expected.questions.len());
        for (ex, q) in dataset.examples.iter().zip(&expected.questions) {
            assert_eq!(ex.id, q.id);
            let normalized: Vec<String> = ex.answers.iter().map(|a| normalize_answer(a)).collect();
            assert_eq!(normalized, q.normalized_answers, "{}", q.id);
            if let Some(p) = predictions.get(&ex.id) {
                assert_eq!(
                    Some(normalize_answer(p)),
                    q.normalized_prediction,
                    "{}",
                    q.id
                );
                let em = metric_max_over_ground_truths(exact_match_score, p, &ex.answers);
                let f1 = metric_max_over_ground_truths(f1_score, p, &ex.answers);
                assert_eq!(Some(em), q.exact_match, "{}", q.id);
                assert!(
                    (f1 - q.f1.unwrap()).abs() < 1e-9,
                    "{}: {f1} vs {:?}",
                    q.id,
                    q.f1
                );
            } else {
                assert!(q.normalized_prediction.is_none(), "{}", q.id);
            }
        }
        let scores = score_files(&fixture("mini-dev.json"), &fixture("mini-preds.json")).unwrap();
        assert!((scores.exact_match - expected.scores.exact_match).abs() < 1e-9);
        assert!((scores.f1 - expected.scores.f1).abs() < 1e-9);
        // Same operation order as the script: the results are in fact bit-identical.
        assert_eq!(scores.exact_match, expected.scores.exact_match);
        assert_eq!(scores.f1, expected.scores.f1);
        assert_eq!(scores.unanswered, expected.unanswered);
        assert_eq!(scores.total, 20);
    }
}
