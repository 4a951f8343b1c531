//! SQuAD files: datasets (v1.1 and 2.0, flattened into their questions), predictions files and
//! SQuAD 2.0 null-odds files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::InputError;
use crate::{Error, Result};

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
    /// Reference answer texts, in file order (duplicates kept, as the official scripts do);
    /// empty for an unanswerable SQuAD 2.0 question.
    pub answers: Vec<String>,
    /// Whether this is a SQuAD 2.0 question that the paragraph does not answer (`is_impossible`,
    /// no `answers`): the only right prediction is no answer (`""` in a predictions file).
    pub impossible: bool,
    /// SQuAD 2.0's `plausible_answers` of an unanswerable question (texts a careless reader
    /// might give; not used by the metrics), in file order; empty otherwise.
    pub plausible_answers: Vec<String>,
}

/// A SQuAD dataset (v1.1, or 2.0 with unanswerable questions) flattened into its questions, in
/// file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// The file's `version` field (`"1.1"` for SQuAD v1.1, `"v2.0"` for SQuAD 2.0), if present.
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
    #[serde(default)]
    is_impossible: Option<bool>,
    #[serde(default)]
    plausible_answers: Option<Vec<RawAnswer>>,
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

/// The first field of `v` (in file order) that breaks the SQuAD layout, as
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
    fn boolean(v: &Value, path: &str) -> Result<(), Bad> {
        v.as_bool()
            .map(|_| ())
            .ok_or_else(|| wrong(path, "a boolean", v))
    }
    fn answers(v: &Value, path: &str) -> Result<(), Bad> {
        for (n, answer) in array(v, path)?.iter().enumerate() {
            let pn = format!("{path}[{n}]");
            let answer = object(answer, &pn)?;
            string(get(answer, &pn, "text")?, &child(&pn, "text"))?;
        }
        Ok(())
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
                    answers(get(qa, &pq, "answers")?, &child(&pq, "answers"))?;
                    // SQuAD 2.0's fields, where present (null counts as absent).
                    if let Some(v) = qa.get("is_impossible").filter(|v| !v.is_null()) {
                        boolean(v, &child(&pq, "is_impossible"))?;
                    }
                    if let Some(v) = qa.get("plausible_answers").filter(|v| !v.is_null()) {
                        answers(v, &child(&pq, "plausible_answers"))?;
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
        Error::input(
            InputError::Data,
            format!(
                "{origin}: not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

impl Dataset {
    /// Loads a SQuAD v1.1 or 2.0 JSON file such as `dev-v1.1.json` or `dev-v2.0.json`.
    ///
    /// A SQuAD 2.0 file (`version` 2.x) may hold unanswerable questions: `answers` empty, with
    /// `is_impossible: true` where the field is present ([`Example::impossible`]).
    ///
    /// Fails with [`Error::Io`] if the file cannot be read and with [`Error::Dataset`] (naming
    /// the file and the first bad field) if it is not UTF-8, not JSON, or not SQuAD-shaped, or
    /// if a question's `is_impossible` contradicts its `answers` (true with answers, or false
    /// without any in a 2.0 file). Fields other than `version`, `data`, `title`, `paragraphs`,
    /// `context`, `qas`, `id`, `question`, `answers`, `is_impossible`, `plausible_answers` and
    /// `text` are ignored (`answer_start` included).
    pub fn load(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = utf8_text(bytes, &origin).map_err(|e| match e {
            Error::Input { message, .. } => dataset_error(&origin, None, message),
            other => other,
        })?;
        Dataset::from_json(&text, &origin)
    }

    /// Parses SQuAD v1.1 or 2.0 JSON text (see [`Dataset::load`]); `origin` (a file name)
    /// prefixes error messages.
    ///
    /// # Errors
    /// [`Error::Dataset`] naming the first field (in file order) that breaks the layout.
    ///
    /// ```
    /// use bertqa::{tools::squad::Dataset, Error};
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
        let v2 = raw.version.as_deref().is_some_and(version_is_2);
        let mut examples = Vec::new();
        for (a, article) in raw.data.into_iter().enumerate() {
            let title: Arc<str> = Arc::from(article.title);
            for (p, paragraph) in article.paragraphs.into_iter().enumerate() {
                let context: Arc<str> = Arc::from(paragraph.context);
                for (q, qa) in paragraph.qas.into_iter().enumerate() {
                    let answerless = qa.answers.is_empty();
                    let contradiction = match qa.is_impossible {
                        Some(true) if !answerless => Some("is_impossible is true"),
                        Some(false) if answerless && v2 => Some("is_impossible is false"),
                        _ => None,
                    };
                    if let Some(why) = contradiction {
                        let n = qa.answers.len();
                        return Err(dataset_error(
                            origin,
                            Some(format!("data[{a}].paragraphs[{p}].qas[{q}].answers")),
                            format!("holds {n} answers but {why}"),
                        ));
                    }
                    let texts = |answers: Vec<RawAnswer>| answers.into_iter().map(|a| a.text);
                    examples.push(Example {
                        id: qa.id,
                        title: Arc::clone(&title),
                        question: qa.question,
                        context: Arc::clone(&context),
                        impossible: qa.is_impossible == Some(true) || (v2 && answerless),
                        answers: texts(qa.answers).collect(),
                        plausible_answers: texts(qa.plausible_answers.unwrap_or_default())
                            .collect(),
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

    /// Whether this is a SQuAD 2.0 dataset, to be answered with no-answer predictions and
    /// scored with the official v2.0 metrics: its `version` is 2.x (`"v2.0"`), or one of its
    /// questions is unanswerable.
    pub fn is_v2(&self) -> bool {
        self.version.as_deref().is_some_and(version_is_2) || self.unanswerable() > 0
    }

    /// Number of unanswerable questions ([`Example::impossible`]).
    pub fn unanswerable(&self) -> usize {
        self.examples.iter().filter(|e| e.impossible).count()
    }

    /// The questions article by article, in dataset order: each run of consecutive examples
    /// sharing one title.
    pub fn articles(&self) -> impl Iterator<Item = &[Example]> {
        let mut rest = self.examples.as_slice();
        std::iter::from_fn(move || {
            let first = rest.first()?;
            let n = rest
                .iter()
                .position(|e| !Arc::ptr_eq(&e.title, &first.title))
                .unwrap_or(rest.len());
            let (article, tail) = rest.split_at(n);
            rest = tail;
            Some(article)
        })
    }
}

/// Whether a file's `version` names SQuAD 2.x (`"v2.0"`, `"2.0"`).
fn version_is_2(version: &str) -> bool {
    version.trim_start_matches(['v', 'V']).starts_with('2')
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
        Error::input(
            InputError::Data,
            format!("{origin}: not a predictions file (a JSON object of id → answer text): {e}"),
        )
    })
}

/// The official predictions file, `{"id": "text", ...}`, with the ids in the order given (one
/// per line). A SQuAD 2.0 "no answer" is the empty text.
pub fn predictions_json<'a>(predictions: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    json_object(
        predictions
            .into_iter()
            .map(|(id, text)| (id, serde_json::to_string(text).expect("a string is JSON"))),
    )
}

/// One JSON object, a key per line, from keys and their values' JSON text.
fn json_object<'a>(entries: impl Iterator<Item = (&'a str, String)>) -> String {
    let mut json = String::from("{");
    for (i, (key, value)) in entries.enumerate() {
        json.push_str(if i == 0 { "\n" } else { ",\n" });
        json.push_str(&serde_json::to_string(key).expect("a string is JSON"));
        json.push_str(": ");
        json.push_str(&value);
    }
    json.push_str("\n}\n");
    json
}

/// SQuAD 2.0 null odds: per question id, how strongly the model prefers "no answer" — the
/// `--na-prob-file` of the official evaluate-v2.0.py, which Hugging Face's run_qa writes as
/// `null_odds.json` (null score − best span score, see [`crate::NullScore`]).
///
/// Kept in file (insertion) order, because the official script breaks ties between equal odds
/// in that order when it searches the best threshold. A repeated id keeps its first place and
/// takes the last value, as a Python `dict` filled from JSON does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NullOdds {
    entries: Vec<(String, f64)>,
    index: HashMap<String, usize>,
}

impl NullOdds {
    /// No odds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the odds of `id` (a new id goes last; a known one keeps its place).
    pub fn insert(&mut self, id: impl Into<String>, odds: f64) {
        let id = id.into();
        match self.index.get(&id) {
            Some(&i) => self.entries[i].1 = odds,
            None => {
                self.index.insert(id.clone(), self.entries.len());
                self.entries.push((id, odds));
            }
        }
    }

    /// The odds of `id`.
    pub fn get(&self, id: &str) -> Option<f64> {
        self.index.get(id).map(|&i| self.entries[i].1)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no odds.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (id, odds) in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(id, odds)| (id.as_str(), *odds))
    }

    /// The file, `{"id": odds, ...}` in this order. Odds are written as the shortest decimal
    /// that reads back as the same `f64` (as Python's `json.dump` writes floats).
    pub fn to_json(&self) -> String {
        json_object(self.entries.iter().map(|(id, odds)| {
            let value = serde_json::Number::from_f64(*odds)
                .map_or_else(|| "null".to_string(), |n| n.to_string());
            (id.as_str(), value)
        }))
    }
}

impl<S: Into<String>> FromIterator<(S, f64)> for NullOdds {
    fn from_iter<I: IntoIterator<Item = (S, f64)>>(iter: I) -> Self {
        let mut odds = NullOdds::new();
        for (id, value) in iter {
            odds.insert(id, value);
        }
        odds
    }
}

impl<'de> Deserialize<'de> for NullOdds {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NullOdds;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of question id → number")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NullOdds, A::Error> {
                let mut odds = NullOdds::new();
                while let Some((id, value)) = map.next_entry::<String, f64>()? {
                    odds.insert(id, value);
                }
                Ok(odds)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Loads a null-odds file ([`NullOdds`]): one JSON object mapping question ids to numbers.
///
/// Errors as for [`load_predictions`].
pub fn load_null_odds(path: impl AsRef<Path>) -> Result<NullOdds> {
    let path = path.as_ref();
    let text = read_text(path)?;
    null_odds_from_json(&text, &path.display().to_string())
}

/// Parses null-odds JSON text (see [`load_null_odds`]); `origin` prefixes error messages.
pub fn null_odds_from_json(json: &str, origin: &str) -> Result<NullOdds> {
    serde_json::from_str(json).map_err(|e| {
        Error::input(
            InputError::Data,
            format!("{origin}: not a null-odds file (a JSON object of id → number): {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::squad::score_files;
    use crate::tools::squad::test_support::{fixture, preds};

    /// SQuAD 2.0: unanswerable questions (no answers, `is_impossible`), their plausible
    /// answers, and what makes a dataset a 2.0 one.
    #[test]
    fn parse_squad_v2() {
        let json = r#"{"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "c d",
            "qas": [
              {"id": "a", "question": "Q1", "answers": [{"text": "c", "answer_start": 0}],
               "is_impossible": false},
              {"id": "n", "question": "Q2", "answers": [], "is_impossible": true,
               "plausible_answers": [{"text": "d", "answer_start": 2}, {"text": "c d"}]},
              {"id": "m", "question": "Q3", "answers": []},
              {"id": "k", "question": "Q4", "answers": [{"text": "d"}], "is_impossible": null,
               "plausible_answers": null}]}]}]}"#;
        let d = Dataset::from_json(json, "v2.json").unwrap();
        assert!(d.is_v2());
        assert_eq!(d.unanswerable(), 2);
        let got: Vec<_> = d
            .examples
            .iter()
            .map(|e| {
                (
                    e.id.as_str(),
                    e.impossible,
                    e.answers.len(),
                    e.plausible_answers.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", false, 1, vec![]),
                ("n", true, 0, vec!["d".to_string(), "c d".to_string()]),
                ("m", true, 0, vec![]),
                ("k", false, 1, vec![]),
            ]
        );
        // A 2.0 version makes a 2.0 dataset even if every question has answers; in a v1.1 file an
        // answerless question is just a question nobody can get right (not unanswerable).
        let all_answered = Dataset::from_json(r#"{"version": "2.0", "data": []}"#, "x").unwrap();
        assert!(all_answered.is_v2());
        let v1 = Dataset::from_json(
            r#"{"version": "1.1", "data": [{"paragraphs": [{"context": "c",
                "qas": [{"id": "q", "question": "Q", "answers": []}]}]}]}"#,
            "x",
        )
        .unwrap();
        assert!(!v1.is_v2() && !v1.examples[0].impossible);
        assert!(!Dataset::load(fixture("mini-dev.json")).unwrap().is_v2());
    }

    #[test]
    fn null_odds_keep_file_order() {
        let odds =
            null_odds_from_json(r#"{"b": 1.5, "a": -2, "c": 0.25, "b": 3e-1}"#, "n.json").unwrap();
        let got: Vec<_> = odds.iter().collect();
        // A repeated id keeps its first place and takes the last value, as a Python dict does.
        assert_eq!(got, [("b", 0.3), ("a", -2.0), ("c", 0.25)]);
        assert_eq!(odds.get("a"), Some(-2.0));
        assert_eq!(odds.get("z"), None);
        // Written back: the same object, in the same order, f32 values exact.
        let mut odds: NullOdds = [("x", f64::from(0.1f32)), ("y", -1.0)]
            .into_iter()
            .collect();
        odds.insert("z", 2.5);
        let json = odds.to_json();
        assert_eq!(
            json,
            "{\n\"x\": 0.10000000149011612,\n\"y\": -1.0,\n\"z\": 2.5\n}\n"
        );
        assert_eq!(null_odds_from_json(&json, "n.json").unwrap(), odds);
        for bad in [r#"{"a": "1"}"#, "[1]", r#"{"a": null}"#, "{"] {
            match null_odds_from_json(bad, "n.json") {
                Err(Error::Input { message, .. }) => {
                    assert!(message.starts_with("n.json: "), "{message}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(matches!(
            load_null_odds("/nonexistent/null_odds.json"),
            Err(Error::Io { .. })
        ));
        assert_eq!(
            predictions_json([("q1", "a \"b\""), ("q2", "")]),
            "{\n\"q1\": \"a \\\"b\\\"\",\n\"q2\": \"\"\n}\n"
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
                    Error::Input { message, .. } => {
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
            Err(Error::Input { message, .. }) if message.contains("empty.json")
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
                qa_in(r#"{"id": "x", "question": "Q", "answers": [], "is_impossible": "yes"}"#),
                Some("data[0].paragraphs[0].qas[1].is_impossible"),
                "expected a boolean, found a string",
            ),
            (
                qa_in(r#"{"id": "x", "question": "Q", "answers": [], "plausible_answers": {}}"#),
                Some("data[0].paragraphs[0].qas[1].plausible_answers"),
                "expected an array, found an object",
            ),
            (
                qa_in(
                    r#"{"id": "x", "question": "Q", "answers": [], "plausible_answers": [{"text": 1}]}"#,
                ),
                Some("data[0].paragraphs[0].qas[1].plausible_answers[0].text"),
                "found a number",
            ),
            // A contradiction between is_impossible and answers names the answers.
            (
                qa_in(
                    r#"{"id": "x", "question": "Q", "answers": [{"text": "a"}], "is_impossible": true}"#,
                ),
                Some("data[0].paragraphs[0].qas[1].answers"),
                "holds 1 answers but is_impossible is true",
            ),
            (
                qa_in(r#"{"id": "x", "question": "Q", "answers": [], "is_impossible": false}"#)
                    .replace("\"1.1\"", "\"v2.0\""),
                Some("data[0].paragraphs[0].qas[1].answers"),
                "holds 0 answers but is_impossible is false",
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
                        shown.starts_with("f.json: not a SQuAD dataset: "),
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
}
