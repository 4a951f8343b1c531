//! Answering a SQuAD dataset with a model: what `bertqa eval` runs.

use std::sync::Arc;

use super::Example;
use crate::{Error, PreparedContext, QaModel, QaOptions, Result};

/// Tokens per forward pass that suit [`predict`] over a whole dataset, where there are always
/// more windows waiting (`bertqa eval`'s default; docs/accuracy.md measures 1 to 8,192): larger
/// than [`QaOptions::default`]'s, which bounds one request's memory.
pub const PREDICT_BATCH_TOKENS: usize = 4096;

/// Questions answered per call of [`QaModel::answer_prepared_batch`] in [`predict`] (whole
/// paragraphs, so at least this many unless the examples run out).
const PREDICT_CHUNK: usize = 64;

/// Answers every example with `model` (its best answer's text; `""` if no valid span exists),
/// in order: each paragraph's context tokenized once, and the windows of many questions run
/// together in forward passes of up to `options.max_batch_tokens` tokens. `progress` is called
/// with the predictions so far after every batch of questions.
///
/// # Errors
/// As [`QaModel::answer`], the message naming the question id that failed.
pub fn predict(
    model: &QaModel,
    examples: &[Example],
    options: &QaOptions,
    mut progress: impl FnMut(&[String]),
) -> Result<Vec<String>> {
    let name = |ex: &Example, e: Error| match e {
        Error::Input { message } => Error::input(format!("question {}: {message}", ex.id)),
        other => other,
    };
    let mut out = Vec::with_capacity(examples.len());
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
        out.extend(
            answers
                .into_iter()
                .map(|a| a.into_iter().next().map_or(String::new(), |a| a.text)),
        );
        i = j;
        progress(&out);
    }
    Ok(out)
}
