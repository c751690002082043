//! The collectors that read state at scrape time: each backend's breaker, slots and queue (from
//! the router), the Guardian's state and readings (local or followed), the cache's size, the
//! store's batcher, and this process's memory and open files. Reading when scraped means no
//! copy of the figures can go stale.

use crate::runtime::guardian_remote::RemoteView;
use alice_cache::ResponseCache;
use alice_guardian::{GuardianState, LatencyView, Snapshot};
use alice_llm::{BreakerState, LlmRouter};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt;
use std::sync::Arc;
use tokio::sync::watch;

/// Where the Guardian's state is read from at scrape time.
pub enum GuardianSource {
    Local(watch::Receiver<Arc<Snapshot>>),
    Remote(watch::Receiver<RemoteView>),
    Off,
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
pub(super) struct BackendCollector(pub(super) Arc<LlmRouter>);

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

/// The Guardian's state, level and latest readings, and the latency brownout's.
pub(super) struct GuardianCollector {
    pub(super) source: GuardianSource,
    /// The latency brownout's evaluations, when it runs.
    pub(super) latency: Option<watch::Receiver<LatencyView>>,
}

impl fmt::Debug for GuardianCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuardianCollector")
    }
}

impl Collector for GuardianCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let (state, guardian_level) = match &self.source {
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
        let latency = self.latency.as_ref().map(|view| view.borrow().clone());
        let level = latency
            .as_ref()
            .map_or(guardian_level, |view| guardian_level.max(view.level));
        if let Some(view) = &latency {
            encode_latency_brownout(&mut encoder, view)?;
        }
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

fn encode_latency_brownout(encoder: &mut DescriptorEncoder<'_>, view: &LatencyView) -> fmt::Result {
    gauge(
        encoder,
        "guardian_latency_brownout_level",
        "Brownout level this Alice's own latency asks for: 0 none, 1 light, 2 moderate, 3 heavy, \
         4 emergency",
        view.level as i64,
    )?;
    let seconds = |ms: Option<u64>| ms.map_or(0.0, |ms| ms as f64 / 1000.0);
    gauge(
        encoder,
        "guardian_latency_ttft_p95_seconds",
        "p95 time to first token of the answers the latency brownout last judged (0 when too \
         few)",
        seconds(view.ttft_p95_ms),
    )?;
    gauge(
        encoder,
        "guardian_latency_queue_wait_p95_seconds",
        "p95 wait for a backend slot of the answers the latency brownout last judged (0 when \
         too few)",
        seconds(view.queue_wait_p95_ms),
    )
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
pub(super) struct CacheCollector(pub(super) Arc<ResponseCache>);

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
pub(super) struct StoreCollector(pub(super) alice_store::Store);

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
        )?;
        let outcomes = self.0.outcome_counters();
        counter(
            &mut encoder,
            "experiment_outcomes_written",
            "Experiment outcomes the outcome writer committed",
            outcomes.written.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "experiment_outcomes_dropped",
            "Experiment outcomes dropped because the outcome writer's queue was full (the report \
             misses them; the requests did not wait)",
            outcomes.dropped.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "experiment_outcomes_failed",
            "Experiment outcomes the database refused",
            outcomes.failed.load(Relaxed),
        )
    }
}

/// This process's resident memory and open file descriptors, from /proc/self. Absent on
/// systems without /proc.
#[derive(Debug)]
pub(super) struct ProcessCollector;

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
