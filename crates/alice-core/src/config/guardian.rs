//! `[guardian]`: how the Guardian samples the machine, when its state machine steps between
//! NORMAL, BROWNOUT, DEGRADED, EMERGENCY and LOCKDOWN, and where a remote Guardian is asked.

use super::checks::{Problems, is_http_url};
use crate::BrownoutLevel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Largest Guardian threshold accepted; anything above 1.0 already means "never".
const MAX_THRESHOLD: f64 = 10.0;

/// Which readings the Guardian's CPU and memory triggers judge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signals {
    /// Pressure stall information where the kernel reports it: CPU *pressure* (others waiting
    /// for the cores), memory pressure and headroom. Without PSI, CPU use minus Alice's own
    /// and the model server's.
    #[default]
    Auto,
    /// The seed's rules: CPU and RAM use only, Alice's own CPU included.
    Usage,
}

/// The Guardian: resource sampling, its state machine and the brownout it asks for
/// (`[guardian]`); the rules are documented in the alice-guardian crate.
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
    /// Which readings the CPU and memory triggers judge ("auto": pressure where the kernel has
    /// PSI; "usage": the seed's CPU/RAM use rules).
    pub signals: Signals,
    /// With PSI, soft trigger (-> BROWNOUT, never further on its own): CPU pressure (`some`,
    /// avg10) at or above this in every sample of the window.
    pub soft_cpu_pressure: f64,
    /// With PSI, recovery needs CPU pressure below this in every sample of the window.
    pub recover_cpu_pressure: f64,
    /// With PSI, soft trigger: memory pressure (`some`, avg10) at or above this in every sample
    /// of the window.
    pub soft_memory_pressure: f64,
    /// With PSI, hard trigger: memory pressure `full` (every task stalled), avg10, at or above
    /// this in one sample.
    pub hard_memory_pressure: f64,
    /// With PSI, recovery needs memory pressure (`some`, avg10) below this.
    pub recover_memory_pressure: f64,
    /// With PSI, soft trigger (-> BROWNOUT, never further on its own): I/O pressure `full`,
    /// avg10, at or above this in every sample of the window.
    pub soft_io_pressure: f64,
    /// With PSI, recovery needs I/O pressure `full` below this.
    pub recover_io_pressure: f64,
    /// Processes (by `/proc/PID/comm`) whose CPU use is the job being done, like Alice's own:
    /// without PSI it is subtracted from CPU use before the CPU triggers judge it.
    pub own_processes: Vec<String>,
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
    /// In an emergency, how long answers in flight may finish before they are cut (then the
    /// model is unloaded).
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Use a Guardian daemon (`alice guardian`) at this URL instead of running one in this
    /// process, so one Guardian watches a machine that runs several Alice processes.
    pub remote_url: Option<String>,
    /// How often the daemon's status is fetched (Alice answers from the latest).
    #[serde(with = "humantime_serde")]
    pub remote_poll: Duration,
    /// How long one status fetch may take before it counts as unknown.
    #[serde(with = "humantime_serde")]
    pub remote_timeout: Duration,
    /// Retry-After on chat requests shed with 429 in DEGRADED.
    #[serde(with = "humantime_serde")]
    pub shed_retry_after: Duration,
    /// Retry-After on requests refused with 503 in EMERGENCY and LOCKDOWN.
    #[serde(with = "humantime_serde")]
    pub refuse_retry_after: Duration,

    // The latency brownout: this process's own time to first token and queue wait step the
    // brownout level up when they miss their targets (alice_guardian::latency). Kept as one
    // block at the end of the struct.
    /// Whether answers' latency may raise the brownout level (with the Guardian on).
    pub latency_brownout: bool,
    /// Time to first token (request received to first token) whose p95 must hold.
    #[serde(with = "humantime_serde")]
    pub target_ttft_p95: Duration,
    /// Time waiting for a backend slot whose p95 must hold.
    #[serde(with = "humantime_serde")]
    pub target_queue_wait_p95: Duration,
    /// The answers judged: those of this last stretch of time (and since the last change).
    #[serde(with = "humantime_serde")]
    pub latency_window: Duration,
    /// Fewer answers than this in the window decide nothing (a p95 of three answers is noise).
    pub latency_min_answers: usize,
    /// Least time between two level changes, and how long the p95s must stay low before a
    /// step down.
    #[serde(with = "humantime_serde")]
    pub latency_dwell: Duration,
    /// The heaviest level latency alone may ask for.
    pub latency_max_level: BrownoutLevel,
    /// A step down needs both p95s below this fraction of their targets (the gap between it
    /// and the target is the hysteresis).
    pub latency_recover_fraction: f64,
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
            signals: Signals::Auto,
            soft_cpu_pressure: 0.50,
            recover_cpu_pressure: 0.25,
            soft_memory_pressure: 0.10,
            hard_memory_pressure: 0.10,
            recover_memory_pressure: 0.02,
            soft_io_pressure: 0.40,
            recover_io_pressure: 0.20,
            own_processes: vec!["ollama".to_owned(), "llama-server".to_owned()],
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
            drain_timeout: Duration::from_secs(10),
            remote_url: None,
            remote_poll: Duration::from_millis(300),
            remote_timeout: Duration::from_millis(500),
            shed_retry_after: Duration::from_secs(5),
            refuse_retry_after: Duration::from_secs(15),
            latency_brownout: true,
            target_ttft_p95: Duration::from_secs(2),
            target_queue_wait_p95: Duration::from_secs(1),
            latency_window: Duration::from_secs(60),
            latency_min_answers: 5,
            latency_dwell: Duration::from_secs(10),
            latency_max_level: BrownoutLevel::Heavy,
            latency_recover_fraction: 0.5,
        }
    }
}

impl GuardianConfig {
    /// Every problem with the values, each named by its key (`guardian.window: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        if let Some(url) = &self.remote_url
            && !is_http_url(url)
        {
            problems.push(format!(
                "guardian.remote_url: {url:?} must start with http:// or https://, e.g. \"http://127.0.0.1:8787\""
            ));
        }
        if self.remote_poll.is_zero() || self.remote_timeout.is_zero() {
            problems.push(
                "guardian.remote_poll and guardian.remote_timeout must be longer than zero".into(),
            );
        }
        problems.check(
            self.interval >= Duration::from_millis(100),
            "guardian.interval",
            "must be at least 100ms (sampling /proc faster measures noise)",
        );
        problems.check(
            (1..=120).contains(&self.window),
            "guardian.window",
            "must be between 1 and 120 samples",
        );
        for (key, value) in [
            ("guardian.soft_ram", self.soft_ram),
            ("guardian.soft_cpu", self.soft_cpu),
            ("guardian.hard_ram", self.hard_ram),
            ("guardian.hard_cpu", self.hard_cpu),
            ("guardian.hard_disk", self.hard_disk),
            ("guardian.recover_ram", self.recover_ram),
            ("guardian.recover_cpu", self.recover_cpu),
            ("guardian.soft_cpu_pressure", self.soft_cpu_pressure),
            ("guardian.recover_cpu_pressure", self.recover_cpu_pressure),
            ("guardian.soft_memory_pressure", self.soft_memory_pressure),
            ("guardian.hard_memory_pressure", self.hard_memory_pressure),
            (
                "guardian.recover_memory_pressure",
                self.recover_memory_pressure,
            ),
            ("guardian.soft_io_pressure", self.soft_io_pressure),
            ("guardian.recover_io_pressure", self.recover_io_pressure),
        ] {
            // Above 1.0 is allowed: a reading never gets there, which switches the trigger off
            // (e.g. hard_cpu on a machine whose model runs on the CPU and keeps it busy).
            problems.check(
                value.is_finite() && value > 0.0 && value <= MAX_THRESHOLD,
                key,
                "must be a fraction above 0, e.g. 0.8 for 80 % (above 1.0 switches it off; at most 10)",
            );
        }
        problems.check(
            self.recover_ram < self.soft_ram,
            "guardian.recover_ram",
            "must be below guardian.soft_ram, or the machine cannot settle between them",
        );
        problems.check(
            self.recover_cpu < self.soft_cpu,
            "guardian.recover_cpu",
            "must be below guardian.soft_cpu, or the machine cannot settle between them",
        );
        for (recover, soft, key, soft_key) in [
            (
                self.recover_cpu_pressure,
                self.soft_cpu_pressure,
                "guardian.recover_cpu_pressure",
                "guardian.soft_cpu_pressure",
            ),
            (
                self.recover_memory_pressure,
                self.soft_memory_pressure,
                "guardian.recover_memory_pressure",
                "guardian.soft_memory_pressure",
            ),
            (
                self.recover_io_pressure,
                self.soft_io_pressure,
                "guardian.recover_io_pressure",
                "guardian.soft_io_pressure",
            ),
        ] {
            if recover >= soft {
                problems.push(format!(
                    "{key}: must be below {soft_key}, or the machine cannot settle between them"
                ));
            }
        }
        problems.check(
            self.own_processes
                .iter()
                .all(|name| !name.is_empty() && name.len() <= 15),
            "guardian.own_processes",
            "names are process names as in /proc/PID/comm: 1 to 15 characters each",
        );
        problems.check(
            self.soft_ram < self.hard_ram,
            "guardian.soft_ram",
            "must be below guardian.hard_ram",
        );
        problems.check(
            self.soft_cpu < self.hard_cpu,
            "guardian.soft_cpu",
            "must be below guardian.hard_cpu",
        );
        problems.check(
            self.hard_temp_c > 0.0 && self.hard_temp_c < 150.0,
            "guardian.hard_temp_c",
            "must be between 0 and 150 degrees Celsius",
        );
        problems.check(
            self.flap_transitions >= 2,
            "guardian.flap_transitions",
            "must be at least 2",
        );
        problems.check(
            !self.flap_window.is_zero(),
            "guardian.flap_window",
            "must be longer than zero",
        );
        problems.check(
            self.kill_limit >= 1,
            "guardian.kill_limit",
            "must be at least 1",
        );
        problems.check(
            self.kill_window >= self.kill_cooldown,
            "guardian.kill_window",
            "must be at least guardian.kill_cooldown",
        );
        problems.check(
            !self.lockdown_for.is_zero(),
            "guardian.lockdown_for",
            "must be longer than zero",
        );
        problems.check(
            self.unknown_strikes >= 1,
            "guardian.unknown_strikes",
            "must be at least 1",
        );
        problems.check(
            self.brownout_level != BrownoutLevel::None,
            "guardian.brownout_level",
            "must be LIGHT, MODERATE or HEAVY",
        );
        self.validate_latency(&mut problems);
        problems.into_list()
    }

    /// The latency brownout's settings.
    fn validate_latency(&self, problems: &mut Problems) {
        problems.check(
            !self.target_ttft_p95.is_zero(),
            "guardian.target_ttft_p95",
            "must be longer than zero, e.g. \"2s\"",
        );
        problems.check(
            !self.target_queue_wait_p95.is_zero(),
            "guardian.target_queue_wait_p95",
            "must be longer than zero, e.g. \"1s\"",
        );
        problems.check(
            self.latency_window >= Duration::from_secs(1),
            "guardian.latency_window",
            "must be at least 1s",
        );
        problems.check(
            (1..=10_000).contains(&self.latency_min_answers),
            "guardian.latency_min_answers",
            "must be between 1 and 10000 answers",
        );
        problems.check(
            !self.latency_dwell.is_zero(),
            "guardian.latency_dwell",
            "must be longer than zero, or the level could change at every evaluation",
        );
        problems.check(
            self.latency_max_level != BrownoutLevel::None,
            "guardian.latency_max_level",
            "must be LIGHT, MODERATE, HEAVY or EMERGENCY (to switch it off, set guardian.latency_brownout = false)",
        );
        problems.check(
            self.latency_recover_fraction > 0.0 && self.latency_recover_fraction < 1.0,
            "guardian.latency_recover_fraction",
            "must be a fraction between 0 and 1, e.g. 0.5",
        );
    }
}
