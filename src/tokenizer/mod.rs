//! WordPiece tokenizer (BERT, uncased or cased) with offsets into the original text.
//!
//! [`Tokenizer::encode`] agrees token for token, id for id and offset for offset with Hugging
//! Face's `BertTokenizerFast(vocab_file, do_lower_case=..., strip_accents=...)` called with
//! `add_special_tokens=False, return_offsets_mapping=True` (checked against golden corpora in
//! `tests/tokenizer.rs`: uncased, cased, cased with accents stripped, lower-cased with accents
//! kept). Which normalisation runs is the model's [`TokenizerSettings`], read from its
//! directory by [`Tokenizer::from_model_dir`]. The pipeline, in the fast tokenizer's order:
//!
//! 1. **special tokens** — the literal strings `[PAD] [UNK] [CLS] [SEP] [MASK]`, case-sensitive,
//!    are cut out of the raw text first and become their own ids (as `tokenizers`' added
//!    vocabulary does); `[sep]` or `[ SEP ]` are ordinary text;
//! 2. **basic tokenization** (`basic.rs`) — drop NUL, U+FFFD and control characters; whitespace
//!    separates words; CJK ideographs become one-character words (unless the settings say
//!    otherwise); if the settings strip accents, NFD and drop non-spacing marks; if they
//!    lower-case, lower-case; punctuation characters become one-character words;
//! 3. **WordPiece** (`wordpiece.rs`) — greedy longest match first, `##` continuations, words over
//!    100 characters or with an unmatchable rest become one `[UNK]`.
//!
//! Every token carries its `[start, end)` span in the *original* string, both in UTF-8 bytes (for
//! slicing a Rust `&str`) and in characters (Unicode scalar values, the offsets Python reports).
//! `encode` adds no `[CLS]`/`[SEP]`: building model inputs is the feature builder's job.
//!
//! ```
//! # fn main() -> bertqa::Result<()> {
//! use bertqa::tokenizer::{Tokenizer, Vocab};
//! let vocab = Vocab::from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncafe\n!\n")?;
//! let tokenizer = Tokenizer::new(vocab);
//! let enc = tokenizer.encode("Café!");
//! assert_eq!(enc.tokens(tokenizer.vocab()), ["cafe", "!"]);
//! assert_eq!(enc.char_offsets, [(0, 4), (4, 5)]);
//! assert_eq!(enc.byte_offsets, [(0, 5), (5, 6)]); // é is two bytes
//! # Ok(()) }
//! ```

mod basic;
mod settings;
pub mod vocab;
mod wordpiece;

use std::path::Path;

use serde::Serialize;

pub use settings::TokenizerSettings;
pub use vocab::{Vocab, UNCASED_VOCAB};
pub use wordpiece::MAX_INPUT_CHARS_PER_WORD;

use crate::Result;
use basic::{Scratch, WordAlign};

/// The result of [`Tokenizer::encode`]: parallel vectors, one entry per token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    /// Vocabulary ids. Token text: [`Encoding::tokens`] or [`Vocab::id_to_token`].
    pub ids: Vec<u32>,
    /// `[start, end)` of each token in the original text, in UTF-8 bytes: `&text[start..end]` is
    /// the text the token came from.
    pub byte_offsets: Vec<(usize, usize)>,
    /// `[start, end)` of each token in the original text, in characters (Unicode scalar values),
    /// as Python and Hugging Face's `offset_mapping` count them.
    pub char_offsets: Vec<(usize, usize)>,
}

impl Encoding {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens (empty or all-whitespace text).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Removes every token, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.byte_offsets.clear();
        self.char_offsets.clear();
    }

    /// The token strings (`"##ing"`, `"[UNK]"`, …), borrowed from `vocab`.
    ///
    /// # Panics
    /// If an id is not in `vocab` (the encoding came from another vocabulary).
    pub fn tokens<'v>(&self, vocab: &'v Vocab) -> Vec<&'v str> {
        self.ids
            .iter()
            .map(|&id| vocab.id_to_token(id).expect("id from this vocabulary"))
            .collect()
    }
}

/// The JSON object the CLI prints for one line:
/// `{"tokens": [...], "ids": [...], "offsets": [[start, end], ...]}`, offsets in characters.
#[derive(Debug, Clone, Serialize)]
pub struct EncodingJson<'a> {
    /// Token strings.
    pub tokens: Vec<&'a str>,
    /// Vocabulary ids.
    pub ids: &'a [u32],
    /// Character offsets `[start, end)` into the original text.
    pub offsets: Vec<[usize; 2]>,
}

/// A BERT WordPiece tokenizer, uncased or cased ([`TokenizerSettings`]). Cheap to share: it is
/// `Send + Sync` and [`encode`] takes `&self`.
///
/// [`encode`]: Tokenizer::encode
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: Vocab,
    settings: TokenizerSettings,
    /// `[PAD] [UNK] [CLS] [SEP] [MASK]` with their ids, cut out of raw text before anything else.
    specials: Vec<(&'static str, u32)>,
}

impl Tokenizer {
    /// An uncased tokenizer over `vocab` (the model card's; [`Tokenizer::with_settings`] for
    /// any other).
    pub fn new(vocab: Vocab) -> Tokenizer {
        Tokenizer::with_settings(vocab, TokenizerSettings::UNCASED)
    }

    /// A tokenizer over `vocab` that normalises text as `settings` say.
    pub fn with_settings(vocab: Vocab, settings: TokenizerSettings) -> Tokenizer {
        basic::init_tables();
        let specials = vocab::SPECIAL_TOKENS
            .iter()
            .map(|&s| {
                (
                    s,
                    vocab
                        .token_to_id(s)
                        .expect("Vocab guarantees special tokens"),
                )
            })
            .collect();
        Tokenizer {
            vocab,
            settings,
            specials,
        }
    }

    /// A tokenizer over the vocabulary in `path` (a bare `vocab.txt`), normalising as
    /// `settings` say; with `None`, uncased — unless the vocabulary holds upper-case tokens,
    /// which only a cased model's has: that is refused rather than silently lower-cased.
    ///
    /// # Errors
    /// As [`Vocab::from_file`]; [`crate::Error::TokenizerSettings`] for a cased-looking
    /// vocabulary without `settings`.
    pub fn from_vocab_file(
        path: impl AsRef<Path>,
        settings: Option<TokenizerSettings>,
    ) -> Result<Tokenizer> {
        let path = path.as_ref();
        let vocab = Vocab::from_file(path)?;
        let settings = match settings {
            Some(s) => s,
            None => TokenizerSettings::for_bare_vocab(&vocab).map_err(|token| {
                crate::Error::TokenizerSettings {
                    path: path.to_path_buf(),
                    field: "(settings)".into(),
                    message: format!(
                        "the vocabulary holds upper-case tokens (such as {token:?}), so its \
                         model is probably cased; say which (--cased or --uncased, \
                         TokenizerSettings::CASED or UNCASED)"
                    ),
                }
            })?,
        };
        Ok(Tokenizer::with_settings(vocab, settings))
    }

    /// An uncased tokenizer over the vocabulary in `path` (`vocab.txt`); refuses a vocabulary
    /// with upper-case tokens, as [`Tokenizer::from_vocab_file`] with `None` does.
    ///
    /// # Errors
    /// As [`Tokenizer::from_vocab_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Tokenizer> {
        Tokenizer::from_vocab_file(path, None)
    }

    /// The tokenizer of a Hugging Face model directory: `vocab.txt`, normalised as the
    /// directory's tokenizer files say ([`TokenizerSettings::from_model_dir`]), or as
    /// `settings` if given (which skips reading those files).
    ///
    /// # Errors
    /// As [`Vocab::from_file`] and [`TokenizerSettings::from_model_dir`].
    pub fn from_model_dir(dir: &Path, settings: Option<TokenizerSettings>) -> Result<Tokenizer> {
        let vocab = Vocab::from_file(dir.join("vocab.txt"))?;
        let settings = match settings {
            Some(s) => s,
            None => TokenizerSettings::from_model_dir(dir, &vocab)?,
        };
        Ok(Tokenizer::with_settings(vocab, settings))
    }

    /// How this tokenizer normalises text.
    pub fn settings(&self) -> TokenizerSettings {
        self.settings
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Text of token `id` (shorthand for `self.vocab().id_to_token(id)`).
    pub fn token_str(&self, id: u32) -> Option<&str> {
        self.vocab.id_to_token(id)
    }

    /// Tokenizes `text` (no `[CLS]`/`[SEP]` added). Never fails: unknown words become `[UNK]`.
    pub fn encode(&self, text: &str) -> Encoding {
        let mut enc = Encoding::default();
        self.encode_into(text, &mut enc);
        enc
    }

    /// As [`Tokenizer::encode`], but reusing `enc`'s buffers (cleared first): with a reused
    /// `Encoding`, tokenizing allocates only a few scratch buffers per call.
    pub fn encode_into(&self, text: &str, enc: &mut Encoding) {
        enc.clear();
        let mut scratch = Scratch::default();
        let mut pieces = Vec::new();
        let mut rest_start = 0; // byte offset of the text not yet tokenized
        let mut char_base = 0; // its offset in characters
        let mut search_from = 0;
        while let Some(pos) = text[search_from..].find('[') {
            let at = search_from + pos;
            let Some(&(special, id)) = self
                .specials
                .iter()
                .find(|(s, _)| text[at..].starts_with(s))
            else {
                search_from = at + 1;
                continue;
            };
            let before = &text[rest_start..at];
            char_base = self.encode_plain(
                before,
                rest_start,
                char_base,
                &mut scratch,
                &mut pieces,
                enc,
            );
            let n = special.len(); // ASCII: bytes = characters
            enc.ids.push(id);
            enc.byte_offsets.push((at, at + n));
            enc.char_offsets.push((char_base, char_base + n));
            char_base += n;
            rest_start = at + n;
            search_from = rest_start;
        }
        self.encode_plain(
            &text[rest_start..],
            rest_start,
            char_base,
            &mut scratch,
            &mut pieces,
            enc,
        );
    }

    /// Tokenizes `text` (free of special tokens), which starts at byte `byte_base` and character
    /// `char_base` of the original; returns the character offset just past it.
    fn encode_plain(
        &self,
        text: &str,
        byte_base: usize,
        char_base: usize,
        scratch: &mut Scratch,
        pieces: &mut Vec<(u32, usize, usize)>,
        enc: &mut Encoding,
    ) -> usize {
        if text.is_empty() {
            return char_base;
        }
        let vocab = &self.vocab;
        basic::split_words(
            text,
            byte_base,
            char_base,
            self.settings,
            scratch,
            &mut |word: &str, align: WordAlign<'_>| {
                wordpiece::segment(vocab, word, pieces, &mut |id, s, e| {
                    let (byte_start, byte_end, char_start, char_end) = align.span(s, e);
                    enc.ids.push(id);
                    enc.byte_offsets.push((byte_start, byte_end));
                    enc.char_offsets.push((char_start, char_end));
                });
            },
        )
    }

    /// The CLI's JSON view of `enc`: token strings, ids and character offsets.
    pub fn encoding_json<'a>(&'a self, enc: &'a Encoding) -> EncodingJson<'a> {
        EncodingJson {
            tokens: enc.tokens(&self.vocab),
            ids: &enc.ids,
            offsets: enc.char_offsets.iter().map(|&(s, e)| [s, e]).collect(),
        }
    }

    /// [`Tokenizer::encoding_json`] as one line of JSON, keys in the order
    /// `tokens`, `ids`, `offsets`.
    pub fn encoding_json_string(&self, enc: &Encoding) -> String {
        serde_json::to_string(&self.encoding_json(enc)).expect("plain data serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        Tokenizer::new(
            Vocab::from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##b\n[\n]\nse\n##p\n")
                .unwrap(),
        )
    }

    #[test]
    fn special_tokens_are_cut_out_of_raw_text() {
        let t = tok();
        let enc = t.encode("a[SEP]b [sep]");
        assert_eq!(
            enc.tokens(t.vocab()),
            ["a", "[SEP]", "b", "[", "se", "##p", "]"]
        );
        assert_eq!(
            enc.char_offsets,
            [(0, 1), (1, 6), (6, 7), (8, 9), (9, 11), (11, 12), (12, 13)]
        );
        assert_eq!(enc.byte_offsets, enc.char_offsets);
    }

    #[test]
    fn unknown_words_and_empty_text() {
        let t = tok();
        assert!(t.encode("").is_empty());
        assert!(t.encode(" \t\r\n").is_empty());
        let enc = t.encode("ab xyz é");
        assert_eq!(enc.tokens(t.vocab()), ["a", "##b", "[UNK]", "[UNK]"]);
        assert_eq!(enc.byte_offsets, [(0, 1), (1, 2), (3, 6), (7, 9)]);
        assert_eq!(enc.char_offsets, [(0, 1), (1, 2), (3, 6), (7, 8)]);
    }

    #[test]
    fn json_keys_in_order() {
        let t = tok();
        let enc = t.encode("é [MASK]");
        assert_eq!(
            t.encoding_json_string(&enc),
            r#"{"tokens":["[UNK]","[MASK]"],"ids":[1,4],"offsets":[[0,1],[2,8]]}"#
        );
    }

    #[test]
    fn tokenizer_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
    }
}
