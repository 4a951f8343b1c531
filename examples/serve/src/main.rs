//! `serve`: a minimal HTTP JSON question-answering service around one shared `QaModel`.
//!
//! ```text
//! serve [--model DIR | --synthetic NAME] [--precision fp32|bf16|int8] [--int8-plan PLAN] [--addr 127.0.0.1:8080] [--max-inflight N] [--threads N] [--pin-threads]
//!
//! POST /answer  {"question": "...", "context": "...", "top_k": 1}  →  200 {"answers": [Answer, ...]}
//! GET  /healthz                                                    →  200 {"status": "ok"}
//! errors: {"error": "..."} with 400 (bad input), 413 (body over 1 MiB), 404/405, 500 (anything else)
//! ```
//!
//! Without `--model` or `--synthetic` it serves
//! `bert-large-uncased-whole-word-masking-finetuned-squad` from the Hugging Face cache
//! (`bertqa::hub`); it never downloads.
//!
//! Inference runs on tokio's blocking pool (`spawn_blocking`), never on the async workers; at
//! most `--max-inflight` requests run the model at once (each one already uses every core
//! through rayon), the rest wait their turn.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bertqa::{Answer, LoadOptions, Precision, QaModel, QaOptions};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Largest request body accepted.
const BODY_LIMIT: usize = 1 << 20;
/// Largest `top_k` accepted: answers come from at most `n_best` (20) candidates.
const MAX_TOP_K: usize = 20;

const USAGE: &str = "usage: serve [--model DIR | --synthetic tiny|base|large] \
                     [--precision fp32|bf16|int8] [--int8-plan PLAN] [--addr 127.0.0.1:8080] [--max-inflight N]\n\
                     [--threads N] [--pin-threads (one worker per core; for a dedicated machine)]\n\
                     (no --model: the model in the Hugging Face cache, see docs/serving.md)";

struct AppState {
    model: Arc<QaModel>,
    /// Bounds the requests running the model at once.
    inflight: Semaphore,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRequest {
    question: String,
    context: String,
    #[serde(default = "one")]
    top_k: usize,
}

fn one() -> usize {
    1
}

#[derive(Serialize)]
struct AnswerResponse {
    answers: Vec<Answer>,
}

/// An error response: `{"error": message}` with a status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<bertqa::Error> for ApiError {
    fn from(e: bertqa::Error) -> Self {
        let status = match e {
            bertqa::Error::Input { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

async fn answer(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AnswerResponse>, ApiError> {
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
            format!("invalid request body: {e}; expected {{\"question\": string, \"context\": string, \"top_k\": 1..={MAX_TOP_K}}}"),
        )
    })?;
    if !(1..=MAX_TOP_K).contains(&req.top_k) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("top_k must be between 1 and {MAX_TOP_K}, got {}", req.top_k),
        ));
    }
    let _permit = state
        .inflight
        .acquire()
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let model = Arc::clone(&state.model);
    let answers = tokio::task::spawn_blocking(move || {
        let options = QaOptions {
            top_k: req.top_k,
            ..QaOptions::default()
        };
        model.answer(&req.question, &req.context, &options)
    })
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {e}"),
        )
    })??;
    Ok(Json(AnswerResponse { answers }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "no such route; try POST /answer or GET /healthz".into(),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed; POST /answer, GET /healthz".into(),
    )
}

/// The service's routes around a loaded model.
fn app(model: Arc<QaModel>, max_inflight: usize) -> Router {
    let state = Arc::new(AppState {
        model,
        inflight: Semaphore::new(max_inflight),
    });
    Router::new()
        .route("/answer", post(answer))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

struct Args {
    model: Option<PathBuf>,
    synthetic: Option<String>,
    /// `None`: fp32, or a packed file's own precision.
    precision: Option<Precision>,
    /// With int8: which GEMMs run in int8 (`None`: the default plan, or a packed file's).
    int8_plan: Option<bertqa::LayerPlan>,
    addr: SocketAddr,
    max_inflight: usize,
    /// Model worker threads (`None`: rayon's default, one per CPU).
    threads: Option<usize>,
    /// Pin worker i to the i-th allowed CPU.
    pin_threads: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: None,
        synthetic: None,
        precision: None,
        int8_plan: None,
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        max_inflight: 4,
        threads: None,
        pin_threads: false,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(flag) = it.next() {
        let flag = flag.to_string_lossy().into_owned();
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if flag == "--pin-threads" {
            args.pin_threads = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let text = || value.to_string_lossy().into_owned();
        match flag.as_str() {
            "--model" => args.model = Some(PathBuf::from(&value)),
            "--synthetic" => args.synthetic = Some(text()),
            "--precision" => args.precision = Some(text().parse()?),
            "--int8-plan" => args.int8_plan = Some(bertqa::LayerPlan::parse(&text())?),
            "--addr" => {
                args.addr = text()
                    .parse()
                    .map_err(|e| format!("--addr {}: {e}", text()))?
            }
            "--max-inflight" => {
                args.max_inflight =
                    text().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--max-inflight {}: not a positive integer", text())
                    })?
            }
            "--threads" => {
                args.threads =
                    Some(
                        text().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("--threads {}: not a positive integer", text())
                        })?,
                    )
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if args.model.is_some() && args.synthetic.is_some() {
        return Err("give one of --model DIR and --synthetic NAME, not both".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("serve: {e}\n{USAGE}");
        std::process::exit(2);
    });
    if args.threads.is_some() || args.pin_threads {
        match bertqa::affinity::install_global(args.threads, args.pin_threads) {
            Err(e) => {
                eprintln!("serve: cannot start the worker threads: {e}");
                std::process::exit(1);
            }
            Ok((placement, n)) if args.pin_threads => eprintln!(
                "serve: {} of {n} model workers pinned to CPUs {:?}",
                placement.pinned(),
                placement.cpus
            ),
            Ok(_) => {}
        }
    }
    let options = LoadOptions {
        // A packed file maps with no pass over its values; a checkpoint is validated.
        validate_values: !args.model.as_ref().is_some_and(|p| p.is_file()),
        precision: args.precision,
        int8_plan: args.int8_plan,
    };
    let model = match (&args.model, &args.synthetic) {
        (Some(dir), _) => QaModel::load_with(dir, &options),
        (None, Some(name)) => QaModel::synthetic_with(name, 0, &options),
        // Neither: the model in the Hugging Face cache (bertqa::hub); never downloads here.
        (None, None) => bertqa::hub::resolve_default_model(true).and_then(|dir| {
            eprintln!("serve: using {}", dir.display());
            QaModel::load_with(&dir, &options)
        }),
    }
    .unwrap_or_else(|e| {
        eprintln!("serve: {e}");
        std::process::exit(1);
    });
    eprintln!("serve: {}", model.bert().kernels_description());
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("serve: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    eprintln!(
        "serve: listening on http://{} (POST /answer, GET /healthz)",
        listener.local_addr().expect("bound socket has an address")
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = axum::serve(listener, app(Arc::new(model), args.max_inflight))
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("serve: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Sends one request to a fresh router around the tiny synthetic model.
    async fn call(
        method: &str,
        uri: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let model = Arc::new(QaModel::synthetic("tiny", 0).unwrap());
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(body.into())
            .unwrap();
        let resp = app(model, 2).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn answers_as_the_library_does() {
        let (q, c) = (
            "Who wrote it?",
            "The book was written by Ada Lovelace in 1843.",
        );
        let body = serde_json::json!({ "question": q, "context": c, "top_k": 3 }).to_string();
        let (status, json) = call("POST", "/answer", body).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let options = QaOptions {
            top_k: 3,
            ..QaOptions::default()
        };
        let expected = QaModel::synthetic("tiny", 0)
            .unwrap()
            .answer(q, c, &options)
            .unwrap();
        // Through JSON text, as the server sends it (f32s print shortest).
        let expected: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&expected).unwrap()).unwrap();
        assert_eq!(json["answers"], expected);
        assert_eq!(json["answers"].as_array().unwrap().len(), 3);
        let (status, json) = call("GET", "/healthz", Body::empty()).await;
        assert_eq!(
            (status, json),
            (StatusCode::OK, serde_json::json!({"status": "ok"}))
        );
    }

    #[tokio::test]
    async fn errors_are_json_with_their_status() {
        let cases = [
            (
                r#"{"question": "", "context": "text"}"#,
                StatusCode::BAD_REQUEST,
                "question is empty",
            ),
            (
                r#"{"question": "q", "context": "text", "top_k": 0}"#,
                StatusCode::BAD_REQUEST,
                "top_k",
            ),
            (
                r#"{"question": "q", "contxt": "text"}"#,
                StatusCode::BAD_REQUEST,
                "unknown field",
            ),
            ("not json", StatusCode::BAD_REQUEST, "invalid request body"),
        ];
        for (body, status, needle) in cases {
            let (got, json) = call("POST", "/answer", body).await;
            assert_eq!(got, status, "{body}: {json}");
            assert!(
                json["error"].as_str().unwrap().contains(needle),
                "{body}: {json}"
            );
        }
        let big = format!(
            r#"{{"question": "q", "context": "{}"}}"#,
            "a ".repeat(BODY_LIMIT)
        );
        let (status, json) = call("POST", "/answer", big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
        assert!(json["error"].as_str().unwrap().contains("limit"), "{json}");
        let (status, _) = call("GET", "/nope", Body::empty()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, json) = call("GET", "/answer", Body::empty()).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(json["error"].is_string());
    }
}
