//! Answering a SQuAD dataset with a model: what `bertqa eval` runs.

use std::sync::Arc;

use super::Example;
use crate::{Answers, Error, PreparedContext, QaModel, QaOptions, Result};

/// Tokens per forward pass that suit [`predict`] over a whole dataset, where there are always
/// more windows waiting (`bertqa eval`'s default; docs/accuracy.md measures 1 to 8,192): larger
/// than [`QaOptions::default`]'s, which bounds one request's memory.
pub const PREDICT_BATCH_TOKENS: usize = 4096;

/// Questions answered per call of [`QaModel::answer_prepared_batch`] in [`predict`] (whole
/// paragraphs, so at least this many unless the examples run out).
const PREDICT_CHUNK: usize = 64;

/// Answers every example with `model` and gives the text a predictions file holds for it
/// ([`prediction_text`]: the best span's text, `""` for no answer or no valid span), in order;
/// see [`predict_answers`]. `progress` is called with the texts so far after every batch of
/// questions.
///
/// # Errors
/// As [`QaModel::answer`], the message naming the question id that failed.
pub fn predict(
    model: &QaModel,
    examples: &[Example],
    options: &QaOptions,
    mut progress: impl FnMut(&[String]),
) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(examples.len());
    answer_in_chunks(model, examples, options, |answers| {
        out.extend(answers.iter().map(|a| prediction_text(a).to_string()));
        progress(&out);
    })?;
    Ok(out)
}

/// Answers every example with `model`, in order: each paragraph's context tokenized once, and
/// the windows of many questions run together in forward passes of up to
/// `options.max_batch_tokens` tokens; the answers are those [`QaModel::answer`] gives each
/// question alone. With `options.null_answer` on (SQuAD 2.0), each carries its null score.
/// `progress` is called with the answers so far after every batch of questions.
///
/// # Errors
/// As [`QaModel::answer`], the message naming the question id that failed.
pub fn predict_answers(
    model: &QaModel,
    examples: &[Example],
    options: &QaOptions,
    mut progress: impl FnMut(&[Answers]),
) -> Result<Vec<Answers>> {
    let mut out = Vec::with_capacity(examples.len());
    answer_in_chunks(model, examples, options, |answers| {
        out.extend(answers);
        progress(&out);
    })?;
    Ok(out)
}

/// The text of a predictions file for these answers: the best span's, or `""` when the model
/// says the text does not answer (SQuAD 2.0's "no answer") or no valid span exists.
pub fn prediction_text(answers: &Answers) -> &str {
    answers.best().map_or("", |a| a.text.as_str())
}

/// The value of a null-odds file for these answers (`None` with null answers off): run_qa's
/// `null_odds.json` entry, null score − best span score ([`crate::NullScore::score_diff`]).
/// Without any valid span it is the null score itself, the value run_qa gives (it scores its
/// stand-in prediction with logits 0).
pub fn null_odds(answers: &Answers) -> Option<f32> {
    answers.null.map(|n| n.score_diff.unwrap_or(n.score))
}

/// Answers `examples` in chunks of whole paragraphs; `done` receives each chunk's answers.
fn answer_in_chunks(
    model: &QaModel,
    examples: &[Example],
    options: &QaOptions,
    mut done: impl FnMut(Vec<Answers>),
) -> Result<()> {
    let name = |ex: &Example, e: Error| match e {
        Error::Input { kind, message } => {
            Error::input(kind, format!("question {}: {message}", ex.id))
        }
        other => other,
    };
    let mut i = 0;
    while i < examples.len() {
        // Whole paragraphs (runs of questions sharing a context) until the chunk is full.
        let mut paragraphs: Vec<(usize, usize, PreparedContext)> = Vec::new();
        let mut j = i;
        while j < examples.len() && j - i < PREDICT_CHUNK {
            let start = j;
            let context = &examples[j].context;
            while j < examples.len() && Arc::ptr_eq(&examples[j].context, context) {
                j += 1;
            }
            let prepared = model
                .prepare_context(context)
                .map_err(|e| name(&examples[start], e))?;
            paragraphs.push((start, j, prepared));
        }
        let requests: Vec<(&str, &PreparedContext)> = paragraphs
            .iter()
            .flat_map(|(start, end, p)| {
                examples[*start..*end]
                    .iter()
                    .map(move |ex| (ex.question.as_str(), p))
            })
            .collect();
        let answers = model
            .answer_prepared_batch(&requests, options)
            .map_err(|e| {
                // Name the first question that fails on its own.
                requests
                    .iter()
                    .zip(&examples[i..j])
                    .find_map(|((q, c), ex)| {
                        model
                            .answer_prepared(q, c, options)
                            .err()
                            .map(|e| name(ex, e))
                    })
                    .unwrap_or(e)
            })?;
        done(answers);
        i = j;
    }
    Ok(())
}
