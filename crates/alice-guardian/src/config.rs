//! The Guardian's settings, `[guardian]` in Alice's configuration.
//!
//! Kept in this crate until the lead hooks it into `alice_core::config::Config`; it follows the
//! same rules as that file: every key has the default from `seed-behaviours.md`, unknown keys are
//! errors, durations are written the humantime way (`"45s"`, `"5m"`), and [`GuardianConfig::validate`]
//! names each problem by its full key so an operator knows what to fix.

use crate::brownout::BrownoutLevel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardianConfig {
    /// Whether the Guardian runs at all; when off, Alice admits everything at NORMAL.
    pub enabled: bool,
    /// Time between two samples.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How many consecutive samples the soft trigger and the recovery rule look at.
    pub window: usize,
    /// Root of the /proc and /sys trees read by the sampler ("/" on a normal host; a mounted
    /// host root such as "/host" when the Guardian watches a machine from a container).
    pub root: PathBuf,
    /// A path on the data volume whose fill level is watched (the nearest existing ancestor
    /// is used while it does not exist yet).
    pub data_dir: PathBuf,

    /// Soft trigger (-> BROWNOUT): every RAM sample in the window at or above this fraction...
    pub soft_ram: f64,
    /// ...or every CPU sample in the window at or above this fraction.
    pub soft_cpu: f64,
    /// Hard trigger (-> EMERGENCY): one RAM sample at or above this fraction.
    pub hard_ram: f64,
    /// Hard trigger: one CPU sample at or above this fraction.
    pub hard_cpu: f64,
    /// Hard trigger: one disk sample at or above this fraction.
    pub hard_disk: f64,
    /// Hard trigger: one temperature reading at or above this, in degrees Celsius.
    pub hard_temp_c: f64,
    /// Recovery (-> NORMAL): every RAM sample in the window below this fraction...
    pub recover_ram: f64,
    /// ...and every CPU sample in the window below this fraction...
    pub recover_cpu: f64,
    /// ...and at least this long in the current state. Also the least time before any step down.
    #[serde(with = "humantime_serde")]
    pub min_dwell: Duration,
    /// BROWNOUT turns DEGRADED when the soft trigger has held without a break this long.
    #[serde(with = "humantime_serde")]
    pub degrade_after: Duration,
    /// The brownout level served in the BROWNOUT state (DEGRADED serves HEAVY).
    pub brownout_level: BrownoutLevel,

    /// Flap detection: this many state changes within `flap_window`...
    pub flap_transitions: usize,
    /// ...hold the machine: it may still step up, but steps down wait until the old changes
    /// have left this window, so a flap always ends.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,

    /// Least time between two emergency kills; a hard trigger sooner falls back to BROWNOUT.
    #[serde(with = "humantime_serde")]
    pub kill_cooldown: Duration,
    /// This many kills within `kill_window` put the Guardian into LOCKDOWN.
    pub kill_limit: usize,
    #[serde(with = "humantime_serde")]
    pub kill_window: Duration,
    /// How long LOCKDOWN lasts unless an operator overrides it.
    #[serde(with = "humantime_serde")]
    pub lockdown_for: Duration,

    /// Consecutive samples without a RAM or CPU reading before the host counts as under
    /// pressure (the samples before that are ignored).
    pub unknown_strikes: u32,
}

impl Default for GuardianConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(1),
            window: 3,
            root: PathBuf::from("/"),
            data_dir: PathBuf::from("data"),
            soft_ram: 0.80,
            soft_cpu: 0.80,
            hard_ram: 0.92,
            hard_cpu: 0.92,
            hard_disk: 0.95,
            hard_temp_c: 90.0,
            recover_ram: 0.70,
            recover_cpu: 0.75,
            min_dwell: Duration::from_secs(45),
            degrade_after: Duration::from_secs(60),
            brownout_level: BrownoutLevel::Moderate,
            flap_transitions: 4,
            flap_window: Duration::from_secs(300),
            kill_cooldown: Duration::from_secs(300),
            kill_limit: 3,
            kill_window: Duration::from_secs(1800),
            lockdown_for: Duration::from_secs(3600),
            unknown_strikes: 3,
        }
    }
}

impl GuardianConfig {
    /// Every problem with the values, each named by its key (`guardian.window: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, problem: &str| {
            if !ok {
                problems.push(format!("guardian.{key}: {problem}"));
            }
        };
        check(
            self.interval >= Duration::from_millis(100),
            "interval",
            "must be at least 100ms (sampling /proc faster measures noise)",
        );
        check(
            (1..=120).contains(&self.window),
            "window",
            "must be between 1 and 120 samples",
        );
        for (key, value) in [
            ("soft_ram", self.soft_ram),
            ("soft_cpu", self.soft_cpu),
            ("hard_ram", self.hard_ram),
            ("hard_cpu", self.hard_cpu),
            ("hard_disk", self.hard_disk),
            ("recover_ram", self.recover_ram),
            ("recover_cpu", self.recover_cpu),
        ] {
            check(
                value > 0.0 && value <= 1.0,
                key,
                "must be a fraction above 0 and at most 1, e.g. 0.8 for 80 %",
            );
        }
        check(
            self.recover_ram < self.soft_ram,
            "recover_ram",
            "must be below guardian.soft_ram, or the machine cannot settle between them",
        );
        check(
            self.recover_cpu < self.soft_cpu,
            "recover_cpu",
            "must be below guardian.soft_cpu, or the machine cannot settle between them",
        );
        check(
            self.soft_ram < self.hard_ram,
            "soft_ram",
            "must be below guardian.hard_ram",
        );
        check(
            self.soft_cpu < self.hard_cpu,
            "soft_cpu",
            "must be below guardian.hard_cpu",
        );
        check(
            self.hard_temp_c > 0.0 && self.hard_temp_c < 150.0,
            "hard_temp_c",
            "must be between 0 and 150 degrees Celsius",
        );
        check(
            self.flap_transitions >= 2,
            "flap_transitions",
            "must be at least 2",
        );
        check(
            !self.flap_window.is_zero(),
            "flap_window",
            "must be longer than zero",
        );
        check(self.kill_limit >= 1, "kill_limit", "must be at least 1");
        check(
            self.kill_window >= self.kill_cooldown,
            "kill_window",
            "must be at least guardian.kill_cooldown",
        );
        check(
            !self.lockdown_for.is_zero(),
            "lockdown_for",
            "must be longer than zero",
        );
        check(
            self.unknown_strikes >= 1,
            "unknown_strikes",
            "must be at least 1",
        );
        check(
            self.brownout_level != BrownoutLevel::None,
            "brownout_level",
            "must be LIGHT, MODERATE or HEAVY",
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let c = GuardianConfig::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.window, 3);
        assert_eq!(c.min_dwell, Duration::from_secs(45));
        assert_eq!(c.lockdown_for, Duration::from_secs(3600));
    }

    #[test]
    fn it_reads_humantime_and_rejects_unknown_keys() {
        let c: GuardianConfig =
            serde_json::from_str(r#"{"interval":"500ms","min_dwell":"1m","window":5}"#).unwrap();
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.min_dwell, Duration::from_secs(60));
        assert_eq!(c.window, 5);
        assert_eq!(c.soft_ram, 0.80, "unset keys keep their default");
        let err = serde_json::from_str::<GuardianConfig>(r#"{"windw":5}"#).unwrap_err();
        assert!(err.to_string().contains("windw"));
    }

    #[test]
    fn problems_are_named_by_key() {
        let c = GuardianConfig {
            window: 0,
            recover_ram: 0.9,
            ..GuardianConfig::default()
        };
        let problems = c.validate();
        assert!(problems.iter().any(|p| p.starts_with("guardian.window:")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("guardian.recover_ram:"))
        );
    }
}
