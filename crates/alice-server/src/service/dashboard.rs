//! The operator dashboard's picture of this Alice at one moment: a [`Snapshot`], which
//! `GET /api/events` ([`crate::api::events`]) sends once a second.
//!
//! It exists so that the dashboard reads one typed, documented document instead of polling
//! and stitching together `/api/guardian/status`, `/api/metrics/summary`, `/ready`,
//! `/api/brain/cache` and `/api/db/stats`. Every figure is read from the state that already
//! holds it (the Guardian's latest snapshot, the metrics registry and its latency windows, the
//! router's status, the cache's counters, the write batcher's counters): building a snapshot
//! waits for nothing and touches no database, so an open dashboard costs Alice next to nothing.

use crate::metrics::Metrics;
use crate::metrics::latency_windows::Percentiles;
use crate::runtime::guardian_link::GuardianLink;
use crate::service::ChatService;
use alice_core::BrownoutLevel;
use alice_guardian::GuardianState;
use alice_llm::BreakerState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::time::Instant;

/// Most Guardian transitions a snapshot carries (the Guardian itself keeps 50).
pub const TRANSITIONS_SHOWN: usize = 50;

/// The statuses of a request Alice turned away for want of capacity: 429 (shed by the
/// Guardian, a key over its limits, too many logins) and 503 (refused by the Guardian, no
/// backend or database to answer).
const SHED_STATUSES: [u16; 2] = [429, 503];

/// One moment of this Alice, as the dashboard shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// When the snapshot was taken (RFC 3339, UTC).
    pub at: DateTime<Utc>,
    /// Which Alice this is: host name and port ([`instance_name`]).
    pub instance: String,
    /// Seconds since this Alice started.
    pub uptime_s: f64,
    pub guardian: GuardianView,
    pub requests: Requests,
    pub errors: Errors,
    /// Every configured backend, in the configured order.
    pub backends: Vec<BackendView>,
    /// The embedded model after every configured backend: there or why not, its load, and
    /// the answers it has given since start.
    pub last_resort: alice_llm::LastResortStatus,
    pub cache: CacheView,
    /// The store's write batcher since start (group commit of chat turns).
    pub store: alice_store::BatcherStats,
}

/// The Guardian this process obeys.
#[derive(Clone, Debug, Serialize)]
pub struct GuardianView {
    /// A Guardian runs (in this process or as a followed daemon).
    pub enabled: bool,
    /// `"local"` (this process's own), `"daemon"` (`guardian.remote_url`) or `"off"`.
    pub source: &'static str,
    /// The state requests are admitted on: `NORMAL` … `LOCKDOWN`.
    pub state: GuardianState,
    /// The level answers are served at: `NONE`, `LIGHT`, `MODERATE`, `HEAVY`, `EMERGENCY`.
    pub brownout_level: BrownoutLevel,
    /// An operator's brownout (`POST /api/brain/brownout`), when one is on.
    pub manual_brownout: Option<ManualBrownoutView>,
    pub readings: Readings,
    /// The latest state changes, at most [`TRANSITIONS_SHOWN`], oldest first (newest last).
    pub transitions: Vec<TransitionView>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManualBrownoutView {
    pub level: BrownoutLevel,
    pub reason: String,
}

/// The Guardian's latest sample; `null` where it could not be read. Fractions are 0 to 1, as
/// in `/api/guardian/status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Readings {
    /// When the sample was taken.
    #[serde(rename(deserialize = "timestamp"))]
    pub at: Option<DateTime<Utc>>,
    pub ram_pct: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    /// The hottest sensor, in °C.
    pub temp_c: Option<f64>,
    /// RAM in use and in all, in GB (10^9 bytes), against the cgroup limit or the host.
    pub ram_gb: Option<f64>,
    pub ram_total_gb: Option<f64>,
    /// Pressure stall information; `null` where the kernel has none (or an older daemon).
    #[serde(default)]
    pub pressure: Option<alice_guardian::pressure::Pressure>,
    /// Samples in a row without a RAM or CPU figure (from the third, chat is refused).
    #[serde(default)]
    pub unknown_streak: u32,
}

/// One state change of the Guardian.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransitionView {
    pub at: DateTime<Utc>,
    pub from: GuardianState,
    pub to: GuardianState,
    /// Why, as a code: `soft_trigger`, `hard_trigger`, `recovered`, `override`, …
    pub reason: String,
    /// The readings behind it, for people (e.g. "ram 0.95 >= 0.92").
    #[serde(default)]
    pub detail: String,
}

/// Requests answered over the last minute (`/api/metrics/summary`'s `1m` window, without the
/// dashboard's own event streams).
#[derive(Clone, Debug, Serialize)]
pub struct Requests {
    /// The seconds the window covers (less than 60 while Alice has run less).
    pub window_s: f64,
    pub count: u64,
    pub rate_per_s: f64,
    /// p50, p95, p99, p99.9 and max of whole requests in milliseconds; `null` when the window
    /// saw no request.
    pub latency_ms: Option<Percentiles>,
}

/// Error answers: the last minute's 5xx rate, and every error answer since start by code.
#[derive(Clone, Debug, Serialize)]
pub struct Errors {
    /// 5xx answers over the [`Requests`] window, per second, and as a share of all answers.
    pub rate_per_s: f64,
    pub ratio: f64,
    /// Error answers (4xx and 5xx) since Alice started.
    pub total: u64,
    /// The same by the body's `code` (`backend_unreachable`, `invalid_input`, …; `other` for
    /// an error status without an error body). Counters: a rate is the difference between two
    /// snapshots over the seconds between their `at`.
    pub by_code: BTreeMap<&'static str, u64>,
    pub shed: Shed,
}

/// Requests turned away for want of capacity (429 and 503) since Alice started.
#[derive(Clone, Debug, Serialize)]
pub struct Shed {
    pub total: u64,
    /// By the body's `code`: `load_shed` (Guardian DEGRADED, 429), `guardian_refused`
    /// (EMERGENCY or LOCKDOWN, 503), `rate_limit_exceeded` (a key's limits, 429),
    /// `backend_busy`, `backend_unreachable`, `guardian_stopped`, `database_unavailable` (503),
    /// `too_many_logins` (429), `other`.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// `rate_limit_exceeded` by the limit hit: `requests`, `tokens`, `in_flight`.
    pub rate_limited: BTreeMap<&'static str, u64>,
}

/// One backend, from the router.
#[derive(Clone, Debug, Serialize)]
pub struct BackendView {
    pub name: String,
    pub model: String,
    /// `CLOSED`, `OPEN` or `HALF_OPEN`.
    pub breaker: BreakerState,
    /// Requests it is generating now.
    pub in_flight: usize,
    /// Requests waiting for one of its slots now.
    pub queue_depth: usize,
    /// Its slots: `max_concurrent`, or the adaptive limit in force.
    pub limit: usize,
}

/// The response cache of this process.
#[derive(Clone, Debug, Serialize)]
pub struct CacheView {
    pub enabled: bool,
    /// Answers kept, and their size in bytes.
    pub entries: u64,
    pub bytes: u64,
    /// Lookups since start answered from the cache (either tier), and that found nothing.
    pub hits: u64,
    pub misses: u64,
    /// hits ÷ (hits + misses); `null` before the first lookup.
    pub hit_rate: Option<f64>,
    /// Requests that joined an identical request in flight.
    pub coalesced: u64,
}

/// This process's name: the host name and the port it serves on, e.g. `"alice-01:8000"`.
/// The host name comes from uname(2); a machine without one is `"localhost"`.
pub fn instance_name(addr: SocketAddr) -> String {
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    let host = if host.trim().is_empty() {
        "localhost"
    } else {
        host.trim()
    };
    format!("{host}:{}", addr.port())
}

/// The snapshot of now.
pub fn snapshot(service: &ChatService, instance: &str, started: Instant) -> Snapshot {
    let (requests, errors) = traffic(&service.metrics);
    Snapshot {
        at: Utc::now(),
        instance: instance.to_owned(),
        uptime_s: started.elapsed().as_secs_f64(),
        guardian: guardian(&service.guardian),
        requests,
        errors,
        backends: service
            .llm
            .status()
            .into_iter()
            .map(|backend| BackendView {
                name: backend.name,
                model: backend.model,
                breaker: backend.breaker,
                in_flight: backend.in_flight,
                queue_depth: backend.queued,
                limit: backend.concurrency_limit,
            })
            .collect(),
        last_resort: service.llm.last_resort_status(),
        cache: cache(service),
        store: service.store.batcher_stats(),
    }
}

fn guardian(link: &GuardianLink) -> GuardianView {
    if let Some(local) = link.in_process() {
        let status = local.status();
        let history = &status.hysteresis.state_history;
        return GuardianView {
            enabled: true,
            source: "local",
            state: status.status,
            brownout_level: link.level(),
            manual_brownout: status
                .brownout
                .manual
                .as_ref()
                .map(|manual| ManualBrownoutView {
                    level: manual.level,
                    reason: manual.reason.clone(),
                }),
            readings: Readings {
                at: status.metrics.timestamp,
                ram_pct: status.metrics.ram_pct,
                cpu_pct: status.metrics.cpu_pct,
                disk_pct: status.metrics.disk_pct,
                temp_c: status.metrics.temp_c,
                ram_gb: status.metrics.ram_gb,
                ram_total_gb: status.metrics.ram_total_gb,
                pressure: status.metrics.pressure.clone(),
                unknown_streak: status.metrics.unknown_streak,
            },
            transitions: history
                .iter()
                .skip(history.len().saturating_sub(TRANSITIONS_SHOWN))
                .map(|entry| TransitionView {
                    at: entry.at,
                    from: entry.from,
                    to: entry.to,
                    reason: entry.reason.as_str().to_owned(),
                    detail: entry.detail.clone(),
                })
                .collect(),
        };
    }
    if let Some(remote) = link.followed() {
        let view = remote.view();
        let status = view.status.unwrap_or(Value::Null);
        let read = |pointer: &str| status.pointer(pointer).cloned().unwrap_or(Value::Null);
        let mut readings: Readings = serde_json::from_value(read("/metrics")).unwrap_or_default();
        // The state requests are admitted on counts the failed checks, not the daemon's own.
        readings.unknown_streak = view.unknown_streak;
        let transitions: Vec<TransitionView> =
            serde_json::from_value(read("/hysteresis/state_history")).unwrap_or_default();
        return GuardianView {
            enabled: true,
            source: "daemon",
            state: view.state,
            brownout_level: link.level(),
            manual_brownout: serde_json::from_value(read("/brownout/manual")).unwrap_or(None),
            readings,
            transitions: transitions
                .iter()
                .skip(transitions.len().saturating_sub(TRANSITIONS_SHOWN))
                .cloned()
                .collect(),
        };
    }
    GuardianView {
        enabled: false,
        source: "off",
        state: GuardianState::Normal,
        brownout_level: BrownoutLevel::None,
        manual_brownout: None,
        readings: Readings::default(),
        transitions: Vec::new(),
    }
}

/// The last minute's requests, and the error counters.
fn traffic(metrics: &Metrics) -> (Requests, Errors) {
    let (window_s, count, rate_per_s, latency_ms, errors_5xx, ratio) = match metrics.last_minute() {
        Some(window) => (
            window.seconds,
            window.all.requests,
            window.all.rate_per_s,
            window.all.latency_ms,
            window.all.errors,
            window.all.error_ratio,
        ),
        None => (0.0, 0, 0.0, None, 0, 0.0),
    };
    let mut by_code = BTreeMap::new();
    let mut by_reason = BTreeMap::new();
    for counted in metrics.error_counts() {
        *by_code.entry(counted.code).or_insert(0) += counted.count;
        if SHED_STATUSES.contains(&counted.status) {
            *by_reason.entry(counted.code).or_insert(0) += counted.count;
        }
    }
    let errors = Errors {
        rate_per_s: if window_s > 0.0 {
            errors_5xx as f64 / window_s
        } else {
            0.0
        },
        ratio,
        total: by_code.values().sum(),
        by_code,
        shed: Shed {
            total: by_reason.values().sum(),
            by_reason,
            rate_limited: metrics.rate_limited_counts().into_iter().collect(),
        },
    };
    let requests = Requests {
        window_s,
        count,
        rate_per_s,
        latency_ms,
    };
    (requests, errors)
}

fn cache(service: &ChatService) -> CacheView {
    let counters = service.metrics.cache();
    let (hits, misses) = (counters.hits(), counters.misses());
    let lookups = hits + misses;
    let (entries, bytes) = service.cache.cache().map_or((0, 0), |cache| cache.usage());
    CacheView {
        enabled: service.cache.cache().is_some(),
        entries,
        bytes,
        hits,
        misses,
        hit_rate: (lookups > 0).then(|| hits as f64 / lookups as f64),
        coalesced: counters.coalesced_count(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_instance_is_named_by_its_host_and_port() {
        let name = instance_name(SocketAddr::from(([127, 0, 0, 1], 8123)));
        let (host, port) = name.rsplit_once(':').unwrap();
        assert!(!host.is_empty(), "{name}");
        assert_eq!(port, "8123");
    }

    #[test]
    fn a_daemons_status_reads_into_readings_and_transitions() {
        let status = serde_json::json!({
            "metrics": {"timestamp": "2025-01-01T00:00:00Z", "ram_pct": 0.5, "cpu_pct": null,
                        "disk_pct": 0.1, "temp_c": null, "ram_gb": 4.0, "ram_total_gb": 8.0,
                        "unknown_streak": 0, "degraded": false,
                        "pressure": {"cpu": {"some": {"avg10": 0.25, "avg60": 0.1}, "full": null},
                                     "memory": null, "io": null, "source": "host"}},
            "hysteresis": {"state_history": [
                {"from": "NORMAL", "to": "BROWNOUT", "reason": "soft_trigger", "detail": "ram",
                 "at": "2025-01-01T00:00:00Z"}
            ]},
        });
        let readings: Readings = serde_json::from_value(status["metrics"].clone()).unwrap();
        assert_eq!(readings.ram_pct, Some(0.5));
        let pressure = readings.pressure.as_ref().unwrap();
        assert_eq!(pressure.cpu.unwrap().some.unwrap().avg10, 0.25);
        assert_eq!(pressure.memory, None);
        assert!(readings.at.is_some());
        let transitions: Vec<TransitionView> =
            serde_json::from_value(status["hysteresis"]["state_history"].clone()).unwrap();
        assert_eq!(transitions[0].to, GuardianState::Brownout);
        assert_eq!(transitions[0].reason, "soft_trigger");
        let out = serde_json::to_value(&readings).unwrap();
        assert!(
            out.get("at").is_some() && out.get("timestamp").is_none(),
            "{out}"
        );
    }
}
