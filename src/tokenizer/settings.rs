//! Which normalisation steps run before WordPiece, and where a model says so.
//!
//! A BERT tokenizer differs between checkpoints in three switches of Hugging Face's
//! `BertNormalizer`: lower-casing (`do_lower_case`), accent stripping (NFD, then drop
//! non-spacing marks; `strip_accents`, which follows `do_lower_case` when unset) and putting CJK
//! ideographs in words of their own (`tokenize_chinese_chars`). An uncased model runs all three,
//! a cased one (`bert-large-cased-whole-word-masking-finetuned-squad`,
//! `distilbert-base-cased-distilled-squad`) only the last. Tokenizing a cased model's input
//! lower-cased loses nothing visibly — every answer just gets worse — so the settings are read
//! from the model directory ([`TokenizerSettings::from_model_dir`]) and a directory that does not
//! say, whose vocabulary holds upper-case tokens, is refused rather than guessed.
//!
//! Files read, all optional:
//!
//! * `tokenizer_config.json` — `do_lower_case`, `strip_accents`, `tokenize_chinese_chars`;
//!   `tokenizer_class` must be a BERT WordPiece one (`BertTokenizer`, `DistilBertTokenizer`,
//!   with or without `Fast`); `do_basic_tokenize` must not be false; the special tokens
//!   (`unk_token`, `sep_token`, `pad_token`, `cls_token`, `mask_token`, and the
//!   `added_tokens_decoder` entries) must be BERT's five;
//! * `special_tokens_map.json` — the same special tokens, and no
//!   `additional_special_tokens`;
//! * `tokenizer.json` (the fast tokenizer's own file) — its `normalizer` must be a
//!   `BertNormalizer` with `clean_text`, its model `WordPiece` with `##` continuations; its
//!   `lowercase`, `strip_accents` and `handle_chinese_chars` must agree with
//!   `tokenizer_config.json` where both state them.
//!
//! Every refusal is an [`Error::TokenizerSettings`] naming the file and the field.

use super::vocab::{Vocab, SPECIAL_TOKENS};
use crate::error::{Error, Result};
use serde_json::Value;
use std::path::Path;

/// The normalisation a tokenizer runs (Hugging Face's `BertNormalizer` switches). Cleaning
/// (dropping NUL, U+FFFD and control characters, whitespace as separator) and splitting at
/// punctuation always run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenizerSettings {
    /// Lower-case the text (`do_lower_case`).
    pub lowercase: bool,
    /// Decompose (NFD) and drop non-spacing marks: `é` → `e` (`strip_accents`).
    pub strip_accents: bool,
    /// Make every CJK ideograph a word of its own (`tokenize_chinese_chars`).
    pub chinese_chars: bool,
}

impl Default for TokenizerSettings {
    /// [`TokenizerSettings::UNCASED`], the model card's.
    fn default() -> Self {
        TokenizerSettings::UNCASED
    }
}

impl TokenizerSettings {
    /// BERT uncased: lower-case, strip accents, split CJK.
    pub const UNCASED: TokenizerSettings = TokenizerSettings {
        lowercase: true,
        strip_accents: true,
        chinese_chars: true,
    };

    /// BERT cased: case and accents kept, CJK split.
    pub const CASED: TokenizerSettings = TokenizerSettings {
        lowercase: false,
        strip_accents: false,
        chinese_chars: true,
    };

    /// Settings as Hugging Face states them: `strip_accents` `None` follows `lowercase`.
    pub fn new(lowercase: bool, strip_accents: Option<bool>, chinese_chars: bool) -> Self {
        TokenizerSettings {
            lowercase,
            strip_accents: strip_accents.unwrap_or(lowercase),
            chinese_chars,
        }
    }

    /// `uncased`, `cased`, or the three switches spelled out for any other combination.
    pub fn name(&self) -> String {
        match *self {
            TokenizerSettings::UNCASED => "uncased".into(),
            TokenizerSettings::CASED => "cased".into(),
            s => format!(
                "do_lower_case={} strip_accents={} tokenize_chinese_chars={}",
                s.lowercase, s.strip_accents, s.chinese_chars
            ),
        }
    }

    /// The settings as `tokenizer_config.json` fields, e.g.
    /// `{"do_lower_case":false,"strip_accents":false,"tokenize_chinese_chars":true}` (how a
    /// packed file records them).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "do_lower_case": self.lowercase,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.chinese_chars,
        })
        .to_string()
    }

    /// Reads what [`TokenizerSettings::to_json`] wrote (or any `tokenizer_config.json`-style
    /// object); `origin` names where it came from in errors.
    ///
    /// # Errors
    /// [`Error::TokenizerSettings`] if it is not such an object.
    pub fn from_json(json: &str, origin: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| settings_error(origin, "(file)", format!("not JSON: {e}")))?;
        let stated = Stated::from_tokenizer_config(&value, origin)?;
        Ok(stated.resolve(None))
    }

    /// The settings of the model directory `dir`, whose vocabulary is `vocab` (see the module
    /// documentation for the files and fields read). With none of the files, the model is taken
    /// as uncased — unless its vocabulary holds upper-case tokens, which only a cased model
    /// has: then the directory is refused.
    ///
    /// # Errors
    /// [`Error::TokenizerSettings`] naming the file and field that is unreadable, unsupported,
    /// contradicts another, or is missing; [`Error::Io`] for a file that exists but cannot be
    /// read.
    pub fn from_model_dir(dir: &Path, vocab: &Vocab) -> Result<Self> {
        let config = read_json(&dir.join("tokenizer_config.json"))?;
        let special_map = read_json(&dir.join("special_tokens_map.json"))?;
        let fast = read_json(&dir.join("tokenizer.json"))?;

        let mut stated = Stated::default();
        if let Some((path, value)) = &config {
            stated = Stated::from_tokenizer_config(value, path)?;
        }
        if let Some((path, value)) = &special_map {
            check_special_tokens_map(value, path)?;
        }
        let mut from_fast = None;
        if let Some((path, value)) = &fast {
            let normalizer = Stated::from_tokenizer_json(value, path)?;
            if let Some((config_path, _)) = &config {
                stated.check_agrees(config_path, &normalizer, path)?;
            }
            from_fast = Some(normalizer);
        }
        if stated.lowercase.is_none() && from_fast.as_ref().is_none_or(|f| f.lowercase.is_none()) {
            if let Err(token) = TokenizerSettings::for_bare_vocab(vocab) {
                return Err(settings_error(
                    &dir.join("tokenizer_config.json"),
                    "do_lower_case",
                    format!(
                        "missing, and vocab.txt holds upper-case tokens (such as {token:?}): \
                         the model looks cased, so lower-casing its input would silently degrade \
                         every answer. Add tokenizer_config.json with \"do_lower_case\": false \
                         (cased) or true (uncased), or pass --cased / --uncased"
                    ),
                ));
            }
        }
        let settings = stated.resolve(from_fast.as_ref());
        if settings.lowercase {
            if let Some(token) = upper_case_token(vocab) {
                log::warn!(
                    "{}: the model lower-cases its input, yet vocab.txt holds upper-case tokens \
                     (such as {token:?}) that lower-cased text never matches",
                    dir.display()
                );
            }
        }
        Ok(settings)
    }
}

impl TokenizerSettings {
    /// The settings of a vocabulary that comes with none: uncased (as every BERT tokenizer
    /// defaults to), unless the vocabulary holds an upper-case token, which only a cased
    /// model's has — then that token, as `Err`, for the caller's refusal.
    pub(crate) fn for_bare_vocab(vocab: &Vocab) -> std::result::Result<TokenizerSettings, &str> {
        match upper_case_token(vocab) {
            None => Ok(TokenizerSettings::UNCASED),
            Some(token) => Err(token),
        }
    }
}

/// The switches a file states; `None` where it is silent.
#[derive(Debug, Default, Clone, Copy)]
struct Stated {
    lowercase: Option<bool>,
    /// `Some(None)`: stated as `null` (follows `lowercase`).
    strip_accents: Option<Option<bool>>,
    chinese_chars: Option<bool>,
}

impl Stated {
    /// The effective settings: this file's, then `fallback`'s, then Hugging Face's defaults
    /// (`do_lower_case` true, `strip_accents` following it, CJK split).
    fn resolve(&self, fallback: Option<&Stated>) -> TokenizerSettings {
        let lowercase = self
            .lowercase
            .or(fallback.and_then(|f| f.lowercase))
            .unwrap_or(true);
        let strip = self
            .strip_accents
            .or(fallback.and_then(|f| f.strip_accents))
            .flatten();
        let chinese = self
            .chinese_chars
            .or(fallback.and_then(|f| f.chinese_chars))
            .unwrap_or(true);
        TokenizerSettings::new(lowercase, strip, chinese)
    }

    /// The fields of a `tokenizer_config.json` object.
    fn from_tokenizer_config(v: &Value, path: &Path) -> Result<Stated> {
        let Some(obj) = v.as_object() else {
            return Err(settings_error(path, "(file)", "not a JSON object"));
        };
        if let Some(class) = obj.get("tokenizer_class") {
            const KNOWN: [&str; 4] = [
                "BertTokenizer",
                "BertTokenizerFast",
                "DistilBertTokenizer",
                "DistilBertTokenizerFast",
            ];
            match class.as_str() {
                Some(c) if KNOWN.contains(&c) => {}
                _ => {
                    return Err(settings_error(
                        path,
                        "tokenizer_class",
                        format!(
                            "{class} is not a BERT WordPiece tokenizer (bertqa runs {}); see \
                             docs/models.md",
                            KNOWN.join(", ")
                        ),
                    ))
                }
            }
        }
        if let Some(v) = obj.get("do_basic_tokenize") {
            if optional_bool(v, path, "do_basic_tokenize")? == Some(false) {
                return Err(settings_error(
                    path,
                    "do_basic_tokenize",
                    "false (WordPiece on raw whitespace-split text) is not supported",
                ));
            }
        }
        for (field, want) in SPECIAL_FIELDS {
            if let Some(v) = obj.get(field) {
                check_special(v, want, path, field)?;
            }
        }
        if let Some(decoder) = obj.get("added_tokens_decoder") {
            let Some(entries) = decoder.as_object() else {
                return Err(settings_error(
                    path,
                    "added_tokens_decoder",
                    "not an object",
                ));
            };
            for (id, entry) in entries {
                let content = entry.get("content").and_then(Value::as_str);
                if !content.is_some_and(|c| SPECIAL_TOKENS.contains(&c)) {
                    return Err(settings_error(
                        path,
                        &format!("added_tokens_decoder.{id}"),
                        format!(
                            "added token {} is not supported (only {})",
                            entry.get("content").unwrap_or(&Value::Null),
                            SPECIAL_TOKENS.join(" ")
                        ),
                    ));
                }
            }
        }
        let lowercase = match obj.get("do_lower_case") {
            Some(v) => optional_bool(v, path, "do_lower_case")?,
            None => None,
        };
        let strip_accents = match obj.get("strip_accents") {
            Some(v) => Some(optional_bool(v, path, "strip_accents")?),
            None => None,
        };
        let chinese_chars = match obj.get("tokenize_chinese_chars") {
            Some(v) => optional_bool(v, path, "tokenize_chinese_chars")?,
            None => None,
        };
        Ok(Stated {
            lowercase,
            strip_accents,
            chinese_chars,
        })
    }

    /// The normalizer of a fast tokenizer's `tokenizer.json`, after checking that the file
    /// describes BERT's WordPiece tokenizer.
    fn from_tokenizer_json(v: &Value, path: &Path) -> Result<Stated> {
        let normalizer = &v["normalizer"];
        if normalizer["type"] != "BertNormalizer" {
            return Err(settings_error(
                path,
                "normalizer.type",
                format!(
                    "{} is not supported (only BertNormalizer)",
                    normalizer["type"]
                ),
            ));
        }
        if normalizer.get("clean_text").is_some_and(|c| c != true) {
            return Err(settings_error(
                path,
                "normalizer.clean_text",
                "false is not supported",
            ));
        }
        let pre = &v["pre_tokenizer"]["type"];
        if !pre.is_null() && pre != "BertPreTokenizer" {
            return Err(settings_error(
                path,
                "pre_tokenizer.type",
                format!("{pre} is not supported (only BertPreTokenizer)"),
            ));
        }
        let model = &v["model"];
        if model["type"] != "WordPiece" {
            return Err(settings_error(
                path,
                "model.type",
                format!("{} is not supported (only WordPiece)", model["type"]),
            ));
        }
        if let Some(prefix) = model.get("continuing_subword_prefix") {
            if prefix != "##" {
                return Err(settings_error(
                    path,
                    "model.continuing_subword_prefix",
                    format!("{prefix} is not supported (only \"##\")"),
                ));
            }
        }
        if let Some(n) = model.get("max_input_chars_per_word") {
            if n.as_u64() != Some(super::MAX_INPUT_CHARS_PER_WORD as u64) {
                return Err(settings_error(
                    path,
                    "model.max_input_chars_per_word",
                    format!(
                        "{n} is not supported (only {})",
                        super::MAX_INPUT_CHARS_PER_WORD
                    ),
                ));
            }
        }
        let field = |name: &str| -> Result<Option<bool>> {
            match normalizer.get(name) {
                Some(v) => optional_bool(v, path, &format!("normalizer.{name}")),
                None => Ok(None),
            }
        };
        Ok(Stated {
            lowercase: field("lowercase")?,
            strip_accents: match normalizer.get("strip_accents") {
                Some(_) => Some(field("strip_accents")?),
                None => None,
            },
            chinese_chars: field("handle_chinese_chars")?,
        })
    }

    /// Fails if `self` (from `path`) and `other` (from `other_path`) state different effective
    /// values for a switch both state.
    fn check_agrees(&self, path: &Path, other: &Stated, other_path: &Path) -> Result<()> {
        let clash = |field: &str, other_field: &str, a: String, b: String| {
            settings_error(
                path,
                field,
                format!(
                    "{a}, but {}'s {other_field} is {b}; the two files describe different \
                     tokenizers",
                    other_path.display()
                ),
            )
        };
        if let (Some(a), Some(b)) = (self.lowercase, other.lowercase) {
            if a != b {
                return Err(clash(
                    "do_lower_case",
                    "normalizer.lowercase",
                    a.to_string(),
                    b.to_string(),
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.chinese_chars, other.chinese_chars) {
            if a != b {
                return Err(clash(
                    "tokenize_chinese_chars",
                    "normalizer.handle_chinese_chars",
                    a.to_string(),
                    b.to_string(),
                ));
            }
        }
        // strip_accents compares as the files mean it: unset follows the file's lower-casing.
        if self.strip_accents.is_some() || other.strip_accents.is_some() {
            let mine = self.resolve(Some(other)).strip_accents;
            let theirs = other.resolve(Some(self)).strip_accents;
            if mine != theirs {
                return Err(clash(
                    "strip_accents",
                    "normalizer.strip_accents",
                    mine.to_string(),
                    theirs.to_string(),
                ));
            }
        }
        Ok(())
    }
}

/// The special-token fields of the tokenizer files and the token each must be.
const SPECIAL_FIELDS: [(&str, &str); 5] = [
    ("pad_token", "[PAD]"),
    ("unk_token", "[UNK]"),
    ("cls_token", "[CLS]"),
    ("sep_token", "[SEP]"),
    ("mask_token", "[MASK]"),
];

fn check_special_tokens_map(v: &Value, path: &Path) -> Result<()> {
    let Some(obj) = v.as_object() else {
        return Err(settings_error(path, "(file)", "not a JSON object"));
    };
    for (field, want) in SPECIAL_FIELDS {
        if let Some(v) = obj.get(field) {
            check_special(v, want, path, field)?;
        }
    }
    if let Some(extra) = obj.get("additional_special_tokens") {
        if extra.as_array().is_none_or(|a| !a.is_empty()) {
            return Err(settings_error(
                path,
                "additional_special_tokens",
                format!("{extra} is not supported (only BERT's five special tokens)"),
            ));
        }
    }
    Ok(())
}

/// A special token, written as a string or as `{"content": ...}`, must be `want`.
fn check_special(v: &Value, want: &str, path: &Path, field: &str) -> Result<()> {
    let got = v
        .as_str()
        .or_else(|| v.get("content").and_then(Value::as_str));
    if got != Some(want) {
        return Err(settings_error(
            path,
            field,
            format!("{v} is not supported: bertqa's BERT inputs use {want}"),
        ));
    }
    Ok(())
}

/// A JSON boolean or `null` (`None`).
fn optional_bool(v: &Value, path: &Path, field: &str) -> Result<Option<bool>> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(settings_error(
            path,
            field,
            format!("{other} is not true, false or null"),
        )),
    }
}

/// The JSON in `path`, or `None` if there is no such file.
fn read_json(path: &Path) -> Result<Option<(std::path::PathBuf, Value)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| settings_error(path, "(file)", format!("not valid JSON: {e}")))?;
    Ok(Some((path.to_path_buf(), value)))
}

/// The first vocabulary entry with an upper-case letter that lower-casing changes (special
/// tokens and `[unusedN]` placeholders aside), if any.
fn upper_case_token(vocab: &Vocab) -> Option<&str> {
    (0..vocab.len() as u32)
        .filter_map(|id| vocab.id_to_token(id))
        .filter(|t| !(t.starts_with('[') && t.ends_with(']')))
        .find(|t| {
            t.chars()
                .any(|c| c.is_uppercase() && !c.to_lowercase().eq(std::iter::once(c)))
        })
}

fn settings_error(path: &Path, field: &str, message: impl Into<String>) -> Error {
    Error::TokenizerSettings {
        path: path.to_path_buf(),
        field: field.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)], vocab: &str) -> (std::path::PathBuf, Vocab) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bertqa-tok-settings-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        (dir, Vocab::from_text(vocab).unwrap())
    }

    const UNCASED: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n[unused0]\nthe\n";
    const CASED: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n[unused0]\nthe\nThe\n";

    fn read(files: &[(&str, &str)], vocab: &str) -> Result<TokenizerSettings> {
        let (dir, vocab) = dir_with(files, vocab);
        let out = TokenizerSettings::from_model_dir(&dir, &vocab);
        std::fs::remove_dir_all(&dir).ok();
        out
    }

    fn refused(files: &[(&str, &str)], vocab: &str, field: &str) {
        match read(files, vocab) {
            Err(Error::TokenizerSettings { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected a refusal naming {field}, got {other:?}"),
        }
    }

    #[test]
    fn settings_from_tokenizer_config() {
        assert_eq!(read(&[], UNCASED).unwrap(), TokenizerSettings::UNCASED);
        let cased = [("tokenizer_config.json", r#"{"do_lower_case": false}"#)];
        assert_eq!(read(&cased, CASED).unwrap(), TokenizerSettings::CASED);
        let strip = [(
            "tokenizer_config.json",
            r#"{"do_lower_case": false, "strip_accents": true, "tokenizer_class": "BertTokenizerFast"}"#,
        )];
        let s = read(&strip, CASED).unwrap();
        assert!(!s.lowercase && s.strip_accents && s.chinese_chars);
        let keep = [(
            "tokenizer_config.json",
            r#"{"do_lower_case": true, "strip_accents": false, "tokenize_chinese_chars": false}"#,
        )];
        let s = read(&keep, UNCASED).unwrap();
        assert!(s.lowercase && !s.strip_accents && !s.chinese_chars);
        // Round trip through the packed file's record.
        let back = TokenizerSettings::from_json(&s.to_json(), Path::new("x")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn a_cased_vocabulary_with_no_settings_is_refused() {
        refused(&[], CASED, "do_lower_case");
        // Stated in tokenizer.json alone is enough.
        let fast = r###"{"normalizer": {"type": "BertNormalizer", "clean_text": true,
            "handle_chinese_chars": true, "strip_accents": null, "lowercase": false},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100}}"###;
        assert_eq!(
            read(&[("tokenizer.json", fast)], CASED).unwrap(),
            TokenizerSettings::CASED
        );
        // ... and contradicting it is refused, naming the field.
        refused(
            &[
                ("tokenizer.json", fast),
                ("tokenizer_config.json", r#"{"do_lower_case": true}"#),
            ],
            CASED,
            "do_lower_case",
        );
    }

    #[test]
    fn unknown_or_unsupported_settings_are_refused() {
        let cfg = |json: &str| vec![("tokenizer_config.json", json.to_string())];
        let cases = [
            (
                r#"{"tokenizer_class": "RobertaTokenizer"}"#,
                "tokenizer_class",
            ),
            (r#"{"do_lower_case": "yes"}"#, "do_lower_case"),
            (r#"{"strip_accents": 1}"#, "strip_accents"),
            (r#"{"do_basic_tokenize": false}"#, "do_basic_tokenize"),
            (r#"{"cls_token": "<s>"}"#, "cls_token"),
            (
                r#"{"added_tokens_decoder": {"30522": {"content": "<new>"}}}"#,
                "added_tokens_decoder.30522",
            ),
            ("[1]", "(file)"),
            ("{", "(file)"),
        ];
        for (json, field) in cases {
            let files = cfg(json);
            let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
            refused(&files, UNCASED, field);
        }
        refused(
            &[(
                "special_tokens_map.json",
                r#"{"additional_special_tokens": ["<x>"]}"#,
            )],
            UNCASED,
            "additional_special_tokens",
        );
        refused(
            &[("tokenizer.json", r#"{"normalizer": {"type": "Lowercase"}}"#)],
            UNCASED,
            "normalizer.type",
        );
        // The shared test model's own files are accepted (special tokens as objects too).
        let ok = [(
            "special_tokens_map.json",
            r#"{"cls_token": {"content": "[CLS]"}, "unk_token": "[UNK]"}"#,
        )];
        assert_eq!(read(&ok, UNCASED).unwrap(), TokenizerSettings::UNCASED);
    }

    #[test]
    fn names() {
        assert_eq!(TokenizerSettings::UNCASED.name(), "uncased");
        assert_eq!(TokenizerSettings::CASED.name(), "cased");
        assert_eq!(
            TokenizerSettings::new(false, Some(true), true).name(),
            "do_lower_case=false strip_accents=true tokenize_chinese_chars=true"
        );
    }
}
