//! What the router counts and times, for the server's one metrics registry.
//!
//! The router owns a [`LlmMetrics`] and records into it as it works; the server registers the
//! same families in its registry when it builds the router, so they show at `/metrics`. A router
//! built without a registry (tests, tools) still records, into families nobody reads.
//! Per-backend gauges (breaker state, in flight, queued, limit) are not here: they are read from
//! [`crate::LlmRouter::status`] when the registry is scraped.

use crate::ErrorKind;
use alice_core::latency_buckets::latency_buckets;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    backend: String,
    /// "ok", or the kind of failure ("unreachable", "busy", "timed_out", …).
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

/// The router's counters and histograms. Cheap to clone; clones record into the same series.
#[derive(Clone)]
pub struct LlmMetrics {
    attempts: Family<AttemptLabels, Counter>,
    retry_rounds: Counter,
    failovers: Family<BackendLabel, Counter>,
    saturated: Family<BackendLabel, Counter>,
    queue_wait: Family<BackendLabel, Histogram, fn() -> Histogram>,
    first_token: Family<BackendLabel, Histogram, fn() -> Histogram>,
    last_resort_answers: Counter,
}

impl Default for LlmMetrics {
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            retry_rounds: Counter::default(),
            failovers: Family::default(),
            saturated: Family::default(),
            queue_wait: Family::new_with_constructor(latency_histogram),
            first_token: Family::new_with_constructor(latency_histogram),
            last_resort_answers: Counter::default(),
        }
    }
}

impl LlmMetrics {
    /// New families, registered in `registry` (names get the registry's prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "llm_attempts",
            "Attempts to get a first token from a backend, by outcome",
            metrics.attempts.clone(),
        );
        registry.register(
            "llm_retry_rounds",
            "Times the router waited and tried the backends again",
            metrics.retry_rounds.clone(),
        );
        registry.register(
            "llm_failovers",
            "Answers given by a backend other than the first in the list",
            metrics.failovers.clone(),
        );
        registry.register(
            "llm_saturated",
            "Times a backend's slots and queue were full, or its queue wait ran out",
            metrics.saturated.clone(),
        );
        registry.register(
            "llm_queue_wait_seconds",
            "Time a request waited for a backend slot",
            metrics.queue_wait.clone(),
        );
        registry.register(
            "llm_first_token_seconds",
            "Time from sending an attempt to the backend's first event",
            metrics.first_token.clone(),
        );
        registry.register(
            "last_resort_answers",
            "Answers given by the embedded model as the last resort, when every configured \
             backend had failed, was open or was full",
            metrics.last_resort_answers.clone(),
        );
        metrics
    }

    pub(crate) fn attempt(&self, backend: &str, outcome: Result<(), &ErrorKind>) {
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(kind) => kind.label(),
        };
        self.attempts
            .get_or_create(&AttemptLabels {
                backend: backend.to_owned(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn retry_round(&self) {
        self.retry_rounds.inc();
    }

    pub(crate) fn failover(&self, backend: &str) {
        self.failovers.get_or_create(&label(backend)).inc();
    }

    pub(crate) fn saturated(&self, backend: &str) {
        self.saturated.get_or_create(&label(backend)).inc();
    }

    pub(crate) fn queue_wait(&self, backend: &str, waited: Duration) {
        self.queue_wait
            .get_or_create(&label(backend))
            .observe(waited.as_secs_f64());
    }

    pub(crate) fn first_token(&self, backend: &str, took: Duration) {
        self.first_token
            .get_or_create(&label(backend))
            .observe(took.as_secs_f64());
    }

    pub(crate) fn last_resort_answer(&self) {
        self.last_resort_answers.inc();
    }

    /// Answers the last resort has given since start.
    pub(crate) fn last_resort_answers(&self) -> u64 {
        self.last_resort_answers.get()
    }
}

fn label(backend: &str) -> BackendLabel {
    BackendLabel {
        backend: backend.to_owned(),
    }
}
