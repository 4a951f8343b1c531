//! `serve`: an HTTP JSON question-answering service around one shared `QaModel`.
//!
//! ```text
//! serve [--model PATH | --synthetic NAME] [--precision fp32|bf16|int8] [--int8-plan PLAN]
//!       [--addr 127.0.0.1:8080] [--threads N] [--pin-threads]
//!       [--max-batch-tokens 1536] [--max-wait-ms 0] [--no-batching [--max-inflight 4]]
//!       [--max-queue 256] [--quiet]
//!
//! POST /answer  {"question": "...", "context": "...", "top_k": 1, "timeout_ms": 500}
//!                                         →  200 {"answers": [Answer, ...]}
//!               optional "null_score_diff_threshold": 0.0 or "handle_impossible_answer": true
//!               (SQuAD 2.0 models)          →  200 {"answers": [...], "no_answer": bool,
//!                                                   "null": {"score", "score_diff", ...}}
//! GET  /healthz  →  200 {"status": "ok"}         (liveness)
//! GET  /readyz   →  200 {"ready": true} once the model is loaded and warm, else 503
//! GET  /metrics  →  OpenMetrics text (Prometheus)
//! errors: {"error": "..."} with 400 (bad input), 413 (body over 1 MiB), 404/405,
//!         503 (loading, queue full), 504 (timeout_ms passed), 500 (anything else)
//! ```
//!
//! The port opens at once; the model loads in the background (`/readyz` says when it is
//! ready). Requests that arrive while the model is busy are gathered into one ragged batch
//! (see `batch.rs`). SIGTERM or Ctrl-C: readiness turns false, no new connections are accepted,
//! requests in flight finish, then the process exits. Without `--model` or `--synthetic` it
//! serves `bert-large-uncased-whole-word-masking-finetuned-squad` from the Hugging Face cache,
//! or where that is missing the small model bundled with bertqa, saying which on stderr
//! (`bertqa::load::hub::default_model`); it never downloads.

mod batch;
mod metrics;
mod service;
#[cfg(test)]
mod tests;

use batch::{BatchConfig, Engine};
use bertqa::{LoadOptions, Precision, QaModel, QaOptions};
use service::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: serve [--model PATH | --synthetic tiny|base|large] \
                     [--precision fp32|bf16|int8] [--int8-plan PLAN] [--addr 127.0.0.1:8080]\n\
                     [--threads N] [--pin-threads (one worker per core; for a dedicated machine)]\n\
                     [--max-batch-tokens N] [--max-wait-ms MS] [--no-batching [--max-inflight N]]\n\
                     [--max-queue N] [--quiet (no request log)]\n\
                     (no --model: BERT-large from the Hugging Face cache, else the bundled small \
                     model; see docs/serving.md)";

struct Args {
    model: Option<PathBuf>,
    synthetic: Option<String>,
    /// `None`: fp32, or a packed file's own precision.
    precision: Option<Precision>,
    /// With int8: which GEMMs run in int8 (`None`: the default plan, or a packed file's).
    int8_plan: Option<bertqa::LayerPlan>,
    addr: SocketAddr,
    /// Model worker threads (`None`: rayon's default, one per CPU).
    threads: Option<usize>,
    /// Pin worker i to the i-th allowed CPU.
    pin_threads: bool,
    /// `false`: each request runs alone (`--no-batching`).
    batching: bool,
    max_batch_tokens: usize,
    max_wait: Duration,
    /// Without batching: requests running the model at once.
    max_inflight: usize,
    max_queue: usize,
    log_requests: bool,
}

fn positive(flag: &str, text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} {text}: not a positive integer"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: None,
        synthetic: None,
        precision: None,
        int8_plan: None,
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        threads: None,
        pin_threads: false,
        batching: true,
        max_batch_tokens: QaOptions::default().max_batch_tokens,
        max_wait: Duration::ZERO,
        max_inflight: 4,
        max_queue: 256,
        log_requests: true,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(flag) = it.next() {
        let flag = flag.to_string_lossy().into_owned();
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--pin-threads" => args.pin_threads = true,
            "--no-batching" => args.batching = false,
            "--quiet" => args.log_requests = false,
            _ => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                let text = value.to_string_lossy().into_owned();
                match flag.as_str() {
                    "--model" => args.model = Some(PathBuf::from(&value)),
                    "--synthetic" => args.synthetic = Some(text),
                    "--precision" => args.precision = Some(text.parse()?),
                    "--int8-plan" => args.int8_plan = Some(bertqa::LayerPlan::parse(&text)?),
                    "--addr" => {
                        args.addr = text.parse().map_err(|e| format!("--addr {text}: {e}"))?
                    }
                    "--threads" => args.threads = Some(positive(&flag, &text)?),
                    "--max-inflight" => args.max_inflight = positive(&flag, &text)?,
                    "--max-batch-tokens" => args.max_batch_tokens = positive(&flag, &text)?,
                    "--max-queue" => args.max_queue = positive(&flag, &text)?,
                    "--max-wait-ms" => {
                        let ms: u64 = text
                            .parse()
                            .map_err(|e| format!("--max-wait-ms {text}: {e}"))?;
                        args.max_wait = Duration::from_millis(ms);
                    }
                    _ => return Err(format!("unknown argument {flag}")),
                }
            }
        }
    }
    if args.model.is_some() && args.synthetic.is_some() {
        return Err("give one of --model PATH and --synthetic NAME, not both".into());
    }
    Ok(args)
}

/// What the warm-up request asks: one short window, so that the first user request finds
/// the weights' pages mapped and the kernels' buffers sized.
const WARM_QUESTION: &str = "Who wrote the book?";
const WARM_CONTEXT: &str = "The book was written by Ada Lovelace in 1843, in London.";

/// Loads the model, answers one warm-up request, and starts the engine.
fn load_engine(args: &Args, state: &AppState) -> Result<Engine, String> {
    let t0 = Instant::now();
    let options = LoadOptions {
        // A packed file maps with no pass over its values; a checkpoint is validated.
        validate_values: !args.model.as_ref().is_some_and(|p| p.is_file()),
        precision: args.precision,
        int8_plan: args.int8_plan,
        ..LoadOptions::default()
    };
    let model = match (&args.model, &args.synthetic) {
        (Some(path), _) => QaModel::load_with(path, &options),
        (None, Some(name)) => QaModel::synthetic_with(name, 0, &options),
        // Neither: the model in the Hugging Face cache (bertqa::load::hub), else the bundled small
        // model, saying which; never downloads here.
        (None, None) => QaModel::load_default(true, &options).map(|(model, which)| {
            eprintln!("serve: {}", which.note());
            model
        }),
    }
    .map_err(|e| e.to_string())?;
    eprintln!("serve: {}", model.bert().kernels_description());
    model
        .answer(WARM_QUESTION, WARM_CONTEXT, &QaOptions::default())
        .map_err(|e| format!("the warm-up request failed: {e}"))?;
    model.set_stage_timing(true);
    let model = Arc::new(model);
    let took = t0.elapsed();
    state.metrics.loaded(took);
    eprintln!(
        "serve: model loaded and warm in {:.2} s",
        took.as_secs_f64()
    );
    let options = QaOptions::default();
    if args.batching {
        let config = BatchConfig {
            max_batch_tokens: args.max_batch_tokens,
            max_wait: args.max_wait,
        };
        Engine::batched(model, options, config, Arc::clone(&state.metrics))
            .map_err(|e| format!("cannot start the batching thread: {e}"))
    } else {
        Ok(Engine::direct(model, options, args.max_inflight))
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets requests in flight finish,
/// and returns.
async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let s = Arc::clone(&state);
    axum::serve(listener, service::app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            s.begin_shutdown();
            eprintln!("serve: shutting down: no new connections; finishing requests in flight");
        })
        .await
}

/// SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("serve: cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        });
    eprintln!(
        "serve: listening on http://{} (POST /answer, GET /healthz /readyz /metrics)",
        listener.local_addr().expect("bound socket has an address")
    );
    let state = AppState::new(args.max_queue, args.log_requests);
    let loading = Arc::clone(&state);
    tokio::task::spawn_blocking(move || match load_engine(&args, &loading) {
        Ok(engine) => {
            loading.set_engine(engine);
            eprintln!("serve: ready");
        }
        Err(e) => {
            eprintln!("serve: {e}");
            std::process::exit(1);
        }
    });
    if let Err(e) = run(listener, state, stop_signal()).await {
        eprintln!("serve: {e}");
        std::process::exit(1);
    }
    eprintln!("serve: stopped");
}
