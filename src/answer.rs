//! From start/end logits to answers: spans of the user's original text.
//!
//! The rules of Google's `run_squad.py` (`write_predictions`), which the model card follows:
//!
//! 1. per window, the `n_best` (20) highest start logits and the `n_best` highest end logits
//!    among the window's positions — `[CLS]` and question positions included — ties going to the
//!    lower position;
//! 2. of their pairs, only valid spans: start and end inside the context, end ≥ start, at most
//!    `max_answer_length` (30) tokens, start in its max-context window (only with
//!    [`StrideMode::Step`]: with [`StrideMode::Overlap`], as in Hugging Face's run_qa.py, a
//!    span counts in every window that holds it, and its best score wins);
//! 3. span score = start logit + end logit, comparable across windows; candidates of all windows
//!    sorted by score (stable: earlier windows and earlier pairs first among equals);
//! 4. the first `n_best` distinct spans (a span seen again from another window is dropped),
//!    mapped to the original text through the tokenizer's offsets;
//! 5. probability = softmax over those candidates' scores; the top `top_k` are returned.

use crate::features::{QaOptions, StrideMode, Window};
use serde::Serialize;

/// One answer: a span of the original context.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The answer, exactly as it appears in the context.
    pub text: String,
    /// Start, in characters (Unicode scalar values) — the offsets Python uses.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Start, in UTF-8 bytes: `&context[byte_start..byte_end] == text`.
    pub byte_start: usize,
    /// End (exclusive), in UTF-8 bytes.
    pub byte_end: usize,
    /// start logit + end logit.
    pub score: f32,
    /// Softmax of the score over the `n_best` candidates.
    pub probability: f32,
}

/// A valid span found in one window, in context-token indices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub score: f32,
    pub first: usize,
    pub last: usize,
}

/// Indices of the `n` largest values, largest first, ties to the lower index.
fn best_indexes(logits: &[f32], n: usize, out: &mut Vec<usize>) {
    out.clear();
    out.extend(0..logits.len());
    // Stable sort keeps lower indices first among equal logits.
    out.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    out.truncate(n);
}

/// Appends the valid spans of one window (logits over the whole window input,
/// `[CLS] question [SEP] context [SEP]`) to `out`.
pub(crate) fn window_candidates(
    w: &Window,
    question_len: usize,
    start_logits: &[f32],
    end_logits: &[f32],
    o: &QaOptions,
    out: &mut Vec<Candidate>,
) {
    let offset = Window::context_offset(question_len);
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    best_indexes(start_logits, o.n_best, &mut starts);
    best_indexes(end_logits, o.n_best, &mut ends);
    let in_context = |i: usize| i >= offset && i < offset + w.doc_len;
    for &s in &starts {
        for &e in &ends {
            if !in_context(s) || !in_context(e) || e < s || e - s + 1 > o.max_answer_length {
                continue;
            }
            // run_squad.py's max-context rule (step mode); Hugging Face's post-processing
            // (overlap mode) scores a span in every window that holds it.
            if o.stride_mode == StrideMode::Step && !w.max_context[s - offset] {
                continue;
            }
            out.push(Candidate {
                score: start_logits[s] + end_logits[e],
                first: w.doc_start + s - offset,
                last: w.doc_start + e - offset,
            });
        }
    }
}

/// Sorts the candidates of all windows and turns the best into answers.
pub(crate) fn finish(
    mut candidates: Vec<Candidate>,
    context: &str,
    byte_offsets: &[(usize, usize)],
    char_offsets: &[(usize, usize)],
    o: &QaOptions,
) -> Vec<Answer> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut best: Vec<Candidate> = Vec::with_capacity(o.n_best);
    for c in candidates {
        if best.len() == o.n_best {
            break;
        }
        if !best.iter().any(|b| b.first == c.first && b.last == c.last) {
            best.push(c);
        }
    }
    let max = best.first().map_or(0.0, |c| c.score as f64);
    let exps: Vec<f64> = best.iter().map(|c| (c.score as f64 - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    best.iter()
        .zip(&exps)
        .take(o.top_k)
        .map(|(c, e)| {
            let (byte_start, byte_end) = (byte_offsets[c.first].0, byte_offsets[c.last].1);
            Answer {
                text: context[byte_start..byte_end].to_string(),
                start: char_offsets[c.first].0,
                end: char_offsets[c.last].1,
                byte_start,
                byte_end,
                score: c.score,
                probability: (e / total) as f32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_indexes_ties_go_low() {
        let mut out = Vec::new();
        best_indexes(&[0.5, 2.0, 2.0, -1.0, 2.0], 3, &mut out);
        assert_eq!(out, [1, 2, 4]);
    }

    #[test]
    fn extraction_rules() {
        // [CLS] q [SEP] c0 c1 c2 [SEP]: question_len 1, context offset 3.
        let w = Window {
            doc_start: 0,
            doc_len: 3,
            max_context: vec![true, false, true],
        };
        let start = [9.0, 8.0, 0.0, 1.0, 5.0, 2.0, 7.0];
        let end = [9.0, 0.0, 0.0, 3.0, 1.0, 4.0, 7.0];
        let o = QaOptions {
            max_answer_length: 2,
            ..QaOptions::default()
        };
        let mut c = Vec::new();
        window_candidates(&w, 1, &start, &end, &o, &mut c);
        // Valid: start 3 (c0) end 3 or 4 (length ≤ 2); start 5 (c2) end 5. Start 4 (c1) is not
        // max-context; [CLS] and question positions are never answers.
        let spans: Vec<_> = c.iter().map(|c| (c.first, c.last, c.score)).collect();
        assert_eq!(spans, [(2, 2, 6.0), (0, 0, 4.0), (0, 1, 2.0)]);
        let ctx = "ab cd éf";
        let bytes = [(0, 2), (3, 5), (6, 9)];
        let chars = [(0, 2), (3, 5), (6, 8)];
        let o = QaOptions { top_k: 2, ..o };
        let a = finish(c, ctx, &bytes, &chars, &o);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].text.as_str(), a[0].start, a[0].end, a[0].byte_end),
            ("éf", 6, 8, 9)
        );
        assert_eq!(a[1].text, "ab");
        let p: f64 = [6.0f64, 4.0, 2.0].iter().map(|s| (s - 6.0).exp()).sum();
        assert!((a[0].probability as f64 - 1.0 / p).abs() < 1e-6);

        // Overlap mode (Hugging Face's post-processing): no max-context rule, so the spans
        // starting at c1 count too: (1, 1) scores 5 + 1, (1, 2) 5 + 4.
        let o = QaOptions {
            stride_mode: StrideMode::Overlap,
            ..o
        };
        let mut c = Vec::new();
        window_candidates(&w, 1, &start, &end, &o, &mut c);
        let spans: Vec<_> = c.iter().map(|c| (c.first, c.last, c.score)).collect();
        assert_eq!(
            spans,
            [
                (1, 2, 9.0),
                (1, 1, 6.0),
                (2, 2, 6.0),
                (0, 0, 4.0),
                (0, 1, 2.0)
            ]
        );
    }
}
