//! Model inputs for a question and a context: `[CLS] question [SEP] context-window [SEP]`.
//!
//! The rules are those of Google's original BERT `run_squad.py`, under which the model card's
//! F1 93.21 / EM 87.20 were measured:
//!
//! * the question is cut to `max_query_length` (64) tokens;
//! * each window holds at most `max_seq_length − |question| − 3` context tokens;
//! * window starts are `doc_stride` (128) tokens apart — a STEP, not an overlap
//!   ([`StrideMode::Step`]); Hugging Face's tools read `stride` as the overlap between windows
//!   ([`StrideMode::Overlap`]), offered for parity with them;
//! * segment ids are 0 for `[CLS] question [SEP]` and 1 for the context and its `[SEP]`;
//! * a context token seen by several windows belongs to the window where it has the most
//!   context: score = min(tokens left of it, tokens right of it) + 0.01·window length, the first
//!   window winning ties (the max-context rule; in [`StrideMode::Overlap`] answers ignore it,
//!   as Hugging Face's run_qa.py and question-answering pipeline do, see [`crate::answer`]).

use crate::error::{Error, InputError, Result};
use crate::model::Sequence;

/// How `doc_stride` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrideMode {
    /// Window starts are `doc_stride` tokens apart (Google's `run_squad.py`, the model card).
    Step,
    /// Consecutive windows share `doc_stride` tokens (Hugging Face's `stride`), and, as in
    /// Hugging Face's run_qa.py post-processing, a span is scored in every window that holds
    /// it (no max-context rule).
    Overlap,
}

/// Whether the model may answer "the text does not say" (a SQuAD 2.0 model trained to point at
/// `[CLS]` when the context holds no answer), and by which rule ([`crate::answer`] has the
/// details).
///
/// The null score of a question is the `[CLS]` span's: start logit + end logit at position 0,
/// the minimum over the context's windows — as Hugging Face's `run_qa.py` (and Google's
/// `run_squad.py`) compute it with `version_2_with_negative`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum NullAnswer {
    /// Always the best span, never "no answer" (SQuAD v1.1 models; the default). No null score
    /// is computed.
    #[default]
    Never,
    /// run_qa's rule (`--version_2_with_negative --null_score_diff_threshold T`): no answer when
    /// null score − best span score > `threshold`, compared in f32 as run_qa compares them (its
    /// default threshold, and bertqa's, is 0.0). A higher threshold answers more often.
    ScoreDiff {
        /// The margin the null score must beat the best span's score by; finite.
        threshold: f32,
    },
    /// Hugging Face's question-answering pipeline with `handle_impossible_answer=True`: the null
    /// answer competes with the spans on the pipeline's score — per window, the softmax of the
    /// start logits over `[CLS]` and the context times that of the end logits — and wins when its
    /// score (the minimum over windows) is higher than every span's.
    Pipeline,
}

impl NullAnswer {
    /// run_qa's rule with its default threshold, 0.0 (what `bertqa eval` uses on SQuAD 2.0).
    pub const SCORE_DIFF: NullAnswer = NullAnswer::ScoreDiff { threshold: 0.0 };
}

/// Settings of feature building and answer extraction; `Default` gives the model card's.
#[derive(Clone, Debug, PartialEq)]
pub struct QaOptions {
    /// Longest model input, special tokens included (384).
    pub max_seq_length: usize,
    /// Question tokens kept (64); longer questions are cut.
    pub max_query_length: usize,
    /// Window step or overlap, per `stride_mode` (128).
    pub doc_stride: usize,
    /// How `doc_stride` is read ([`StrideMode::Step`]).
    pub stride_mode: StrideMode,
    /// Start and end candidates considered per window (20).
    pub n_best: usize,
    /// Longest answer, in tokens (30).
    pub max_answer_length: usize,
    /// Answers returned (1).
    pub top_k: usize,
    /// A request needing more windows than this is refused (protects a service from
    /// unbounded work; 512 windows is a context of roughly 65,000 tokens).
    pub max_windows: usize,
    /// Tokens per forward pass when running windows: bounds memory for long contexts.
    pub max_batch_tokens: usize,
    /// Whether "no answer" is possible, and how it is decided ([`NullAnswer::Never`]: always a
    /// span, as for SQuAD v1.1 models).
    pub null_answer: NullAnswer,
}

impl Default for QaOptions {
    fn default() -> Self {
        QaOptions {
            max_seq_length: 384,
            max_query_length: 64,
            doc_stride: 128,
            stride_mode: StrideMode::Step,
            n_best: 20,
            max_answer_length: 30,
            top_k: 1,
            max_windows: 512,
            max_batch_tokens: 4 * 384,
            null_answer: NullAnswer::Never,
        }
    }
}

/// One window of a context: which context tokens it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Index of the first context token in the window (into the context's tokens).
    pub doc_start: usize,
    /// Context tokens in the window.
    pub doc_len: usize,
    /// Per context token of the window: is this its max-context window?
    pub max_context: Vec<bool>,
}

impl Window {
    /// Position of the first context token in the model input (after `[CLS] q [SEP]`).
    pub fn context_offset(question_len: usize) -> usize {
        question_len + 2
    }
}

/// Context tokens per window for a question of `question_len` tokens.
///
/// # Errors
/// [`Error::Input`] if the options leave no room for context or are inconsistent.
pub fn max_tokens_for_doc(question_len: usize, o: &QaOptions) -> Result<usize> {
    let room = o.max_seq_length.saturating_sub(question_len + 3);
    if room == 0 {
        return Err(Error::input(
            InputError::Options,
            format!(
            "max_seq_length {} leaves no room for context after a {question_len}-token question",
            o.max_seq_length
        ),
        ));
    }
    Ok(room)
}

/// The windows over `doc_tokens` context tokens (at least one, even for an empty context).
///
/// # Errors
/// [`Error::Input`] if the stride is 0 (step mode) or not below the window length (overlap
/// mode), or if more than `max_windows` windows would be needed.
pub fn windows(doc_tokens: usize, question_len: usize, o: &QaOptions) -> Result<Vec<Window>> {
    let max_doc = max_tokens_for_doc(question_len, o)?;
    let step = match o.stride_mode {
        StrideMode::Step => o.doc_stride,
        StrideMode::Overlap => max_doc.saturating_sub(o.doc_stride),
    };
    if step == 0 {
        return Err(Error::input(InputError::Options, format!(
            "doc_stride {} gives windows that never advance (window holds {max_doc} context tokens)",
            o.doc_stride
        )));
    }
    // Spans as run_squad.py makes them: advance by min(length, step) until the end is reached.
    let mut spans = Vec::new();
    let mut start = 0;
    loop {
        let len = (doc_tokens - start).min(max_doc);
        spans.push((start, len));
        if spans.len() > o.max_windows {
            return Err(Error::input(InputError::TooLong, format!(
                "the context needs more than {} windows (max_windows); shorten it or raise the limit",
                o.max_windows
            )));
        }
        if start + len >= doc_tokens {
            break;
        }
        start += len.min(step);
    }
    let score = |(s, l): (usize, usize), p: usize| {
        let left = p - s;
        let right = s + l - 1 - p;
        left.min(right) as f64 + 0.01 * l as f64
    };
    let windows = spans
        .iter()
        .enumerate()
        .map(|(i, &(s, l))| {
            let max_context = (s..s + l)
                .map(|p| {
                    // The best window for token p: the first with the highest score. Only
                    // neighbouring windows can contain p.
                    let mut best = None::<(usize, f64)>;
                    let lo = spans[..i]
                        .iter()
                        .rposition(|&(s2, l2)| s2 + l2 <= p)
                        .map_or(0, |j| j + 1);
                    for (j, &sp) in spans.iter().enumerate().skip(lo) {
                        if sp.0 > p {
                            break;
                        }
                        if p < sp.0 + sp.1 {
                            let sc = score(sp, p);
                            if best.is_none_or(|(_, b)| sc > b) {
                                best = Some((j, sc));
                            }
                        }
                    }
                    best.map(|(j, _)| j) == Some(i)
                })
                .collect();
            Window {
                doc_start: s,
                doc_len: l,
                max_context,
            }
        })
        .collect();
    Ok(windows)
}

/// The model input of one window: `[CLS] question [SEP] context[window] [SEP]`.
pub fn window_sequence(
    question: &[u32],
    context: &[u32],
    w: &Window,
    cls: u32,
    sep: u32,
) -> Sequence {
    let mut ids = Vec::with_capacity(question.len() + w.doc_len + 3);
    ids.push(cls);
    ids.extend_from_slice(question);
    ids.push(sep);
    let first_context = ids.len();
    ids.extend_from_slice(&context[w.doc_start..w.doc_start + w.doc_len]);
    ids.push(sep);
    let n = ids.len();
    let mut types = vec![0; n];
    types[first_context..].fill(1);
    Sequence {
        input_ids: ids,
        attention_mask: vec![1; n],
        token_type_ids: types,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(max_seq: usize, stride: usize, mode: StrideMode) -> QaOptions {
        QaOptions {
            max_seq_length: max_seq,
            doc_stride: stride,
            stride_mode: mode,
            ..QaOptions::default()
        }
    }

    #[test]
    fn run_squad_spans() {
        // 1000 context tokens, 10-token question: 371 per window, starts 128 apart.
        let w = windows(1000, 10, &QaOptions::default()).unwrap();
        let spans: Vec<_> = w.iter().map(|w| (w.doc_start, w.doc_len)).collect();
        assert_eq!(
            spans,
            [
                (0, 371),
                (128, 371),
                (256, 371),
                (384, 371),
                (512, 371),
                (640, 360)
            ]
        );
        // Every token is max-context in exactly one window.
        for p in 0..1000 {
            let owners = w
                .iter()
                .filter(|w| {
                    p >= w.doc_start
                        && p < w.doc_start + w.doc_len
                        && w.max_context[p - w.doc_start]
                })
                .count();
            assert_eq!(owners, 1, "token {p}");
        }
        // Token 200 is in windows 0 (left 200, right 170) and 1 (left 72, right 298): window 0.
        assert!(w[0].max_context[200] && !w[1].max_context[200 - 128]);
    }

    #[test]
    fn overlap_mode_and_short_contexts() {
        let w = windows(100, 2, &opts(40, 10, StrideMode::Overlap)).unwrap();
        // 35 per window, step 25.
        let spans: Vec<_> = w.iter().map(|w| (w.doc_start, w.doc_len)).collect();
        assert_eq!(spans, [(0, 35), (25, 35), (50, 35), (75, 25)]);
        let one = windows(5, 2, &QaOptions::default()).unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].max_context.iter().all(|&b| b));
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(windows(10, 2, &opts(5, 1, StrideMode::Step)).is_err());
        assert!(windows(10, 2, &opts(40, 0, StrideMode::Step)).is_err());
        assert!(windows(100, 2, &opts(40, 35, StrideMode::Overlap)).is_err());
        let cap = QaOptions {
            max_windows: 3,
            ..QaOptions::default()
        };
        assert!(windows(100_000, 10, &cap).is_err());
    }

    #[test]
    fn sequence_layout() {
        let w = Window {
            doc_start: 1,
            doc_len: 2,
            max_context: vec![true; 2],
        };
        let s = window_sequence(&[7, 8], &[20, 21, 22, 23], &w, 101, 102);
        assert_eq!(s.input_ids, [101, 7, 8, 102, 21, 22, 102]);
        assert_eq!(s.token_type_ids, [0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(Window::context_offset(2), 4);
    }
}
