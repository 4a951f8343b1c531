//! The HTTP side: routes, request checking, errors, request logs.

use crate::batch::{Answered, Engine, Failure, Job};
use crate::metrics::Metrics;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bertqa::{Answer, NullAnswer, NullScore};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;
/// Largest `top_k` accepted: answers come from at most `n_best` (20) candidates.
pub const MAX_TOP_K: usize = 20;

/// What every handler shares.
pub struct AppState {
    /// Set once the model is loaded and warm.
    engine: OnceLock<Engine>,
    shutting_down: AtomicBool,
    /// Requests accepted and not yet answered above this are refused with 503.
    max_queue: usize,
    /// Whether to write one JSON line per request to stderr.
    log_requests: bool,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// A service with no model yet: `/readyz` says 503 until [`AppState::set_engine`].
    pub fn new(max_queue: usize, log_requests: bool) -> Arc<Self> {
        Arc::new(AppState {
            engine: OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            max_queue,
            log_requests,
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// The model is loaded and warm: start answering.
    pub fn set_engine(&self, engine: Engine) {
        if self.engine.set(engine).is_ok() && !self.shutting_down.load(Ordering::SeqCst) {
            self.metrics.set_ready(true);
        }
    }

    /// Shutting down: `/readyz` says 503 so that load balancers stop sending; requests still
    /// arriving on open connections are served.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.metrics.set_ready(false);
    }

    fn ready(&self) -> bool {
        self.engine.get().is_some() && !self.shutting_down.load(Ordering::SeqCst)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRequest {
    question: String,
    context: String,
    #[serde(default = "one")]
    top_k: usize,
    /// Deadline in milliseconds from the request's arrival; 0 is already past.
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// Allow "no answer": none when null score − best span score exceeds this (run_qa's rule).
    #[serde(default)]
    null_score_diff_threshold: Option<f32>,
    /// Allow "no answer" by the Hugging Face pipeline's rule.
    #[serde(default)]
    handle_impossible_answer: bool,
}

fn one() -> usize {
    1
}

#[derive(Serialize)]
struct AnswerResponse {
    answers: Vec<Answer>,
    /// With null answers asked for: whether the model says the context does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    no_answer: Option<bool>,
    /// With null answers asked for: the null answer's scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    null: Option<NullScore>,
}

/// An error response: `{"error": message}` with a status.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<bertqa::Error> for ApiError {
    fn from(e: bertqa::Error) -> Self {
        use bertqa::InputError as I;
        let status = match e {
            // A well-formed request the model cannot answer: nothing to ask or to read.
            bertqa::Error::Input {
                kind: I::EmptyQuestion | I::EmptyContext | I::Sequence,
                ..
            } => StatusCode::UNPROCESSABLE_ENTITY,
            // More text than the model or the service's limits take.
            bertqa::Error::Input {
                kind: I::TooLong, ..
            } => StatusCode::PAYLOAD_TOO_LARGE,
            // The server's model cannot answer questions at all: its configuration, not the
            // request.
            bertqa::Error::Input {
                kind: I::NoQaHead, ..
            } => StatusCode::INTERNAL_SERVER_ERROR,
            // Options out of range, and anything else wrong with the request.
            bertqa::Error::Input { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

fn deadline_passed() -> ApiError {
    ApiError(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout_ms passed before the answer was ready; the request's remaining work was dropped"
            .into(),
    )
}

/// What the request log says of a request beyond its status.
#[derive(Default)]
struct Facts {
    windows: Option<usize>,
    tokens: Option<usize>,
    batch: Option<(usize, usize, Duration)>,
}

async fn answer(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let t0 = Instant::now();
    let mut facts = Facts::default();
    let result = answer_inner(&state, body, t0, &mut facts).await;
    let took = t0.elapsed();
    let response = match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    };
    let status = response.status().as_u16();
    state.metrics.request(status, took);
    if state.log_requests {
        log_request(status, took, &facts);
    }
    response
}

async fn answer_inner(
    state: &Arc<AppState>,
    body: Result<Bytes, BytesRejection>,
    t0: Instant,
    facts: &mut Facts,
) -> Result<AnswerResponse, ApiError> {
    // 413 when over BODY_LIMIT; 400 for a body that could not be read.
    let body = body.map_err(|e| {
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(
            status,
            format!("{} (limit {BODY_LIMIT} bytes)", e.body_text()),
        )
    })?;
    let req: AnswerRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}; expected {{\"question\": string, \"context\": string, \"top_k\": 1..={MAX_TOP_K}, \"timeout_ms\": integer, \"null_score_diff_threshold\": number, \"handle_impossible_answer\": boolean}} (all but question and context optional)"),
        )
    })?;
    if !(1..=MAX_TOP_K).contains(&req.top_k) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("top_k must be between 1 and {MAX_TOP_K}, got {}", req.top_k),
        ));
    }
    let null_answer = match (req.null_score_diff_threshold, req.handle_impossible_answer) {
        (Some(_), true) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "null_score_diff_threshold and handle_impossible_answer are two rules for the \
                 same choice; give one"
                    .into(),
            ))
        }
        (Some(threshold), false) => NullAnswer::ScoreDiff { threshold },
        (None, true) => NullAnswer::Pipeline,
        (None, false) => NullAnswer::Never,
    };
    let Some(engine) = state.engine.get() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading; see GET /readyz".into(),
        ));
    };
    let deadline = req.timeout_ms.map(|ms| t0 + Duration::from_millis(ms));
    if req.timeout_ms == Some(0) {
        return Err(deadline_passed());
    }
    if state.metrics.queue_depth.get() >= state.max_queue as i64 {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} requests are already waiting; try again later",
                state.max_queue
            ),
        ));
    }
    // Tokenize and check on the blocking pool (a 1 MiB context takes milliseconds): a bad
    // request is refused here, before any model work, and cannot fail a batch.
    let (model, options) = (Arc::clone(&engine.model), engine.options.clone());
    let AnswerRequest {
        question,
        context,
        top_k,
        ..
    } = req;
    let (question, context, cost) = tokio::task::spawn_blocking(move || {
        let context = model.prepare_context(&context)?;
        let cost = model.check_request(&question, &context, &options)?;
        Ok::<_, bertqa::Error>((question, context, cost))
    })
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("tokenizing failed: {e}"),
        )
    })??;
    facts.windows = Some(cost.windows);
    facts.tokens = Some(cost.tokens);
    let (tx, rx) = oneshot::channel();
    let job = Job {
        question,
        context,
        top_k,
        null_answer,
        cost,
        deadline,
        enqueued: Instant::now(),
        reply: tx,
    };
    engine.submit(job, &state.metrics).map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model has stopped".into(),
        )
    })?;
    // If the client goes away, hyper drops this future and with it `rx`: the job is dropped
    // before its next forward pass.
    let outcome = match deadline {
        None => rx.await,
        Some(d) => tokio::time::timeout_at(d.into(), rx)
            .await
            .map_err(|_| deadline_passed())?,
    };
    let Answered {
        answers,
        batch_requests,
        batch_tokens,
        queued,
    } = match outcome {
        Ok(Ok(a)) => a,
        Ok(Err(Failure::Deadline)) => return Err(deadline_passed()),
        Ok(Err(Failure::Model(m))) => {
            return Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, m));
        }
        Err(_) => {
            return Err(ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the model dropped the request".into(),
            ))
        }
    };
    facts.batch = Some((batch_requests, batch_tokens, queued));
    Ok(AnswerResponse {
        no_answer: answers.null.map(|n| n.wins),
        null: answers.null,
        answers: answers.spans,
    })
}

/// One JSON line per request on stderr.
fn log_request(status: u16, took: Duration, f: &Facts) {
    let ts = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut line = serde_json::json!({
        "ts": (ts * 1e3).round() / 1e3,
        "method": "POST",
        "path": "/answer",
        "status": status,
        "ms": (took.as_secs_f64() * 1e4).round() / 10.0,
    });
    let obj = line.as_object_mut().expect("an object");
    if let Some(w) = f.windows {
        obj.insert("windows".into(), w.into());
    }
    if let Some(t) = f.tokens {
        obj.insert("tokens".into(), t.into());
    }
    if let Some((requests, tokens, queued)) = f.batch {
        obj.insert("batch_requests".into(), requests.into());
        obj.insert("batch_tokens".into(), tokens.into());
        obj.insert(
            "queue_ms".into(),
            ((queued.as_secs_f64() * 1e4).round() / 10.0).into(),
        );
    }
    eprintln!("{line}");
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready() {
        Json(serde_json::json!({ "ready": true })).into_response()
    } else {
        let why = if state.shutting_down.load(Ordering::SeqCst) {
            "shutting down"
        } else {
            "loading the model"
        };
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "why": why })),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such route; try POST /answer, GET /healthz, /readyz or /metrics".into(),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed; POST /answer, GET /healthz, /readyz, /metrics".into(),
    )
}

/// The service's routes.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/answer", post(answer))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
