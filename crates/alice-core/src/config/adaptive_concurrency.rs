//! `[adaptive_concurrency]`: the bounds, start and target of each backend's moving limit on
//! answers at once.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Adaptive concurrency: instead of a fixed `max_concurrent`, each backend's limit moves
/// between `min` and `max` to keep the p95 of its answer times near `target_p95` (AIMD: one
/// more slot while under target, a quarter fewer when over).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConcurrencyConfig {
    pub enabled: bool,
    pub min: usize,
    pub max: usize,
    /// The limit to start from.
    pub initial: usize,
    #[serde(with = "humantime_serde")]
    pub target_p95: Duration,
    /// Completed answers between two adjustments; their p95 decides the step.
    pub sample_size: usize,
}

impl Default for AdaptiveConcurrencyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min: 1,
            max: 10,
            initial: 5,
            target_p95: Duration::from_millis(2000),
            sample_size: 20,
        }
    }
}

impl AdaptiveConcurrencyConfig {
    /// Every problem with the values, each named by its key
    /// (`adaptive_concurrency.max: ...`); empty when the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.min >= 1 && self.min <= self.initial && self.initial <= self.max,
            "adaptive_concurrency",
            "needs 1 <= min <= initial <= max",
        );
        problems.check(
            self.max <= 1024,
            "adaptive_concurrency.max",
            "must be at most 1024",
        );
        problems.check(
            self.sample_size >= 5,
            "adaptive_concurrency.sample_size",
            "must be at least 5, or the p95 means little",
        );
        problems.check(
            !self.target_p95.is_zero(),
            "adaptive_concurrency.target_p95",
            "must be longer than zero",
        );
        problems.into_list()
    }
}
