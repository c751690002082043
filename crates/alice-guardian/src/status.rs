//! The Guardian's status document, the JSON shape `seed-behaviours.md` gives for
//! `/api/guardian/status` and the daemon's `/health`.
//!
//! Built from a [`StateMachine`] (in practice the copy the Guardian task last published), so
//! reading it has no side effects and never waits for a sample. The machine keeps tokio
//! instants; they are turned into wall-clock times against the `now`/`wall_now` pair passed in,
//! which keeps this module free of clocks.

use crate::brownout::{self, BrownoutLevel, ManualBrownout, Preset};
use crate::state::signals::CpuSignal;
use crate::state::{GuardianState, Reason, StateMachine};
use alice_core::config::Signals;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct GuardianStatus {
    pub status: GuardianState,
    pub previous_state: Option<GuardianState>,
    pub uptime_s: f64,
    pub state_duration_s: f64,
    pub metrics: Metrics,
    pub hysteresis: Hysteresis,
    pub cooldown: Cooldown,
    pub brownout: BrownoutStatus,
    pub auto_tuning: AutoTuning,
}

#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// When the latest sample was taken (`None` before the first).
    pub timestamp: Option<DateTime<Utc>>,
    pub ram_pct: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub temp_c: Option<f64>,
    /// RAM in use, in GB (10^9 bytes), against the cgroup limit or the host total.
    pub ram_gb: Option<f64>,
    pub ram_total_gb: Option<f64>,
    /// Pressure stall information (fractions 0-1 over 10 and 60 s); `null` where the kernel
    /// has none.
    pub pressure: Option<crate::pressure::Pressure>,
    /// Free memory before the limit (cgroup) or MemAvailable (host), in GB.
    pub ram_headroom_gb: Option<f64>,
    /// The part of `cpu_pct` used by Alice and the local model server.
    pub cpu_own_pct: Option<f64>,
    /// OOM kills counted so far where the RAM figure comes from.
    pub oom_kills: Option<u64>,
    /// What the triggers read, and a note when PSI is missing.
    pub signals: SignalsView,
    /// Answers are served degraded (any state but NORMAL).
    pub degraded: bool,
    /// Chat/LLM requests are refused (DEGRADED, EMERGENCY, LOCKDOWN).
    pub intake_blocked: bool,
    /// EMERGENCY or LOCKDOWN.
    pub emergency_mode: bool,
    /// Samples in a row without RAM or CPU (the 3-strike rule).
    pub unknown_streak: u32,
}

/// How the latest sample was judged.
#[derive(Clone, Debug, Serialize)]
pub struct SignalsView {
    /// `guardian.signals`.
    pub setting: Signals,
    /// How CPU was judged: "pressure", "use_minus_own" or "use" (`null` before a sample).
    pub cpu: Option<CpuSignal>,
    /// The CPU figure the triggers judged.
    pub cpu_judged: Option<f64>,
    /// Whether the kernel reports pressure stall information.
    pub psi: bool,
    /// Why the rules fall back to use, when they do.
    pub note: Option<&'static str>,
}

const NO_PSI_NOTE: &str = "this kernel reports no pressure stall information (PSI): CPU is \
    judged by its use minus Alice's own and the model server's, memory by headroom only";

#[derive(Clone, Debug, Serialize)]
pub struct Hysteresis {
    pub ram_measurements: Vec<f64>,
    pub cpu_measurements: Vec<f64>,
    pub measurement_window_full: bool,
    pub flap_detected: bool,
    pub state_history: Vec<HistoryEntry>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    pub from: GuardianState,
    pub to: GuardianState,
    pub reason: Reason,
    pub detail: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cooldown {
    pub can_kill: bool,
    pub reason: Option<String>,
    pub kills_in_window: usize,
    pub lockdown_until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrownoutStatus {
    pub active: bool,
    pub level: BrownoutLevel,
    /// When the current stretch of degraded service began (state or manual, whichever first).
    pub activation_time: Option<DateTime<Utc>>,
    pub duration_s: f64,
    pub manual: Option<ManualView>,
    pub stats: BrownoutStats,
    /// The preset being served.
    pub config: Preset,
}

#[derive(Clone, Debug, Serialize)]
pub struct ManualView {
    pub level: BrownoutLevel,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrownoutStats {
    /// Times the Guardian left NORMAL since start.
    pub activations: u64,
    /// Seconds spent outside NORMAL since start.
    pub time_degraded_s: f64,
}

/// Adaptive concurrency lives in the LLM layer; until it reports here these stay empty.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AutoTuning {
    pub current_concurrency: Option<u32>,
    pub target_p95_ms: Option<u64>,
    pub recent_latencies: Vec<f64>,
}

const GB: f64 = 1e9;

fn signals_view(machine: &StateMachine) -> SignalsView {
    let setting = machine.config().signals;
    let psi = machine
        .last_sample()
        .is_some_and(|s| s.pressure.as_ref().is_some_and(|p| p.cpu.is_some()));
    let latest = machine.judged_cpu_window().last();
    SignalsView {
        setting,
        cpu: latest.map(|(_, signal)| signal),
        cpu_judged: latest.map(|(figure, _)| figure),
        psi,
        note: (setting == Signals::Auto && machine.last_sample().is_some() && !psi)
            .then_some(NO_PSI_NOTE),
    }
}

impl GuardianStatus {
    /// The status of `machine` as of `now` (tokio clock) = `wall_now` (wall clock).
    pub fn build(
        machine: &StateMachine,
        manual: Option<&ManualBrownout>,
        now: Instant,
        wall_now: DateTime<Utc>,
    ) -> Self {
        let wall = |at: Instant| -> DateTime<Utc> {
            let ago = now.saturating_duration_since(at);
            chrono::Duration::from_std(ago)
                .ok()
                .and_then(|ago| wall_now.checked_sub_signed(ago))
                .unwrap_or(wall_now)
        };
        let secs = |since: Instant| now.saturating_duration_since(since).as_secs_f64();
        let state = machine.state();
        let sample = machine.last_sample();
        let kill = machine.kill_status(now);
        let level = brownout::effective_level(
            state,
            machine.config().brownout_level,
            manual.map(|m| m.level),
        );
        let activation = match (machine.degraded_since(), manual.map(|m| m.since)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            status: state,
            previous_state: machine.previous_state(),
            uptime_s: secs(machine.started_at()),
            state_duration_s: secs(machine.entered_at()),
            metrics: Metrics {
                timestamp: sample.map(|s| s.timestamp),
                ram_pct: sample.and_then(|s| s.ram_pct),
                cpu_pct: sample.and_then(|s| s.cpu_pct),
                disk_pct: sample.and_then(|s| s.disk_pct),
                temp_c: sample.and_then(|s| s.temp_c),
                ram_gb: sample.and_then(|s| s.ram_bytes_used).map(|b| b as f64 / GB),
                ram_total_gb: sample
                    .and_then(|s| s.ram_bytes_total)
                    .map(|b| b as f64 / GB),
                pressure: sample.and_then(|s| s.pressure.clone()),
                ram_headroom_gb: sample.and_then(|s| {
                    let (used, total) = (s.ram_bytes_used?, s.ram_bytes_total?);
                    Some(total.saturating_sub(used) as f64 / GB)
                }),
                cpu_own_pct: sample.and_then(|s| s.cpu_own_pct),
                oom_kills: sample.and_then(|s| s.oom_kills),
                signals: signals_view(machine),
                degraded: state != GuardianState::Normal,
                intake_blocked: state >= GuardianState::Degraded,
                emergency_mode: state >= GuardianState::Emergency,
                unknown_streak: machine.unknown_streak(),
            },
            hysteresis: Hysteresis {
                ram_measurements: machine.ram_window().collect(),
                cpu_measurements: machine.cpu_window().collect(),
                measurement_window_full: machine.window_full(),
                flap_detected: machine.flap_detected(),
                state_history: machine
                    .history()
                    .map(|t| HistoryEntry {
                        from: t.from,
                        to: t.to,
                        reason: t.reason,
                        detail: t.detail.clone(),
                        at: wall(t.at),
                    })
                    .collect(),
            },
            cooldown: Cooldown {
                can_kill: kill.can_kill,
                reason: kill.reason,
                kills_in_window: kill.kills_in_window,
                lockdown_until: kill.lockdown_until.map(|until| {
                    let ahead = until.saturating_duration_since(now);
                    chrono::Duration::from_std(ahead)
                        .ok()
                        .and_then(|ahead| wall_now.checked_add_signed(ahead))
                        .unwrap_or(wall_now)
                }),
            },
            brownout: BrownoutStatus {
                active: level != BrownoutLevel::None,
                level,
                activation_time: activation.map(wall),
                duration_s: activation.map_or(0.0, secs),
                manual: manual.map(|m| ManualView {
                    level: m.level,
                    reason: m.reason.clone(),
                }),
                stats: BrownoutStats {
                    activations: machine.activations(),
                    time_degraded_s: machine.time_degraded(now).as_secs_f64(),
                },
                config: crate::brownout::preset(level),
            },
            auto_tuning: AutoTuning::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::GuardianConfig;
    use crate::sampler::Sample;
    use std::time::Duration;

    fn keys(v: &serde_json::Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn the_shape_is_the_specs() {
        let t0 = Instant::now();
        let mut m = StateMachine::new(GuardianConfig::default(), t0);
        for i in 1..=3 {
            let sample = Sample {
                ram_bytes_used: Some(6_800_000_000),
                ram_bytes_total: Some(8_000_000_000),
                disk_pct: Some(0.4),
                ..Sample::ram_cpu(0.85, 0.2)
            };
            m.step(sample, t0 + Duration::from_secs(i));
        }
        let now = t0 + Duration::from_secs(13);
        let wall = Utc::now();
        let v = serde_json::to_value(GuardianStatus::build(&m, None, now, wall)).unwrap();
        assert_eq!(
            keys(&v),
            [
                "status",
                "previous_state",
                "uptime_s",
                "state_duration_s",
                "metrics",
                "hysteresis",
                "cooldown",
                "brownout",
                "auto_tuning"
            ]
        );
        assert_eq!(v["status"], "BROWNOUT");
        assert_eq!(v["previous_state"], "NORMAL");
        assert_eq!(v["uptime_s"], 13.0);
        assert_eq!(v["state_duration_s"], 10.0);
        for key in [
            "timestamp",
            "ram_pct",
            "cpu_pct",
            "disk_pct",
            "temp_c",
            "ram_gb",
            "degraded",
            "intake_blocked",
            "emergency_mode",
        ] {
            assert!(v["metrics"].get(key).is_some(), "metrics.{key}");
        }
        assert_eq!(v["metrics"]["ram_pct"], 0.85);
        assert_eq!(v["metrics"]["ram_gb"], 6.8);
        assert_eq!(v["metrics"]["temp_c"], serde_json::Value::Null);
        assert_eq!(v["metrics"]["degraded"], true);
        assert_eq!(v["metrics"]["ram_headroom_gb"], 1.2);
        assert_eq!(v["metrics"]["signals"]["cpu"], "use_minus_own");
        assert_eq!(v["metrics"]["signals"]["psi"], false);
        assert!(
            v["metrics"]["signals"]["note"]
                .as_str()
                .unwrap()
                .contains("no pressure stall information"),
            "a kernel without PSI is said so"
        );
        assert_eq!(v["metrics"]["intake_blocked"], false);
        assert_eq!(
            keys(&v["hysteresis"]),
            [
                "ram_measurements",
                "cpu_measurements",
                "measurement_window_full",
                "flap_detected",
                "state_history"
            ]
        );
        assert_eq!(
            v["hysteresis"]["ram_measurements"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            v["hysteresis"]["state_history"][0]["reason"],
            "soft_trigger"
        );
        assert_eq!(
            keys(&v["cooldown"]),
            ["can_kill", "reason", "kills_in_window", "lockdown_until"]
        );
        assert_eq!(v["cooldown"]["can_kill"], true);
        for key in [
            "active",
            "level",
            "activation_time",
            "duration_s",
            "stats",
            "config",
        ] {
            assert!(v["brownout"].get(key).is_some(), "brownout.{key}");
        }
        assert_eq!(v["brownout"]["active"], true);
        assert_eq!(v["brownout"]["level"], "MODERATE");
        assert_eq!(v["brownout"]["duration_s"], 10.0);
        assert_eq!(v["brownout"]["config"]["max_tokens"], 1024);
        let activated: DateTime<Utc> =
            serde_json::from_value(v["brownout"]["activation_time"].clone()).unwrap();
        assert_eq!(wall - activated, chrono::Duration::seconds(10));
        assert_eq!(
            keys(&v["auto_tuning"]),
            ["current_concurrency", "target_p95_ms", "recent_latencies"]
        );
    }

    #[test]
    fn a_lockdown_shows_its_end_and_a_manual_brownout_its_reason() {
        let t0 = Instant::now();
        let config = GuardianConfig {
            kill_limit: 1,
            ..GuardianConfig::default()
        };
        let mut m = StateMachine::new(config, t0);
        m.step(Sample::ram_cpu(0.99, 0.1), t0);
        let manual = ManualBrownout {
            level: BrownoutLevel::Light,
            reason: "test".to_owned(),
            since: t0,
        };
        let wall = Utc::now();
        let v = serde_json::to_value(GuardianStatus::build(&m, Some(&manual), t0, wall)).unwrap();
        assert_eq!(v["status"], "LOCKDOWN");
        assert_eq!(v["metrics"]["emergency_mode"], true);
        assert_eq!(v["cooldown"]["can_kill"], false);
        assert_eq!(v["cooldown"]["kills_in_window"], 1);
        let until: DateTime<Utc> =
            serde_json::from_value(v["cooldown"]["lockdown_until"].clone()).unwrap();
        assert_eq!(until - wall, chrono::Duration::seconds(3600));
        assert_eq!(
            v["brownout"]["level"], "EMERGENCY",
            "manual LIGHT does not lighten it"
        );
        assert_eq!(v["brownout"]["manual"]["reason"], "test");
    }
}
