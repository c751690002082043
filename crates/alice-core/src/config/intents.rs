//! `[intents]`: the requests Alice answers herself, before any model is asked (the time, a
//! timer, a sum, a conversion, a memory), and `[timers]`: the timers and reminders they set.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The intent layer in front of the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntentsConfig {
    /// Whether Alice answers recognised requests herself; false sends everything to the model
    /// (memory commands follow `memory.enabled` still).
    pub enabled: bool,
    /// Least confidence (0 to 1) of the classifier for Alice to answer herself; below it the
    /// request goes to the model.
    pub min_confidence: f32,
    /// The time zone of callers Alice knows none for (anonymous requests); a user's own is
    /// their profile's. An IANA name.
    pub default_timezone: String,
}

impl Default for IntentsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_confidence: 0.7,
            default_timezone: "Europe/Stockholm".to_owned(),
        }
    }
}

impl IntentsConfig {
    /// The default time zone, parsed (validation has checked it).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.default_timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Stockholm)
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            (0.0..=1.0).contains(&self.min_confidence),
            "intents.min_confidence",
            "must be between 0 and 1",
        );
        problems.check(
            self.default_timezone.parse::<chrono_tz::Tz>().is_ok(),
            "intents.default_timezone",
            "must be an IANA time zone name such as \"Europe/Stockholm\"",
        );
        problems.into_list()
    }
}

/// Timers and reminders: kept in the database, fired once by whichever instance comes first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimersConfig {
    /// How often the database is asked for timers that are due; a timer fires at most this
    /// late.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Most pending timers and reminders one user may have.
    pub max_pending_per_user: u32,
    /// Furthest ahead a timer or reminder may be set.
    #[serde(with = "humantime_serde")]
    pub max_ahead: Duration,
    /// Most timers fired by one poll; the rest wait for the next.
    pub fire_batch: u32,
}

impl Default for TimersConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            max_pending_per_user: 50,
            max_ahead: Duration::from_secs(366 * 24 * 3600),
            fire_batch: 100,
        }
    }
}

impl TimersConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.poll_interval >= Duration::from_millis(50)
                && self.poll_interval <= Duration::from_secs(60),
            "timers.poll_interval",
            "must be between 50ms and 60s",
        );
        problems.check(
            self.max_pending_per_user >= 1,
            "timers.max_pending_per_user",
            "must be at least 1",
        );
        problems.check(
            self.max_ahead >= Duration::from_secs(60),
            "timers.max_ahead",
            "must be at least 1m",
        );
        problems.check(
            self.fire_batch >= 1,
            "timers.fire_batch",
            "must be at least 1",
        );
        problems.into_list()
    }
}
