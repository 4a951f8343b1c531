//! The service driven in-process (tower's `oneshot`) and over loopback sockets, with the tiny
//! synthetic model.

use crate::batch::{BatchConfig, Engine};
use crate::service::{app, AppState, BODY_LIMIT};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use bertqa::{NullAnswer, QaModel, QaOptions};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn tiny() -> Arc<QaModel> {
    let model = QaModel::synthetic("tiny", 0).unwrap();
    model.set_stage_timing(true);
    Arc::new(model)
}

/// A ready service: batching with `max_wait` (None: no batching).
fn service(max_wait: Option<Duration>, max_batch_tokens: usize) -> Arc<AppState> {
    let state = AppState::new(256, false);
    let engine = match max_wait {
        Some(max_wait) => Engine::batched(
            tiny(),
            QaOptions::default(),
            BatchConfig {
                max_batch_tokens,
                max_wait,
            },
            Arc::clone(&state.metrics),
        )
        .unwrap(),
        None => Engine::direct(tiny(), QaOptions::default(), 2),
    };
    state.set_engine(engine);
    state
}

/// Sends one request to the router around `state`.
async fn call(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(body.into())
        .unwrap();
    let resp = app(Arc::clone(state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn call_json(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, serde_json::Value) {
    let (status, text) = call(state, method, uri, body).await;
    (status, serde_json::from_str(&text).unwrap())
}

/// The library's answers to `q` about `c`, as JSON text would carry them.
fn alone(q: &str, c: &str, top_k: usize) -> serde_json::Value {
    alone_with(q, c, top_k, NullAnswer::Never)["spans"].clone()
}

/// The library's `Answers` (`{"spans", "null"}`) to `q` about `c` under a null-answer rule, as
/// JSON text would carry them.
fn alone_with(q: &str, c: &str, top_k: usize, null_answer: NullAnswer) -> serde_json::Value {
    let options = QaOptions {
        top_k,
        null_answer,
        ..QaOptions::default()
    };
    let answers = QaModel::synthetic("tiny", 0)
        .unwrap()
        .answer(q, c, &options)
        .unwrap();
    // Through JSON text, as the server sends it (f32s print shortest).
    serde_json::from_str(&serde_json::to_string(&answers).unwrap()).unwrap()
}

/// /metrics, parsed as a Prometheus scraper reads it. Every line must be a HELP, TYPE or
/// sample line (or OpenMetrics' UNIT and EOF).
async fn scrape(state: &Arc<AppState>) -> prometheus_parse::Scrape {
    let (status, text) = call(state, "GET", "/metrics", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    for line in text.lines() {
        let parsed = prometheus_parse::LineInfo::parse(line);
        assert!(
            !matches!(parsed, prometheus_parse::LineInfo::Ignored)
                || line.starts_with("# UNIT ")
                || line == "# EOF",
            "not Prometheus text: {line:?}"
        );
    }
    assert_eq!(text.lines().last(), Some("# EOF"));
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// A counter's or gauge's value (0 when absent), by name and optional label.
fn value(s: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .map(|x| match x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a number"),
        })
        .sum()
}

/// One request dropped for `reason`, and no batch ever ran.
async fn dropped_and_never_run(state: &Arc<AppState>, reason: &str) {
    let m = scrape(state).await;
    let dropped = value(
        &m,
        "bertqa_requests_dropped_total",
        Some(("reason", reason)),
    );
    assert_eq!(dropped, 1.0, "dropped for {reason}");
    assert_eq!(value(&m, "bertqa_batch_requests_count", None), 0.0);
}

fn body(q: &str, c: &str, top_k: usize) -> String {
    serde_json::json!({ "question": q, "context": c, "top_k": top_k }).to_string()
}

const CASES: [(&str, &str, usize); 6] = [
    (
        "Who wrote it?",
        "The book was written by Ada Lovelace in 1843.",
        3,
    ),
    ("When?", "The book was written by Ada Lovelace in 1843.", 1),
    (
        "Where is the tower?",
        "The Eiffel Tower stands in Paris, on the Champ de Mars.",
        2,
    ),
    (
        "What covers the basin?",
        "A moist broadleaf forest covers most of the Amazon basin.",
        1,
    ),
    (
        "Who?",
        "Marie Curie won two Nobel prizes, in physics and in chemistry.",
        5,
    ),
    (
        "How tall?",
        "The mountain is 8,849 metres tall and lies between Nepal and China.",
        1,
    ),
];

#[tokio::test]
async fn answers_as_the_library_does() {
    for state in [service(Some(Duration::ZERO), 1536), service(None, 1536)] {
        let (q, c, k) = CASES[0];
        let (status, json) = call_json(&state, "POST", "/answer", body(q, c, k)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["answers"], alone(q, c, k));
        assert_eq!(json["answers"].as_array().unwrap().len(), 3);
        let (status, json) = call_json(&state, "GET", "/healthz", Body::empty()).await;
        assert_eq!(
            (status, json),
            (StatusCode::OK, serde_json::json!({"status": "ok"}))
        );
    }
}

/// Requests sent together are run as batches — one batch when they fit its token budget,
/// several when they do not — and each gets exactly the answers it gets alone.
#[tokio::test]
async fn batched_requests_get_the_answers_they_get_alone() {
    // (budget, fewest batches): everything fits; at most two requests per batch (each has
    // 17 tokens or more).
    for (budget, min_batches) in [(100_000, 1.0), (40, 3.0)] {
        // The first request waits up to 1 s for the others, which arrive within milliseconds.
        let state = service(Some(Duration::from_secs(1)), budget);
        let handles: Vec<_> = CASES
            .iter()
            .map(|&(q, c, k)| {
                let state = Arc::clone(&state);
                tokio::spawn(
                    async move { call_json(&state, "POST", "/answer", body(q, c, k)).await },
                )
            })
            .collect();
        for (h, &(q, c, k)) in handles.into_iter().zip(&CASES) {
            let (status, json) = h.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{json}");
            assert_eq!(json["answers"], alone(q, c, k), "budget {budget}: {q}");
        }
        let m = scrape(&state).await;
        let batches = value(&m, "bertqa_batch_requests_count", None);
        assert_eq!(
            value(&m, "bertqa_batch_requests_sum", None),
            CASES.len() as f64
        );
        if min_batches == 1.0 {
            assert_eq!(batches, 1.0, "all six in one batch");
        } else {
            assert!(
                batches >= min_batches,
                "{batches} batches at a {budget}-token budget"
            );
        }
        assert_eq!(
            value(&m, "bertqa_requests_total", Some(("status", "200"))),
            6.0
        );
    }
}

#[tokio::test]
async fn errors_are_json_with_their_status() {
    let state = service(Some(Duration::ZERO), 1536);
    let long = "word ".repeat(70_000);
    let too_many_windows = body("q", &long, 1);
    let cases = [
        (
            r#"{"question": "", "context": "text"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "question is empty",
        ),
        (
            r#"{"question": "q", "context": " "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "context is empty",
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
        (
            r#"{"question": "q", "context": "text", "timeout_ms": -1}"#,
            StatusCode::BAD_REQUEST,
            "timeout_ms",
        ),
        ("not json", StatusCode::BAD_REQUEST, "invalid request body"),
        (
            too_many_windows.as_str(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "max_windows",
        ),
        (
            r#"{"question": "q", "context": "text", "timeout_ms": 0}"#,
            StatusCode::GATEWAY_TIMEOUT,
            "timeout_ms passed",
        ),
    ];
    for (body, status, needle) in cases {
        let (got, json) = call_json(&state, "POST", "/answer", body.to_string()).await;
        assert_eq!(got, status, "{}: {json}", &body[..body.len().min(80)]);
        assert!(json["error"].as_str().unwrap().contains(needle), "{json}");
    }
    // None of them reached the model.
    let m = scrape(&state).await;
    assert_eq!(value(&m, "bertqa_batch_requests_count", None), 0.0);
    for (status, n) in [("400", 4.0), ("422", 2.0), ("413", 1.0), ("504", 1.0)] {
        assert_eq!(
            value(&m, "bertqa_requests_total", Some(("status", status))),
            n,
            "{status}"
        );
    }
    let big = format!(
        r#"{{"question": "q", "context": "{}"}}"#,
        "a ".repeat(BODY_LIMIT)
    );
    let (status, json) = call_json(&state, "POST", "/answer", big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(json["error"].as_str().unwrap().contains("limit"), "{json}");
    let (status, _) = call(&state, "GET", "/nope", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, json) = call_json(&state, "GET", "/answer", Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(json["error"].is_string());
}

/// A request whose deadline passes while it waits gets 504 at its deadline, and its work is
/// dropped: the model never runs it.
#[tokio::test]
async fn a_deadline_passed_in_the_queue_is_504_and_dropped() {
    // The model waits 400 ms for companions before it runs what it has.
    let state = service(Some(Duration::from_millis(400)), 1536);
    let (q, c, _) = CASES[0];
    let req = serde_json::json!({ "question": q, "context": c, "timeout_ms": 50 }).to_string();
    let t0 = Instant::now();
    let (status, json) = call_json(&state, "POST", "/answer", req).await;
    let took = t0.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("timeout_ms"),
        "{json}"
    );
    assert!(
        took < Duration::from_millis(350),
        "answered at its deadline, not after: {took:?}"
    );
    // Once the gathering ends, the batcher finds it expired and runs nothing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    dropped_and_never_run(&state, "deadline").await;
    let depth = value(&scrape(&state).await, "bertqa_queue_depth", None);
    assert_eq!(depth, 0.0);
    // A generous deadline is met.
    let req = serde_json::json!({ "question": q, "context": c, "timeout_ms": 30_000 }).to_string();
    let (status, json) = call_json(&state, "POST", "/answer", req).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["answers"], alone(q, c, 1));
}

/// The metrics a scraper sees after a few requests: counts by status, the latency histogram,
/// batch sizes, per-stage model time, load time and readiness.
#[tokio::test]
async fn metrics_are_prometheus_text() {
    let state = service(Some(Duration::ZERO), 1536);
    state.metrics.loaded(Duration::from_millis(1234));
    for &(q, c, k) in &CASES[..3] {
        assert_eq!(
            call(&state, "POST", "/answer", body(q, c, k)).await.0,
            StatusCode::OK
        );
    }
    let _ = call(&state, "POST", "/answer", "{}").await;
    let m = scrape(&state).await;
    assert_eq!(
        value(&m, "bertqa_requests_total", Some(("status", "200"))),
        3.0
    );
    assert_eq!(
        value(&m, "bertqa_requests_total", Some(("status", "400"))),
        1.0
    );
    let latency = m
        .samples
        .iter()
        .find(|s| s.metric == "bertqa_request_duration_seconds")
        .expect("the latency histogram");
    let prometheus_parse::Value::Histogram(buckets) = &latency.value else {
        panic!("not a histogram: {latency:?}");
    };
    assert_eq!(
        buckets.last().map(|b| (b.less_than, b.count)),
        Some((f64::INFINITY, 4.0))
    );
    assert_eq!(
        value(&m, "bertqa_request_duration_seconds_count", None),
        4.0
    );
    assert_eq!(value(&m, "bertqa_batch_requests_sum", None), 3.0);
    assert!(value(&m, "bertqa_batch_tokens_sum", None) > 3.0 * 10.0);
    assert!(value(&m, "bertqa_stage_seconds_total", Some(("stage", "ffn_up"))) > 0.0);
    assert_eq!(value(&m, "bertqa_model_load_seconds", None), 1.234);
    assert_eq!(value(&m, "bertqa_ready", None), 1.0);
    assert!(
        m.docs.contains_key("bertqa_request_duration_seconds"),
        "HELP lines"
    );
}

/// Before the model is loaded: alive, not ready, /answer 503. Once loaded: ready. Shutting
/// down: not ready.
#[tokio::test]
async fn ready_only_once_loaded() {
    let state = AppState::new(256, false);
    let (status, json) = call_json(&state, "GET", "/readyz", Body::empty()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(json["why"], "loading the model");
    assert_eq!(
        call(&state, "GET", "/healthz", Body::empty()).await.0,
        StatusCode::OK
    );
    let (q, c, k) = CASES[0];
    let (status, json) = call_json(&state, "POST", "/answer", body(q, c, k)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(value(&scrape(&state).await, "bertqa_ready", None), 0.0);
    state.set_engine(Engine::direct(tiny(), QaOptions::default(), 1));
    assert_eq!(
        call(&state, "GET", "/readyz", Body::empty()).await.0,
        StatusCode::OK
    );
    assert_eq!(value(&scrape(&state).await, "bertqa_ready", None), 1.0);
    state.begin_shutdown();
    let (status, json) = call_json(&state, "GET", "/readyz", Body::empty()).await;
    assert_eq!(
        (status, json["why"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting down"))
    );
}

/// The service on a loopback socket, stopped by the returned sender.
async fn listen(
    state: &Arc<AppState>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::run(listener, Arc::clone(state), async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

fn raw_request(body: &str) -> String {
    format!(
        "POST /answer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A client that hangs up while its request waits cancels it: the model never runs it.
#[tokio::test]
async fn a_client_that_disconnects_cancels_its_work() {
    let state = service(Some(Duration::from_millis(400)), 1536);
    let (addr, _stop, _server) = listen(&state).await;
    let (q, c, k) = CASES[0];
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw_request(&body(q, c, k)).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(700)).await;
    dropped_and_never_run(&state, "cancelled").await;
}

/// Graceful shutdown: once it begins the service is not ready and takes no new connections,
/// but the request in flight is answered in full.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let state = service(Some(Duration::from_millis(300)), 1536);
    let (addr, stop, server) = listen(&state).await;
    let (q, c, k) = CASES[0];
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw_request(&body(q, c, k)).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        call(&state, "GET", "/readyz", Body::empty()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let json: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["answers"], alone(q, c, k));
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Null answers are chosen per request: requests with different rules share a batch, and each
/// gets the library's verdict under its own rule, with the null scores; a request without one
/// gets no null fields.
#[tokio::test]
async fn null_answers_per_request() {
    let state = service(Some(Duration::from_millis(300)), 100_000);
    let (q, c, k) = CASES[0];
    let rules: [(serde_json::Value, NullAnswer); 5] = [
        (serde_json::json!({}), NullAnswer::Never),
        (
            serde_json::json!({"null_score_diff_threshold": 0.0}),
            NullAnswer::ScoreDiff { threshold: 0.0 },
        ),
        // Any span beats a null that must win by 1e6, and a null that may lose by 1e6 wins.
        (
            serde_json::json!({"null_score_diff_threshold": 1e6}),
            NullAnswer::ScoreDiff { threshold: 1e6 },
        ),
        (
            serde_json::json!({"null_score_diff_threshold": -1e6}),
            NullAnswer::ScoreDiff { threshold: -1e6 },
        ),
        (
            serde_json::json!({"handle_impossible_answer": true}),
            NullAnswer::Pipeline,
        ),
    ];
    let handles: Vec<_> = rules
        .iter()
        .map(|(extra, _)| {
            let mut req = serde_json::json!({ "question": q, "context": c, "top_k": k });
            for (key, v) in extra.as_object().unwrap() {
                req[key] = v.clone();
            }
            let state = Arc::clone(&state);
            tokio::spawn(async move { call_json(&state, "POST", "/answer", req.to_string()).await })
        })
        .collect();
    let mut verdicts = Vec::new();
    for (h, (_, rule)) in handles.into_iter().zip(&rules) {
        let (status, json) = h.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{json}");
        let want = alone_with(q, c, k, *rule);
        assert_eq!(json["answers"], want["spans"], "{rule:?}");
        if *rule == NullAnswer::Never {
            assert!(
                json.get("null").is_none() && json.get("no_answer").is_none(),
                "{json}"
            );
        } else {
            assert_eq!(json["null"], want["null"], "{rule:?}");
            assert_eq!(json["no_answer"], want["null"]["wins"], "{rule:?}");
            verdicts.push(json["no_answer"].as_bool().unwrap());
        }
    }
    assert_eq!(verdicts[1..3], [false, true]);
    // They ran together.
    assert!(value(&scrape(&state).await, "bertqa_batch_requests_count", None) < 5.0);
    // Two rules at once: refused before any model work.
    let both = serde_json::json!({
        "question": q, "context": c,
        "null_score_diff_threshold": 0.0, "handle_impossible_answer": true,
    });
    let (status, json) = call_json(&state, "POST", "/answer", both.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("give one"),
        "{json}"
    );
}
