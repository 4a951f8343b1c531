//! The official SQuAD 2.0 metrics: `evaluate-v2.0.py`, step for step.
//!
//! What the script does, and so what [`evaluate_v2`] does:
//!
//! * a question **has an answer** when its `answers` list is not empty; its gold answers are
//!   those whose normalized text ([`normalize_answer`]) is not empty, or `[""]` if none is left
//!   (an unanswerable question's only right prediction is the empty text);
//! * `compute_exact`: the normalized texts are equal (0 or 1);
//! * `compute_f1`: token F1 as in v1.1, except that when either side has no tokens the score is
//!   1 if both have none and 0 otherwise (so `""` against `""` scores 1, where v1.1 gives 0);
//! * per question, the best score over its gold answers;
//! * with null odds (`--na-prob-file`), a question whose odds exceed `na_prob_thresh` (1.0) is
//!   scored as if "no answer" had been predicted (1 if it has no answer, else 0);
//! * `exact`, `f1`, `total` over every question; `HasAns_*` and `NoAns_*` over the questions
//!   with and without answers — each only when there is such a question;
//! * with null odds, `best_exact`/`best_f1` and their thresholds: the questions sorted by odds
//!   (ascending, ties in the null-odds file's order), the score each threshold would give if
//!   every question with higher odds were answered "no answer"; the first threshold reaching
//!   the maximum wins, and 0.0 when answering nothing beats every threshold.
//!
//! The scores are summed in the script's order with Python's arithmetic, integers and floats
//! kept apart where Python keeps them apart, so the results are those of the script to the last
//! bit (`tests/fixtures/squad/expected-v2.json` checks this). Where the script stops with an
//! exception — a question without a prediction (its `KeyError` in `make_eval_dict`), a
//! question without null odds, nothing to score (`ZeroDivisionError`) — this returns
//! [`Error::Input`] instead.

use std::collections::HashMap;
use std::path::Path;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::normalize::tokens;
use super::{load_null_odds, load_predictions, normalize_answer, Dataset, Example, NullOdds};
use crate::error::InputError;
use crate::{Error, Result};

/// evaluate-v2.0.py's default `--na-prob-thresh`: null odds above it count as "no answer".
pub const NA_PROB_THRESH: f64 = 1.0;

/// A score as Python holds it: the script returns `int`s from some branches and `float`s from
/// others, and Python's `sum` adds the two kinds differently.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn value(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(x) => x,
        }
    }
}

/// How the Python that ran the official script adds a list with `sum()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // One rule is in use; the other documents the choice and is tested.
enum SumRule {
    /// Python ≤ 3.11: left to right, one rounding per addition.
    Sequential,
    /// Python 3.12 and 3.13: floats added with Neumaier's compensation, ints plainly, the
    /// compensation added at the end.
    Neumaier,
}

/// The rule of the Python that wrote the reference files (3.11).
const PYTHON_SUM: SumRule = SumRule::Sequential;

/// Python's `sum(items)` (start 0): exact integer sums until the first float, then floating
/// point by `rule`.
fn py_sum(items: impl IntoIterator<Item = Num>, rule: SumRule) -> f64 {
    let mut items = items.into_iter();
    let mut int_sum = 0i64;
    let mut sum = loop {
        match items.next() {
            None => return int_sum as f64,
            Some(Num::Int(i)) => int_sum += i,
            // int + float: the int converted, then one addition.
            Some(Num::Float(x)) => break int_sum as f64 + x,
        }
    };
    let mut compensation = 0.0f64;
    for item in items {
        match (item, rule) {
            (Num::Float(x), SumRule::Neumaier) => {
                let t = sum + x;
                if sum.abs() >= x.abs() {
                    compensation += (sum - t) + x;
                } else {
                    compensation += (x - t) + sum;
                }
                sum = t;
            }
            (item, _) => sum += item.value(),
        }
    }
    if compensation != 0.0 && compensation.is_finite() {
        sum += compensation;
    }
    sum
}

/// Python's `max(items)`: the first of the largest.
fn py_max(items: impl IntoIterator<Item = Num>) -> Option<Num> {
    items.into_iter().fold(None, |best, item| match best {
        Some(b) if item.value() <= b.value() => Some(b),
        _ => Some(item),
    })
}

/// `compute_exact(a_gold, a_pred)`.
fn compute_exact(gold: &str, prediction: &str) -> Num {
    Num::Int(i64::from(
        normalize_answer(gold) == normalize_answer(prediction),
    ))
}

/// `compute_f1(a_gold, a_pred)`.
fn compute_f1(gold: &str, prediction: &str) -> Num {
    // get_tokens: [] for an empty text, else the normalized text split.
    let (gold, prediction) = (normalize_answer(gold), normalize_answer(prediction));
    let (gold_toks, pred_toks) = (tokens(&gold), tokens(&prediction));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for &t in &gold_toks {
        *counts.entry(t).or_insert(0) += 1;
    }
    let mut num_same = 0usize;
    for &t in &pred_toks {
        if let Some(n) = counts.get_mut(t).filter(|n| **n > 0) {
            *n -= 1;
            num_same += 1;
        }
    }
    if gold_toks.is_empty() || pred_toks.is_empty() {
        // If either is no-answer, F1 is 1 if they agree, 0 otherwise.
        return Num::Int(i64::from(gold_toks == pred_toks));
    }
    if num_same == 0 {
        return Num::Int(0);
    }
    let precision = 1.0 * num_same as f64 / pred_toks.len() as f64;
    let recall = 1.0 * num_same as f64 / gold_toks.len() as f64;
    Num::Float((2.0 * precision * recall) / (precision + recall))
}

/// The gold answers the script scores against: those that normalize to some text, or `[""]`.
fn gold_answers(example: &Example) -> Vec<&str> {
    let gold: Vec<&str> = example
        .answers
        .iter()
        .map(String::as_str)
        .filter(|a| !normalize_answer(a).is_empty())
        .collect();
    if gold.is_empty() {
        vec![""]
    } else {
        gold
    }
}

/// (exact, F1) of one question, as `get_raw_scores`.
fn raw_scores(example: &Example, prediction: &str) -> (Num, Num) {
    let gold = gold_answers(example);
    let best = |f: fn(&str, &str) -> Num| {
        py_max(gold.iter().map(|g| f(g, prediction))).expect("at least one gold answer")
    };
    (best(compute_exact), best(compute_f1))
}

/// The official v2.0 exact match (0 or 1) and F1 (0 to 1) of one prediction for one question
/// (before any null-odds threshold): the best over its gold answers, `""` being the gold answer
/// of an unanswerable question.
///
/// ```
/// use bertqa::tools::squad::{question_scores_v2, Dataset};
/// let data = Dataset::from_json(r#"{"version": "v2.0", "data": [{"paragraphs": [{"context": "c",
///     "qas": [{"id": "n", "question": "?", "answers": [], "is_impossible": true}]}]}]}"#, "x")?;
/// let unanswerable = &data.examples[0];
/// assert_eq!(question_scores_v2(unanswerable, ""), (1.0, 1.0));
/// assert_eq!(question_scores_v2(unanswerable, "c"), (0.0, 0.0));
/// # Ok::<(), bertqa::Error>(())
/// ```
pub fn question_scores_v2(example: &Example, prediction: &str) -> (f64, f64) {
    let (exact, f1) = raw_scores(example, prediction);
    (exact.value(), f1.value())
}

/// Exact and F1 over some questions, in percent, and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubsetScores {
    /// Exact match, 0–100.
    pub exact: f64,
    /// Token F1, 0–100.
    pub f1: f64,
    /// Questions scored.
    pub total: usize,
}

/// The best scores any null-odds threshold gives, and those thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestThresholds {
    /// The best exact match, 0–100.
    pub best_exact: f64,
    /// The null-odds threshold that gives it (no answer above it).
    pub best_exact_thresh: f64,
    /// The best F1, 0–100.
    pub best_f1: f64,
    /// The null-odds threshold that gives it.
    pub best_f1_thresh: f64,
}

/// The official SQuAD 2.0 scores. Serializes to the script's JSON object, keys in its order:
/// `exact`, `f1`, `total`, then `HasAns_exact`, `HasAns_f1`, `HasAns_total` and the `NoAns_`
/// three where there are such questions, then `best_exact`, `best_exact_thresh`, `best_f1`,
/// `best_f1_thresh` where null odds were given.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoresV2 {
    /// Over every question.
    pub all: SubsetScores,
    /// Over the questions with answers (`None` if there is none).
    pub has_ans: Option<SubsetScores>,
    /// Over the questions without answers (`None` if there is none).
    pub no_ans: Option<SubsetScores>,
    /// The best thresholds, when null odds were given.
    pub best: Option<BestThresholds>,
}

impl Serialize for ScoresV2 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let subsets = [
            ("", Some(&self.all)),
            ("HasAns_", self.has_ans.as_ref()),
            ("NoAns_", self.no_ans.as_ref()),
        ];
        for (prefix, subset) in subsets {
            if let Some(s) = subset {
                map.serialize_entry(&format!("{prefix}exact"), &s.exact)?;
                map.serialize_entry(&format!("{prefix}f1"), &s.f1)?;
                map.serialize_entry(&format!("{prefix}total"), &s.total)?;
            }
        }
        if let Some(b) = &self.best {
            map.serialize_entry("best_exact", &b.best_exact)?;
            map.serialize_entry("best_exact_thresh", &b.best_exact_thresh)?;
            map.serialize_entry("best_f1", &b.best_f1)?;
            map.serialize_entry("best_f1_thresh", &b.best_f1_thresh)?;
        }
        map.end()
    }
}

/// Scores `predictions` (question id → answer text, `""` for "no answer") against `dataset` as
/// evaluate-v2.0.py does, with `null_odds` as its `--na-prob-file` (if any) and `na_prob_thresh`
/// as its `--na-prob-thresh` ([`NA_PROB_THRESH`] by default). Predictions for ids not in the
/// dataset are ignored, as are null odds for them.
///
/// # Errors
/// [`Error::Input`] where the script stops: a question without a prediction, a question without
/// null odds (when odds are given), or a dataset without questions.
pub fn evaluate_v2(
    dataset: &Dataset,
    predictions: &HashMap<String, String>,
    null_odds: Option<&NullOdds>,
    na_prob_thresh: f64,
) -> Result<ScoresV2> {
    // The script's dicts: one entry per id, in first-seen order, the last occurrence's values.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut ids: Vec<&str> = Vec::new();
    let mut has_ans: Vec<bool> = Vec::new();
    let mut raw: Vec<(Num, Num)> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for ex in &dataset.examples {
        let i = *index.entry(&ex.id).or_insert_with(|| {
            ids.push(&ex.id);
            has_ans.push(false);
            raw.push((Num::Int(0), Num::Int(0)));
            ids.len() - 1
        });
        has_ans[i] = !ex.answers.is_empty();
        match predictions.get(&ex.id) {
            Some(p) => raw[i] = raw_scores(ex, p),
            None => missing.push(&ex.id),
        }
    }
    if let Some(first) = missing.first() {
        return Err(Error::input(
            InputError::Data,
            format!(
                "{} of {} questions have no prediction (the first: {first}); the official \
             evaluate-v2.0.py stops on them",
                missing.len(),
                ids.len()
            ),
        ));
    }
    if ids.is_empty() {
        return Err(Error::input(
            InputError::Data,
            "the dataset holds no question to score",
        ));
    }
    // apply_no_ans_threshold: odds above the threshold score as a "no answer" prediction.
    let mut thresholded = raw.clone();
    if let Some(odds) = null_odds {
        for (i, id) in ids.iter().enumerate() {
            let p = odds.get(id).ok_or_else(|| {
                Error::input(
                    InputError::Data,
                    format!("the null odds have no value for question {id}"),
                )
            })?;
            if p > na_prob_thresh {
                let score = Num::Float(if has_ans[i] { 0.0 } else { 1.0 });
                thresholded[i] = (score, score);
            }
        }
    }
    // make_eval_dict over a list of questions.
    let subset = |which: &dyn Fn(usize) -> bool| {
        let picked: Vec<usize> = (0..ids.len()).filter(|&i| which(i)).collect();
        let total = picked.len();
        (total > 0).then(|| SubsetScores {
            exact: 100.0 * py_sum(picked.iter().map(|&i| thresholded[i].0), PYTHON_SUM)
                / total as f64,
            f1: 100.0 * py_sum(picked.iter().map(|&i| thresholded[i].1), PYTHON_SUM) / total as f64,
            total,
        })
    };
    let all = subset(&|_| true).expect("at least one question");
    let best = null_odds.map(|odds| {
        let no_answer = |i: usize| predictions[ids[i]].is_empty();
        let exact_scores: Vec<Num> = raw.iter().map(|s| s.0).collect();
        let f1_scores: Vec<Num> = raw.iter().map(|s| s.1).collect();
        let (best_exact, best_exact_thresh) =
            find_best_thresh(&exact_scores, &has_ans, &no_answer, &index, odds);
        let (best_f1, best_f1_thresh) =
            find_best_thresh(&f1_scores, &has_ans, &no_answer, &index, odds);
        BestThresholds {
            best_exact,
            best_exact_thresh,
            best_f1,
            best_f1_thresh,
        }
    });
    Ok(ScoresV2 {
        all,
        has_ans: subset(&|i| has_ans[i]),
        no_ans: subset(&|i| !has_ans[i]),
        best,
    })
}

/// `find_best_thresh`: walk the questions by ascending odds (a stable sort: equal odds keep the
/// file's order), as if the threshold were each one's odds in turn.
fn find_best_thresh(
    scores: &[Num],
    has_ans: &[bool],
    predicted_no_answer: &dyn Fn(usize) -> bool,
    index: &HashMap<&str, usize>,
    odds: &NullOdds,
) -> (f64, f64) {
    let num_no_ans = has_ans.iter().filter(|&&h| !h).count();
    // Python mixes ints and floats here with plain additions, which f64 does exactly alike
    // for these small integers.
    let mut cur_score = num_no_ans as f64;
    let mut best_score = cur_score;
    let mut best_thresh = 0.0;
    let mut order: Vec<(&str, f64)> = odds.iter().collect();
    order.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
    for (id, p) in order {
        let Some(&i) = index.get(id) else {
            continue;
        };
        let diff = if has_ans[i] {
            scores[i].value()
        } else if predicted_no_answer(i) {
            0.0
        } else {
            -1.0
        };
        cur_score += diff;
        if cur_score > best_score {
            best_score = cur_score;
            best_thresh = p;
        }
    }
    (100.0 * best_score / scores.len() as f64, best_thresh)
}

/// The SQuAD 2.0 scores of one article (`bertqa eval --per-article` on a 2.0 file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleScoresV2 {
    /// The article's title.
    pub title: String,
    /// Its questions.
    pub questions: usize,
    /// Its scores (serialized in line: `exact`, `f1`, `total`, ...).
    #[serde(flatten)]
    pub scores: ScoresV2,
}

/// [`evaluate_v2`] per article, in dataset order: the questions of each article (consecutive
/// examples sharing one title) scored on their own, with the same null odds.
///
/// # Errors
/// As [`evaluate_v2`], for the first article that fails.
pub fn evaluate_v2_per_article(
    dataset: &Dataset,
    predictions: &HashMap<String, String>,
    null_odds: Option<&NullOdds>,
    na_prob_thresh: f64,
) -> Result<Vec<ArticleScoresV2>> {
    dataset
        .articles()
        .map(|article| {
            let sub = Dataset {
                version: dataset.version.clone(),
                examples: article.to_vec(),
            };
            Ok(ArticleScoresV2 {
                title: article[0].title.to_string(),
                questions: article.len(),
                scores: evaluate_v2(&sub, predictions, null_odds, na_prob_thresh)?,
            })
        })
        .collect()
}

/// Loads a SQuAD dataset, a predictions file and, optionally, a null-odds file and scores them
/// with [`evaluate_v2`] (`bertqa score` on a SQuAD 2.0 file).
///
/// # Errors
/// As [`Dataset::load`], [`load_predictions`], [`load_null_odds`] and [`evaluate_v2`].
pub fn score_files_v2(
    data: &Path,
    predictions: &Path,
    null_odds: Option<&Path>,
    na_prob_thresh: f64,
) -> Result<ScoresV2> {
    let dataset = Dataset::load(data)?;
    let predictions = load_predictions(predictions)?;
    let odds = null_odds.map(load_null_odds).transpose()?;
    evaluate_v2(&dataset, &predictions, odds.as_ref(), na_prob_thresh).map_err(|e| match e {
        Error::Input { kind, message } => {
            Error::input(kind, format!("{}: {message}", data.display()))
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::squad::test_support::preds;

    /// Four answerable questions (a3's only answer, "the", normalizes to nothing) and three
    /// unanswerable ones.
    fn dataset() -> Dataset {
        let qa = |id: &str, answers: &[&str]| {
            let answers: Vec<String> = answers
                .iter()
                .map(|a| format!(r#"{{"text": "{a}"}}"#))
                .collect();
            format!(
                r#"{{"id": "{id}", "question": "?", "answers": [{}]}}"#,
                answers.join(", ")
            )
        };
        let qas = [
            qa("a1", &["Denver Broncos", "Broncos"]),
            qa("a2", &["Carolina Panthers"]),
            qa("a3", &["the"]),
            qa("a4", &["Santa Clara"]),
            qa("n1", &[]),
            qa("n2", &[]),
            qa("n3", &[]),
        ];
        let json = format!(
            r#"{{"version": "v2.0", "data": [{{"title": "T", "paragraphs": [{{"context": "c", "qas": [{}]}}]}}]}}"#,
            qas.join(", ")
        );
        Dataset::from_json(&json, "t.json").unwrap()
    }

    fn predictions() -> HashMap<String, String> {
        preds(&[
            ("a1", "the Broncos"),
            ("a2", "Panthers"),
            ("a3", ""),
            ("a4", ""),
            ("n1", ""),
            ("n2", "Levi's Stadium"),
            ("n3", "x"),
            ("zz", "not in the dataset"),
        ])
    }

    fn odds(order: &[(&str, f64)]) -> NullOdds {
        order.iter().map(|&(id, p)| (id, p)).collect()
    }

    fn json(scores: &ScoresV2) -> String {
        serde_json::to_string(scores).unwrap()
    }

    #[test]
    fn compute_exact_and_f1_as_the_script() {
        let f1 = |g, p| compute_f1(g, p);
        // Either side without tokens: 1 if both are empty, else 0, as ints.
        assert_eq!(f1("", ""), Num::Int(1));
        assert_eq!(f1("", "the"), Num::Int(1));
        assert_eq!(f1("Denver", ""), Num::Int(0));
        assert_eq!(f1("", "Denver"), Num::Int(0));
        // No common token: the int 0; otherwise v1.1's F1, a float.
        assert_eq!(f1("Carolina", "Denver"), Num::Int(0));
        assert_eq!(f1("Denver Broncos", "the broncos!"), Num::Float(2.0 / 3.0));
        assert_eq!(f1("Broncos", "the Broncos"), Num::Float(1.0));
        assert_eq!(compute_exact("The Broncos", "broncos"), Num::Int(1));
        assert_eq!(compute_exact("", "a"), Num::Int(1));
        // The first of the largest, kind included.
        assert_eq!(py_max([Num::Int(1), Num::Float(1.0)]), Some(Num::Int(1)));
        assert_eq!(
            py_max([Num::Int(0), Num::Float(0.5), Num::Int(0)]),
            Some(Num::Float(0.5))
        );
        let ex = &dataset().examples;
        // a3's gold "the" normalizes to nothing: its gold answers become [""].
        assert_eq!(gold_answers(&ex[2]), [""]);
        assert_eq!(gold_answers(&ex[4]), [""]);
        assert_eq!(question_scores_v2(&ex[2], ""), (1.0, 1.0));
        assert_eq!(question_scores_v2(&ex[0], "the Broncos"), (1.0, 1.0));
        assert_eq!(question_scores_v2(&ex[1], "Panthers"), (0.0, 2.0 / 3.0));
        assert_eq!(question_scores_v2(&ex[5], "Levi's Stadium"), (0.0, 0.0));
    }

    /// Python's sum: exact ints, then floats one rounding at a time (≤ 3.11) or with Neumaier's
    /// compensation (3.12, 3.13; ints added plainly even then).
    #[test]
    fn python_sum_rules() {
        let big = [Num::Float(1e16), Num::Float(1.0), Num::Float(-1e16)];
        assert_eq!(py_sum(big, SumRule::Sequential), 0.0);
        assert_eq!(py_sum(big, SumRule::Neumaier), 1.0);
        let ints = [Num::Int(1), Num::Int(2), Num::Int(3)];
        assert_eq!(py_sum(ints, SumRule::Neumaier), 6.0);
        assert_eq!(py_sum([], SumRule::Sequential), 0.0);
        // An int among floats is not compensated: 1e16 + 1 (lost) + 1.0 (kept by c) - 1e16.
        let mixed = [
            Num::Float(1e16),
            Num::Int(1),
            Num::Float(1.0),
            Num::Float(-1e16),
        ];
        assert_eq!(py_sum(mixed, SumRule::Neumaier), 1.0);
        assert_eq!(py_sum(mixed, SumRule::Sequential), 0.0);
        // 0.1 + 0.2 + 0.3: sequential rounding gives 0.6000000000000001, as Python 3.11.
        let tenths = [Num::Float(0.1), Num::Float(0.2), Num::Float(0.3)];
        assert_eq!(py_sum(tenths, SumRule::Sequential), 0.6000000000000001);
        assert_eq!(py_sum(tenths, SumRule::Neumaier), 0.6);
    }

    /// Scores worked by hand (and by the script's functions in Python 3.11, whose output is the
    /// expected JSON text).
    #[test]
    fn scores_without_null_odds() {
        let s = evaluate_v2(&dataset(), &predictions(), None, NA_PROB_THRESH).unwrap();
        // exact 1,0,1,0 | 1,0,0 → 3/7; F1 1, 2/3, 1, 0 | 1, 0, 0.
        assert_eq!(
            json(&s),
            r#"{"exact":42.857142857142854,"f1":52.38095238095237,"total":7,"HasAns_exact":50.0,"HasAns_f1":66.66666666666666,"HasAns_total":4,"NoAns_exact":33.333333333333336,"NoAns_f1":33.333333333333336,"NoAns_total":3}"#
        );
        // Null odds of 0 everywhere change nothing but add the best thresholds. The walk starts
        // from "no answer" everywhere (3 of 7 right) and adds each question's difference in the
        // file's order (all odds equal): exact +1 +0 +1 +0 | 0 −1 −1 peaks at 5 after a4; F1
        // +1 +2/3 +1 +0 peaks at 5 2/3. Both at threshold 0.0.
        let zero = odds(&[
            ("a1", 0.0),
            ("a2", 0.0),
            ("a3", 0.0),
            ("a4", 0.0),
            ("n1", 0.0),
            ("n2", 0.0),
            ("n3", 0.0),
            ("zz", 0.0),
        ]);
        let s0 = evaluate_v2(&dataset(), &predictions(), Some(&zero), NA_PROB_THRESH).unwrap();
        assert_eq!(
            (s0.all, s0.has_ans, s0.no_ans),
            (s.all, s.has_ans, s.no_ans)
        );
        assert_eq!(
            s0.best,
            Some(BestThresholds {
                best_exact: 71.42857142857143,
                best_exact_thresh: 0.0,
                best_f1: 80.95238095238096,
                best_f1_thresh: 0.0
            })
        );
    }

    #[test]
    fn null_odds_threshold_and_best_thresholds() {
        let (data, preds) = (dataset(), predictions());
        // a3's odds 2.0 and n1's 5.0 exceed 1.0: both scored as "no answer" predicted (a3 now
        // wrong, n1 right as before). zz is not in the dataset: ignored.
        let file_order = odds(&[
            ("a1", -3.0),
            ("a2", 0.5),
            ("n2", 0.5),
            ("a3", 2.0),
            ("a4", 0.25),
            ("n1", 5.0),
            ("n3", 1.0),
            ("zz", 0.0),
        ]);
        let s = evaluate_v2(&data, &preds, Some(&file_order), NA_PROB_THRESH).unwrap();
        // The walk by odds, from 3 (no answer everywhere): a1 −3 (+1 exact, +1 F1) → 4, a4 0.25
        // (+0) → 4, a2 0.5 (+0 exact, +2/3 F1), n2 0.5 (−1), n3 1.0 (−1), a3 2.0 (+1), n1 (0).
        // Exact peaks at 4 (threshold −3); F1 at 4 + 2/3 (threshold 0.5, a2 before n2).
        assert_eq!(
            json(&s),
            r#"{"exact":28.571428571428573,"f1":38.09523809523809,"total":7,"HasAns_exact":25.0,"HasAns_f1":41.666666666666664,"HasAns_total":4,"NoAns_exact":33.333333333333336,"NoAns_f1":33.333333333333336,"NoAns_total":3,"best_exact":57.142857142857146,"best_exact_thresh":-3.0,"best_f1":66.66666666666667,"best_f1_thresh":0.5}"#
        );
        // Equal odds keep the file's order: with n2 before a2 the F1 walk never gets above 4.
        let swapped = odds(&[
            ("a1", -3.0),
            ("n2", 0.5),
            ("a2", 0.5),
            ("a3", 2.0),
            ("a4", 0.25),
            ("n1", 5.0),
            ("n3", 1.0),
            ("zz", 0.0),
        ]);
        let b = evaluate_v2(&data, &preds, Some(&swapped), NA_PROB_THRESH)
            .unwrap()
            .best
            .unwrap();
        assert_eq!((b.best_f1, b.best_f1_thresh), (57.142857142857146, -3.0));
        // Another --na-prob-thresh: 0.3 sends a2, n2, n3 and a3 (and n1) to "no answer".
        let s = evaluate_v2(&data, &preds, Some(&file_order), 0.3).unwrap();
        assert_eq!(
            json(&s).split(",\"best").next().unwrap(),
            r#"{"exact":57.142857142857146,"f1":57.142857142857146,"total":7,"HasAns_exact":25.0,"HasAns_f1":25.0,"HasAns_total":4,"NoAns_exact":100.0,"NoAns_f1":100.0,"NoAns_total":3"#
        );
    }

    /// Without answerable (or unanswerable) questions the script leaves out the HasAns (NoAns)
    /// keys; where it stops with an exception, an error.
    #[test]
    fn missing_subsets_and_script_failures() {
        let data = dataset();
        let preds = predictions();
        let only = |keep: &str| Dataset {
            version: data.version.clone(),
            examples: data
                .examples
                .iter()
                .filter(|e| e.id.starts_with(keep))
                .cloned()
                .collect(),
        };
        let answerable = evaluate_v2(&only("a"), &preds, None, NA_PROB_THRESH).unwrap();
        assert_eq!(
            json(&answerable),
            r#"{"exact":50.0,"f1":66.66666666666666,"total":4,"HasAns_exact":50.0,"HasAns_f1":66.66666666666666,"HasAns_total":4}"#
        );
        let unanswerable = evaluate_v2(&only("n"), &preds, None, NA_PROB_THRESH).unwrap();
        assert!(unanswerable.has_ans.is_none());
        assert_eq!(unanswerable.no_ans.unwrap().total, 3);
        assert!(json(&unanswerable).starts_with(
            r#"{"exact":33.333333333333336,"f1":33.333333333333336,"total":3,"NoAns_exact""#
        ));

        let mut partial = preds.clone();
        partial.remove("a2");
        partial.remove("n3");
        let err = evaluate_v2(&data, &partial, None, NA_PROB_THRESH).unwrap_err();
        assert!(
            matches!(&err, Error::Input { message, .. } if message.contains("2 of 7 questions have no prediction (the first: a2)")),
            "{err}"
        );
        let few = odds(&[("a1", 0.0)]);
        let err = evaluate_v2(&data, &preds, Some(&few), NA_PROB_THRESH).unwrap_err();
        assert!(
            matches!(&err, Error::Input { message, .. } if message.contains("no value for question a2")),
            "{err}"
        );
        let err = evaluate_v2(&Dataset::default(), &preds, None, NA_PROB_THRESH).unwrap_err();
        assert!(matches!(err, Error::Input { .. }), "{err}");
    }

    /// A repeated question id counts once, in its first place, with its last occurrence's
    /// answers, as the script's dicts have it.
    #[test]
    fn repeated_ids_count_once() {
        let mut data = dataset();
        let mut again = data.examples[4].clone(); // n1, unanswerable
        again.id = "a1".into();
        data.examples.push(again);
        let s = evaluate_v2(&data, &predictions(), None, NA_PROB_THRESH).unwrap();
        // a1 is now unanswerable with prediction "the Broncos": exact 0, F1 0.
        assert_eq!(s.all.total, 7);
        assert_eq!((s.has_ans.unwrap().total, s.no_ans.unwrap().total), (3, 4));
        assert_eq!(s.all.exact, 100.0 * 2.0 / 7.0);
    }

    /// The committed SQuAD 2.0 mini files against the official rules as
    /// `weights/squad_reference_v2.py` computes them (`expected-v2.json`): every question's raw
    /// and thresholded scores with Python's kinds (int or float), the order of the threshold
    /// walk, and the figures with and without null odds — bit for bit.
    #[test]
    fn matches_the_reference_script_on_fixture() {
        use crate::tools::squad::test_support::fixture;
        use crate::tools::squad::{load_null_odds, load_predictions};
        use serde_json::{json, Value};
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("expected-v2.json")).unwrap())
                .unwrap();
        let dataset = Dataset::load(fixture("mini-dev-v2.json")).unwrap();
        let preds = load_predictions(fixture("mini-preds-v2.json")).unwrap();
        let odds = load_null_odds(fixture("mini-null-odds-v2.json")).unwrap();
        let thresh = expected["na_prob_thresh"].as_f64().unwrap();
        assert_eq!(thresh, NA_PROB_THRESH);
        assert!(dataset.is_v2());
        let as_json = |n: Num| match n {
            Num::Int(i) => json!(i),
            Num::Float(x) => json!(x),
        };
        let questions = expected["questions"].as_array().unwrap();
        assert_eq!(questions.len(), dataset.len());
        for (q, ex) in questions.iter().zip(&dataset.examples) {
            let id = q["id"].as_str().unwrap();
            assert_eq!(ex.id, id);
            assert_eq!(q["has_answer"], json!(!ex.answers.is_empty()), "{id}");
            let gold: Vec<String> = gold_answers(ex)
                .iter()
                .map(|g| normalize_answer(g))
                .collect();
            assert_eq!(q["gold_normalized"], json!(gold), "{id}");
            let p = &preds[id];
            assert_eq!(
                q["prediction_normalized"],
                json!(normalize_answer(p)),
                "{id}"
            );
            let (exact, f1) = raw_scores(ex, p);
            // Same kinds (1 vs 1.0) and same values.
            assert_eq!(
                (as_json(exact), as_json(f1)),
                (q["exact_raw"].clone(), q["f1_raw"].clone()),
                "{id}"
            );
            let o = odds.get(id).unwrap();
            assert_eq!(json!(o), q["null_odds"], "{id}");
            let (exact, f1) = if o > thresh {
                let s = Num::Float(if ex.answers.is_empty() { 1.0 } else { 0.0 });
                (s, s)
            } else {
                (exact, f1)
            };
            assert_eq!(
                (as_json(exact), as_json(f1)),
                (q["exact"].clone(), q["f1"].clone()),
                "{id}"
            );
        }
        assert_eq!(expected["missing"], json!([]));
        // The walk's order: ascending odds, ties in the file's order.
        let mut order: Vec<(&str, f64)> = odds.iter().collect();
        order.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap());
        let order: Vec<&str> = order.iter().map(|(id, _)| *id).collect();
        assert_eq!(json!(order), expected["best_threshold_order"]);
        // Bit for bit: the same keys and values (the key order is checked by the CLI tests).
        let check = |scores: ScoresV2, want: &Value| {
            assert_eq!(&serde_json::to_value(&scores).unwrap(), want);
        };
        check(
            evaluate_v2(&dataset, &preds, Some(&odds), thresh).unwrap(),
            &expected["scores"],
        );
        check(
            evaluate_v2(&dataset, &preds, None, thresh).unwrap(),
            &expected["scores_without_null_odds"],
        );
    }
}
