//! `loadtest`: a bounded closed-loop load generator for `serve`.
//!
//! ```text
//! loadtest [--addr 127.0.0.1:8080] [--concurrency 1,4,16] [--requests 200] [--seconds 30]
//!          [--warmup 5] [--context-words N]
//! ```
//!
//! For each concurrency level C: C workers, each on its own keep-alive HTTP/1.1 connection,
//! send `POST /answer` back to back until `--requests` requests are done or `--seconds` have
//! passed, whichever comes first. Prints one Markdown table row per level: requests completed,
//! errors (non-200 or failed), throughput, latency percentiles (nearest rank), and — from the
//! service's `/metrics`, read before and after the level — the mean requests and tokens per
//! batch the model ran.
//! Only loopback addresses are accepted.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One connection's request sender.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// `POST /answer` with a JSON body.
fn request(addr: SocketAddr, body: &Bytes) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post("/answer")
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.clone()))
        .expect("a valid request")
}

/// The paragraph asked about: the start of SQuAD's "Amazon rainforest" article.
const PARAGRAPH: &str = "The Amazon rainforest (Portuguese: Floresta Amazônica or Amazônia; \
Spanish: Selva Amazónica, Amazonía or usually Amazonia; French: Forêt amazonienne; Dutch: \
Amazoneregenwoud), also known in English as Amazonia or the Amazon Jungle, is a moist broadleaf \
forest that covers most of the Amazon basin of South America. This basin encompasses 7,000,000 \
square kilometres (2,700,000 sq mi), of which 5,500,000 square kilometres (2,100,000 sq mi) are \
covered by the rainforest. This region includes territory belonging to nine nations. The \
majority of the forest is contained within Brazil, with 60% of the rainforest, followed by Peru \
with 13%, Colombia with 10%, and with minor amounts in Venezuela, Ecuador, Bolivia, Guyana, \
Suriname and French Guiana.";

const QUESTION: &str = "How many square kilometres of the Amazon basin are rainforest?";

struct Config {
    addr: SocketAddr,
    levels: Vec<usize>,
    requests: usize,
    seconds: f64,
    warmup: usize,
    context_words: Option<usize>,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        levels: vec![1, 4, 16],
        requests: 200,
        seconds: 30.0,
        warmup: 5,
        context_words: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => c.addr = value.parse().map_err(|e| bad(&e))?,
            "--concurrency" => {
                c.levels = value
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| bad(&e))?
            }
            "--requests" => c.requests = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => c.seconds = value.parse().map_err(|e| bad(&e))?,
            "--warmup" => c.warmup = value.parse().map_err(|e| bad(&e))?,
            "--context-words" => c.context_words = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if !c.addr.ip().is_loopback() {
        return Err(format!("{} is not a loopback address", c.addr));
    }
    if c.levels.contains(&0) || c.requests == 0 || !c.seconds.is_finite() || c.seconds <= 0.0 {
        return Err("concurrency levels, --requests and --seconds must be positive".into());
    }
    Ok(c)
}

/// The context: the paragraph, or its words repeated to `words` words.
fn context(words: Option<usize>) -> String {
    match words {
        None => PARAGRAPH.to_string(),
        Some(n) => PARAGRAPH
            .split_whitespace()
            .cycle()
            .take(n)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What one worker saw.
#[derive(Default)]
struct WorkerResult {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Sends requests on one connection while `remaining` has some and `deadline` is ahead.
async fn worker(
    addr: SocketAddr,
    body: Bytes,
    remaining: Arc<AtomicUsize>,
    deadline: Instant,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    let fail = |out: &mut WorkerResult, e: String| {
        out.errors += 1;
        out.first_error.get_or_insert(e);
    };
    let mut sender = None;
    while Instant::now() < deadline
        && remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    {
        let t0 = Instant::now();
        if sender.is_none() {
            match connect(addr).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    fail(&mut out, e);
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let result = async {
            let resp = s
                .send_request(request(addr, &body))
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status != hyper::StatusCode::OK {
                return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => out.latencies.push(t0.elapsed()),
            Err(e) => {
                fail(&mut out, e);
                sender = None; // reconnect
            }
        }
    }
    out
}

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Runs `requests` requests (at most `seconds`) at concurrency `c`.
async fn level(cfg: &Config, body: &Bytes, c: usize, requests: usize) -> (WorkerResult, Duration) {
    let remaining = Arc::new(AtomicUsize::new(requests));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(cfg.seconds);
    let handles: Vec<_> = (0..c)
        .map(|_| {
            tokio::spawn(worker(
                cfg.addr,
                body.clone(),
                Arc::clone(&remaining),
                deadline,
            ))
        })
        .collect();
    let mut all = WorkerResult::default();
    for h in handles {
        let r = h.await.expect("worker panicked");
        all.latencies.extend(r.latencies);
        all.errors += r.errors;
        if all.first_error.is_none() {
            all.first_error = r.first_error;
        }
    }
    (all, start.elapsed())
}

/// The service's batch counters from `GET /metrics`: (requests in batches, batches, tokens in
/// batches); `None` if it has no such metrics.
async fn batch_counters(addr: SocketAddr) -> Option<(f64, f64, f64)> {
    let mut sender = connect(addr).await.ok()?;
    let req = hyper::Request::get("/metrics")
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(Bytes::new()))
        .ok()?;
    let resp = sender.send_request(req).await.ok()?;
    if resp.status() != hyper::StatusCode::OK {
        return None;
    }
    let text = resp.into_body().collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&text);
    let get = |name: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        })
    };
    Some((
        get("bertqa_batch_requests_sum")?,
        get("bertqa_batch_requests_count")?,
        get("bertqa_batch_tokens_sum")?,
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let cfg = parse_args().unwrap_or_else(|e| {
        eprintln!("loadtest: {e}");
        std::process::exit(2);
    });
    let ctx = context(cfg.context_words);
    let body: Bytes = serde_json::to_vec(&serde_json::json!({
        "question": QUESTION, "context": ctx, "top_k": 1
    }))
    .expect("JSON")
    .into();
    eprintln!(
        "loadtest: {} — context {} words, {} bytes per request; levels {:?}, each ≤ {} requests and ≤ {} s",
        cfg.addr,
        ctx.split_whitespace().count(),
        body.len(),
        cfg.levels,
        cfg.requests,
        cfg.seconds
    );
    println!(
        "| concurrency | requests | errors | seconds | req/s | p50 ms | p90 ms | p99 ms | max ms | requests/batch | tokens/batch |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for &c in &cfg.levels {
        if cfg.warmup > 0 {
            let (w, _) = level(&cfg, &body, c, cfg.warmup.max(c)).await;
            if let Some(e) = w.first_error {
                eprintln!("loadtest: warm-up at concurrency {c} failed: {e}");
                std::process::exit(1);
            }
        }
        let before = batch_counters(cfg.addr).await;
        let (mut r, elapsed) = level(&cfg, &body, c, cfg.requests).await;
        // Mean batch over this level's requests alone (the service's counters, differenced).
        let batches = match (before, batch_counters(cfg.addr).await) {
            (Some(b), Some(a)) if a.1 > b.1 => format!(
                "{:.2} | {:.0}",
                (a.0 - b.0) / (a.1 - b.1),
                (a.2 - b.2) / (a.1 - b.1)
            ),
            _ => "- | -".to_string(),
        };
        r.latencies.sort();
        let secs = elapsed.as_secs_f64();
        println!(
            "| {c} | {} | {} | {secs:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {batches} |",
            r.latencies.len(),
            r.errors,
            r.latencies.len() as f64 / secs,
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 90.0),
            percentile(&r.latencies, 99.0),
            percentile(&r.latencies, 100.0),
        );
        if let Some(e) = r.first_error {
            eprintln!("loadtest: concurrency {c}: {} errors, first: {e}", r.errors);
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
