//! BERT's "basic" tokenization, uncased: clean → isolate CJK → NFD → drop Mn → lower-case →
//! split on whitespace and punctuation, keeping for every normalised byte the original character
//! it came from.
//!
//! The steps and their order are those of Hugging Face's `BertNormalizer` + `BertPreTokenizer`
//! (the fast tokenizer), and the character classes come from the same crates it uses
//! (`unicode_categories`, `unicode-normalization-alignments`); see docs/tokenizer.md for why and
//! for where the slow (Python) tokenizer differs.
//!
//! # Alignment
//! Each normalised character carries the [`Align`] of exactly one original character:
//! - a character that survives cleaning keeps its own span;
//! - the extra characters of a decomposition (`é` → `e` + U+0301) or of a multi-character lower
//!   case (`İ` → `i` + U+0307) take the span of the original character they came from;
//! - where canonical reordering moves combining marks, marks are matched to original characters by
//!   position, as `tokenizers` does;
//! - removed characters (controls, U+FFFD, NUL, Mn marks) belong to no token.
//!
//! A token covering normalised bytes `[s, e)` then spans, in the original text, from the start of
//! byte `s`'s character to the end of byte `e - 1`'s character — the offsets the fast tokenizer
//! reports.

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

/// Where one normalised byte came from: one character of the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Align {
    /// UTF-8 byte offset of the original character.
    pub byte_start: usize,
    /// UTF-8 byte offset just past it.
    pub byte_end: usize,
    /// Its index in characters (Unicode scalar values), as Python counts.
    pub char_start: usize,
}

/// Reusable buffers for [`split_words`]: nothing is allocated per word or per token once they
/// have grown to the longest word seen.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The normalised text of the current chunk (a run between whitespace).
    norm: String,
    /// One entry per byte of `norm`.
    align: Vec<Align>,
    /// Non-ASCII characters waiting for NFD (a run that canonical reordering may permute).
    pending: String,
    /// One entry per character of `pending`.
    pending_align: Vec<Align>,
}

/// `tokenizers`' `is_whitespace`: `\t \n \r` and Unicode `White_Space`.
#[inline]
pub(crate) fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// `tokenizers`' `is_control`: general category C* in `unicode_categories`' tables (which do not
/// list unassigned code points), except `\t \n \r`.
#[inline]
pub(crate) fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// Characters BERT deletes outright when cleaning: NUL, U+FFFD and controls.
#[inline]
pub(crate) fn is_removed(c: char) -> bool {
    c == '\0' || c == '\u{FFFD}' || is_control(c)
}

/// BERT's "Chinese character": the CJK Unified Ideographs blocks and compatibility ideographs, as
/// `tokenizers` lists them (its fifth range starts at U+2B920, the Python tokenizer's at U+2B820).
#[inline]
pub(crate) fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// BERT's punctuation: every ASCII non-alphanumeric printable character, and Unicode P*.
#[inline]
pub(crate) fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && c.is_punctuation())
}

/// Runs the basic tokenizer over `text`, a piece of the original string starting at byte
/// `byte_base` and character `char_base`, calling `word(normalised_word, align)` for every
/// pre-token in order; `align` has one entry per byte of `normalised_word`.
pub(crate) fn split_words(
    text: &str,
    byte_base: usize,
    char_base: usize,
    scratch: &mut Scratch,
    word: &mut impl FnMut(&str, &[Align]),
) {
    scratch.norm.clear();
    scratch.align.clear();
    scratch.pending.clear();
    scratch.pending_align.clear();
    let bytes = text.as_bytes();
    let mut char_index = char_base;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            // ASCII: one byte, one character, NFD-inert and a canonical-ordering barrier.
            let a = Align {
                byte_start: byte_base + i,
                byte_end: byte_base + i + 1,
                char_start: char_index,
            };
            i += 1;
            char_index += 1;
            if b.is_ascii_alphanumeric() || b.is_ascii_punctuation() {
                scratch.flush_pending();
                scratch.norm.push(char::from(b.to_ascii_lowercase()));
                scratch.align.push(a);
            } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                scratch.end_chunk(word);
            }
            // Every other ASCII byte is a control character (including \x0b, \x0c and \x1c-\x1f,
            // which are also White_Space): removed, without splitting the word.
            continue;
        }
        let c = text[i..].chars().next().expect("i is on a char boundary");
        let len = c.len_utf8();
        let a = Align {
            byte_start: byte_base + i,
            byte_end: byte_base + i + len,
            char_start: char_index,
        };
        i += len;
        char_index += 1;
        if is_removed(c) {
            continue;
        }
        if is_whitespace(c) {
            scratch.end_chunk(word);
        } else if is_chinese_char(c) {
            scratch.end_chunk(word);
            scratch.pending.push(c);
            scratch.pending_align.push(a);
            scratch.end_chunk(word);
        } else {
            scratch.pending.push(c);
            scratch.pending_align.push(a);
        }
    }
    scratch.end_chunk(word);
}

impl Scratch {
    /// Normalises the pending non-ASCII run — NFD, drop Mn, lower-case — onto `norm`.
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut next = 0usize; // next original character of the run to consume
        let mut current = self.pending_align[0];
        for (c, change) in self.pending.nfd() {
            if change <= 0 {
                // A character that replaces one original character (and removes -change more).
                if let Some(&a) = self.pending_align.get(next) {
                    current = a;
                }
                next += 1 + change.unsigned_abs();
            }
            // change > 0: an inserted character, aligned with the original character before it.
            if c.is_ascii() {
                self.norm.push(char::from((c as u8).to_ascii_lowercase()));
                self.align.push(current);
                continue;
            }
            if c.is_mark_nonspacing() {
                continue;
            }
            for lower in c.to_lowercase() {
                self.norm.push(lower);
                for _ in 0..lower.len_utf8() {
                    self.align.push(current);
                }
            }
        }
        self.pending.clear();
        self.pending_align.clear();
    }

    /// Ends the current chunk (at whitespace, a CJK character or the end of text): splits its
    /// normalised text on punctuation and hands each piece to `word`.
    fn end_chunk(&mut self, word: &mut impl FnMut(&str, &[Align])) {
        self.flush_pending();
        if self.norm.is_empty() {
            return;
        }
        let norm = self.norm.as_str();
        let nb = norm.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < nb.len() {
            let b = nb[i];
            let (len, split, keep) = if b < 0x80 {
                let punct = b.is_ascii_punctuation();
                (1, punct, punct)
            } else {
                let c = norm[i..].chars().next().expect("char boundary");
                let ws = is_whitespace(c);
                let punct = !ws && is_punctuation(c);
                (c.len_utf8(), ws || punct, punct)
            };
            if split {
                if start < i {
                    word(&norm[start..i], &self.align[start..i]);
                }
                if keep {
                    word(&norm[i..i + len], &self.align[i..i + len]);
                }
                start = i + len;
            }
            i += len;
        }
        if start < nb.len() {
            word(&norm[start..], &self.align[start..]);
        }
        self.norm.clear();
        self.align.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, (usize, usize), (usize, usize))> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        split_words(text, 0, 0, &mut scratch, &mut |w, a| {
            let last = a[a.len() - 1];
            out.push((
                w.to_owned(),
                (a[0].byte_start, last.byte_end),
                (a[0].char_start, last.char_start + 1),
            ))
        });
        out
    }

    fn texts(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.0).collect()
    }

    #[test]
    fn splits_whitespace_and_punctuation() {
        assert_eq!(texts(" Hello,  World!\t"), ["hello", ",", "world", "!"]);
        assert_eq!(texts("a$b"), ["a", "$", "b"]);
        assert_eq!(texts(""), Vec::<String>::new());
        assert_eq!(texts(" \n\t "), Vec::<String>::new());
    }

    #[test]
    fn strips_accents_and_keeps_original_offsets() {
        // "Café" with a precomposed é (2 bytes), then "e" + U+0301 combining (1 + 2 bytes): the
        // removed mark belongs to no token, as in the fast tokenizer.
        let w = words("Café cafe\u{301}!");
        assert_eq!(w[0], ("cafe".into(), (0, 5), (0, 4)));
        assert_eq!(w[1], ("cafe".into(), (6, 10), (5, 9)));
        assert_eq!(w[2], ("!".into(), (12, 13), (10, 11)));
    }

    #[test]
    fn dotted_capital_i_and_sharp_s() {
        let w = words("İstanbul Straße");
        assert_eq!(w[0], ("istanbul".into(), (0, 9), (0, 8)));
        assert_eq!(w[1], ("straße".into(), (10, 17), (9, 15)));
    }

    #[test]
    fn cjk_is_split_and_controls_vanish() {
        assert_eq!(texts("日本語abc"), ["日", "本", "語", "abc"]);
        let w = words("a\u{ad}b\u{0}c\u{fffd}d\x0be");
        assert_eq!(w, [("abcde".into(), (0, 12), (0, 9))]);
    }

    #[test]
    fn greek_varia_decomposes_to_a_backtick() {
        assert_eq!(texts("a\u{1fef}b"), ["a", "`", "b"]);
    }
}
