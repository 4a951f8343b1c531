//! Running requests on the model: one at a time, or gathered into ragged batches.
//!
//! A request becomes a [`Job`] once it is checked (`QaModel::check_request`: it is known to be
//! valid and what it costs). Jobs reach the model one of two ways ([`Runner`]):
//!
//! - **batched** (the default): one thread owns the model. When it is free it takes the first
//!   job waiting and every other job that is already waiting — or arrives within `max_wait` —
//!   up to `max_batch_tokens` tokens, and runs them as one ragged batch
//!   (`QaModel::answer_prepared_batch_while`: every window at its real length, no padding).
//!   Requests that arrive while the model is busy thus share the next forward pass, whose GEMMs
//!   have many more rows than one short request gives them. Each gets exactly the answers it
//!   gets alone (the library computes every token's row the same way whatever else is in the
//!   pass).
//! - **direct** (`--no-batching`): each job runs alone on tokio's blocking pool, at most
//!   `max_inflight` at once.
//!
//! Either way a job whose deadline passes, or whose client goes away (its reply channel
//! closes), is dropped before its next forward pass; the rest of its batch runs on.

use crate::metrics::{Dropped, Metrics};
use bertqa::{Answers, NullAnswer, PreparedContext, QaModel, QaOptions, RequestCost};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

/// A checked request waiting for the model.
pub struct Job {
    pub question: String,
    pub context: PreparedContext,
    pub top_k: usize,
    /// Whether "no answer" is possible for this request, and by which rule.
    pub null_answer: NullAnswer,
    pub cost: RequestCost,
    /// Past it the request is answered 504 and dropped.
    pub deadline: Option<Instant>,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Result<Answered, Failure>>,
}

impl Job {
    fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Whether anyone still waits for this job's answers, in time.
    fn wanted(&self) -> bool {
        !self.reply.is_closed() && !self.expired(Instant::now())
    }
}

/// A job's answers and the batch they came from.
#[derive(Debug)]
pub struct Answered {
    /// Its spans and, if it asked for null answers, the null answer decided by its own rule.
    pub answers: Answers,
    /// Requests in the batch (this one included).
    pub batch_requests: usize,
    /// Tokens of the whole batch.
    pub batch_tokens: usize,
    /// Time from being queued to the batch starting.
    pub queued: Duration,
}

/// Why a job has no answers.
#[derive(Debug)]
pub enum Failure {
    /// The deadline passed before its windows had all run.
    Deadline,
    /// The model failed (not the request's fault).
    Model(String),
}

/// How jobs reach the model.
pub struct BatchConfig {
    /// Most tokens per batch (and per forward pass); a request larger than this runs alone,
    /// in passes of this many tokens.
    pub max_batch_tokens: usize,
    /// How long a free model waits for more requests before it runs what it has (0: it
    /// takes only what is already waiting).
    pub max_wait: Duration,
}

/// Hands jobs to the model.
pub enum Runner {
    /// One thread gathers jobs into batches.
    Batched(mpsc::Sender<Job>),
    /// Each job alone, at most this many at once.
    Direct(Arc<Semaphore>),
}

/// The model and how requests reach it.
pub struct Engine {
    pub model: Arc<QaModel>,
    /// Window and answer options (`top_k` is each job's own).
    pub options: QaOptions,
    pub runner: Runner,
}

impl Engine {
    /// An engine that batches, with its batching thread started.
    pub fn batched(
        model: Arc<QaModel>,
        options: QaOptions,
        config: BatchConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let (m, o) = (Arc::clone(&model), options.clone());
        std::thread::Builder::new()
            .name("bertqa-batcher".into())
            .spawn(move || gather_and_run(rx, &m, &o, &config, &metrics))?;
        Ok(Engine {
            model,
            options,
            runner: Runner::Batched(tx),
        })
    }

    /// An engine that runs each request alone, at most `max_inflight` at once.
    pub fn direct(model: Arc<QaModel>, options: QaOptions, max_inflight: usize) -> Self {
        Engine {
            model,
            options,
            runner: Runner::Direct(Arc::new(Semaphore::new(max_inflight))),
        }
    }

    /// Queues a job; its answer arrives on `job.reply`. `Err` gives the job back if the
    /// runner has stopped.
    pub fn submit(&self, job: Job, metrics: &Arc<Metrics>) -> Result<(), Box<Job>> {
        metrics.queue_depth.inc();
        match &self.runner {
            Runner::Batched(tx) => tx.send(job).map_err(|e| {
                metrics.queue_depth.dec();
                Box::new(e.0)
            }),
            Runner::Direct(sem) => {
                let (sem, model, options, metrics) = (
                    Arc::clone(sem),
                    Arc::clone(&self.model),
                    self.options.clone(),
                    Arc::clone(metrics),
                );
                tokio::spawn(async move {
                    let Ok(_permit) = sem.acquire_owned().await else {
                        return;
                    };
                    metrics.queue_depth.dec();
                    let _ = tokio::task::spawn_blocking(move || {
                        run_jobs(&model, vec![job], &options, &metrics)
                    })
                    .await;
                });
                Ok(())
            }
        }
    }
}

/// The batching thread: until every sender is gone, gathers jobs and runs them.
fn gather_and_run(
    rx: mpsc::Receiver<Job>,
    model: &QaModel,
    options: &QaOptions,
    config: &BatchConfig,
    metrics: &Metrics,
) {
    let options = QaOptions {
        max_batch_tokens: config.max_batch_tokens,
        ..options.clone()
    };
    // A job that did not fit the last batch: it starts the next.
    let mut held: Option<Job> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => {
                    metrics.queue_depth.dec();
                    job
                }
                Err(mpsc::RecvError) => return,
            },
        };
        let mut tokens = first.cost.tokens;
        let mut jobs = vec![first];
        let until = Instant::now() + config.max_wait;
        while tokens < config.max_batch_tokens {
            let next = match rx.try_recv() {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                }
            };
            metrics.queue_depth.dec();
            if tokens + next.cost.tokens > config.max_batch_tokens {
                held = Some(next);
                break;
            }
            tokens += next.cost.tokens;
            jobs.push(next);
        }
        // A panic would be a library bug; it costs this batch (its handlers answer 500 when
        // their reply channels drop), not the service.
        let run = std::panic::AssertUnwindSafe(|| run_jobs(model, jobs, &options, metrics));
        if std::panic::catch_unwind(run).is_err() {
            eprintln!("serve: a batch panicked; its requests got 500");
        }
    }
}

/// Runs jobs as one batch and sends each its outcome; jobs already expired or abandoned are
/// dropped first.
pub fn run_jobs(model: &QaModel, mut jobs: Vec<Job>, options: &QaOptions, metrics: &Metrics) {
    let start = Instant::now();
    jobs.retain(|job| {
        // An expired job's handler has answered 504 and closed the channel: a deadline drop.
        if job.expired(start) {
            metrics.dropped(Dropped::Deadline);
            false
        } else if job.reply.is_closed() {
            metrics.dropped(Dropped::Cancelled);
            false
        } else {
            true
        }
    });
    if jobs.is_empty() {
        return;
    }
    let tokens: usize = jobs.iter().map(|j| j.cost.tokens).sum();
    metrics.batch(
        jobs.len(),
        tokens,
        jobs.iter().map(|j| start.duration_since(j.enqueued)),
    );
    // The null scores do not depend on the rule: computed once for the batch if any job wants
    // them, each job's verdict then decided by its own rule.
    let any_null = jobs.iter().any(|j| j.null_answer != NullAnswer::Never);
    let options = QaOptions {
        top_k: jobs.iter().map(|j| j.top_k).max().unwrap_or(1),
        null_answer: if any_null {
            NullAnswer::SCORE_DIFF
        } else {
            NullAnswer::Never
        },
        ..options.clone()
    };
    let requests: Vec<(&str, &PreparedContext)> = jobs
        .iter()
        .map(|j| (j.question.as_str(), &j.context))
        .collect();
    let result = model.answer_prepared_batch_while(&requests, &options, &|i| jobs[i].wanted());
    drop(requests);
    metrics.stages(&model.take_stage_times());
    let n = jobs.len();
    match result {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                match outcome {
                    // Answers come best first and probabilities are over all n_best
                    // candidates, so the first top_k of a larger top_k are this job's own.
                    Some(mut answers) => {
                        answers.spans.truncate(job.top_k);
                        answers.null = match job.null_answer {
                            NullAnswer::Never => None,
                            rule => answers.null.map(|mut n| {
                                n.wins = n.wins_under(rule);
                                n
                            }),
                        };
                        let _ = job.reply.send(Ok(Answered {
                            answers,
                            batch_requests: n,
                            batch_tokens: tokens,
                            queued: start.duration_since(job.enqueued),
                        }));
                    }
                    None if job.expired(Instant::now()) => {
                        metrics.dropped(Dropped::Deadline);
                        let _ = job.reply.send(Err(Failure::Deadline));
                    }
                    None => metrics.dropped(Dropped::Cancelled),
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(Failure::Model(message.clone())));
            }
        }
    }
}
