//! A circuit breaker per backend, on the failure *rate* over a time window.
//!
//! CLOSED: requests pass; outcomes are counted over `window`. When at least `min_requests`
//! outcomes are in the window and the failed fraction reaches `failure_rate`, it opens.
//! OPEN: requests skip the backend at once (they fail over) for `open_for`. Then it turns
//! HALF_OPEN, and only probes, run in the background by the router, test the backend:
//! `close_after` successes close it, one failure opens it again.
//!
//! Written here rather than taken from a tower middleware crate because Alice must record an
//! outcome when a *stream* ends (a backend can fail after its headers), must not count a client
//! that went away, and must read the state before choosing a backend.
//! Time is tokio's clock, so tests can pause and advance it.

use alice_core::config::BreakerConfig;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// (when, failed) of recent outcomes while closed.
    outcomes: VecDeque<(Instant, bool)>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { successes: u32 },
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                outcomes: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere mid-update; the counts are still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state now (an open breaker whose time is up reads as half-open).
    pub fn state(&self) -> BreakerState {
        let mut inner = self.lock();
        self.refresh(&mut inner);
        match inner.state {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a request may use the backend now.
    pub fn allows_requests(&self) -> bool {
        self.state() == BreakerState::Closed
    }

    /// Records how a request to the backend ended. Cancelled requests are not recorded.
    pub fn record(&self, failed: bool) {
        let now = Instant::now();
        let mut inner = self.lock();
        self.refresh(&mut inner);
        match inner.state {
            State::Closed => {
                inner.outcomes.push_back((now, failed));
                self.forget_old(&mut inner, now);
                let total = inner.outcomes.len();
                let failures = inner.outcomes.iter().filter(|(_, f)| *f).count();
                if total >= self.config.min_requests as usize
                    && failures as f64 >= self.config.failure_rate * total as f64
                {
                    self.open(&mut inner, now);
                }
            }
            // A request that was already running when the breaker opened: its outcome says
            // nothing new.
            State::Open { .. } => {}
            // Only probes run half-open; a request that sneaks in counts like one.
            State::HalfOpen { .. } => self.record_probe_locked(&mut inner, !failed, now),
        }
    }

    /// Records a background probe's result while half-open.
    pub fn record_probe(&self, healthy: bool) {
        let mut inner = self.lock();
        self.refresh(&mut inner);
        if let State::HalfOpen { .. } = inner.state {
            self.record_probe_locked(&mut inner, healthy, Instant::now());
        }
    }

    fn record_probe_locked(&self, inner: &mut Inner, healthy: bool, now: Instant) {
        let State::HalfOpen { successes } = inner.state else {
            return;
        };
        if !healthy {
            self.open(inner, now);
        } else if successes + 1 >= self.config.close_after {
            inner.state = State::Closed;
            inner.outcomes.clear();
        } else {
            inner.state = State::HalfOpen {
                successes: successes + 1,
            };
        }
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        inner.state = State::Open {
            until: now + self.config.open_for,
        };
        inner.outcomes.clear();
    }

    fn refresh(&self, inner: &mut Inner) {
        if let State::Open { until } = inner.state
            && Instant::now() >= until
        {
            inner.state = State::HalfOpen { successes: 0 };
        }
    }

    fn forget_old(&self, inner: &mut Inner, now: Instant) {
        while let Some((at, _)) = inner.outcomes.front() {
            if now.duration_since(*at) > self.config.window {
                inner.outcomes.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            window: Duration::from_secs(30),
            min_requests: 5,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            close_after: 2,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn it_needs_the_minimum_count_before_the_rate_counts() {
        let b = breaker();
        for _ in 0..4 {
            b.record(true);
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "4 failures are below min_requests"
        );
        b.record(true);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allows_requests());
    }

    #[tokio::test(start_paused = true)]
    async fn it_opens_on_the_rate_not_on_a_run() {
        let b = breaker();
        for failed in [true, false, true, false, false, false] {
            b.record(failed);
        }
        assert_eq!(b.state(), BreakerState::Closed, "2 of 6 is below 50 %");
        b.record(true);
        assert_eq!(b.state(), BreakerState::Closed, "3 of 7");
        b.record(true);
        assert_eq!(b.state(), BreakerState::Open, "4 of 8 reaches 50 %");
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let b = breaker();
        for _ in 0..4 {
            b.record(true);
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        b.record(true);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "the first four are outside the window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_after_the_wait_then_probes_decide() {
        let b = breaker();
        for _ in 0..5 {
            b.record(true);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allows_requests(), "half-open is for probes only");
        b.record_probe(true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record_probe(true);
        assert_eq!(b.state(), BreakerState::Closed);

        for _ in 0..5 {
            b.record(true);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        b.record_probe(false);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a failed probe opens it again"
        );
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn probes_while_closed_or_open_change_nothing() {
        let b = breaker();
        b.record_probe(false);
        assert_eq!(b.state(), BreakerState::Closed);
        for _ in 0..5 {
            b.record(true);
        }
        b.record_probe(true);
        assert_eq!(b.state(), BreakerState::Open);
    }
}
