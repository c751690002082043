//! State shared by all handlers: settings, current faults, the request log,
//! counters, loaded models, the seeded random generator and the stop signal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{Faults, SimConfig};
use crate::gate::{Gate, Permit};
use crate::record::{RecordedRequest, outcome};

/// Values of the stop signal.
pub(crate) mod stop {
    pub const RUNNING: u8 = 0;
    /// No new connections; hanging requests are cut, answers may finish.
    pub const GRACEFUL: u8 = 1;
    /// Everything still going is cut.
    pub const HARD: u8 = 2;
}

/// How long a model stays loaded when the request says nothing (Ollama's default).
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5 * 60);

/// Counters reported by `GET /sim/stats` and [`crate::SimHandle::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Chat requests recorded since start or the last reset.
    pub received: usize,
    /// Requests being answered now, queued ones included.
    pub in_flight: usize,
    /// Highest `in_flight` since start or the last reset.
    pub max_in_flight_seen: usize,
    /// Recorded requests per outcome.
    pub by_outcome: BTreeMap<String, usize>,
}

struct Log {
    next_id: u64,
    entries: Vec<(u64, RecordedRequest)>,
}

pub(crate) struct SimState {
    pub(crate) config: SimConfig,
    faults: Mutex<Faults>,
    log: Mutex<Log>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    rng: Mutex<StdRng>,
    gate: Arc<Gate>,
    /// Loaded model -> when it unloads (`None` = never).
    loaded: Mutex<BTreeMap<String, Option<DateTime<Utc>>>>,
    completion_ids: AtomicU64,
    stop: watch::Receiver<u8>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    pub(crate) fn new(config: SimConfig, stop: watch::Receiver<u8>) -> Self {
        Self {
            faults: Mutex::new(config.faults.clone()),
            gate: Gate::new(config.faults.max_concurrent),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            log: Mutex::new(Log {
                next_id: 0,
                entries: Vec::new(),
            }),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            loaded: Mutex::new(BTreeMap::new()),
            completion_ids: AtomicU64::new(0),
            stop,
            config,
        }
    }

    // ---- faults -------------------------------------------------------------

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        let limit = faults.max_concurrent;
        *lock(&self.faults) = faults;
        self.gate.set_limit(limit);
    }

    pub(crate) fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Uniform random `0..=max` milliseconds from the seeded generator.
    pub(crate) fn jitter(&self, max_ms: u64) -> u64 {
        if max_ms == 0 {
            return 0;
        }
        lock(&self.rng).random_range(0..=max_ms)
    }

    /// True with probability `rate` (drawn from the seeded generator).
    pub(crate) fn roll(&self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        lock(&self.rng).random::<f64>() < rate
    }

    // ---- models -------------------------------------------------------------

    pub(crate) fn has_model(&self, name: &str) -> bool {
        self.config.models.iter().any(|m| m == name)
    }

    /// Marks a model loaded (or unloaded, for a zero `keep_alive`) after a request to it.
    pub(crate) fn touch_model(&self, name: &str, keep_alive: Option<&serde_json::Value>) {
        let mut loaded = lock(&self.loaded);
        match keep_alive.map_or(KeepAlive::Default, KeepAlive::parse) {
            KeepAlive::For(d) if d.is_zero() => {
                loaded.remove(name);
            }
            KeepAlive::For(d) => {
                let until = chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d));
                loaded.insert(name.to_owned(), until);
            }
            KeepAlive::Default => {
                let until = chrono::Duration::from_std(DEFAULT_KEEP_ALIVE)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d));
                loaded.insert(name.to_owned(), until);
            }
            KeepAlive::Forever => {
                loaded.insert(name.to_owned(), None);
            }
        }
    }

    /// Models loaded now, with their unload time (`None` = never).
    pub(crate) fn loaded_models(&self) -> Vec<(String, Option<DateTime<Utc>>)> {
        let now = Utc::now();
        let mut loaded = lock(&self.loaded);
        loaded.retain(|_, until| until.is_none_or(|t| t > now));
        loaded.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub(crate) fn next_completion_id(&self) -> u64 {
        self.completion_ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    // ---- request log --------------------------------------------------------

    /// Records a request (outcome "pending") and returns the guard that tracks it.
    pub(crate) fn record(self: &Arc<Self>, mut request: RecordedRequest) -> Tracker {
        request.outcome = outcome::PENDING.to_owned();
        let id = {
            let mut log = lock(&self.log);
            let id = log.next_id;
            log.next_id += 1;
            log.entries.push((id, request));
            id
        };
        Tracker {
            state: Arc::clone(self),
            id,
            started: Instant::now(),
            done: false,
            in_flight: None,
            permit: None,
        }
    }

    fn set_outcome(&self, id: u64, value: &str) {
        let mut log = lock(&self.log);
        if let Ok(pos) = log.entries.binary_search_by_key(&id, |(i, _)| *i) {
            log.entries[pos].1.outcome = value.to_owned();
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log)
            .entries
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Clears the log and counters and reseeds the random generator.
    pub(crate) fn reset(&self) {
        lock(&self.log).entries.clear();
        *lock(&self.rng) = StdRng::seed_from_u64(self.config.seed);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn stats(&self) -> SimStats {
        let log = lock(&self.log);
        let mut by_outcome = BTreeMap::new();
        for (_, r) in &log.entries {
            *by_outcome.entry(r.outcome.clone()).or_insert(0) += 1;
        }
        SimStats {
            received: log.entries.len(),
            in_flight: self.in_flight(),
            max_in_flight_seen: self.max_in_flight.load(Ordering::SeqCst),
            by_outcome,
        }
    }

    // ---- stopping -----------------------------------------------------------

    /// Resolves once the stop signal reaches `level` (never, if the signal is gone).
    pub(crate) async fn stopped(&self, level: u8) {
        let mut rx = self.stop.clone();
        if rx.wait_for(|v| *v >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps on the tokio clock; false if a hard stop came first.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        if *self.stop.borrow() >= stop::HARD {
            return false;
        }
        if duration.is_zero() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => true,
            () = self.stopped(stop::HARD) => false,
        }
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight {
    state: Arc<SimState>,
}

impl InFlight {
    fn new(state: &Arc<SimState>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self {
            state: Arc::clone(state),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Follows one recorded request to its end. Dropped before an outcome was set
/// (the client went away and the handler or body was dropped) it records
/// "cancelled"; either way it frees the in-flight count and the generation slot.
pub(crate) struct Tracker {
    state: Arc<SimState>,
    id: u64,
    pub(crate) started: Instant,
    done: bool,
    in_flight: Option<InFlight>,
    permit: Option<Permit>,
}

impl Tracker {
    /// From now on the request counts as in flight.
    pub(crate) fn admit(&mut self) {
        if self.in_flight.is_none() {
            self.in_flight = Some(InFlight::new(&self.state));
        }
    }

    /// Holds a generation slot until the request ends.
    pub(crate) fn hold(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    /// Sets the final outcome and frees the slot and the in-flight count now.
    pub(crate) fn finish(&mut self, value: &str) {
        self.mark(value);
        self.permit = None;
        self.in_flight = None;
    }

    /// Sets the final outcome but keeps holding slot and in-flight count (for hangs).
    pub(crate) fn mark(&mut self, value: &str) {
        self.state.set_outcome(self.id, value);
        self.done = true;
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.done {
            tracing::debug!(id = self.id, "request cancelled before it ended");
            self.state.set_outcome(self.id, outcome::CANCELLED);
        }
    }
}

/// Ollama's `keep_alive`: a duration string ("5m", "1h30m"), a number of seconds,
/// negative for "forever", zero for "unload now".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeepAlive {
    Default,
    Forever,
    For(Duration),
}

impl KeepAlive {
    fn parse(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Number(n) => n.as_f64().map_or(Self::Default, Self::from_seconds),
            serde_json::Value::String(s) => {
                let s = s.trim();
                if let Ok(seconds) = s.parse::<f64>() {
                    Self::from_seconds(seconds)
                } else if s.starts_with('-') {
                    Self::Forever
                } else {
                    parse_go_duration(s).map_or(Self::Default, Self::For)
                }
            }
            _ => Self::Default,
        }
    }

    fn from_seconds(seconds: f64) -> Self {
        if seconds < 0.0 {
            Self::Forever
        } else {
            Duration::try_from_secs_f64(seconds).map_or(Self::Forever, Self::For)
        }
    }
}

/// True when `keep_alive` asks to unload the model now (`0`, `"0"`, `"0s"`, ...).
pub(crate) fn keep_alive_is_zero(value: &serde_json::Value) -> bool {
    KeepAlive::parse(value) == KeepAlive::For(Duration::ZERO)
}

/// Parses durations like "300ms", "15m", "1h30m", "2.5s".
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds_per_unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Current time as RFC 3339 with nanoseconds, like Ollama's `created_at`.
pub(crate) fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Current Unix time in seconds.
pub(crate) fn now_unix() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_forms() {
        assert_eq!(KeepAlive::parse(&json!(0)), KeepAlive::For(Duration::ZERO));
        assert_eq!(
            KeepAlive::parse(&json!("0")),
            KeepAlive::For(Duration::ZERO)
        );
        assert_eq!(
            KeepAlive::parse(&json!("0s")),
            KeepAlive::For(Duration::ZERO)
        );
        assert_eq!(KeepAlive::parse(&json!(-1)), KeepAlive::Forever);
        assert_eq!(KeepAlive::parse(&json!("-1m")), KeepAlive::Forever);
        assert_eq!(
            KeepAlive::parse(&json!("15m")),
            KeepAlive::For(Duration::from_secs(900))
        );
        assert_eq!(
            KeepAlive::parse(&json!("1h30m")),
            KeepAlive::For(Duration::from_secs(5400))
        );
        assert_eq!(
            KeepAlive::parse(&json!(30)),
            KeepAlive::For(Duration::from_secs(30))
        );
        assert_eq!(KeepAlive::parse(&json!("soon")), KeepAlive::Default);
        assert_eq!(KeepAlive::parse(&json!(null)), KeepAlive::Default);
        for zero in [json!(0), json!(0.0), json!("0"), json!("0s"), json!("0m")] {
            assert!(keep_alive_is_zero(&zero), "{zero}");
        }
        for other in [
            json!(-1),
            json!("5m"),
            json!("0.5s"),
            json!(null),
            json!(""),
        ] {
            assert!(!keep_alive_is_zero(&other), "{other}");
        }
    }

    #[test]
    fn models_load_and_unload() {
        let (_tx, rx) = watch::channel(stop::RUNNING);
        let state = SimState::new(SimConfig::default(), rx);
        assert!(state.loaded_models().is_empty());
        state.touch_model("gpt-oss:20b", None);
        state.touch_model("llama3.2:3b", Some(&json!(-1)));
        let loaded = state.loaded_models();
        assert_eq!(loaded.len(), 2);
        assert!(loaded[0].1.is_some());
        assert!(loaded[1].1.is_none());
        state.touch_model("gpt-oss:20b", Some(&json!(0)));
        assert_eq!(state.loaded_models().len(), 1);
    }

    #[test]
    fn seeded_rolls_repeat_after_reset() {
        let (_tx, rx) = watch::channel(stop::RUNNING);
        let state = SimState::new(SimConfig::default(), rx);
        let first: Vec<bool> = (0..32).map(|_| state.roll(0.5)).collect();
        let jitter: Vec<u64> = (0..8).map(|_| state.jitter(100)).collect();
        state.reset();
        let again: Vec<bool> = (0..32).map(|_| state.roll(0.5)).collect();
        let jitter_again: Vec<u64> = (0..8).map(|_| state.jitter(100)).collect();
        assert_eq!(first, again);
        assert_eq!(jitter, jitter_again);
        assert!(first.iter().any(|b| *b) && first.iter().any(|b| !*b));
        assert!(jitter.iter().all(|j| *j <= 100));
        assert!(!state.roll(0.0));
        assert!(state.roll(1.0));
    }

    #[tokio::test]
    async fn tracker_marks_cancelled_and_releases_counts() {
        let (_tx, rx) = watch::channel(stop::RUNNING);
        let state = Arc::new(SimState::new(SimConfig::default(), rx));
        let request = RecordedRequest {
            api: crate::Api::Ollama,
            model: "gpt-oss:20b".into(),
            messages: vec![],
            stream: true,
            options: serde_json::Value::Null,
            keep_alive: None,
            tools: Vec::new(),
            tool_choice: None,
            outcome: String::new(),
        };
        let mut tracker = state.record(request.clone());
        tracker.admit();
        assert_eq!(state.in_flight(), 1);
        assert_eq!(state.requests()[0].outcome, "pending");
        drop(tracker);
        assert_eq!(state.in_flight(), 0);
        assert_eq!(state.requests()[0].outcome, "cancelled");

        let mut tracker = state.record(request);
        tracker.admit();
        tracker.finish("ok");
        assert_eq!(state.in_flight(), 0);
        drop(tracker);
        let stats = state.stats();
        assert_eq!(stats.received, 2);
        assert_eq!(stats.max_in_flight_seen, 1);
        assert_eq!(stats.by_outcome.get("ok"), Some(&1));
        assert_eq!(stats.by_outcome.get("cancelled"), Some(&1));
    }
}
