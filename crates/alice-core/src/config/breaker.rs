//! `[breaker]`: when each backend's circuit breaker opens, how long it stays open and what
//! closes it again.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The circuit breaker of each backend: it opens on a failure *rate* over a time window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// The window over which outcomes are counted.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Outcomes needed in the window before the rate counts.
    pub min_requests: u32,
    /// Failure fraction (0-1) at or above which the breaker opens.
    pub failure_rate: f64,
    /// How long an open breaker refuses requests before a probe may try the backend.
    #[serde(with = "humantime_serde")]
    pub open_for: Duration,
    /// Successful probes needed, half-open, to close again.
    pub close_after: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            min_requests: 5,
            failure_rate: 0.5,
            open_for: Duration::from_secs(10),
            close_after: 2,
        }
    }
}

impl BreakerConfig {
    /// Every problem with the values, each named by its key (`breaker.window: ...`); empty
    /// when the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            !self.window.is_zero(),
            "breaker.window",
            "must be longer than zero",
        );
        problems.check(
            self.min_requests >= 1,
            "breaker.min_requests",
            "must be at least 1",
        );
        problems.check(
            self.failure_rate > 0.0 && self.failure_rate <= 1.0,
            "breaker.failure_rate",
            "must be above 0.0 and at most 1.0",
        );
        problems.check(
            !self.open_for.is_zero(),
            "breaker.open_for",
            "must be longer than zero",
        );
        problems.check(
            self.close_after >= 1,
            "breaker.close_after",
            "must be at least 1",
        );
        problems.into_list()
    }
}
