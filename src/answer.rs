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
//!
//! # No answer (SQuAD 2.0)
//!
//! With [`QaOptions::null_answer`] other than [`NullAnswer::Never`], every answer also carries a
//! [`NullScore`], and "the text does not answer" is a verdict of its own
//! ([`Answers::no_answer`]), never an empty span:
//!
//! * **null score** = start logit + end logit at `[CLS]` (position 0), the minimum over the
//!   context's windows (the first window holding it), in f32 — `run_qa.py`'s
//!   `min_null_prediction` (and `run_squad.py`'s `score_null`);
//! * **score diff** = null score − the best span's start logit − its end logit, left to right in
//!   f32, as run_qa's `postprocess_qa_predictions` computes what it writes to `null_odds.json`
//!   (run_squad.py does the same sums in float64: at most an f32 rounding apart, far below the
//!   1e-4 by which bertqa's logits may differ from PyTorch's); the best span is the first
//!   candidate of rule 3 (the highest start + end logit, the earliest among equals);
//! * [`NullAnswer::ScoreDiff`]: no answer when score diff > threshold (run_qa's
//!   `--null_score_diff_threshold`);
//! * [`NullAnswer::Pipeline`] (Hugging Face's `QuestionAnsweringPipeline` with
//!   `handle_impossible_answer=True`): per window, the start and end logits at `[CLS]` and the
//!   context (question and `[SEP]` positions masked out) go through a softmax each; a span's
//!   pipeline score is P_start(s) · P_end(e) in its window, the null's is P_start(CLS) ·
//!   P_end(CLS), its minimum over the windows. No answer when the null's score is higher than
//!   every candidate span's (rule 2's spans, in every window; a tie goes to the span, as the
//!   pipeline's stable sort puts the null last). This decides only the verdict: the spans keep
//!   rule 3's order (the pipeline would order its list by its own score), and
//!   [`Answer::probability`] stays the softmax of rule 5.
//!
//! Either rule says "no answer" when the context holds no valid span at all. Where run_qa then
//! predicts the literal text `"empty"` (its stand-in when it has no candidate), bertqa says no
//! answer.

use crate::features::{NullAnswer, QaOptions, StrideMode, Window};
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

/// The answers to one question: the best spans and, when null answers are on
/// ([`QaOptions::null_answer`]), the "no answer" candidate and its verdict.
///
/// It dereferences to the spans (`answers[0].text`, `answers.len()`, `for a in &answers`), the
/// common path when null answers are off. With them on, ask [`Answers::best`] (no span when the
/// model says the text does not answer) or [`Answers::no_answer`]: the spans are listed even then,
/// ranked as always, for a caller who wants to see what lost.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Answers {
    /// The best `top_k` spans, best first (empty if the context has no valid span).
    pub spans: Vec<Answer>,
    /// The null answer's scores and verdict; `None` when [`QaOptions::null_answer`] is
    /// [`NullAnswer::Never`].
    pub null: Option<NullScore>,
}

impl Answers {
    /// The answer: the best span, or `None` when the model says the text does not answer (or no
    /// span exists).
    pub fn best(&self) -> Option<&Answer> {
        if self.no_answer().is_some() {
            None
        } else {
            self.spans.first()
        }
    }

    /// `Some` (with its scores) when the null answer wins: the model says the text does not
    /// answer the question. Always `None` with [`NullAnswer::Never`].
    pub fn no_answer(&self) -> Option<&NullScore> {
        self.null.as_ref().filter(|n| n.wins)
    }
}

impl std::ops::Deref for Answers {
    type Target = [Answer];
    fn deref(&self) -> &[Answer] {
        &self.spans
    }
}

impl IntoIterator for Answers {
    type Item = Answer;
    type IntoIter = std::vec::IntoIter<Answer>;
    fn into_iter(self) -> Self::IntoIter {
        self.spans.into_iter()
    }
}

impl<'a> IntoIterator for &'a Answers {
    type Item = &'a Answer;
    type IntoIter = std::slice::Iter<'a, Answer>;
    fn into_iter(self) -> Self::IntoIter {
        self.spans.iter()
    }
}

/// The null ("no answer") candidate of a question, scored as Hugging Face scores it (see the
/// module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NullScore {
    /// Start + end logit at `[CLS]`, the minimum over the windows.
    pub score: f32,
    /// `score` − the best span's start logit − its end logit (run_qa's null odds, what
    /// [`NullAnswer::ScoreDiff`] compares with its threshold); `None` when there is no span.
    pub score_diff: Option<f32>,
    /// The pipeline's null score: P_start(CLS) · P_end(CLS) in a window, the minimum over the
    /// windows.
    pub probability: f32,
    /// The pipeline's score of the best span, the highest P_start(s) · P_end(e) of any candidate
    /// (what the null's `probability` competes with under [`NullAnswer::Pipeline`]); `None` when
    /// there is no span.
    pub span_probability: Option<f32>,
    /// Whether the null answer wins under [`QaOptions::null_answer`]'s rule: the text does not
    /// answer.
    pub wins: bool,
}

impl NullScore {
    /// Whether the null answer wins under `rule` (what `wins` holds for the rule of the
    /// options it was computed with): always without a span; never with [`NullAnswer::Never`];
    /// with [`NullAnswer::ScoreDiff`] when `score_diff > threshold`; with
    /// [`NullAnswer::Pipeline`] when `probability > span_probability` (as stored, in f32). A
    /// service that batches requests with different rules computes the scores once and decides
    /// each request with its own.
    pub fn wins_under(&self, rule: NullAnswer) -> bool {
        match (rule, self.score_diff, self.span_probability) {
            (NullAnswer::Never, ..) => false,
            (_, None, _) | (_, _, None) => true,
            (NullAnswer::ScoreDiff { threshold }, Some(diff), _) => diff > threshold,
            (NullAnswer::Pipeline, _, Some(span)) => self.probability > span,
        }
    }
}

/// A valid span found in one window, in context-token indices.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub score: f32,
    pub start_logit: f32,
    pub end_logit: f32,
    /// The pipeline's score P_start · P_end in its window (computed only with null answers on).
    pub pipeline: f64,
    pub first: usize,
    pub last: usize,
}

/// The null candidate so far over a question's windows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NullSoFar {
    score: f32,
    probability: f64,
}

/// What the windows of one question leave for [`finish`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Collected {
    pub candidates: Vec<Candidate>,
    pub null: Option<NullSoFar>,
}

/// log Σ exp(logit) over `[CLS]` and the window's context positions: the pipeline's softmax
/// denominator (it masks the question and `[SEP]` to −10000, which vanish after `exp`).
fn pipeline_log_norm(logits: &[f32], context: std::ops::Range<usize>) -> f64 {
    let positions = || std::iter::once(0).chain(context.clone());
    let max = positions()
        .map(|i| f64::from(logits[i]))
        .fold(f64::NEG_INFINITY, f64::max);
    max + positions()
        .map(|i| (f64::from(logits[i]) - max).exp())
        .sum::<f64>()
        .ln()
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
/// `[CLS] question [SEP] context [SEP]`) to `out`, and, with null answers on, keeps the null
/// candidate if this window's is lower.
pub(crate) fn window_candidates(
    w: &Window,
    question_len: usize,
    start_logits: &[f32],
    end_logits: &[f32],
    o: &QaOptions,
    out: &mut Collected,
) {
    let offset = Window::context_offset(question_len);
    let norms = (o.null_answer != NullAnswer::Never).then(|| {
        let context = offset..offset + w.doc_len;
        (
            pipeline_log_norm(start_logits, context.clone()),
            pipeline_log_norm(end_logits, context),
        )
    });
    let pipeline = |s: usize, e: usize| {
        norms.map_or(0.0, |(ns, ne)| {
            (f64::from(start_logits[s]) - ns + f64::from(end_logits[e]) - ne).exp()
        })
    };
    if norms.is_some() {
        let here = NullSoFar {
            score: start_logits[0] + end_logits[0],
            probability: pipeline(0, 0),
        };
        out.null = Some(match out.null {
            // The first window with the lowest score, as run_qa keeps it.
            Some(so_far) => NullSoFar {
                score: if here.score < so_far.score {
                    here.score
                } else {
                    so_far.score
                },
                probability: so_far.probability.min(here.probability),
            },
            None => here,
        });
    }
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
            out.candidates.push(Candidate {
                score: start_logits[s] + end_logits[e],
                start_logit: start_logits[s],
                end_logit: end_logits[e],
                pipeline: pipeline(s, e),
                first: w.doc_start + s - offset,
                last: w.doc_start + e - offset,
            });
        }
    }
}

/// The null candidate's scores and verdict, given the question's best span (the first after
/// sorting) and all its candidates.
fn null_score(null: NullSoFar, candidates: &[Candidate], rule: NullAnswer) -> NullScore {
    let best = candidates.first();
    // run_qa: null_score - best["start_logit"] - best["end_logit"], in float32.
    let score_diff = best.map(|b| null.score - b.start_logit - b.end_logit);
    let span_probability = candidates
        .iter()
        .map(|c| c.pipeline)
        .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
    let mut out = NullScore {
        score: null.score,
        score_diff,
        probability: null.probability as f32,
        span_probability: span_probability.map(|p| p as f32),
        wins: false,
    };
    out.wins = out.wins_under(rule);
    out
}

/// Sorts the candidates of all windows and turns the best into answers.
pub(crate) fn finish(
    collected: Collected,
    context: &str,
    byte_offsets: &[(usize, usize)],
    char_offsets: &[(usize, usize)],
    o: &QaOptions,
) -> Answers {
    let Collected {
        mut candidates,
        null,
    } = collected;
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let null = null.map(|n| null_score(n, &candidates, o.null_answer));
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
    let spans = best
        .iter()
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
        .collect();
    Answers { spans, null }
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
        let mut c = Collected::default();
        window_candidates(&w, 1, &start, &end, &o, &mut c);
        // Valid: start 3 (c0) end 3 or 4 (length ≤ 2); start 5 (c2) end 5. Start 4 (c1) is not
        // max-context; [CLS] and question positions are never answers.
        let spans: Vec<_> = c
            .candidates
            .iter()
            .map(|c| (c.first, c.last, c.score))
            .collect();
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
        let mut c = Collected::default();
        window_candidates(&w, 1, &start, &end, &o, &mut c);
        let spans: Vec<_> = c
            .candidates
            .iter()
            .map(|c| (c.first, c.last, c.score))
            .collect();
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

    /// The window of `extraction_rules`: [CLS] q [SEP] c0 c1 c2 [SEP].
    fn one_window(start: &[f32], end: &[f32], o: &QaOptions) -> Answers {
        let w = Window {
            doc_start: 0,
            doc_len: 3,
            max_context: vec![true, false, true],
        };
        let mut c = Collected::default();
        window_candidates(&w, 1, start, end, o, &mut c);
        let bytes = [(0, 2), (3, 5), (6, 9)];
        let chars = [(0, 2), (3, 5), (6, 8)];
        finish(c, "ab cd éf", &bytes, &chars, o)
    }

    #[test]
    fn null_answer_rules() {
        let start = [9.0, 8.0, 0.0, 1.0, 5.0, 2.0, 7.0];
        let end = [9.0, 0.0, 0.0, 3.0, 1.0, 4.0, 7.0];
        let o = |null_answer| QaOptions {
            max_answer_length: 2,
            null_answer,
            ..QaOptions::default()
        };
        // Off: no null score, the best span as before.
        let off = one_window(&start, &end, &o(NullAnswer::Never));
        assert_eq!(off.null, None);
        assert_eq!(off.best().map(|a| a.text.as_str()), Some("éf"));
        assert!(off.no_answer().is_none());
        // Null score 9 + 9 = 18; best span c2..c2 with logits 2 + 4: score diff 18 − 2 − 4 = 12.
        let on = one_window(&start, &end, &o(NullAnswer::SCORE_DIFF));
        let null = on.no_answer().copied().unwrap();
        assert_eq!((null.score, null.score_diff), (18.0, Some(12.0)));
        assert_eq!(on.best(), None);
        // The spans are still listed, ranked as always.
        assert_eq!(on.spans, off.spans);
        assert_eq!(on[0].text, "éf");
        // A threshold of 12 is not exceeded (strictly greater wins); 11.5 is.
        let answered = one_window(&start, &end, &o(NullAnswer::ScoreDiff { threshold: 12.0 }));
        assert_eq!(answered.best().map(|a| a.text.as_str()), Some("éf"));
        assert_eq!(answered.null.map(|n| n.wins), Some(false));
        let t = NullAnswer::ScoreDiff { threshold: 11.5 };
        assert!(one_window(&start, &end, &o(t)).no_answer().is_some());
        // Pipeline: softmax over [CLS] and the context (positions 0, 3, 4, 5) of start and of
        // end. Null: e^9/Zs · e^9/Ze; best candidate: c2..c2, e^2/Zs · e^4/Ze.
        let zs: f64 = [9.0f64, 1.0, 5.0, 2.0].iter().map(|x| x.exp()).sum();
        let ze: f64 = [9.0f64, 3.0, 1.0, 4.0].iter().map(|x| x.exp()).sum();
        let pipe = one_window(&start, &end, &o(NullAnswer::Pipeline));
        let null = pipe.null.unwrap();
        let want_null = (18.0f64.exp() / (zs * ze)) as f32;
        let want_span = (6.0f64.exp() / (zs * ze)) as f32;
        assert!((null.probability - want_null).abs() < 1e-6, "{null:?}");
        assert!(
            (null.span_probability.unwrap() - want_span).abs() < 1e-7,
            "{null:?}"
        );
        assert!(null.wins);
        // [CLS] unlikely: both rules answer.
        let (mut start, mut end) = (start, end);
        start[0] = -5.0;
        end[0] = -5.0;
        let diff = one_window(&start, &end, &o(NullAnswer::SCORE_DIFF));
        assert_eq!(diff.null.unwrap().score_diff, Some(-16.0));
        assert_eq!(diff.best().map(|a| a.text.as_str()), Some("éf"));
        let pipe = one_window(&start, &end, &o(NullAnswer::Pipeline));
        assert_eq!(pipe.best().map(|a| a.text.as_str()), Some("éf"));
        // No valid span at all (one start and one end candidate, both [CLS]): no answer, under
        // either rule; off, simply no span.
        let one = |null_answer| QaOptions {
            n_best: 1,
            ..o(null_answer)
        };
        let (start, end) = ([9.0, 0.0, 0.0, 1.0, 5.0, 2.0, 7.0], [9.0; 7]);
        for rule in [NullAnswer::SCORE_DIFF, NullAnswer::Pipeline] {
            let a = one_window(&start, &end, &one(rule));
            assert!(a.spans.is_empty());
            let null = a.no_answer().copied().unwrap();
            assert_eq!((null.score_diff, null.span_probability), (None, None));
        }
        let none = one_window(&start, &end, &one(NullAnswer::Never));
        assert!(none.spans.is_empty() && none.best().is_none() && none.no_answer().is_none());
    }

    /// Over several windows the null score is the lowest window's, and the pipeline's null
    /// probability the lowest too.
    #[test]
    fn null_score_is_the_minimum_over_windows() {
        let o = QaOptions {
            null_answer: NullAnswer::SCORE_DIFF,
            ..QaOptions::default()
        };
        let w = |doc_start| Window {
            doc_start,
            doc_len: 2,
            max_context: vec![true, true],
        };
        let mut c = Collected::default();
        // [CLS] q [SEP] c c [SEP] three times: null 3 + 1 = 4, then 1 + 0.5 = 1.5, then 2 + 2 = 4.
        window_candidates(
            &w(0),
            1,
            &[3.0, 0.0, 0.0, 2.0, 1.0, 0.0],
            &[1.0, 0.0, 0.0, 0.0, 0.5, 0.0],
            &o,
            &mut c,
        );
        window_candidates(
            &w(1),
            1,
            &[1.0, 0.0, 0.0, 2.5, 0.0, 0.0],
            &[0.5, 0.0, 0.0, 0.0, 1.0, 0.0],
            &o,
            &mut c,
        );
        window_candidates(
            &w(2),
            1,
            &[2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            &o,
            &mut c,
        );
        let bytes: Vec<_> = (0..4).map(|i| (i, i + 1)).collect();
        let a = finish(c, "wxyz", &bytes, &bytes, &o);
        let null = a.null.unwrap();
        // The best span: window 1's tokens 1..2 ("xy"), 2.5 + 1.0 (window 0's best is 2 + 0.5);
        // null 1.5 − 2.5 − 1.0 = −2.
        assert_eq!(a[0].text, "xy");
        assert_eq!(
            (null.score, null.score_diff, null.wins),
            (1.5, Some(-2.0), false)
        );
    }

    /// run_qa's score diff is (null − start logit) − end logit in f32, which can differ from
    /// null − (start + end).
    #[test]
    fn score_diff_in_run_qa_order() {
        let c = Candidate {
            score: 1.0,
            start_logit: 0.5,
            end_logit: 0.5,
            pipeline: 0.5,
            first: 0,
            last: 0,
        };
        let null = NullSoFar {
            score: 16_777_216.0, // 2^24: ±0.5 rounds back to it
            probability: 0.1,
        };
        let n = null_score(null, &[c], NullAnswer::SCORE_DIFF);
        assert_eq!(n.score_diff, Some(16_777_216.0));
        assert_ne!(null.score - (c.start_logit + c.end_logit), 16_777_216.0);
    }
}
