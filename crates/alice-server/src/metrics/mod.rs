//! The one metrics registry of an Alice process, which `GET /metrics` serves in the OpenMetrics
//! text format Prometheus reads (see [`Metrics::render`]).
//!
//! Two kinds of series live here:
//! - **recorded** as requests happen: HTTP requests and latency per route and status, the
//!   gateway's own overhead, time to first token, time spent waiting on backends, and the LLM
//!   router's counters ([`alice_llm::LlmMetrics`], registered here);
//! - **read when scraped**, by collectors, from the state that already holds them: the
//!   Guardian's state, level and readings (and the latency brownout's), each backend's breaker
//!   and queue, the process's memory and open files. Reading at scrape time means no copy can go stale.
//!
//! Beside the registry, [`LatencyWindows`] keeps the last fifteen minutes of requests in HDR
//! histograms for `GET /api/metrics/summary`.
//!
//! A registry per server (not a global recorder) keeps several Alice servers in one test
//! process from counting into each other. Every latency histogram uses
//! [`alice_core::latency_buckets`], fine enough to read p99.9 between 1 ms and 60 s.

mod collectors;
pub mod latency_windows;

use alice_cache::{CacheMetrics, ResponseCache};
use alice_core::latency_buckets::latency_buckets;
use alice_core::personal_number;
use alice_guardian::LatencyView;
use alice_llm::{LlmMetrics, LlmRouter};
pub use collectors::GuardianSource;
use collectors::{
    BackendCollector, CacheCollector, GuardianCollector, ProcessCollector, StoreCollector,
};
use latency_windows::{LatencyWindows, Summary};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// What happened to a request with an `Idempotency-Key`: "stored", "replayed", "conflict",
    /// "mismatch" or "released".
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RatingLabel {
    /// "up" or "down".
    rating: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExperimentOutcomeLabels {
    /// The experiment's name (from the configuration, so a bounded set).
    experiment: String,
    variant: String,
    /// "answered", "error" or "shed".
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExperimentRatingLabels {
    experiment: String,
    variant: String,
    /// "up" or "down".
    rating: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    /// How an answer was made: "intent" (Alice herself) or "model".
    route: String,
    /// The intent's name for route "intent" ("time", "timer", ...), "" for "model".
    intent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    /// "requests", "tokens" or "in_flight".
    limit: &'static str,
}

/// The limits of a key a request can be refused by, in the order the dashboard lists them.
const LIMITS: [&str; 3] = ["requests", "tokens", "in_flight"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ErrorLabels {
    /// [`crate::error::ApiError::code`] (the body's `code`), or "other" for an error status
    /// no `ApiError` made (a 503 of `/ready` or `/api/db/health`).
    code: &'static str,
    status: u16,
}

/// Error answers of one code and status since Alice started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCount {
    pub code: &'static str,
    pub status: u16,
    pub count: u64,
}

/// Routes whose requests are long-lived streams that last as long as a client watches
/// (`GET /api/events`): recorded like any route, but kept out of the summary's totals, whose
/// percentiles would otherwise report how long a dashboard was open as a request's latency.
const WATCHED_STREAMS: [&str; 1] = ["/api/events"];

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
    rate_limited: Family<LimitLabel, Counter>,
    idempotency: Family<OutcomeLabel, Counter>,
    feedback: Family<RatingLabel, Counter>,
    experiment_outcomes: Family<ExperimentOutcomeLabels, Counter>,
    experiment_feedback: Family<ExperimentRatingLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    routes: HistogramFamily<RouteLabels>,
    /// The label sets `errors` has, to read them back (a family cannot be listed).
    error_labels: Mutex<BTreeSet<ErrorLabels>>,
    /// The router's own series; handed to the router when it is built.
    llm: LlmMetrics,
    /// The cache's series; handed to the cache when it is built.
    cache: CacheMetrics,
    /// Requests of the last fifteen minutes, for the summary.
    windows: LatencyWindows,
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
        let rate_limited = Family::<LimitLabel, Counter>::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by a key's limits (auth.limits), by the limit they hit",
            rate_limited.clone(),
        );
        let idempotency = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "idempotency",
            "Chat requests with an Idempotency-Key, by outcome: answer stored for replay, \
             replayed, refused while the first still runs (409) or for another request under \
             the key (422), or key released so a retry runs again",
            idempotency.clone(),
        );
        let feedback = Family::<RatingLabel, Counter>::default();
        registry.register(
            "feedback",
            "Thumbs given on answers (PUT /api/messages/{id}/feedback), by rating; a changed \
             rating counts again",
            feedback.clone(),
        );
        let experiment_outcomes = Family::<ExperimentOutcomeLabels, Counter>::default();
        registry.register(
            "experiment_outcomes",
            "Chat requests an A/B experiment assigned a variant to, by experiment, variant and \
             outcome (answered, error, shed)",
            experiment_outcomes.clone(),
        );
        let experiment_feedback = Family::<ExperimentRatingLabels, Counter>::default();
        registry.register(
            "experiment_feedback",
            "Thumbs given on answers of an A/B experiment, by experiment, variant and rating; a \
             changed rating counts again",
            experiment_feedback.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "http_errors",
            "Error answers (status 400 and up) by Alice's error code (the body's code, e.g. \
             load_shed, backend_unreachable) and status; code \"other\" for an error status \
             without an error body",
            errors.clone(),
        );
        let routes: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "chat_route_duration_seconds",
            "Native chat answers by how they were made (route \"intent\": Alice answered \
             herself, with the intent; \"model\": a backend or the cache) and the time from \
             the request to the stored answer",
            routes.clone(),
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
            rate_limited,
            idempotency,
            feedback,
            experiment_outcomes,
            experiment_feedback,
            errors,
            routes,
            error_labels: Mutex::default(),
            llm,
            cache,
            windows: LatencyWindows::new(Instant::now()),
        }
    }

    /// A native chat answer, by its route, that took `total_ms` from request to stored answer.
    pub fn record_route(&self, route: &alice_store::AnswerRoute, total_ms: u64) {
        self.routes
            .get_or_create(&RouteLabels {
                route: route.kind.clone(),
                intent: route.intent.clone().unwrap_or_default(),
            })
            .observe(total_ms as f64 / 1000.0);
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
        latency: Option<watch::Receiver<LatencyView>>,
        cache: Option<Arc<ResponseCache>>,
        store: alice_store::Store,
    ) {
        self.registry
            .register_collector(Box::new(BackendCollector(router)));
        self.registry
            .register_collector(Box::new(GuardianCollector {
                source: guardian,
                latency,
            }));
        if let Some(cache) = cache {
            self.registry
                .register_collector(Box::new(CacheCollector(cache)));
        }
        self.registry
            .register_collector(Box::new(StoreCollector(store)));
        self.registry.register_collector(Box::new(ProcessCollector));
    }

    /// One answered request; `error` is the code of an error answer
    /// ([`crate::error::ErrorCode`]).
    pub(crate) fn record_request(
        &self,
        route: &str,
        method: &str,
        (status, error): (u16, Option<&'static str>),
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
        if status >= 400 {
            self.record_error(error.unwrap_or("other"), status);
        }
        let in_totals = !WATCHED_STREAMS.contains(&route.as_ref());
        self.windows
            .record(Instant::now(), &route, status, took, overhead, in_totals);
    }

    fn record_error(&self, code: &'static str, status: u16) {
        let labels = ErrorLabels { code, status };
        // The read guard is dropped here, before get_or_create takes the write lock.
        let seen = self.errors.get(&labels).is_some();
        if !seen {
            let mut known = match self.error_labels.lock() {
                Ok(known) => known,
                Err(poisoned) => poisoned.into_inner(),
            };
            known.insert(labels.clone());
        }
        self.errors.get_or_create(&labels).inc();
    }

    /// Error answers since start, by code and status, in code order.
    pub fn error_counts(&self) -> Vec<ErrorCount> {
        let known: Vec<ErrorLabels> = match self.error_labels.lock() {
            Ok(known) => known.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        };
        known
            .into_iter()
            .map(|labels| ErrorCount {
                code: labels.code,
                status: labels.status,
                count: self.errors.get(&labels).map_or(0, |counter| counter.get()),
            })
            .collect()
    }

    /// Requests refused by a key's limits since start: ("requests" | "tokens" | "in_flight",
    /// count).
    pub fn rate_limited_counts(&self) -> [(&'static str, u64); 3] {
        LIMITS.map(|limit| {
            let count = self
                .rate_limited
                .get(&LimitLabel { limit })
                .map_or(0, |counter| counter.get());
            (limit, count)
        })
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

    /// A request refused by a key's `limit` ("requests", "tokens" or "in_flight").
    pub(crate) fn record_rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabel { limit }).inc();
    }

    /// A request with an `Idempotency-Key` and what became of it: "stored", "replayed",
    /// "conflict", "mismatch" or "released".
    pub(crate) fn record_idempotency(&self, outcome: &'static str) {
        self.idempotency
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// A thumb given on an answer: `rating` is "up" or "down".
    pub(crate) fn record_feedback(&self, rating: &'static str) {
        self.feedback.get_or_create(&RatingLabel { rating }).inc();
    }

    /// A request of an experiment's variant ended: `outcome` is "answered", "error" or "shed".
    pub(crate) fn record_experiment_outcome(
        &self,
        experiment: &str,
        variant: &str,
        outcome: &'static str,
    ) {
        self.experiment_outcomes
            .get_or_create(&ExperimentOutcomeLabels {
                experiment: experiment.to_owned(),
                variant: variant.to_owned(),
                outcome,
            })
            .inc();
    }

    /// A thumb given on an answer of an experiment's variant.
    pub(crate) fn record_experiment_feedback(
        &self,
        experiment: &str,
        variant: &str,
        rating: &'static str,
    ) {
        self.experiment_feedback
            .get_or_create(&ExperimentRatingLabels {
                experiment: experiment.to_owned(),
                variant: variant.to_owned(),
                rating,
            })
            .inc();
    }

    /// Percentiles and rates of the last 1, 5 and 15 minutes.
    pub fn summary(&self) -> Summary {
        self.windows.summary(Instant::now())
    }

    /// The last minute's window of [`Self::summary`] alone.
    pub fn last_minute(&self) -> Option<latency_windows::Window> {
        self.windows.last_minute(Instant::now())
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
