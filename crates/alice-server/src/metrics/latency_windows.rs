//! The last fifteen minutes of requests, minute by minute, in HDR histograms: what
//! `GET /api/metrics/summary` reads its p50/p95/p99/p99.9 and rates over 1, 5 and 15 minutes
//! from, for the web page and for people who run no Prometheus.
//!
//! Prometheus computes the same from `/metrics` over any window it likes; this is the small
//! built-in answer. Each minute has its own histograms (whole requests per route and in total,
//! and the gateway's overhead in total); a window merges the minutes it covers, so the oldest
//! minute leaves a window whole rather than fading out. Values are kept in microseconds with
//! two significant digits (1 % precision), from 1 µs to 60 s; slower requests count as 60 s.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Minutes kept: the longest window.
const MINUTES: usize = 15;
/// The windows the summary reports, in minutes.
const WINDOWS: [(&str, u64); 3] = [("1m", 1), ("5m", 5), ("15m", 15)];
const SLOWEST_US: u64 = 60_000_000;

/// Requests of the last fifteen minutes. Recording takes one short lock.
pub struct LatencyWindows {
    started: Instant,
    minutes: Mutex<Vec<Minute>>,
}

/// What one minute saw.
struct Minute {
    /// Minutes since `started`.
    index: u64,
    total: Series,
    overhead: Histogram<u32>,
    routes: BTreeMap<String, Series>,
}

/// Requests of one route (or of all) in one minute.
struct Series {
    latency: Histogram<u32>,
    errors: u64,
}

/// Percentiles of a window, in milliseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

/// One route (or all requests) over one window.
#[derive(Debug, Serialize)]
pub struct Traffic {
    pub requests: u64,
    pub rate_per_s: f64,
    /// Answers with a 5xx status.
    pub errors: u64,
    pub error_ratio: f64,
    /// `None` when the window saw no request.
    pub latency_ms: Option<Percentiles>,
}

/// One window of the summary.
#[derive(Debug, Serialize)]
pub struct Window {
    /// The seconds the window covers: its length, or less while Alice has run less.
    pub seconds: f64,
    #[serde(flatten)]
    pub all: Traffic,
    /// Alice's own share of each request (total minus time spent waiting on backends).
    pub overhead_ms: Option<Percentiles>,
    pub routes: BTreeMap<String, Traffic>,
}

/// The body of `GET /api/metrics/summary`.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub uptime_s: f64,
    pub windows: BTreeMap<&'static str, Window>,
}

fn histogram() -> Histogram<u32> {
    // Bounds and precision are constants that hdrhistogram accepts, so this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, SLOWEST_US, 2).expect("valid histogram bounds")
}

fn micros(took: Duration) -> u64 {
    u64::try_from(took.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, SLOWEST_US)
}

impl Series {
    fn new() -> Self {
        Self {
            latency: histogram(),
            errors: 0,
        }
    }

    fn record(&mut self, took: u64, failed: bool) {
        // Within bounds by construction (`micros` clamps), so recording cannot fail.
        let _ = self.latency.record(took);
        self.errors += u64::from(failed);
    }
}

fn percentiles(histogram: &Histogram<u32>) -> Option<Percentiles> {
    if histogram.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Percentiles {
        p50: ms(histogram.value_at_quantile(0.50)),
        p95: ms(histogram.value_at_quantile(0.95)),
        p99: ms(histogram.value_at_quantile(0.99)),
        p99_9: ms(histogram.value_at_quantile(0.999)),
        max: ms(histogram.max()),
    })
}

fn traffic(latency: &Histogram<u32>, errors: u64, seconds: f64) -> Traffic {
    let requests = latency.len();
    Traffic {
        requests,
        rate_per_s: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        errors,
        error_ratio: if requests > 0 {
            errors as f64 / requests as f64
        } else {
            0.0
        },
        latency_ms: percentiles(latency),
    }
}

impl LatencyWindows {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            minutes: Mutex::new(Vec::with_capacity(MINUTES)),
        }
    }

    fn minute_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_secs() / 60
    }

    /// Counts one answered request of `route` that took `took`, of which `overhead` was
    /// Alice's own, finished at `at`; in the route's figures, and in the totals unless
    /// `in_totals` is false (a long-lived stream such as `/api/events`).
    pub fn record(
        &self,
        at: Instant,
        route: &str,
        status: u16,
        took: Duration,
        overhead: Duration,
        in_totals: bool,
    ) {
        let index = self.minute_of(at);
        let failed = status >= 500;
        let took = micros(took);
        let Ok(mut minutes) = self.minutes.lock() else {
            return;
        };
        if minutes.last().is_none_or(|last| last.index < index) {
            minutes.retain(|minute| minute.index + (MINUTES as u64) > index);
            minutes.push(Minute {
                index,
                total: Series::new(),
                overhead: histogram(),
                routes: BTreeMap::new(),
            });
        }
        // A late recording from the minute before a rotation lands in the newest minute.
        let Some(minute) = minutes.last_mut() else {
            return;
        };
        if in_totals {
            minute.total.record(took, failed);
            let _ = minute.overhead.record(micros(overhead));
        }
        if let Some(series) = minute.routes.get_mut(route) {
            series.record(took, failed);
        } else {
            let mut series = Series::new();
            series.record(took, failed);
            minute.routes.insert(route.to_owned(), series);
        }
    }

    /// The 1, 5 and 15 minute windows ending at `now`.
    pub fn summary(&self, now: Instant) -> Summary {
        self.summary_of(now, &WINDOWS)
    }

    /// The last minute's window alone (the dashboard's, once a second), without the longer
    /// windows' work.
    pub fn last_minute(&self, now: Instant) -> Option<Window> {
        self.summary_of(now, &WINDOWS[..1]).windows.remove("1m")
    }

    /// The `windows` (name, minutes) ending at `now`.
    fn summary_of(&self, now: Instant, windows_wanted: &[(&'static str, u64)]) -> Summary {
        let uptime = now.saturating_duration_since(self.started).as_secs_f64();
        let current = self.minute_of(now);
        let into_minute = uptime - (current * 60) as f64;
        let minutes = match self.minutes.lock() {
            Ok(minutes) => minutes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut windows = BTreeMap::new();
        for &(name, length) in windows_wanted {
            // The current, partial minute and the `length - 1` whole ones before it.
            let seconds = ((length - 1) * 60) as f64 + into_minute;
            let seconds = seconds.min(uptime);
            let mut all = histogram();
            let mut overhead = histogram();
            let mut errors = 0;
            let mut routes: BTreeMap<&str, (Histogram<u32>, u64)> = BTreeMap::new();
            for minute in minutes
                .iter()
                .filter(|m| m.index + length > current && m.index <= current)
            {
                let _ = all.add(&minute.total.latency);
                let _ = overhead.add(&minute.overhead);
                errors += minute.total.errors;
                for (route, series) in &minute.routes {
                    let entry = routes.entry(route).or_insert_with(|| (histogram(), 0));
                    let _ = entry.0.add(&series.latency);
                    entry.1 += series.errors;
                }
            }
            windows.insert(
                name,
                Window {
                    seconds,
                    all: traffic(&all, errors, seconds),
                    overhead_ms: percentiles(&overhead),
                    routes: routes
                        .into_iter()
                        .map(|(route, (latency, errors))| {
                            (route.to_owned(), traffic(&latency, errors, seconds))
                        })
                        .collect(),
                },
            );
        }
        Summary {
            uptime_s: uptime,
            windows,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= want * 0.01
    }

    #[test]
    fn percentiles_match_a_known_input() {
        let start = Instant::now();
        let windows = LatencyWindows::new(start);
        let at = start + Duration::from_secs(30);
        for ms in 1..=1000 {
            let status = if ms % 100 == 0 { 502 } else { 200 };
            windows.record(at, "/api/chat", status, MS * ms, MS / 10, true);
        }
        let summary = windows.summary(at);
        let minute = &summary.windows["1m"];
        assert!(close(minute.seconds, 30.0));
        assert_eq!(minute.all.requests, 1000);
        assert!(close(minute.all.rate_per_s, 1000.0 / 30.0));
        assert_eq!(minute.all.errors, 10);
        assert!(close(minute.all.error_ratio, 0.01));
        let latency = minute.all.latency_ms.as_ref().unwrap();
        for (got, want) in [
            (latency.p50, 500.0),
            (latency.p95, 950.0),
            (latency.p99, 990.0),
            (latency.p99_9, 999.0),
            (latency.max, 1000.0),
        ] {
            assert!(close(got, want), "{got} vs {want}: {latency:?}");
        }
        let overhead = minute.overhead_ms.as_ref().unwrap();
        assert!(close(overhead.p99, 0.1), "{overhead:?}");
        assert_eq!(minute.routes["/api/chat"].requests, 1000);
    }

    #[test]
    fn each_window_holds_only_its_minutes() {
        let start = Instant::now();
        let windows = LatencyWindows::new(start);
        let minute = |m: u64| start + Duration::from_secs(m * 60 + 10);
        windows.record(minute(0), "/a", 200, MS * 100, MS, true);
        windows.record(minute(3), "/b", 200, MS * 200, MS, true);
        windows.record(minute(3), "/b", 503, MS * 300, MS, true);
        let summary = windows.summary(minute(3));
        assert_eq!(summary.windows["1m"].all.requests, 2);
        assert_eq!(summary.windows["1m"].all.errors, 1);
        assert!(!summary.windows["1m"].routes.contains_key("/a"));
        assert_eq!(summary.windows["5m"].all.requests, 3);
        assert_eq!(summary.windows["5m"].routes["/a"].requests, 1);
        assert!(close(summary.windows["5m"].seconds, 3.0 * 60.0 + 10.0));
        assert_eq!(summary.windows["15m"].all.requests, 3);

        // A quiet minute later, the 1-minute window is empty; the old ones age out in turn.
        let later = windows.summary(minute(4));
        assert_eq!(later.windows["1m"].all.requests, 0);
        assert!(later.windows["1m"].all.latency_ms.is_none());
        assert_eq!(later.windows["5m"].all.requests, 3, "minutes 0 to 4");
        let after_five = windows.summary(minute(5));
        assert_eq!(
            after_five.windows["5m"].all.requests, 2,
            "minute 0 left the 5m window"
        );
        windows.record(minute(20), "/c", 200, MS, MS, true);
        let much_later = windows.summary(minute(20));
        assert_eq!(much_later.windows["15m"].all.requests, 1);
        assert_eq!(
            windows.minutes.lock().unwrap().len(),
            1,
            "old minutes are dropped"
        );
    }

    #[test]
    fn a_watched_stream_counts_for_its_route_only() {
        let start = Instant::now();
        let windows = LatencyWindows::new(start);
        windows.record(start, "/api/chat", 200, MS * 150, MS, true);
        let watched = Duration::from_secs(3600);
        windows.record(start, "/api/events", 200, watched, watched, false);
        let summary = windows.summary(start + Duration::from_secs(1));
        let minute = &summary.windows["1m"];
        assert_eq!(minute.all.requests, 1);
        assert!(close(minute.all.latency_ms.as_ref().unwrap().max, 150.0));
        assert_eq!(minute.routes["/api/events"].requests, 1);
    }

    #[test]
    fn the_slowest_requests_count_at_the_top_of_the_range() {
        let start = Instant::now();
        let windows = LatencyWindows::new(start);
        windows.record(
            start,
            "/x",
            504,
            Duration::from_secs(120),
            Duration::ZERO,
            true,
        );
        let summary = windows.summary(start + Duration::from_secs(1));
        let latency = summary.windows["1m"].all.latency_ms.as_ref().unwrap();
        assert!(close(latency.max, 60_000.0), "{latency:?}");
    }
}
