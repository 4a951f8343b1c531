//! BERT's "basic" tokenization: clean → isolate CJK → (NFD → drop Mn) → (lower-case) → split on
//! whitespace and punctuation, keeping for every normalised byte the original character it came
//! from. Which of the bracketed steps run is the model's [`TokenizerSettings`]: all of them for
//! an uncased model, none for a cased one; each independently as Hugging Face's
//! `BertNormalizer` allows (`strip_accents`, `lowercase`, `handle_chinese_chars`).
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

use super::TokenizerSettings;
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

/// How a normalised word maps back to the original text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WordAlign<'a> {
    /// The word is a run of ASCII letters and digits copied (lower-cased if the settings say so)
    /// from the original
    /// starting at this byte and character: byte `k` of the word is byte `byte_start + k`.
    Ascii {
        /// Byte offset of the run in the original text.
        byte_start: usize,
        /// Character offset of the run in the original text.
        char_start: usize,
    },
    /// One [`Align`] per byte of the word.
    Table(&'a [Align]),
}

impl WordAlign<'_> {
    /// The original span of word bytes `[s, e)` (`s < e`): `(byte_start, byte_end, char_start,
    /// char_end)`.
    #[inline]
    pub(crate) fn span(&self, s: usize, e: usize) -> (usize, usize, usize, usize) {
        match *self {
            WordAlign::Ascii {
                byte_start,
                char_start,
            } => (
                byte_start + s,
                byte_start + e,
                char_start + s,
                char_start + e,
            ),
            WordAlign::Table(align) => {
                let (first, last) = (align[s], align[e - 1]);
                (
                    first.byte_start,
                    last.byte_end,
                    first.char_start,
                    last.char_start + 1,
                )
            }
        }
    }
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

/// Whether NFD leaves `c` alone and canonical ordering never moves it: no canonical
/// decomposition and combining class 0.
fn is_nfd_inert(c: char) -> bool {
    use unicode_normalization_alignments::char::{canonical_combining_class, decompose_canonical};
    if canonical_combining_class(c) != 0 {
        return false;
    }
    let mut same = true;
    decompose_canonical(c, |d| same &= d == c);
    same
}

// Bits of a character's class (see `class`).
const REMOVED: u8 = 1;
const WHITESPACE: u8 = 2;
const CHINESE: u8 = 4;
const PUNCT: u8 = 8;
const MARK_NONSPACING: u8 = 16;
const NFD_INERT: u8 = 32;
const LOWER_IS_SELF: u8 = 64;

fn compute_class(c: char) -> u8 {
    let mut k = 0;
    if is_removed(c) {
        k |= REMOVED;
    }
    if is_whitespace(c) {
        k |= WHITESPACE;
    }
    if is_chinese_char(c) {
        k |= CHINESE;
    }
    if is_punctuation(c) {
        k |= PUNCT;
    }
    if c.is_mark_nonspacing() {
        k |= MARK_NONSPACING;
    }
    if is_nfd_inert(c) {
        k |= NFD_INERT;
    }
    let mut lower = c.to_lowercase();
    if lower.next() == Some(c) && lower.next().is_none() {
        k |= LOWER_IS_SELF;
    }
    k
}

/// Character class tables for planes 0–2 (BMP, SMP with emoji and mathematical letters, SIP
/// with CJK extensions), each computed from the same crates on first use of the plane: their
/// binary searches cost ~15–20% of the time on text with some non-ASCII characters.
static PLANE_CLASSES: [std::sync::OnceLock<Box<[u8]>>; 3] = [
    std::sync::OnceLock::new(),
    std::sync::OnceLock::new(),
    std::sync::OnceLock::new(),
];

fn plane_classes(plane: usize) -> &'static [u8] {
    PLANE_CLASSES[plane].get_or_init(|| {
        let base = (plane as u32) << 16;
        (base..base + 0x1_0000)
            .map(|cp| char::from_u32(cp).map_or(0, compute_class))
            .collect()
    })
}

/// The class bits of `c`: from a table for planes 0–2, from the crates beyond.
#[inline]
fn class(c: char) -> u8 {
    let cp = c as u32;
    let plane = (cp >> 16) as usize;
    if plane < PLANE_CLASSES.len() {
        plane_classes(plane)[(cp & 0xFFFF) as usize]
    } else {
        compute_class(c)
    }
}

/// Builds the BMP's class table now rather than on first use (it takes ~10 ms, once per
/// process).
pub(crate) fn init_tables() {
    plane_classes(0);
}

/// Reusable buffers for [`split_words`]: nothing is allocated per word or per token once they
/// have grown to the longest word seen.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The normalised text of the current word-in-progress (between whitespace/punctuation).
    norm: String,
    /// One entry per byte of `norm`.
    align: Vec<Align>,
    /// Whether `norm` holds a non-ASCII character (which may be Unicode punctuation).
    norm_non_ascii: bool,
    /// Non-ASCII characters waiting for NFD (a run that canonical reordering may permute).
    pending: String,
    /// One entry per character of `pending`.
    pending_align: Vec<Align>,
    /// Whether every character of `pending` is NFD-inert (then NFD can be skipped).
    pending_inert: bool,
    /// The normalisation steps that run.
    settings: TokenizerSettings,
}

/// Runs the basic tokenizer over `text`, a piece of the original string starting at byte
/// `byte_base` and character `char_base`, calling `word(normalised_word, align)` for every
/// pre-token in order; `align` maps each byte of `normalised_word` to its original character.
/// Returns the character offset just past `text`.
pub(crate) fn split_words(
    text: &str,
    byte_base: usize,
    char_base: usize,
    settings: TokenizerSettings,
    scratch: &mut Scratch,
    word: &mut impl FnMut(&str, WordAlign<'_>),
) -> usize {
    let lowercase = settings.lowercase;
    scratch.settings = settings;
    scratch.norm.clear();
    scratch.align.clear();
    scratch.norm_non_ascii = false;
    scratch.pending.clear();
    scratch.pending_align.clear();
    scratch.pending_inert = true;
    let bytes = text.as_bytes();
    let mut char_index = char_base;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphanumeric() && scratch.norm.is_empty() && scratch.pending.is_empty() {
            // Fast path: a word starting with an ASCII letter or digit. Scan its run; if the
            // word ends with it, hand it over without building a per-byte alignment table.
            let start = i;
            let mut upper = false;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                upper |= bytes[i].is_ascii_uppercase();
                i += 1;
            }
            let ends_word = i == bytes.len()
                || bytes[i].is_ascii_punctuation()
                || matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r');
            let run = &text[start..i];
            let n = i - start;
            if ends_word {
                let align = WordAlign::Ascii {
                    byte_start: byte_base + start,
                    char_start: char_index,
                };
                if upper && lowercase {
                    scratch.norm.push_str(run);
                    scratch.norm.make_ascii_lowercase();
                    word(&scratch.norm, align);
                    scratch.norm.clear();
                } else {
                    word(run, align);
                }
            } else {
                // The word goes on (a non-ASCII letter or a control character follows).
                let from = scratch.norm.len();
                scratch.norm.push_str(run);
                if lowercase {
                    scratch.norm[from..].make_ascii_lowercase();
                }
                scratch.align.extend((0..n).map(|k| Align {
                    byte_start: byte_base + start + k,
                    byte_end: byte_base + start + k + 1,
                    char_start: char_index + k,
                }));
            }
            char_index += n;
            continue;
        }
        if b < 0x80 {
            // ASCII: one byte, one character, NFD-inert and a canonical-ordering barrier.
            let a = Align {
                byte_start: byte_base + i,
                byte_end: byte_base + i + 1,
                char_start: char_index,
            };
            i += 1;
            char_index += 1;
            if b.is_ascii_alphanumeric() {
                scratch.flush_pending();
                let b = if lowercase { b.to_ascii_lowercase() } else { b };
                scratch.norm.push(char::from(b));
                scratch.align.push(a);
            } else if b.is_ascii_punctuation() {
                // A word of its own: end the one in progress, then emit it.
                scratch.end_word(word);
                let punct = std::str::from_utf8(&bytes[i - 1..i]).expect("ASCII");
                word(punct, WordAlign::Table(&[a]));
            } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                scratch.end_word(word);
            }
            // Every other ASCII byte is a control character (including \x0b, \x0c and
            // \x1c-\x1f, which are also White_Space): removed, without splitting the word.
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
        let k = class(c);
        if k & REMOVED != 0 {
            continue;
        }
        if k & WHITESPACE != 0 {
            scratch.end_word(word);
        } else if k & CHINESE != 0 && settings.chinese_chars {
            scratch.end_word(word);
            scratch.push_pending(c, a, k);
            scratch.end_word(word);
        } else {
            scratch.push_pending(c, a, k);
        }
    }
    scratch.end_word(word);
    char_index
}

impl Scratch {
    #[inline]
    fn push_pending(&mut self, c: char, a: Align, class: u8) {
        self.pending.push(c);
        self.pending_align.push(a);
        self.pending_inert &= class & NFD_INERT != 0;
    }

    /// Normalises the pending non-ASCII run onto `norm`: NFD and drop Mn if the settings strip
    /// accents, then lower-case if they lower-case.
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.norm_non_ascii = true;
        let lowercase = self.settings.lowercase;
        if !self.settings.strip_accents || self.pending_inert {
            // No NFD (not asked for, or the identity here): each character keeps its own
            // alignment; marks are dropped only when stripping accents.
            let strip = self.settings.strip_accents;
            for (c, &a) in self.pending.chars().zip(&self.pending_align) {
                let k = class(c);
                if strip && k & MARK_NONSPACING != 0 {
                    continue;
                }
                if !lowercase || k & LOWER_IS_SELF != 0 {
                    self.norm.push(c);
                    self.align.extend(std::iter::repeat_n(a, c.len_utf8()));
                } else {
                    push_lower(&mut self.norm, &mut self.align, c, a);
                }
            }
        } else {
            let mut next = 0usize; // next original character of the run to consume
            let mut current = self.pending_align[0];
            for (c, change) in self.pending.nfd() {
                if change <= 0 {
                    // Replaces one original character (and removes -change more).
                    if let Some(&a) = self.pending_align.get(next) {
                        current = a;
                    }
                    next += 1 + change.unsigned_abs();
                }
                // change > 0: an inserted character, aligned with the original one before it.
                if c.is_ascii() || class(c) & MARK_NONSPACING == 0 {
                    if lowercase {
                        push_lower(&mut self.norm, &mut self.align, c, current);
                    } else {
                        self.norm.push(c);
                        self.align
                            .extend(std::iter::repeat_n(current, c.len_utf8()));
                    }
                }
            }
        }
        self.pending.clear();
        self.pending_align.clear();
        self.pending_inert = true;
    }

    /// Ends the word in progress (at whitespace, punctuation, a CJK character or the end of
    /// text): normalises what is pending, splits on any non-ASCII punctuation and whitespace the
    /// normalisation produced, and hands each piece to `word`.
    fn end_word(&mut self, word: &mut impl FnMut(&str, WordAlign<'_>)) {
        self.flush_pending();
        if self.norm.is_empty() {
            return;
        }
        if !self.norm_non_ascii {
            // ASCII punctuation and whitespace were split off while scanning.
            word(&self.norm, WordAlign::Table(&self.align));
        } else {
            self.split_normalised(word);
        }
        self.norm.clear();
        self.align.clear();
        self.norm_non_ascii = false;
    }

    /// Splits `norm` at punctuation (kept as one-character words) and whitespace (dropped).
    fn split_normalised(&self, word: &mut impl FnMut(&str, WordAlign<'_>)) {
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
                let k = class(c);
                let ws = k & WHITESPACE != 0;
                let punct = !ws && k & PUNCT != 0;
                (c.len_utf8(), ws || punct, punct)
            };
            if split {
                if start < i {
                    word(&norm[start..i], WordAlign::Table(&self.align[start..i]));
                }
                if keep {
                    word(&norm[i..i + len], WordAlign::Table(&self.align[i..i + len]));
                }
                start = i + len;
            }
            i += len;
        }
        if start < nb.len() {
            word(&norm[start..], WordAlign::Table(&self.align[start..]));
        }
    }
}

/// Appends the lower case of `c` to `norm`, every byte aligned with `a`.
#[inline]
fn push_lower(norm: &mut String, align: &mut Vec<Align>, c: char, a: Align) {
    if c.is_ascii() {
        norm.push(c.to_ascii_lowercase());
        align.push(a);
        return;
    }
    for lower in c.to_lowercase() {
        norm.push(lower);
        for _ in 0..lower.len_utf8() {
            align.push(a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Word = (String, (usize, usize), (usize, usize));

    fn words(text: &str) -> Vec<Word> {
        words_with(text, TokenizerSettings::UNCASED)
    }

    fn words_with(text: &str, settings: TokenizerSettings) -> Vec<Word> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        split_words(text, 0, 0, settings, &mut scratch, &mut |w, a| {
            let (bs, be, cs, ce) = a.span(0, w.len());
            out.push((w.to_owned(), (bs, be), (cs, ce)))
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

    #[test]
    fn cased_keeps_case_accents_and_marks() {
        let cased = |t: &str| words_with(t, TokenizerSettings::CASED);
        let w = cased("Café CAFE\u{301}! İstanbul");
        assert_eq!(w[0], ("Café".into(), (0, 5), (0, 4)));
        // No NFD: the combining mark stays in the word, with its own span.
        assert_eq!(w[1], ("CAFE\u{301}".into(), (6, 12), (5, 10)));
        assert_eq!(w[2], ("!".into(), (12, 13), (10, 11)));
        assert_eq!(w[3], ("İstanbul".into(), (14, 23), (12, 20)));
        // Each step on its own: strip accents without lower-casing, and the reverse.
        let strip = TokenizerSettings {
            strip_accents: true,
            ..TokenizerSettings::CASED
        };
        let w = words_with("Café İstanbul", strip);
        assert_eq!((w[0].0.as_str(), w[1].0.as_str()), ("Cafe", "Istanbul"));
        let lower = TokenizerSettings {
            strip_accents: false,
            ..TokenizerSettings::UNCASED
        };
        let w = words_with("Café İstanbul", lower);
        assert_eq!(
            (w[0].0.as_str(), w[1].0.as_str()),
            ("café", "i\u{307}stanbul")
        );
        // CJK stays in its word when the settings say so.
        let joined = TokenizerSettings {
            chinese_chars: false,
            ..TokenizerSettings::UNCASED
        };
        assert_eq!(texts("日本語abc"), ["日", "本", "語", "abc"]);
        let w = words_with("日本語abc", joined);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].0, "日本語abc");
    }
}
