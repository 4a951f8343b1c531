//! The WordPiece vocabulary: `vocab.txt`, one token per line, id = line number (from 0).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use crate::{Error, Result};

/// The prefix that marks a WordPiece continuation (a piece that does not start a word).
pub const CONTINUATION_PREFIX: &str = "##";

/// The special tokens every BERT vocabulary must hold, in the order BERT's vocab lists them.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// A BERT WordPiece vocabulary.
///
/// Besides the id ↔ token maps it keeps two lookup tables for the WordPiece matcher: word-initial
/// pieces keyed by their text, and continuation pieces (`##xyz`) keyed by the text after `##`, so
/// that matching a piece never builds a `String`.
///
/// A token listed twice keeps the id of its *last* line for [`Vocab::token_to_id`] (as Hugging
/// Face's loaders do); [`Vocab::id_to_token`] answers for both lines.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// Token text by id.
    tokens: Vec<Box<str>>,
    /// Every token → id.
    ids: FxMap,
    /// Continuation pieces: text after `##` → id.
    continuations: FxMap,
    /// Longest word-initial token, in bytes (bounds the greedy match).
    max_initial_len: usize,
    /// Longest continuation piece without its `##`, in bytes.
    max_continuation_len: usize,
    pad_id: u32,
    unk_id: u32,
    cls_id: u32,
    sep_id: u32,
    mask_id: u32,
}

type FxMap = HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>;

impl Vocab {
    /// Reads a `vocab.txt` file (UTF-8, one token per line).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Vocab`] when it is not UTF-8 or is not a
    /// valid vocabulary (see [`Vocab::from_text`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Vocab> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Vocab {
            message: format!(
                "{}: not UTF-8 (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        })?;
        Vocab::from_text(&text).map_err(|e| match e {
            Error::Vocab { message } => Error::Vocab {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    /// Builds a vocabulary from the text of a `vocab.txt`: one token per line, the id of a token
    /// being its line number counted from 0. A line ends at `\n`; a `\r` before it is dropped too,
    /// so files with Windows line ends load the same. A final line end is optional.
    ///
    /// # Errors
    /// [`Error::Vocab`] when the text holds no tokens, a line is empty, there are more lines than
    /// a `u32` id can number, or one of `[PAD] [UNK] [CLS] [SEP] [MASK]` is missing.
    pub fn from_text(text: &str) -> Result<Vocab> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        if body.is_empty() {
            return Err(vocab_error("the vocabulary is empty"));
        }
        let mut tokens: Vec<Box<str>> = Vec::new();
        let mut ids = FxMap::default();
        let mut continuations = FxMap::default();
        let (mut max_initial_len, mut max_continuation_len) = (0, 0);
        for (line_no, line) in body.split('\n').enumerate() {
            let token = line.strip_suffix('\r').unwrap_or(line);
            if token.is_empty() {
                return Err(vocab_error(format!("line {} is empty", line_no + 1)));
            }
            let id = u32::try_from(line_no)
                .map_err(|_| vocab_error("more tokens than a u32 id can number"))?;
            ids.insert(token.into(), id);
            // Any token may start a word (even one spelled "##x"); only "##x" continues one.
            max_initial_len = max_initial_len.max(token.len());
            if let Some(rest) = token.strip_prefix(CONTINUATION_PREFIX) {
                if !rest.is_empty() {
                    continuations.insert(rest.into(), id);
                    max_continuation_len = max_continuation_len.max(rest.len());
                }
            }
            tokens.push(token.into());
        }
        let special = |name: &str| {
            ids.get(name)
                .copied()
                .ok_or_else(|| vocab_error(format!("required special token {name} is missing")))
        };
        Ok(Vocab {
            pad_id: special("[PAD]")?,
            unk_id: special("[UNK]")?,
            cls_id: special("[CLS]")?,
            sep_id: special("[SEP]")?,
            mask_id: special("[MASK]")?,
            tokens,
            ids,
            continuations,
            max_initial_len,
            max_continuation_len,
        })
    }

    /// The id of `token` (the full text, with `##` for continuations), if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The text of token `id`, if `id` is below [`Vocab::len`].
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(|t| &**t)
    }

    /// The vocabulary as `vocab.txt` text (one token per line, id = line number), which
    /// [`Vocab::from_text`] reads back to the same ids.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.tokens.iter().map(|t| t.len() + 1).sum());
        for t in &self.tokens {
            s.push_str(t);
            s.push('\n');
        }
        s
    }

    /// Number of ids (lines of `vocab.txt`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always `false`: a vocabulary holds at least the five special tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Id of `[PAD]`.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Id of `[UNK]`, the token for a word WordPiece cannot spell.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// Id of `[CLS]`.
    pub fn cls_id(&self) -> u32 {
        self.cls_id
    }

    /// Id of `[SEP]`.
    pub fn sep_id(&self) -> u32 {
        self.sep_id
    }

    /// Id of `[MASK]`.
    pub fn mask_id(&self) -> u32 {
        self.mask_id
    }

    /// Id of a word-initial piece spelled `piece` (no `##`).
    #[inline]
    pub(crate) fn initial_id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
    }

    /// Id of the continuation `##piece`, looked up by `piece`.
    #[inline]
    pub(crate) fn continuation_id(&self, piece: &str) -> Option<u32> {
        self.continuations.get(piece).copied()
    }

    /// Longest word-initial token in bytes.
    #[inline]
    pub(crate) fn max_initial_len(&self) -> usize {
        self.max_initial_len
    }

    /// Longest continuation piece (without `##`) in bytes.
    #[inline]
    pub(crate) fn max_continuation_len(&self) -> usize {
        self.max_continuation_len
    }
}

fn vocab_error(message: impl Into<String>) -> Error {
    Error::Vocab {
        message: message.into(),
    }
}

/// The multiply-rotate hash of rustc (`FxHasher`): a few cycles per word, plenty for a fixed table
/// of short keys that no adversary chooses. SipHash, the std default, costs ~3× more per lookup.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Whole 8-byte words, the tail as an overlapping word (or, below 8 bytes, as overlapping
        // halves): no byte-by-byte loop and no copy to a buffer for the short keys of a vocab.
        let n = bytes.len();
        if n >= 8 {
            let mut chunks = bytes.chunks_exact(8);
            for chunk in &mut chunks {
                self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            }
            if !chunks.remainder().is_empty() {
                self.add(u64::from_le_bytes(
                    bytes[n - 8..].try_into().expect("8 bytes"),
                ));
            }
        } else if n >= 4 {
            let lo = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
            let hi = u32::from_le_bytes(bytes[n - 4..].try_into().expect("4 bytes"));
            self.add((u64::from(hi) << 32 | u64::from(lo)) ^ n as u64);
        } else if n > 0 {
            let v =
                u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16;
            self.add(v | (n as u64) << 24);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// BERT's uncased vocabulary (`weights/vocab.txt`, 30,522 tokens), built in: the vocabulary
/// of the synthetic models and of a packed file written without one.
pub const UNCASED_VOCAB: &str = include_str!("../../weights/vocab.txt");

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\n";

    #[test]
    fn ids_are_line_numbers() {
        let v = Vocab::from_text(SMALL).unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(v.token_to_id("un"), Some(5));
        assert_eq!(v.token_to_id("##able"), Some(7));
        assert_eq!(v.id_to_token(6), Some("##aff"));
        assert_eq!(v.id_to_token(8), None);
        assert_eq!(v.continuation_id("aff"), Some(6));
        assert_eq!(v.initial_id("aff"), None);
        assert_eq!(
            (v.pad_id(), v.unk_id(), v.cls_id(), v.sep_id(), v.mask_id()),
            (0, 1, 2, 3, 4)
        );
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let v = Vocab::from_text("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]").unwrap();
        assert_eq!(v.len(), 5);
        assert_eq!(v.token_to_id("[MASK]"), Some(4));
    }

    #[test]
    fn malformed_vocabularies_are_refused() {
        for (text, needle) in [
            ("", "empty"),
            ("\n", "empty"),
            ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", "[MASK]"),
            ("[PAD]\n\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", "line 2 is empty"),
        ] {
            let err = Vocab::from_text(text).unwrap_err();
            assert!(
                matches!(&err, Error::Vocab { message } if message.contains(needle)),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn unreadable_file_is_an_io_error() {
        let err = Vocab::from_file("/nonexistent/vocab.txt").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
