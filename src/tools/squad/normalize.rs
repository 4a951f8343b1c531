//! The official scripts' answer normalization (`normalize_answer` of evaluate-v1.1.py, which
//! evaluate-v2.0.py repeats unchanged).
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

use unicode_categories::UnicodeCategories;

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
/// use bertqa::tools::squad::normalize_answer;
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

/// The tokens of a normalized answer (it holds single spaces only): Python's `str.split()` of
/// it.
pub(super) fn tokens(normalized: &str) -> Vec<&str> {
    normalized.split(' ').filter(|t| !t.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

#[cfg(test)]
mod codepoint_check {
    use super::*;
    use serde::Deserialize;

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
