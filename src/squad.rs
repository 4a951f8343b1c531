//! SQuAD v1.1 evaluation: dataset and predictions loading, answering a dataset with a model
//! ([`predict`], what `bertqa eval` runs), and the official metrics (also per article,
//! [`evaluate_per_article`]).
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
//! `weights/squad_reference.py`, checks this).
//!
//! # Where normalization may differ from Python
//!
//! Every rule is implemented without regular expressions; what differences remain come
//! from Unicode tables, and only for rare characters. An exhaustive check of every code
//! point against Python 3.11 (Unicode 14.0; the ignored test
//! `codepoint_check::every_code_point_matches_python`) finds lower-casing and whitespace
//! identical for every code point Python assigns, and these differences:
//!
//! * **Code points unassigned in Python's Unicode version** (about 14 100 for Python 3.11)
//!   but letters or cased in Rust's newer tables: Rust treats them as word characters (and
//!   lower-cases them), as a newer Python would; Python 3.11 does not.
//! * **Word characters** (what `\b` looks at) are, as in Python's `re` for `str` patterns,
//!   the characters for which `str.isalnum()` holds, plus `_`: letters (`L*`) and numbers
//!   (`N*`). Rust's [`char::is_alphanumeric`] also accepts the `Other_Alphabetic` marks and
//!   symbols (Devanagari vowel signs, `Ⓐ`), which Python does not; those are excluded with
//!   the general-category tables of the `unicode_categories` crate. Those tables predate
//!   Unicode 9, so 271 combining marks assigned since (vowel signs of Newa, Dogra, Soyombo,
//!   Masaram Gondi..., combining Glagolitic letters) still count as word characters. This
//!   matters only when such a mark touches an article with no space in between.
//!
//! Lower-casing uses [`str::to_lowercase`], which, like Python 3's `str.lower()`, applies
//! the full (multi-character, `'İ'` → `"i̇"`) mappings and the final-sigma rule (100 000
//! random strings of sigmas, case-ignorable and cased characters agree with Python).
//! Whitespace is exactly Python's `str.split()` set: Unicode `White_Space` plus
//! U+001C..U+001F. Punctuation is `string.punctuation`, i.e. [`char::is_ascii_punctuation`].
//!
//! Reading files, a leading UTF-8 byte-order mark is skipped (Python's `json.load` would
//! reject it); everything else malformed is an error.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use unicode_categories::UnicodeCategories;

use crate::{Error, PreparedContext, QaModel, QaOptions, Result};

/// One question of a SQuAD dataset, with its paragraph and reference answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The question id (the key of the predictions file).
    pub id: String,
    /// Title of the article the paragraph comes from (shared by its questions).
    pub title: Arc<str>,
    /// The question.
    pub question: String,
    /// The paragraph holding the answer (shared by all questions on it).
    pub context: Arc<str>,
    /// Reference answer texts, in file order (duplicates kept, as the official script does).
    pub answers: Vec<String>,
}

/// A SQuAD v1.1 dataset flattened into its questions, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// The file's `version` field (`"1.1"` for SQuAD v1.1), if present.
    pub version: Option<String>,
    /// Every question of every paragraph of every article, in file order.
    pub examples: Vec<Example>,
}

#[derive(Deserialize)]
struct RawDataset {
    #[serde(default)]
    version: Option<String>,
    data: Vec<RawArticle>,
}

#[derive(Deserialize)]
struct RawArticle {
    #[serde(default)]
    title: String,
    paragraphs: Vec<RawParagraph>,
}

#[derive(Deserialize)]
struct RawParagraph {
    context: String,
    qas: Vec<RawQa>,
}

#[derive(Deserialize)]
struct RawQa {
    id: String,
    question: String,
    answers: Vec<RawAnswer>,
}

#[derive(Deserialize)]
struct RawAnswer {
    text: String,
}

/// Reads a whole file, as UTF-8 text (a leading byte-order mark is skipped).
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    utf8_text(bytes, &path.display().to_string())
}

/// A [`Error::Dataset`] for `origin`.
fn dataset_error(origin: &str, field: Option<String>, message: impl Into<String>) -> Error {
    Error::Dataset {
        origin: origin.to_string(),
        field,
        message: message.into(),
    }
}

/// What a JSON value is, for error messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first field of `v` (in file order) that breaks the SQuAD v1.1 layout, as
/// (path, problem); `None` if the layout is sound.
fn first_bad_field(v: &serde_json::Value) -> Option<(String, String)> {
    use serde_json::{Map, Value};
    type Bad = (String, String);
    fn wrong(path: &str, want: &str, v: &Value) -> Bad {
        (
            path.to_string(),
            format!("expected {want}, found {}", json_kind(v)),
        )
    }
    fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, Bad> {
        v.as_object().ok_or_else(|| wrong(path, "an object", v))
    }
    fn array<'a>(v: &'a Value, path: &str) -> Result<&'a [Value], Bad> {
        v.as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| wrong(path, "an array", v))
    }
    fn string(v: &Value, path: &str) -> Result<(), Bad> {
        v.as_str()
            .map(|_| ())
            .ok_or_else(|| wrong(path, "a string", v))
    }
    fn child(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    }
    fn get<'a>(m: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a Value, Bad> {
        m.get(key)
            .ok_or_else(|| (child(path, key), "missing".to_string()))
    }
    fn check(v: &Value) -> Result<(), Bad> {
        let top = v
            .as_object()
            .ok_or_else(|| wrong("(top level)", "an object", v))?;
        if let Some(version) = top.get("version").filter(|v| !v.is_null()) {
            string(version, "version")?;
        }
        for (a, article) in array(get(top, "", "data")?, "data")?.iter().enumerate() {
            let pa = format!("data[{a}]");
            let article = object(article, &pa)?;
            if let Some(title) = article.get("title") {
                string(title, &child(&pa, "title"))?;
            }
            let pp = child(&pa, "paragraphs");
            for (p, paragraph) in array(get(article, &pa, "paragraphs")?, &pp)?
                .iter()
                .enumerate()
            {
                let pp = format!("{pp}[{p}]");
                let paragraph = object(paragraph, &pp)?;
                string(get(paragraph, &pp, "context")?, &child(&pp, "context"))?;
                let pq = child(&pp, "qas");
                for (q, qa) in array(get(paragraph, &pp, "qas")?, &pq)?.iter().enumerate() {
                    let pq = format!("{pq}[{q}]");
                    let qa = object(qa, &pq)?;
                    for key in ["id", "question"] {
                        string(get(qa, &pq, key)?, &child(&pq, key))?;
                    }
                    let pn = child(&pq, "answers");
                    for (n, answer) in array(get(qa, &pq, "answers")?, &pn)?.iter().enumerate() {
                        let pn = format!("{pn}[{n}]");
                        let answer = object(answer, &pn)?;
                        string(get(answer, &pn, "text")?, &child(&pn, "text"))?;
                    }
                }
            }
        }
        Ok(())
    }
    check(v).err()
}

fn utf8_text(bytes: Vec<u8>, origin: &str) -> Result<String> {
    let mut text = String::from_utf8(bytes).map_err(|e| {
        Error::input(format!(
            "{origin}: not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

impl Dataset {
    /// Loads a SQuAD v1.1 JSON file such as `dev-v1.1.json`.
    ///
    /// Fails with [`Error::Io`] if the file cannot be read and with [`Error::Dataset`] (naming
    /// the file and the first bad field) if it is not UTF-8, not JSON, not SQuAD-shaped, or a
    /// SQuAD 2.0 file (`version` 2.x). Fields other than `version`, `data`, `title`,
    /// `paragraphs`, `context`, `qas`, `id`, `question`, `answers` and `text` are ignored
    /// (`answer_start` included).
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = utf8_text(bytes, &origin).map_err(|e| match e {
            Error::Input { message } => dataset_error(&origin, None, message),
            other => other,
        })?;
        Dataset::from_json(&text, &origin)
    }

    /// Parses SQuAD v1.1 JSON text; `origin` (a file name) prefixes error messages.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the first field (in file order) that breaks the layout.
    ///
    /// ```
    /// use bertqa::{squad::Dataset, Error};
    /// let bad = r#"{"data": [{"title": "T", "paragraphs": [{"context": "c", "qas": [{"id": 7}]}]}]}"#;
    /// match Dataset::from_json(bad, "bad.json") {
    ///     Err(Error::Dataset { field, .. }) => {
    ///         assert_eq!(field.as_deref(), Some("data[0].paragraphs[0].qas[0].id"))
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn from_json(json: &str, origin: &str) -> Result<Dataset> {
        let raw: RawDataset = match serde_json::from_str(json) {
            Ok(raw) => raw,
            Err(e) => {
                // Find the first bad field on the generic tree (only on this slow path).
                let value: serde_json::Value = serde_json::from_str(json)
                    .map_err(|e| dataset_error(origin, None, format!("not JSON: {e}")))?;
                return Err(match first_bad_field(&value) {
                    Some((field, problem)) => dataset_error(origin, Some(field), problem),
                    None => dataset_error(origin, None, e.to_string()),
                });
            }
        };
        if let Some(v) = raw.version.as_deref() {
            if v.trim_start_matches(['v', 'V']).starts_with('2') {
                return Err(dataset_error(
                    origin,
                    Some("version".into()),
                    format!("is {v:?}: a SQuAD 2.0 file (bertqa evaluates SQuAD v1.1)"),
                ));
            }
        }
        let mut examples = Vec::new();
        for article in raw.data {
            let title: Arc<str> = Arc::from(article.title);
            for paragraph in article.paragraphs {
                let context: Arc<str> = Arc::from(paragraph.context);
                for qa in paragraph.qas {
                    examples.push(Example {
                        id: qa.id,
                        title: Arc::clone(&title),
                        question: qa.question,
                        context: Arc::clone(&context),
                        answers: qa.answers.into_iter().map(|a| a.text).collect(),
                    });
                }
            }
        }
        Ok(Dataset {
            version: raw.version,
            examples,
        })
    }

    /// Number of questions.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// Whether the dataset holds no question.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
}

/// Loads a predictions file: one JSON object mapping question ids to answer texts,
/// `{"qid": "answer text", ...}` (as written for the official script).
///
/// Errors as for [`Dataset::load`]. A repeated key keeps its last value, like Python's `json`.
pub fn load_predictions(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
    let path = path.as_ref();
    let text = read_text(path)?;
    predictions_from_json(&text, &path.display().to_string())
}

/// Parses predictions JSON text (see [`load_predictions`]); `origin` prefixes error messages.
pub fn predictions_from_json(json: &str, origin: &str) -> Result<HashMap<String, String>> {
    serde_json::from_str(json).map_err(|e| {
        Error::input(format!(
            "{origin}: not a predictions file (a JSON object of id → answer text): {e}"
        ))
    })
}

/// Whether Python's `str.split()` splits on `c`: Unicode `White_Space` plus the
/// information separators U+001C..U+001F (bidirectional class B/S).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whether `c` is a word character for Python's `re` (`\w`, `\b`) on `str` patterns:
/// `c.isalnum() or c == '_'`, i.e. letters and numbers. Rust's `is_alphanumeric` adds the
/// `Other_Alphabetic` marks and symbols, removed here.
fn is_py_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    if !c.is_alphanumeric() {
        return false;
    }
    // U+1CF2/U+1CF3 became letters (Lo) in Unicode 10, after the `unicode_categories` tables.
    let letter_since_unicode_10 = matches!(c, '\u{1cf2}' | '\u{1cf3}');
    letter_since_unicode_10 || !(c.is_mark() || c.is_symbol())
}

/// The official script's `normalize_answer`: lower-case, remove ASCII punctuation, replace
/// the articles `a`, `an`, `the` (as whole words) by a space, and collapse whitespace runs
/// to single spaces (trimming both ends).
///
/// ```
/// use bertqa::squad::normalize_answer;
/// assert_eq!(normalize_answer("The  Cat's \"hat\"!"), "cats hat");
/// assert_eq!(normalize_answer("theater-goers"), "theatergoers");
/// ```
pub fn normalize_answer(s: &str) -> String {
    // lower(), then remove_punc(): `string.punctuation` is exactly the ASCII punctuation.
    let text: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // remove_articles(): `\b(a|an|the)\b` matches exactly a maximal run of word characters
    // that equals an article (the articles are all word characters, so `\b` on both sides
    // means a non-word character or the text's end on both sides).
    let mut unarticled = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(first) = rest.chars().next() {
        let word = is_py_word(first);
        let end = rest
            .char_indices()
            .find(|&(_, c)| is_py_word(c) != word)
            .map_or(rest.len(), |(i, _)| i);
        let run = &rest[..end];
        if word && matches!(run, "a" | "an" | "the") {
            unarticled.push(' ');
        } else {
            unarticled.push_str(run);
        }
        rest = &rest[end..];
    }
    // white_space_fix(): ' '.join(text.split()).
    let mut out = String::with_capacity(unarticled.len());
    for token in unarticled.split(is_py_space).filter(|t| !t.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

/// The tokens of a normalized answer (it holds single spaces only).
fn tokens(normalized: &str) -> Vec<&str> {
    normalized.split(' ').filter(|t| !t.is_empty()).collect()
}

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
/// use bertqa::squad::{exact_match_score, f1_score, metric_max_over_ground_truths};
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
    let mut out = Vec::new();
    let mut rest = dataset.examples.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .position(|e| !Arc::ptr_eq(&e.title, &first.title))
            .unwrap_or(rest.len());
        let scores = evaluate_examples(&rest[..n], predictions);
        out.push(ArticleScores {
            title: first.title.to_string(),
            questions: n,
            exact_match: scores.exact_match,
            f1: scores.f1,
        });
        rest = &rest[n..];
    }
    out
}

/// Tokens per forward pass that suit [`predict`] over a whole dataset, where there are always
/// more windows waiting (`bertqa eval`'s default; docs/accuracy.md measures 1 to 8,192): larger
/// than [`QaOptions::default`]'s, which bounds one request's memory.
pub const PREDICT_BATCH_TOKENS: usize = 4096;

/// Questions answered per call of [`QaModel::answer_prepared_batch`] in [`predict`] (whole
/// paragraphs, so at least this many unless the examples run out).
const PREDICT_CHUNK: usize = 64;

/// Answers every example with `model` (its best answer's text; `""` if no valid span exists),
/// in order: each paragraph's context tokenized once, and the windows of many questions run
/// together in forward passes of up to `options.max_batch_tokens` tokens. `progress` is called
/// with the predictions so far after every batch of questions.
///
/// # Errors
/// As [`QaModel::answer`], the message naming the question id that failed.
pub fn predict(
    model: &QaModel,
    examples: &[Example],
    options: &QaOptions,
    mut progress: impl FnMut(&[String]),
) -> Result<Vec<String>> {
    let name = |ex: &Example, e: Error| match e {
        Error::Input { message } => Error::input(format!("question {}: {message}", ex.id)),
        other => other,
    };
    let mut out = Vec::with_capacity(examples.len());
    let mut i = 0;
    while i < examples.len() {
        // Whole paragraphs (runs of questions sharing a context) until the chunk is full.
        let mut paragraphs: Vec<(usize, usize, PreparedContext)> = Vec::new();
        let mut j = i;
        while j < examples.len() && j - i < PREDICT_CHUNK {
            let start = j;
            let context = &examples[j].context;
            while j < examples.len() && Arc::ptr_eq(&examples[j].context, context) {
                j += 1;
            }
            let prepared = model
                .prepare_context(context)
                .map_err(|e| name(&examples[start], e))?;
            paragraphs.push((start, j, prepared));
        }
        let requests: Vec<(&str, &PreparedContext)> = paragraphs
            .iter()
            .flat_map(|(start, end, p)| {
                examples[*start..*end]
                    .iter()
                    .map(move |ex| (ex.question.as_str(), p))
            })
            .collect();
        let answers = model
            .answer_prepared_batch(&requests, options)
            .map_err(|e| {
                // Name the first question that fails on its own.
                requests
                    .iter()
                    .zip(&examples[i..j])
                    .find_map(|((q, c), ex)| {
                        model
                            .answer_prepared(q, c, options)
                            .err()
                            .map(|e| name(ex, e))
                    })
                    .unwrap_or(e)
            })?;
        out.extend(
            answers
                .into_iter()
                .map(|a| a.into_iter().next().map_or(String::new(), |a| a.text)),
        );
        i = j;
        progress(&out);
    }
    Ok(out)
}

/// Loads a SQuAD v1.1 dataset and a predictions file and scores them (`bertqa score`).
///
/// Fails as [`Dataset::load`] and [`load_predictions`] do, and with [`Error::Input`] if the
/// dataset holds no question.
pub fn score_files(data: &Path, predictions: &Path) -> Result<Scores> {
    let dataset = Dataset::load(data)?;
    if dataset.is_empty() {
        return Err(Error::input(format!(
            "{}: the dataset holds no question",
            data.display()
        )));
    }
    let predictions = load_predictions(predictions)?;
    Ok(evaluate(&dataset, &predictions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/squad")
            .join(name)
    }

    fn preds(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn example(id: &str, answers: &[&str]) -> Example {
        Example {
            id: id.into(),
            title: Arc::from("t"),
            question: "q?".into(),
            context: Arc::from("c"),
            answers: answers.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn normalize_punctuation() {
        assert_eq!(normalize_answer("Hello, World!"), "hello world");
        assert_eq!(normalize_answer("U.S.A."), "usa");
        assert_eq!(normalize_answer("rock-and-roll"), "rockandroll");
        assert_eq!(normalize_answer("(NFL)"), "nfl");
        assert_eq!(normalize_answer("__init__"), "init");
        assert_eq!(
            normalize_answer(r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##),
            ""
        );
        // Non-ASCII punctuation is kept (string.punctuation is ASCII only).
        assert_eq!(normalize_answer("24–10 «oui» ¿qué?"), "24–10 «oui» ¿qué");
    }

    #[test]
    fn normalize_articles() {
        assert_eq!(normalize_answer("The cat"), "cat");
        assert_eq!(normalize_answer("cat and a dog"), "cat and dog");
        assert_eq!(normalize_answer("bought an"), "bought");
        assert_eq!(normalize_answer("A AN THE"), "");
        assert_eq!(normalize_answer("a a a b"), "b");
        // Only whole words: no match inside a longer word.
        assert_eq!(normalize_answer("theater"), "theater");
        assert_eq!(
            normalize_answer("another thesis atheist"),
            "another thesis atheist"
        );
        assert_eq!(normalize_answer("then ant"), "then ant");
        // Punctuation goes first, so it can join an article to its neighbour...
        assert_eq!(normalize_answer("the-cat"), "thecat");
        assert_eq!(normalize_answer("l'the"), "lthe");
        assert_eq!(normalize_answer("the_cat"), "thecat");
        // ...or leave it standing alone.
        assert_eq!(normalize_answer("(the) cat"), "cat");
        assert_eq!(normalize_answer("cat, the."), "cat");
        // Digits are word characters: no boundary between "a" and "1".
        assert_eq!(normalize_answer("a1 the2 3an"), "a1 the2 3an");
        // Non-ASCII letters are word characters too.
        assert_eq!(normalize_answer("théa aé the"), "théa aé");
        // A non-word character other than whitespace delimits an article.
        assert_eq!(normalize_answer("the–cat"), "–cat");
        assert_eq!(normalize_answer("the\u{0301}"), "\u{0301}");
    }

    #[test]
    fn normalize_whitespace() {
        assert_eq!(
            normalize_answer("  many   spaces\there \n"),
            "many spaces here"
        );
        assert_eq!(normalize_answer(""), "");
        assert_eq!(normalize_answer(" \t\n "), "");
        // Unicode spaces, and the separators U+001C..U+001F that Python's split() uses.
        assert_eq!(normalize_answer("a\u{a0}b\u{2003}c\u{3000}d"), "b c d");
        assert_eq!(normalize_answer("x\u{1f}y\u{1c}z"), "x y z");
        // Zero-width space is not whitespace for Python.
        assert_eq!(normalize_answer("x\u{200b}y"), "x\u{200b}y");
    }

    #[test]
    fn normalize_unicode() {
        assert_eq!(normalize_answer("Straße CAFÉ"), "straße café");
        // Full lower-casing: 'İ'.lower() == 'i̇' (two code points).
        assert_eq!(normalize_answer("İstanbul"), "i\u{307}stanbul");
        // Final sigma, as Python 3's str.lower().
        assert_eq!(normalize_answer("ΟΔΟΣ ΣΑ"), "οδος σα");
        // Python's \w excludes marks and symbols that Rust calls alphabetic.
        assert_eq!(normalize_answer("the\u{93e}"), "\u{93e}");
        assert_eq!(normalize_answer("THE\u{24b6}"), "\u{24d0}");
        // CJK and Cyrillic letters are word characters.
        assert_eq!(normalize_answer("the東京 a Москва"), "the東京 москва");
    }

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
    fn parse_dataset_flattens_and_shares_contexts() {
        let dataset = Dataset::load(fixture("mini-dev.json")).unwrap();
        assert_eq!(dataset.version.as_deref(), Some("1.1"));
        assert_eq!(dataset.len(), 20);
        let e = &dataset.examples;
        assert_eq!(e[0].id, "q01");
        assert_eq!(&*e[0].title, "Super_Bowl_50");
        assert_eq!(
            e[0].question,
            "Which NFL team represented the AFC at Super Bowl 50?"
        );
        assert_eq!(e[0].answers.len(), 3);
        assert!(e[0].context.starts_with("Super Bowl 50 was"));
        assert!(Arc::ptr_eq(&e[0].context, &e[4].context));
        assert!(!Arc::ptr_eq(&e[4].context, &e[5].context));
        assert_eq!(e[15].answers, vec!["a\u{1f}b".to_string()]);
    }

    #[test]
    fn malformed_files_are_input_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("bertqa-squad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(&str, &[u8]); 5] = [
            ("syntax.json", b"{\"data\": ["),
            (
                "shape.json",
                b"{\"data\": [{\"paragraphs\": [{\"qas\": []}]}]}",
            ),
            ("utf8.json", b"{\"data\": [], \"version\": \"\xff\"}"),
            ("list.json", b"[]"),
            ("preds-shape.json", b"{\"q1\": 3}"),
        ];
        for (name, bytes) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            if name.starts_with("preds") {
                match load_predictions(&path).unwrap_err() {
                    Error::Input { message } => {
                        assert!(message.contains(name), "{name}: {message}")
                    }
                    other => panic!("{name}: expected Input error, got {other:?}"),
                }
            } else {
                match Dataset::load(&path).unwrap_err() {
                    Error::Dataset { origin, .. } => assert!(origin.contains(name), "{name}"),
                    other => panic!("{name}: expected Dataset error, got {other:?}"),
                }
            }
        }
        for name in ["utf8.json", "list.json"] {
            let err = load_predictions(dir.join(name)).unwrap_err();
            assert!(matches!(err, Error::Input { .. }), "{name}: {err:?}");
        }
        // A byte-order mark is skipped.
        let bom = dir.join("bom.json");
        std::fs::write(&bom, b"\xef\xbb\xbf{\"q\": \"x\"}").unwrap();
        assert_eq!(load_predictions(&bom).unwrap(), preds(&[("q", "x")]));
        // An empty dataset cannot be scored.
        let empty = dir.join("empty.json");
        std::fs::write(&empty, b"{\"version\": \"1.1\", \"data\": []}").unwrap();
        assert!(matches!(
            score_files(&empty, &bom),
            Err(Error::Input { message }) if message.contains("empty.json")
        ));
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = Path::new("/nonexistent/dev-v1.1.json");
        assert!(matches!(Dataset::load(missing), Err(Error::Io { .. })));
        assert!(matches!(load_predictions(missing), Err(Error::Io { .. })));
        assert!(matches!(
            score_files(&fixture("mini-dev.json"), missing),
            Err(Error::Io { .. })
        ));
    }

    /// Every way a file can break the SQuAD v1.1 layout names its first bad field.
    #[test]
    fn dataset_errors_name_the_first_bad_field() {
        let good_qa = r#"{"id": "q", "question": "Q?", "answers": [{"text": "a"}]}"#;
        let qa_in = |qa: &str| {
            format!(
                r#"{{"version": "1.1", "data": [{{"title": "T", "paragraphs": [{{"context": "c", "qas": [{good_qa}, {qa}]}}]}}]}}"#
            )
        };
        let cases: Vec<(String, Option<&str>, &str)> = vec![
            ("{\"data\": [".into(), None, "not JSON"),
            (
                "[]".into(),
                Some("(top level)"),
                "expected an object, found an array",
            ),
            ("{}".into(), Some("data"), "missing"),
            (
                r#"{"data": {}}"#.into(),
                Some("data"),
                "expected an array, found an object",
            ),
            (
                r#"{"version": 1.1, "data": []}"#.into(),
                Some("version"),
                "expected a string, found a number",
            ),
            (
                r#"{"data": [3]}"#.into(),
                Some("data[0]"),
                "expected an object",
            ),
            (
                r#"{"data": [{"title": null, "paragraphs": []}]}"#.into(),
                Some("data[0].title"),
                "found null",
            ),
            (
                r#"{"data": [{"title": "T"}]}"#.into(),
                Some("data[0].paragraphs"),
                "missing",
            ),
            (
                r#"{"data": [{"paragraphs": [{"context": "c", "qas": []}, {"qas": []}]}]}"#.into(),
                Some("data[0].paragraphs[1].context"),
                "missing",
            ),
            (
                r#"{"data": [{"paragraphs": [{"context": ["c"], "qas": []}]}]}"#.into(),
                Some("data[0].paragraphs[0].context"),
                "expected a string, found an array",
            ),
            (
                r#"{"data": [{"paragraphs": [{"context": "c"}]}]}"#.into(),
                Some("data[0].paragraphs[0].qas"),
                "missing",
            ),
            (
                qa_in(r#"{"question": "Q?", "answers": []}"#),
                Some("data[0].paragraphs[0].qas[1].id"),
                "missing",
            ),
            (
                qa_in(r#"{"id": 5, "question": "Q?", "answers": []}"#),
                Some("data[0].paragraphs[0].qas[1].id"),
                "found a number",
            ),
            (
                qa_in(r#"{"id": "x", "question": true, "answers": []}"#),
                Some("data[0].paragraphs[0].qas[1].question"),
                "found a boolean",
            ),
            (
                qa_in(r#"{"id": "x", "question": "Q", "answers": "a"}"#),
                Some("data[0].paragraphs[0].qas[1].answers"),
                "expected an array",
            ),
            (
                qa_in(
                    r#"{"id": "x", "question": "Q", "answers": [{"text": "a"}, {"answer_start": 3}]}"#,
                ),
                Some("data[0].paragraphs[0].qas[1].answers[1].text"),
                "missing",
            ),
            (
                r#"{"version": "v2.0", "data": []}"#.into(),
                Some("version"),
                "SQuAD 2.0",
            ),
        ];
        for (json, want_field, want_message) in &cases {
            match Dataset::from_json(json, "f.json") {
                Err(Error::Dataset {
                    origin,
                    field,
                    message,
                }) => {
                    assert_eq!(origin, "f.json");
                    assert_eq!(field.as_deref(), *want_field, "{json}");
                    assert!(message.contains(want_message), "{json}: {message}");
                    let shown = Error::Dataset {
                        origin,
                        field,
                        message,
                    }
                    .to_string();
                    assert!(
                        shown.starts_with("f.json: not a SQuAD v1.1 dataset: "),
                        "{shown}"
                    );
                }
                other => panic!("{json}: {other:?}"),
            }
        }
        // The well-formed file these cases break parses, unknown fields ignored.
        let ok = Dataset::from_json(
            &qa_in(r#"{"id": "x", "question": "Q", "answers": [], "extra": 1}"#),
            "ok.json",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
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

#[cfg(test)]
mod codepoint_check {
    use super::*;

    /// Every code point against the official normalization (Python 3.11: Unicode 14):
    /// `python3 weights/squad_reference.py --codepoints /tmp/cp.jsonl`, then
    /// `BERTQA_SQUAD_CODEPOINTS=/tmp/cp.jsonl cargo test --release --lib squad -- --ignored`.
    ///
    /// Allowed differences: code points Python's Unicode version does not assign (category
    /// `Cn`: Rust's tables are newer), and combining marks (`Mn`, `Mc`) that the
    /// `unicode_categories` tables predate (see the module documentation).
    #[test]
    #[ignore = "needs BERTQA_SQUAD_CODEPOINTS (see weights/squad_reference.py --codepoints)"]
    fn every_code_point_matches_python() {
        #[derive(Deserialize)]
        struct Row {
            cp: u32,
            category: String,
            #[serde(rename = "in")]
            inputs: Vec<String>,
            out: Vec<String>,
        }
        let path = std::env::var("BERTQA_SQUAD_CODEPOINTS").expect("BERTQA_SQUAD_CODEPOINTS");
        let text = std::fs::read_to_string(path).unwrap();
        let (mut rows, mut unassigned, mut marks, mut bad) = (0, 0, 0, Vec::new());
        for line in text.lines() {
            let row: Row = serde_json::from_str(line).unwrap();
            rows += 1;
            let ours: Vec<String> = row.inputs.iter().map(|s| normalize_answer(s)).collect();
            if ours == row.out {
                continue;
            }
            match row.category.as_str() {
                "Cn" => unassigned += 1,
                "Mn" | "Mc" => marks += 1,
                _ => bad.push(format!(
                    "U+{:04X} ({}) {:?}: python {:?}, rust {:?}",
                    row.cp, row.category, row.inputs, row.out, ours
                )),
            }
        }
        eprintln!(
            "{rows} code points; differ: {unassigned} unassigned in Python, {marks} marks, {} other",
            bad.len()
        );
        assert!(rows > 1_000_000, "incomplete file: {rows} rows");
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
