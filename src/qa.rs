//! The question-answering pipeline: load once, answer many.
//!
//! ```
//! # fn main() -> bertqa::Result<()> {
//! use bertqa::{QaModel, QaOptions};
//! let model = QaModel::synthetic("tiny", 0)?; // or QaModel::load("bert-large-squad".as_ref())?
//! let answers = model.answer("Who wrote it?", "The book was written by Ada.", &QaOptions::default())?;
//! assert_eq!(answers.len(), 1);
//! # Ok(()) }
//! ```

use crate::answer::{self, Answers, Collected};
use crate::error::{Error, InputError, Result};
use crate::features::{self, NullAnswer, QaOptions, Window};
use crate::model::{Bert, LoadOptions, QaLogits, Sequence, StageTimes, Workspace};
use crate::tokenizer::{Encoding, Tokenizer};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub use crate::tokenizer::UNCASED_VOCAB;

/// A BERT question-answering model with its tokenizer. `Send + Sync`: load once, share with
/// `Arc`, call from any thread.
#[derive(Debug)]
pub struct QaModel {
    bert: Bert,
    tokenizer: Tokenizer,
    /// Activation buffers of finished requests, reused by the next (one per concurrent caller).
    pool: Mutex<Vec<(Workspace, QaLogits)>>,
    /// Whether forward passes add their per-stage times to `stage_totals`.
    stage_timing: AtomicBool,
    /// Per-stage times summed since the last [`QaModel::take_stage_times`].
    stage_totals: Mutex<StageTimes>,
}

/// What a request will cost the model: its windows and their tokens
/// ([`QaModel::check_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestCost {
    /// Windows the context is cut into for this question.
    pub windows: usize,
    /// Tokens of all those windows together, special tokens included: the rows the forward
    /// passes run for this request.
    pub tokens: usize,
}

/// A context tokenized once, to be asked many questions ([`QaModel::answer_prepared`]).
#[derive(Clone, Debug)]
pub struct PreparedContext {
    text: String,
    encoding: Encoding,
}

impl PreparedContext {
    /// The context text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its tokens and offsets.
    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }
}

/// One request: its tokenized question, its context and the context's windows.
struct Request<'a> {
    question: Vec<u32>,
    context: &'a PreparedContext,
    windows: Vec<Window>,
}

impl QaModel {
    /// Loads `config.json`, `model.safetensors` and `vocab.txt` from a Hugging Face model
    /// directory, checking the weights for NaN and infinity; the tokenizer lower-cases (or not)
    /// as the directory's `tokenizer_config.json` / `tokenizer.json` say
    /// ([`crate::tokenizer::TokenizerSettings::from_model_dir`]).
    ///
    /// # Errors
    /// As [`Bert::load`], [`Vocab::from_file`](crate::tokenizer::Vocab::from_file) and
    /// [`crate::tokenizer::TokenizerSettings::from_model_dir`]; [`Error::Input`] if the
    /// checkpoint has no `qa_outputs` head or the vocabulary does not match the model.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(
            dir,
            &LoadOptions {
                validate_values: true,
                ..Default::default()
            },
        )
    }

    /// [`QaModel::load`] with explicit load options.
    ///
    /// # Errors
    /// As [`QaModel::load`].
    pub fn load_with(dir: &Path, options: &LoadOptions) -> Result<Self> {
        if dir.is_file() {
            return Self::load_packed_with(dir, options);
        }
        let bert = Bert::load(dir, options)?;
        let tokenizer = Tokenizer::from_model_dir(dir, options.tokenizer)?;
        Self::new(bert, tokenizer)
    }

    /// Loads a packed-weights file written by `bertqa convert` ([`Bert::save_packed`]), which
    /// must carry its vocabulary. Nothing is packed or copied.
    ///
    /// # Errors
    /// As [`Bert::load_packed`]; [`Error::Vocab`] if the file has no vocabulary.
    pub fn load_packed(path: &Path) -> Result<Self> {
        Self::load_packed_with(path, &LoadOptions::default())
    }

    /// [`QaModel::load_packed`] with load options (see [`Bert::load_packed_with`]).
    ///
    /// # Errors
    /// As [`QaModel::load_packed`].
    pub fn load_packed_with(path: &Path, options: &LoadOptions) -> Result<Self> {
        let (bert, tokenizer) = Bert::load_packed_with(path, options)?;
        let tokenizer = tokenizer.ok_or_else(|| Error::Vocab {
            message: format!(
                "{} carries no vocabulary; re-run bertqa convert",
                path.display()
            ),
        })?;
        Self::new(bert, tokenizer)
    }

    /// Writes this model and its vocabulary as one packed-weights file (see
    /// [`Bert::save_packed`]); [`QaModel::load`] on that file then maps it with no packing.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save_packed(&self, path: &Path) -> Result<()> {
        self.bert.save_packed(path, Some(&self.tokenizer))
    }

    /// Pairs a model with a tokenizer.
    ///
    /// # Errors
    /// [`Error::Input`] if the model has no QA head, [`Error::Vocab`] if the vocabulary size
    /// differs from the model's `vocab_size`.
    pub fn new(bert: Bert, tokenizer: Tokenizer) -> Result<Self> {
        if !bert.has_qa_head() {
            return Err(Error::input(
                InputError::NoQaHead,
                "the checkpoint has no question-answering head (qa_outputs); it is a plain encoder",
            ));
        }
        if tokenizer.vocab().len() != bert.config().vocab_size {
            return Err(Error::Vocab {
                message: format!(
                    "vocab.txt has {} tokens but the model's vocab_size is {}",
                    tokenizer.vocab().len(),
                    bert.config().vocab_size
                ),
            });
        }
        log::info!("tokenizer: {}", tokenizer.settings().name());
        Ok(QaModel {
            bert,
            tokenizer,
            pool: Mutex::new(Vec::new()),
            stage_timing: AtomicBool::new(false),
            stage_totals: Mutex::new(StageTimes::default()),
        })
    }

    /// The network.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokenizes a context once, for many questions.
    ///
    /// # Errors
    /// [`Error::Input`] if the context is empty, whitespace or has no tokens.
    pub fn prepare_context(&self, context: &str) -> Result<PreparedContext> {
        if context.trim().is_empty() {
            return Err(Error::input(
                InputError::EmptyContext,
                "the context is empty",
            ));
        }
        let encoding = self.tokenizer.encode(context);
        if encoding.is_empty() {
            return Err(Error::input(
                InputError::EmptyContext,
                "the context has no tokens (only control characters?)",
            ));
        }
        Ok(PreparedContext {
            text: context.to_string(),
            encoding,
        })
    }

    /// The best `options.top_k` answers to `question` in `context`, best first (no span if no
    /// valid span exists); with [`QaOptions::null_answer`] on, also whether the model says the
    /// context does not answer ([`Answers::no_answer`]).
    ///
    /// ```
    /// # fn main() -> bertqa::Result<()> {
    /// use bertqa::{NullAnswer, QaModel, QaOptions};
    /// let model = QaModel::synthetic("tiny", 0)?;
    /// let options = QaOptions { null_answer: NullAnswer::SCORE_DIFF, ..QaOptions::default() };
    /// let answers = model.answer("Who wrote it?", "The book was written by Ada.", &options)?;
    /// match answers.best() {
    ///     Some(answer) => println!("{}", answer.text),
    ///     None => println!("the text does not say"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Input`] for an empty question or context, options that leave no room for the
    /// context, a context needing more than `options.max_windows` windows, or a null-answer
    /// threshold that is not a number.
    pub fn answer(&self, question: &str, context: &str, options: &QaOptions) -> Result<Answers> {
        let ctx = self.prepare_context(context)?;
        self.answer_prepared(question, &ctx, options)
    }

    /// As [`QaModel::answer`] with a context tokenized by [`QaModel::prepare_context`].
    ///
    /// # Errors
    /// As [`QaModel::answer`].
    pub fn answer_prepared(
        &self,
        question: &str,
        context: &PreparedContext,
        options: &QaOptions,
    ) -> Result<Answers> {
        let mut out = self.run(&[(question, context)], options, None)?;
        Ok(out.pop().flatten().expect("one request, one result"))
    }

    /// Answers many questions about contexts tokenized by [`QaModel::prepare_context`] (several
    /// questions may share one context); the windows of all of them share forward passes of
    /// up to `options.max_batch_tokens` tokens, each window at its real length (no padding).
    /// The answers are those [`QaModel::answer_prepared`] gives each question alone.
    ///
    /// # Errors
    /// As [`QaModel::answer`], for the first question that fails.
    pub fn answer_prepared_batch(
        &self,
        requests: &[(&str, &PreparedContext)],
        options: &QaOptions,
    ) -> Result<Vec<Answers>> {
        Self::all_answered(self.run(requests, options, None)?)
    }

    /// As [`QaModel::answer_prepared_batch`], for a caller that may stop wanting some answers
    /// while the batch runs (a deadline passed, a client went away): before each forward pass,
    /// `wanted(i)` is asked for every request `i` with windows in it, and once it says `false`
    /// the request's windows not yet run are dropped and its result is `None`. The answers of
    /// the others are exactly those they get alone.
    ///
    /// # Errors
    /// As [`QaModel::answer`], for the first question that fails (a service checks each one
    /// first with [`QaModel::check_request`], so that one bad request cannot fail the others).
    pub fn answer_prepared_batch_while(
        &self,
        requests: &[(&str, &PreparedContext)],
        options: &QaOptions,
        wanted: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<Option<Answers>>> {
        self.run(requests, options, Some(wanted))
    }

    /// Checks a request as the answering methods do — question and options — and says what it
    /// would cost, without running the model: a service can refuse it, or budget a batch, before
    /// any model work.
    ///
    /// # Errors
    /// As [`QaModel::answer_prepared`]: [`Error::Input`] for an empty question, options that
    /// leave no room for the context, or a context needing more than `options.max_windows`
    /// windows.
    pub fn check_request(
        &self,
        question: &str,
        context: &PreparedContext,
        options: &QaOptions,
    ) -> Result<RequestCost> {
        self.check_options(options)?;
        let req = self.request(question, context, options)?;
        let q = req.question.len();
        Ok(RequestCost {
            windows: req.windows.len(),
            tokens: req
                .windows
                .iter()
                .map(|w| Window::context_offset(q) + w.doc_len + 1)
                .sum(),
        })
    }

    /// Turns per-stage timing of the forward passes on or off (off by default). While on, every
    /// pass adds its [`StageTimes`] to a total that [`QaModel::take_stage_times`] returns; the
    /// cost is two clock reads per stage per layer.
    pub fn set_stage_timing(&self, on: bool) {
        self.stage_timing.store(on, Ordering::Relaxed);
    }

    /// The per-stage times summed over every forward pass since the last call (while
    /// [`QaModel::set_stage_timing`] is on), and starts a new sum.
    pub fn take_stage_times(&self) -> StageTimes {
        std::mem::take(&mut *self.stage_totals.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn all_answered(out: Vec<Option<Answers>>) -> Result<Vec<Answers>> {
        Ok(out
            .into_iter()
            .map(|a| a.expect("without a `wanted` test every request is answered"))
            .collect())
    }

    /// Answers many (question, context) pairs; their windows share forward passes.
    ///
    /// # Errors
    /// As [`QaModel::answer`], for the first pair that fails.
    pub fn answer_batch(
        &self,
        pairs: &[(&str, &str)],
        options: &QaOptions,
    ) -> Result<Vec<Answers>> {
        let contexts = pairs
            .iter()
            .map(|(_, c)| self.prepare_context(c))
            .collect::<Result<Vec<_>>>()?;
        let reqs: Vec<(&str, &PreparedContext)> = pairs
            .iter()
            .zip(&contexts)
            .map(|((q, _), c)| (*q, c))
            .collect();
        Self::all_answered(self.run(&reqs, options, None)?)
    }

    fn check_options(&self, o: &QaOptions) -> Result<()> {
        let max_pos = self.bert.config().max_position_embeddings;
        if o.max_seq_length > max_pos {
            return Err(Error::input(
                InputError::Options,
                format!(
                    "max_seq_length {} exceeds the model's {max_pos} positions",
                    o.max_seq_length
                ),
            ));
        }
        if o.n_best == 0 || o.top_k == 0 || o.max_answer_length == 0 || o.max_query_length == 0 {
            return Err(Error::input(
                InputError::Options,
                "n_best, top_k, max_answer_length and max_query_length must be positive",
            ));
        }
        if let NullAnswer::ScoreDiff { threshold } = o.null_answer {
            if threshold.is_nan() {
                return Err(Error::input(
                    InputError::Options,
                    "the null score threshold is not a number",
                ));
            }
        }
        Ok(())
    }

    /// Runs one batch of windows and collects each window's candidate spans for its request.
    #[allow(clippy::too_many_arguments)]
    fn score_batch(
        &self,
        batch: &[Sequence],
        owners: &[(usize, usize)],
        requests: &[Request],
        o: &QaOptions,
        ws: &mut Workspace,
        logits: &mut QaLogits,
        candidates: &mut [Collected],
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.bert.forward_into(batch, ws, logits)?;
        for (i, &(r, w)) in owners.iter().enumerate() {
            let req = &requests[r];
            answer::window_candidates(
                &req.windows[w],
                req.question.len(),
                &logits.start_logits[i],
                &logits.end_logits[i],
                o,
                &mut candidates[r],
            );
        }
        Ok(())
    }

    /// Tokenizes a question and cuts its context into windows.
    fn request<'a>(
        &self,
        question: &str,
        context: &'a PreparedContext,
        o: &QaOptions,
    ) -> Result<Request<'a>> {
        if question.trim().is_empty() {
            return Err(Error::input(
                InputError::EmptyQuestion,
                "the question is empty",
            ));
        }
        let mut q = self.tokenizer.encode(question).ids;
        if q.is_empty() {
            return Err(Error::input(
                InputError::EmptyQuestion,
                "the question has no tokens (only control characters?)",
            ));
        }
        q.truncate(o.max_query_length);
        let windows = features::windows(context.encoding.len(), q.len(), o)?;
        log::debug!(
            "question of {} tokens, context of {} tokens: {} windows",
            q.len(),
            context.encoding.len(),
            windows.len()
        );
        Ok(Request {
            question: q,
            context,
            windows,
        })
    }

    /// Answers `reqs`; with `wanted`, a request it turns down is dropped (`None`).
    fn run(
        &self,
        reqs: &[(&str, &PreparedContext)],
        o: &QaOptions,
        wanted: Option<&dyn Fn(usize) -> bool>,
    ) -> Result<Vec<Option<Answers>>> {
        self.check_options(o)?;
        let requests = reqs
            .iter()
            .map(|&(question, context)| self.request(question, context, o))
            .collect::<Result<Vec<_>>>()?;
        // A poisoned lock only means another request panicked; the buffers are still sound.
        let (mut ws, mut logits) = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let timing = self.stage_timing.load(Ordering::Relaxed);
        ws.set_profiling(timing);
        // Every window of every request, in order, in batches of at most max_batch_tokens.
        let vocab = self.tokenizer.vocab();
        let mut candidates: Vec<Collected> = vec![Collected::default(); requests.len()];
        let mut dropped = vec![false; requests.len()];
        let mut batch: Vec<Sequence> = Vec::new();
        let mut owners: Vec<(usize, usize)> = Vec::new(); // (request, window) of each sequence
        let mut tokens = 0;
        for (r, req) in requests.iter().enumerate() {
            for (w, window) in req.windows.iter().enumerate() {
                // Asked once per request per forward pass: when its first window joins a batch.
                let first_in_batch = owners.last().is_none_or(|&(last, _)| last != r);
                if first_in_batch && wanted.is_some_and(|wanted| !wanted(r)) {
                    dropped[r] = true;
                }
                if dropped[r] {
                    break;
                }
                let ids = &req.context.encoding.ids;
                let seq = features::window_sequence(
                    &req.question,
                    ids,
                    window,
                    vocab.cls_id(),
                    vocab.sep_id(),
                );
                if !batch.is_empty() && tokens + seq.input_ids.len() > o.max_batch_tokens {
                    self.score_batch(
                        &batch,
                        &owners,
                        &requests,
                        o,
                        &mut ws,
                        &mut logits,
                        &mut candidates,
                    )?;
                    batch.clear();
                    owners.clear();
                    tokens = 0;
                    // The rest of this request goes into a new pass: ask again.
                    if wanted.is_some_and(|wanted| !wanted(r)) {
                        dropped[r] = true;
                        break;
                    }
                }
                tokens += seq.input_ids.len();
                batch.push(seq);
                owners.push((r, w));
            }
        }
        self.score_batch(
            &batch,
            &owners,
            &requests,
            o,
            &mut ws,
            &mut logits,
            &mut candidates,
        )?;
        if timing {
            *self.stage_totals.lock().unwrap_or_else(|e| e.into_inner()) += ws.stage_times();
        }
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((ws, logits));
        Ok(requests
            .iter()
            .zip(candidates)
            .zip(dropped)
            .map(|((req, c), dropped)| {
                let enc = &req.context.encoding;
                (!dropped).then(|| {
                    answer::finish(
                        c,
                        &req.context.text,
                        &enc.byte_offsets,
                        &enc.char_offsets,
                        o,
                    )
                })
            })
            .collect())
    }
}
