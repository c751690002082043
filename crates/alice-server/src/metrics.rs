//! The one metrics registry of an Alice process, and `GET /metrics` that serves it in the
//! OpenMetrics text format Prometheus reads.
//!
//! Two kinds of series live here:
//! - **recorded** as requests happen: HTTP requests and latency per route and status, the
//!   gateway's own overhead, time to first token, time spent waiting on backends, and the LLM
//!   router's counters ([`alice_llm::LlmMetrics`], registered here);
//! - **read when scraped**, by collectors, from the state that already holds them: the
//!   Guardian's state, level and readings, each backend's breaker and queue, the process's
//!   memory and open files. Reading at scrape time means no copy can go stale.
//!
//! Beside the registry, [`LatencyWindows`] keeps the last fifteen minutes of requests in HDR
//! histograms for `GET /api/metrics/summary`.
//!
//! A registry per server (not a global recorder) keeps several Alice servers in one test
//! process from counting into each other. Every latency histogram uses
//! [`alice_core::latency_buckets`], fine enough to read p99.9 between 1 ms and 60 s.

use crate::AppState;
use crate::guardian_remote::RemoteView;
use crate::latency_windows::{LatencyWindows, Summary};
use alice_cache::{CacheMetrics, ResponseCache};
use alice_core::latency_buckets::latency_buckets;
use alice_core::personal_number;
use alice_guardian::{GuardianState, Snapshot};
use alice_llm::{BreakerState, LlmMetrics, LlmRouter};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    /// The route's pattern (`/api/conversations/{id}`), not the path, so ids do not multiply
    /// series; "unmatched" for paths no route serves.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabel {
    /// "native" (`/api/chat`) or "openai" (`/v1/chat/completions`).
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    /// "turn": a question and its answer (and the conversation, when new), one transaction.
    operation: &'static str,
    /// "ok" or "error".
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and the series recorded as requests happen.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HttpLabels>,
    overhead: HistogramFamily<RouteLabel>,
    first_token: HistogramFamily<ApiLabel>,
    upstream: HistogramFamily<ApiLabel>,
    store_write: HistogramFamily<StoreLabels>,
    /// The router's own series; handed to the router when it is built.
    llm: LlmMetrics,
    /// The cache's series; handed to the cache when it is built.
    cache: CacheMetrics,
    /// Requests of the last fifteen minutes, for the summary.
    windows: LatencyWindows,
}

/// Where the Guardian's state is read from at scrape time.
pub enum GuardianSource {
    Local(watch::Receiver<Arc<Snapshot>>),
    Remote(watch::Receiver<RemoteView>),
    Off,
}

impl Metrics {
    /// A registry with every recorded family; collectors are added by [`Metrics::watch`] once
    /// the router and the Guardian exist.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("alice");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration: HistogramFamily<HttpLabels> =
            Family::new_with_constructor(latency_histogram);
        let overhead: HistogramFamily<RouteLabel> = Family::new_with_constructor(latency_histogram);
        let first_token: HistogramFamily<ApiLabel> =
            Family::new_with_constructor(latency_histogram);
        let upstream: HistogramFamily<ApiLabel> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to the end of its response (for streams, the last \
             event)",
            http_duration.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Alice's own share of a request's time: total minus the time spent waiting on \
             backends",
            overhead.clone(),
        );
        registry.register(
            "chat_first_token_seconds",
            "Time from receiving a chat request to the first token of its answer",
            first_token.clone(),
        );
        registry.register(
            "chat_upstream_seconds",
            "Time a chat request spent waiting on backends, queue included",
            upstream.clone(),
        );
        let store_write: HistogramFamily<StoreLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "store_write_seconds",
            "Time to write to the store, per operation and outcome (a turn is one transaction)",
            store_write.clone(),
        );
        let llm = LlmMetrics::register(&mut registry);
        let cache = CacheMetrics::register(&mut registry);
        Self {
            registry,
            http_requests,
            http_duration,
            overhead,
            first_token,
            upstream,
            store_write,
            llm,
            cache,
            windows: LatencyWindows::new(Instant::now()),
        }
    }

    /// The router's series, to build the router with.
    pub fn llm(&self) -> LlmMetrics {
        self.llm.clone()
    }

    /// The cache's series, to build the cache with.
    pub fn cache(&self) -> CacheMetrics {
        self.cache.clone()
    }

    /// Adds the collectors that read the router, the Guardian, the cache and the process at
    /// scrape time.
    pub fn watch(
        &mut self,
        router: Arc<LlmRouter>,
        guardian: GuardianSource,
        cache: Option<Arc<ResponseCache>>,
        store: alice_store::Store,
    ) {
        self.registry
            .register_collector(Box::new(BackendCollector(router)));
        self.registry
            .register_collector(Box::new(GuardianCollector(guardian)));
        if let Some(cache) = cache {
            self.registry
                .register_collector(Box::new(CacheCollector(cache)));
        }
        self.registry
            .register_collector(Box::new(StoreCollector(store)));
        self.registry.register_collector(Box::new(ProcessCollector));
    }

    pub(crate) fn record_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        took: Duration,
        overhead: Duration,
    ) {
        // No label may carry an identity number. The method is whatever token the client sent;
        // the route is a pattern or "unmatched", masked too so no later change can leak one.
        // Both are short, so masking is a digit count.
        let route = personal_number::mask(route);
        let method = personal_number::mask(method);
        let labels = HttpLabels {
            route: route.to_string(),
            method: method.to_string(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.overhead
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(overhead.as_secs_f64());
        self.windows
            .record(Instant::now(), &route, status, took, overhead);
    }

    /// One write of a conversation turn to the store.
    pub(crate) fn record_turn_write(&self, took: Duration, ok: bool) {
        self.store_write
            .get_or_create(&StoreLabels {
                operation: "turn",
                outcome: if ok { "ok" } else { "error" },
            })
            .observe(took.as_secs_f64());
    }

    /// Percentiles and rates of the last 1, 5 and 15 minutes.
    pub fn summary(&self) -> Summary {
        self.windows.summary(Instant::now())
    }

    pub(crate) fn record_chat(
        &self,
        api: &'static str,
        first_token: Option<Duration>,
        upstream: Duration,
    ) {
        let label = ApiLabel { api };
        if let Some(first_token) = first_token {
            self.first_token
                .get_or_create(&label)
                .observe(first_token.as_secs_f64());
        }
        self.upstream
            .get_or_create(&label)
            .observe(upstream.as_secs_f64());
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(64 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /api/metrics/summary`: p50/p95/p99/p99.9 and rates over the last 1, 5 and 15
/// minutes, in total and per route.
pub async fn summary(State(state): State<AppState>) -> Json<Summary> {
    Json(state.metrics().summary())
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics().render() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response(),
        Err(_) => crate::error::ApiError::Internal.into_response(),
    }
}

fn gauge_family<L: EncodeLabelSet, V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: V,
) -> fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    backend: String,
    state: &'static str,
}

/// Each backend's breaker, slots and queue, from the router's status.
struct BackendCollector(Arc<LlmRouter>);

impl fmt::Debug for BackendCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackendCollector")
    }
}

impl Collector for BackendCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let backends = self.0.status();
        let breaker = backends.iter().flat_map(|b| {
            [
                (BreakerState::Closed, "closed"),
                (BreakerState::Open, "open"),
                (BreakerState::HalfOpen, "half_open"),
            ]
            .into_iter()
            .map(|(state, name)| {
                (
                    BreakerLabels {
                        backend: b.name.clone(),
                        state: name,
                    },
                    i64::from(b.breaker == state),
                )
            })
        });
        gauge_family(
            &mut encoder,
            "llm_breaker_state",
            "1 for the state each backend's circuit breaker is in",
            breaker,
        )?;
        let per_backend = |value: fn(&alice_llm::BackendStatus) -> usize| {
            backends
                .iter()
                .map(move |b| {
                    (
                        BackendLabel {
                            backend: b.name.clone(),
                        },
                        value(b) as i64,
                    )
                })
                .collect::<Vec<_>>()
        };
        gauge_family(
            &mut encoder,
            "llm_in_flight",
            "Requests each backend is generating now",
            per_backend(|b| b.in_flight),
        )?;
        gauge_family(
            &mut encoder,
            "llm_queued",
            "Requests waiting for a slot on each backend",
            per_backend(|b| b.queued),
        )?;
        gauge_family(
            &mut encoder,
            "llm_concurrency_limit",
            "Slots of each backend (the adaptive limit when it is on)",
            per_backend(|b| b.concurrency_limit),
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: &'static str,
}

const STATES: [GuardianState; 5] = [
    GuardianState::Normal,
    GuardianState::Brownout,
    GuardianState::Degraded,
    GuardianState::Emergency,
    GuardianState::Lockdown,
];

/// The Guardian's state, level and latest readings.
struct GuardianCollector(GuardianSource);

impl fmt::Debug for GuardianCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardianCollector")
    }
}

impl Collector for GuardianCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (state, level) = match &self.0 {
            GuardianSource::Local(snapshots) => {
                let snapshot = snapshots.borrow().clone();
                encode_local_guardian(&mut encoder, &snapshot)?;
                (snapshot.state(), snapshot.level())
            }
            GuardianSource::Remote(views) => {
                let view = views.borrow();
                (view.state, view.level)
            }
            GuardianSource::Off => return Ok(()),
        };
        gauge_family(
            &mut encoder,
            "guardian_state",
            "1 for the Guardian's current state",
            STATES.map(|s| (StateLabel { state: s.as_str() }, i64::from(s == state))),
        )?;
        gauge(
            &mut encoder,
            "guardian_brownout_level",
            "Brownout level answers are served at: 0 none, 1 light, 2 moderate, 3 heavy, 4 \
             emergency",
            level as i64,
        )
    }
}

fn encode_local_guardian(encoder: &mut DescriptorEncoder<'_>, snapshot: &Snapshot) -> fmt::Result {
    let machine = &snapshot.machine;
    counter(
        encoder,
        "guardian_samples",
        "Samples the Guardian has taken",
        machine.samples_seen(),
    )?;
    counter(
        encoder,
        "guardian_transitions",
        "State changes since start",
        machine.transitions_made(),
    )?;
    gauge(
        encoder,
        "guardian_unknown_streak",
        "Samples in a row without a RAM or CPU reading",
        i64::from(machine.unknown_streak()),
    )?;
    if let Some(sample) = machine.last_sample() {
        let readings = [
            ("ram", sample.ram_pct),
            ("cpu", sample.cpu_pct),
            ("disk", sample.disk_pct),
        ]
        .into_iter()
        .filter_map(|(resource, value)| value.map(|v| (ResourceLabel { resource }, v)));
        gauge_family(
            encoder,
            "guardian_usage_ratio",
            "The latest reading of each resource, 0 to 1",
            readings,
        )?;
        if let Some(temp) = sample.temp_c {
            gauge(
                encoder,
                "guardian_temperature_celsius",
                "The hottest sensor at the latest sample",
                temp,
            )?;
        }
    }
    Ok(())
}

/// How much the cache holds in this process.
struct CacheCollector(Arc<ResponseCache>);

impl fmt::Debug for CacheCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheCollector")
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (entries, bytes) = self.0.usage();
        gauge(
            &mut encoder,
            "cache_entries",
            "Answers kept in this process",
            i64::try_from(entries).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "cache_bytes",
            "Weight of the answers kept in this process, in bytes (each counts at least \
             max_bytes / max_entries)",
            i64::try_from(bytes).unwrap_or(i64::MAX),
        )
    }
}

/// The write batcher: transactions, turns written and failed, turns waiting.
#[derive(Debug)]
struct StoreCollector(alice_store::Store);

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.0.batch_counters();
        counter(
            &mut encoder,
            "store_batches",
            "Transactions the write batcher committed",
            counters.batches.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "store_turns_written",
            "Chat turns the write batcher committed",
            counters.turns.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "store_turns_failed",
            "Chat turns the write batcher could not write (their requests were answered 503)",
            counters.failed.load(Relaxed),
        )?;
        gauge(
            &mut encoder,
            "store_queued_turns",
            "Chat turns waiting for the write batcher",
            i64::try_from(self.0.queued_turns()).unwrap_or(i64::MAX),
        )
    }
}

/// This process's resident memory and open file descriptors, from /proc/self. Absent on
/// systems without /proc.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        if let Some(bytes) = resident_bytes() {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory of the Alice process",
                bytes as i64,
            )?;
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors of the Alice process",
                entries.count() as i64,
            )?;
        }
        Ok(())
    }
}

/// VmRSS from /proc/self/status, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
