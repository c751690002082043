//! `[retry]`: the one retry loop's attempts, back-off and jitter.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The one retry loop's settings: retries on connection errors, timeouts and 5xx before the
/// first token, never on 4xx, never past the request's deadline.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt, at most.
    pub max_retries: u32,
    /// Wait before the first retry; each later one waits twice as long.
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Fraction of each wait that is randomised (0.2 = ±20 %), so clients do not retry in step.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            jitter: 0.2,
        }
    }
}

impl RetryConfig {
    /// Every problem with the values, each named by its key (`retry.jitter: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.max_retries <= 10,
            "retry.max_retries",
            "must be at most 10",
        );
        problems.check(
            (0.0..=1.0).contains(&self.jitter),
            "retry.jitter",
            "must be between 0.0 and 1.0",
        );
        problems.into_list()
    }
}
