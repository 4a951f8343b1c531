//! SQuAD files: datasets (flattened into their questions) and predictions files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squad::score_files;
    use crate::squad::test_support::{fixture, preds};

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
}
