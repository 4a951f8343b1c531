//! WordPiece: greedy longest-match-first segmentation of one pre-token into vocabulary pieces.

use super::vocab::Vocab;

/// Words longer than this many characters become a single `[UNK]` (BERT's
/// `max_input_chars_per_word`).
pub const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// [`Vocab::initial_id`] or [`Vocab::continuation_id`].
type Lookup = fn(&Vocab, &str) -> Option<u32>;

/// Splits `word` (normalised, non-empty) into pieces, calling `piece(id, start, end)` with byte
/// ranges of `word` in order. The first piece is looked up as is, the others as `##piece`; at
/// each position the longest piece in the vocabulary wins. If some position has no piece at all,
/// or the word has more than [`MAX_INPUT_CHARS_PER_WORD`] characters, the whole word is one
/// `[UNK]` — so `piece` is called only once the whole segmentation is known.
pub(crate) fn segment(
    vocab: &Vocab,
    word: &str,
    pieces: &mut Vec<(u32, usize, usize)>,
    piece: &mut impl FnMut(u32, usize, usize),
) {
    let len = word.len();
    // Byte length bounds the character count from above: count only when it might matter.
    if len > MAX_INPUT_CHARS_PER_WORD && word.chars().count() > MAX_INPUT_CHARS_PER_WORD {
        piece(vocab.unk_id(), 0, len);
        return;
    }
    // Most words are one piece: try that before anything else.
    if let Some(id) = vocab.initial_id(word) {
        piece(id, 0, len);
        return;
    }
    pieces.clear();
    let mut start = 0;
    while start < len {
        let (max, lookup): (usize, Lookup) = if start == 0 {
            (vocab.max_initial_len(), Vocab::initial_id)
        } else {
            (vocab.max_continuation_len(), Vocab::continuation_id)
        };
        // No piece is longer than `max` bytes: start there instead of at the end of the word
        // (and the whole word, tried above, need not be tried again).
        let mut end = floor_char_boundary(word, len.min(start + max));
        if end == len && start == 0 {
            end = floor_char_boundary(word, len - 1);
        }
        let mut found = None;
        while end > start {
            if let Some(id) = lookup(vocab, &word[start..end]) {
                found = Some(id);
                break;
            }
            end = floor_char_boundary(word, end - 1);
        }
        match found {
            Some(id) => {
                pieces.push((id, start, end));
                start = end;
            }
            None => {
                piece(vocab.unk_id(), 0, len);
                return;
            }
        }
    }
    for &(id, s, e) in pieces.iter() {
        piece(id, s, e);
    }
}

/// The largest char boundary of `s` at or below `i` (`i <= s.len()`).
#[inline]
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(vocab: &Vocab, word: &str) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        segment(vocab, word, &mut Vec::new(), &mut |id, s, e| {
            out.push((vocab.id_to_token(id).unwrap().to_owned(), s, e))
        });
        out
    }

    #[test]
    fn greedy_longest_match_first() {
        let v =
            Vocab::from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nu\n##n\n##a")
                .unwrap();
        assert_eq!(
            run(&v, "unaffable"),
            [
                ("un".into(), 0, 2),
                ("##aff".into(), 2, 5),
                ("##able".into(), 5, 9)
            ]
        );
        // No piece for "x": the whole word is unknown.
        assert_eq!(run(&v, "unx"), [("[UNK]".into(), 0, 3)]);
    }

    #[test]
    fn long_words_are_unknown() {
        let v = Vocab::from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n##a").unwrap();
        assert_eq!(run(&v, &"a".repeat(100)).len(), 100);
        assert_eq!(run(&v, &"a".repeat(101)), [("[UNK]".into(), 0, 101)]);
        // 100 two-byte characters are 200 bytes but still only 100 characters.
        let v = Vocab::from_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\né\n##é").unwrap();
        assert_eq!(run(&v, &"é".repeat(100)).len(), 100);
        assert_eq!(run(&v, &"é".repeat(101)), [("[UNK]".into(), 0, 202)]);
    }
}
