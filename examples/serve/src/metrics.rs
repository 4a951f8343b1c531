//! The service's Prometheus metrics (`GET /metrics`), kept with `prometheus-client`, the
//! Prometheus project's own Rust client: typed counters, gauges and histograms in a registry,
//! encoded as OpenMetrics text, which Prometheus scrapes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

/// Why a request's remaining work was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Its `timeout_ms` passed.
    Deadline,
    /// Its client went away.
    Cancelled,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabel, Counter>,
    latency: Histogram,
    queue_wait: Histogram,
    batch_requests: Histogram,
    batch_tokens: Histogram,
    /// Requests accepted and waiting for the model.
    pub queue_depth: Gauge,
    dropped: Family<ReasonLabel, Counter>,
    stage_seconds: Family<StageLabel, Counter<f64, AtomicU64>>,
    load_seconds: Gauge<f64, AtomicU64>,
    ready: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry holding every metric, all zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "bertqa_requests",
            "POST /answer requests answered, by HTTP status",
            requests.clone(),
        );
        // 1 ms to 32 s, doubling.
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register_with_unit(
            "bertqa_request_duration",
            "Time from a POST /answer request read to its response, per request",
            Unit::Seconds,
            latency.clone(),
        );
        let queue_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register_with_unit(
            "bertqa_queue_wait",
            "Time a request waited for the model (batching gather included)",
            Unit::Seconds,
            queue_wait.clone(),
        );
        let batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        registry.register(
            "bertqa_batch_requests",
            "Requests per batch run by the model",
            batch_requests.clone(),
        );
        let batch_tokens = Histogram::new(exponential_buckets(32.0, 2.0, 10));
        registry.register(
            "bertqa_batch_tokens",
            "Tokens (all windows, special tokens included) per batch run by the model",
            batch_tokens.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "bertqa_queue_depth",
            "Requests accepted and waiting for the model",
            queue_depth.clone(),
        );
        let dropped = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "bertqa_requests_dropped",
            "Requests whose windows not yet run were dropped: deadline passed, or client gone",
            dropped.clone(),
        );
        let stage_seconds = Family::<StageLabel, Counter<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "bertqa_stage",
            "Forward-pass time per stage, summed over layers and passes (bertqa::StageTimes)",
            Unit::Seconds,
            stage_seconds.clone(),
        );
        let load_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "bertqa_model_load",
            "Time to load the model and run its warm-up request",
            Unit::Seconds,
            load_seconds.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "bertqa_ready",
            "1 once the model is loaded and warm, 0 before and while shutting down",
            ready.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            queue_wait,
            batch_requests,
            batch_tokens,
            queue_depth,
            dropped,
            stage_seconds,
            load_seconds,
            ready,
        }
    }

    /// One answered request.
    pub fn request(&self, status: u16, took: Duration) {
        self.requests.get_or_create(&StatusLabel { status }).inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// One batch the model ran.
    pub fn batch(&self, requests: usize, tokens: usize, waits: impl Iterator<Item = Duration>) {
        self.batch_requests.observe(requests as f64);
        self.batch_tokens.observe(tokens as f64);
        for w in waits {
            self.queue_wait.observe(w.as_secs_f64());
        }
    }

    /// One request dropped.
    pub fn dropped(&self, why: Dropped) {
        let reason = match why {
            Dropped::Deadline => "deadline",
            Dropped::Cancelled => "cancelled",
        };
        self.dropped.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Adds the model's per-stage times.
    pub fn stages(&self, t: &bertqa::StageTimes) {
        for (stage, d) in t.entries() {
            self.stage_seconds
                .get_or_create(&StageLabel { stage })
                .inc_by(d.as_secs_f64());
        }
    }

    /// The model is loaded (in `took`) and warm.
    pub fn loaded(&self, took: Duration) {
        self.load_seconds.set(took.as_secs_f64());
    }

    /// Readiness, as `/readyz` reports it.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
