//! The Guardian's state machine: from a stream of samples to NORMAL, BROWNOUT, DEGRADED,
//! EMERGENCY or LOCKDOWN.
//!
//! It is pure: [`StateMachine::step`] takes a sample and the time (`now`), changes nothing but
//! itself and returns what happened, so tests drive it with scripted samples and explicit
//! instants, and the caller (the Guardian task) does the logging and the emergency action.
//!
//! Each step first puts the sample in the window, then evaluates these conditions
//! (defaults from `seed-behaviours.md` and issue 21, all settings in [`GuardianConfig`]; how
//! CPU and memory are read is [`signals`]):
//! - **hard**: this one sample has RAM >= 0.92, disk >= 0.95, temp >= 90 C, memory pressure
//!   `full` >= 0.10, a new OOM kill in Alice's group (or on the host outside one), or, without
//!   PSI, CPU use (minus Alice's own and the model server's) >= 0.92;
//! - **soft**: the window (3 samples) is full and all RAM >= 0.80, or all memory pressure at
//!   0.10 or more, or all CPU pressure >= 0.50 (without PSI: all CPU use minus own >= 0.80), or
//!   all I/O pressure `full` >= 0.40. CPU and I/O *pressure* are **brownout-only**: they move
//!   NORMAL to BROWNOUT and hold it, but never on to DEGRADED (contention slows answers; cheaper
//!   answers help, refusing people does not, and the limiter's queue still bounds the wait);
//! - **calm**: the window is full and all RAM < 0.70, CPU < its recovery threshold (pressure
//!   0.25, use 0.75), memory pressure < 0.02 and I/O pressure < 0.20;
//! - **dwell**: at least `min_dwell` (45 s) in the current state;
//! - **blind**: `unknown_strikes` (3) or more samples in a row lacked RAM or CPU.
//!
//! Then the first matching row applies:
//!
//! | from | when | to | why |
//! |---|---|---|---|
//! | LOCKDOWN | `lockdown_for` (3600 s) is over, or an override with `confirm_override: true` | NORMAL if calm, else BROWNOUT | only time or an operator ends it |
//! | LOCKDOWN | otherwise | stays | |
//! | EMERGENCY | hard | stays | one kill per emergency |
//! | any other | hard, a kill is allowed, and it is the `kill_limit`-th (3rd) within `kill_window` (1800 s) | LOCKDOWN (kill requested) | kills are not fixing it; stop and wait for a human |
//! | any other | hard and a kill is allowed | EMERGENCY (kill requested) | |
//! | NORMAL | hard but a kill is blocked (`kill_cooldown` 300 s) | BROWNOUT | the spec: a blocked kill falls back to BROWNOUT |
//! | BROWNOUT, DEGRADED | hard but a kill is blocked | stays | never step down on a hard trigger |
//! | NORMAL, BROWNOUT | blind | DEGRADED | see "unknown readings" below |
//! | NORMAL | soft | BROWNOUT | |
//! | BROWNOUT | a soft trigger that is not brownout-only has held without a break for `degrade_after` (60 s) | DEGRADED | brownout alone is not relieving the pressure |
//! | BROWNOUT, DEGRADED, EMERGENCY | calm and dwell | NORMAL | the spec's recovery rule |
//! | DEGRADED | window full, no soft trigger but brownout-only ones, dwell | BROWNOUT | step down through the hysteresis band |
//! | EMERGENCY | no hard in the last `window` samples and dwell | DEGRADED if a soft trigger that is not brownout-only holds, else BROWNOUT | the kill worked but the machine is not calm yet |
//!
//! Between "soft" (>= 0.80) and "calm" (< 0.70 RAM, < 0.75 CPU) is a band where nothing moves:
//! that band plus the dwell time is the hysteresis. The step-down rows exist so that no state
//! holds for ever on readings that no longer justify it (a machine at 75 % RAM after an
//! emergency serves degraded answers instead of 503s until it is calm).
//!
//! **Unknown readings** (no RAM or no CPU figure): the first `unknown_strikes - 1` in a row are
//! ignored (a single failed read of /proc is noise). From the `unknown_strikes`-th on the host
//! counts as under pressure and the machine goes to DEGRADED, the window is emptied (its
//! readings are stale) and nothing steps down until a full window of real readings is back.
//! DEGRADED because it is what the spec's own 3-strike rule for an unreachable Guardian daemon
//! does (chat/LLM paths blocked from the 3rd unknown check, health and control still served),
//! while no emergency kill is ever made on missing data. A hard reading among unknowns (say RAM
//! known at 95 %, CPU unknown) still triggers.
//!
//! **Flap detection** is over time: when `flap_transitions` (4) state changes fall within
//! `flap_window` (300 s), `flap_detected` is set and the machine may still step *up* (protection
//! is never delayed) but every step *down* is held. Since holding stops the changes, the old ones
//! leave the window and the flag clears on its own at most `flap_window` after the last change:
//! it cannot lock the machine (the original's count had no time bound and stuck in BROWNOUT).
//! The flag clears when at most `flap_transitions - 2` changes remain in the window, so the step
//! down it releases does not set it again straight away.
//! The end of a LOCKDOWN (by time or override) is never held.
//!
//! **Kills**: a kill is allowed when not in LOCKDOWN and the previous kill was at least
//! `kill_cooldown` ago. An override does not forget earlier kills: a new emergency soon after
//! one goes straight back to LOCKDOWN.

use crate::config::GuardianConfig;
use crate::sampler::Sample;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

mod outcome;
pub mod signals;
mod triggers;

pub use outcome::{KillStatus, Outcome, OverrideError, Reason, Transition};
use signals::{CpuSignal, Judged};
use triggers::Soft;

/// The Guardian's states, mildest first (the order is used to tell a step up from a step down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GuardianState {
    Normal,
    Brownout,
    Degraded,
    Emergency,
    Lockdown,
}

impl GuardianState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Brownout => "BROWNOUT",
            Self::Degraded => "DEGRADED",
            Self::Emergency => "EMERGENCY",
            Self::Lockdown => "LOCKDOWN",
        }
    }
}

impl fmt::Display for GuardianState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many past transitions are kept for the status page and the operator dashboard (which
/// shows up to 50).
const HISTORY_KEPT: usize = 50;

#[derive(Clone, Debug)]
pub struct StateMachine {
    config: GuardianConfig,
    state: GuardianState,
    previous: Option<GuardianState>,
    started: Instant,
    entered: Instant,
    window: VecDeque<Judged>,
    unknown_streak: u32,
    /// OOM kills counted at the latest sample that had the figure.
    oom_kills_seen: Option<u64>,
    /// Samples in a row without a hard trigger.
    since_hard: usize,
    soft_since: Option<Instant>,
    history: VecDeque<Transition>,
    flap_times: VecDeque<Instant>,
    flap_detected: bool,
    kills: VecDeque<Instant>,
    lockdown_until: Option<Instant>,
    last_sample: Option<Sample>,
    /// When the current stretch outside NORMAL began.
    degraded_since: Option<Instant>,
    /// Times the machine left NORMAL.
    activations: u64,
    /// Time spent outside NORMAL in finished stretches.
    degraded_total: Duration,
    /// Samples fed since start (complete or not), and state changes since start; counters
    /// for the metrics endpoint, which the bounded history cannot give.
    samples_seen: u64,
    transitions_made: u64,
}

impl StateMachine {
    /// Replaces the thresholds and timings; the state, its window and history stay, and the
    /// next sample is judged by the new rules.
    pub fn set_config(&mut self, config: GuardianConfig) {
        self.config = config;
    }

    pub fn new(config: GuardianConfig, now: Instant) -> Self {
        Self {
            config,
            state: GuardianState::Normal,
            previous: None,
            started: now,
            entered: now,
            window: VecDeque::new(),
            unknown_streak: 0,
            oom_kills_seen: None,
            since_hard: 0,
            soft_since: None,
            history: VecDeque::new(),
            flap_times: VecDeque::new(),
            flap_detected: false,
            kills: VecDeque::new(),
            lockdown_until: None,
            last_sample: None,
            degraded_since: None,
            activations: 0,
            degraded_total: Duration::ZERO,
            samples_seen: 0,
            transitions_made: 0,
        }
    }

    pub fn config(&self) -> &GuardianConfig {
        &self.config
    }
    pub fn state(&self) -> GuardianState {
        self.state
    }
    pub fn previous_state(&self) -> Option<GuardianState> {
        self.previous
    }
    pub fn started_at(&self) -> Instant {
        self.started
    }
    pub fn entered_at(&self) -> Instant {
        self.entered
    }
    pub fn ram_window(&self) -> impl Iterator<Item = f64> + '_ {
        self.window.iter().map(|j| j.ram)
    }
    /// CPU use in the window, as measured.
    pub fn cpu_window(&self) -> impl Iterator<Item = f64> + '_ {
        self.window.iter().map(|j| j.cpu_use)
    }
    /// The CPU figures the triggers judged (pressure, or use minus own), with how each was made.
    pub fn judged_cpu_window(&self) -> impl Iterator<Item = (f64, CpuSignal)> + '_ {
        self.window.iter().map(|j| (j.cpu, j.cpu_signal))
    }
    pub fn window_full(&self) -> bool {
        self.window.len() >= self.config.window
    }
    pub fn flap_detected(&self) -> bool {
        self.flap_detected
    }
    /// The latest transitions, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &Transition> {
        self.history.iter()
    }
    pub fn last_sample(&self) -> Option<&Sample> {
        self.last_sample.as_ref()
    }
    pub fn unknown_streak(&self) -> u32 {
        self.unknown_streak
    }
    pub fn lockdown_until(&self) -> Option<Instant> {
        self.lockdown_until
    }
    /// When the current stretch outside NORMAL began (`None` in NORMAL).
    pub fn degraded_since(&self) -> Option<Instant> {
        self.degraded_since
    }
    /// How often the machine has left NORMAL.
    pub fn samples_seen(&self) -> u64 {
        self.samples_seen
    }
    pub fn transitions_made(&self) -> u64 {
        self.transitions_made
    }
    pub fn activations(&self) -> u64 {
        self.activations
    }
    /// Time spent outside NORMAL, the current stretch included.
    pub fn time_degraded(&self, now: Instant) -> Duration {
        self.degraded_total
            + self
                .degraded_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Whether an emergency kill is allowed at `now`.
    pub fn kill_status(&self, now: Instant) -> KillStatus {
        let kills_in_window = self
            .kills
            .iter()
            .filter(|at| now.saturating_duration_since(**at) < self.config.kill_window)
            .count();
        let reason = if self.state == GuardianState::Lockdown {
            Some("lockdown".to_owned())
        } else if let Some(last) = self.kills.back()
            && now.saturating_duration_since(*last) < self.config.kill_cooldown
        {
            let left = self.config.kill_cooldown - now.saturating_duration_since(*last);
            Some(format!("cooldown, {} s left", left.as_secs()))
        } else {
            None
        };
        KillStatus {
            can_kill: reason.is_none(),
            reason,
            kills_in_window,
            lockdown_until: self.lockdown_until,
        }
    }

    /// Feeds one sample taken at `now`.
    pub fn step(&mut self, sample: Sample, now: Instant) -> Outcome {
        let mut outcome = Outcome::default();
        self.samples_seen += 1;
        let judged = Judged::of(&sample, &self.config);
        let complete = judged.is_some();
        if let Some(judged) = judged {
            self.unknown_streak = 0;
            self.window.push_back(judged);
            while self.window.len() > self.config.window {
                self.window.pop_front();
            }
        } else {
            self.unknown_streak = self.unknown_streak.saturating_add(1);
        }
        let blind = !complete && self.unknown_streak >= self.config.unknown_strikes;
        if blind {
            self.window.clear();
        }
        outcome.ignored_unknown = !complete && !blind;

        let hard = self.hard_trigger(&sample);
        if let Some(kills) = sample.oom_kills {
            self.oom_kills_seen = Some(kills);
        }
        self.since_hard = if hard.is_some() {
            0
        } else {
            self.since_hard + 1
        };
        let soft = self.soft_trigger();
        if soft.as_ref().is_some_and(|s| s.escalates) {
            self.soft_since.get_or_insert(now);
        } else {
            self.soft_since = None;
        }
        let calm = self.calm();
        self.last_sample = Some(sample);

        let flap_before = self.flap_detected;
        self.refresh_flap(now);

        let decision = self.decide(now, hard, soft, calm, blind, &mut outcome);
        if let Some((to, reason, detail, exempt)) = decision
            && to != self.state
        {
            if to < self.state && self.flap_detected && !exempt {
                outcome.held = Some(to);
            } else {
                outcome.transition = Some(self.enter(to, reason, detail, now));
            }
        }
        if self.flap_detected != flap_before {
            outcome.flap_changed = Some(self.flap_detected);
        }
        outcome
    }

    /// Leaves LOCKDOWN on an operator's say-so (the caller has authenticated them).
    pub fn override_lockdown(
        &mut self,
        confirm_override: bool,
        now: Instant,
    ) -> Result<Transition, OverrideError> {
        if !confirm_override {
            return Err(OverrideError::NotConfirmed);
        }
        if self.state != GuardianState::Lockdown {
            return Err(OverrideError::NotInLockdown(self.state));
        }
        let to = self.after_lockdown();
        Ok(self.enter(to, Reason::Override, "operator override".to_owned(), now))
    }

    fn after_lockdown(&self) -> GuardianState {
        if self.calm() {
            GuardianState::Normal
        } else {
            GuardianState::Brownout
        }
    }

    /// The first matching row of the table; (to, reason, detail, exempt from flap hold).
    fn decide(
        &mut self,
        now: Instant,
        hard: Option<String>,
        soft: Option<Soft>,
        calm: bool,
        blind: bool,
        outcome: &mut Outcome,
    ) -> Option<(GuardianState, Reason, String, bool)> {
        use GuardianState::*;
        let dwell = now.saturating_duration_since(self.entered) >= self.config.min_dwell;
        let calm_detail = || "all readings in the window below the recovery thresholds".to_owned();

        if self.state == Lockdown {
            let over = self.lockdown_until.is_none_or(|until| now >= until);
            return over.then(|| {
                (
                    self.after_lockdown(),
                    Reason::LockdownExpired,
                    "lockdown time is over".to_owned(),
                    true,
                )
            });
        }
        if let Some(detail) = hard {
            if self.state == Emergency {
                return None;
            }
            let status = self.kill_status(now);
            if !status.can_kill {
                let reason = status.reason.unwrap_or_default();
                return (self.state == Normal).then(|| {
                    (
                        Brownout,
                        Reason::KillBlocked,
                        format!("{detail}; kill blocked ({reason})"),
                        false,
                    )
                });
            }
            outcome.kill = true;
            self.kills.push_back(now);
            while self.kills.len() > self.config.kill_limit.max(1) * 4 {
                self.kills.pop_front();
            }
            if status.kills_in_window + 1 >= self.config.kill_limit {
                self.lockdown_until = Some(now + self.config.lockdown_for);
                let detail = format!(
                    "{detail}; kill {} within {} s",
                    status.kills_in_window + 1,
                    self.config.kill_window.as_secs()
                );
                return Some((Lockdown, Reason::KillLimit, detail, false));
            }
            return Some((Emergency, Reason::HardTrigger, detail, false));
        }
        if blind && self.state < Degraded {
            let detail = format!(
                "{} samples in a row without RAM or CPU",
                self.unknown_streak
            );
            return Some((Degraded, Reason::UnknownReadings, detail, false));
        }
        match self.state {
            Normal => soft.map(|s| (Brownout, Reason::SoftTrigger, s.detail, false)),
            Brownout => {
                let persisted = self.soft_since.is_some_and(|since| {
                    now.saturating_duration_since(since) >= self.config.degrade_after
                });
                if persisted {
                    let detail = format!(
                        "{} for {} s",
                        soft.map(|s| s.detail).unwrap_or_default(),
                        self.config.degrade_after.as_secs()
                    );
                    Some((Degraded, Reason::SoftPersisted, detail, false))
                } else if calm && dwell {
                    Some((Normal, Reason::Recovered, calm_detail(), false))
                } else {
                    None
                }
            }
            Degraded => {
                if calm && dwell {
                    Some((Normal, Reason::Recovered, calm_detail(), false))
                } else if self.window_full() && !soft.as_ref().is_some_and(|s| s.escalates) && dwell
                {
                    let detail = match soft {
                        Some(s) => format!("only brownout-only triggers hold ({})", s.detail),
                        None => "no soft trigger in a full window".to_owned(),
                    };
                    Some((Brownout, Reason::Eased, detail, false))
                } else {
                    None
                }
            }
            Emergency => {
                if calm && dwell {
                    Some((Normal, Reason::Recovered, calm_detail(), false))
                } else if self.since_hard >= self.config.window && self.window_full() && dwell {
                    let escalating = soft.as_ref().is_some_and(|s| s.escalates);
                    let to = if escalating { Degraded } else { Brownout };
                    let detail = format!("no hard trigger in {} samples", self.since_hard);
                    Some((to, Reason::Eased, detail, false))
                } else {
                    None
                }
            }
            Lockdown => None,
        }
    }

    fn enter(
        &mut self,
        to: GuardianState,
        reason: Reason,
        detail: String,
        now: Instant,
    ) -> Transition {
        let from = self.state;
        if to != GuardianState::Lockdown {
            self.lockdown_until = None;
        }
        if from == GuardianState::Normal {
            self.degraded_since = Some(now);
            self.activations += 1;
        } else if to == GuardianState::Normal
            && let Some(since) = self.degraded_since.take()
        {
            self.degraded_total += now.saturating_duration_since(since);
        }
        self.previous = Some(from);
        self.state = to;
        self.entered = now;
        let transition = Transition {
            from,
            to,
            reason,
            detail,
            at: now,
        };
        self.transitions_made += 1;
        self.history.push_back(transition.clone());
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
        self.flap_times.push_back(now);
        self.refresh_flap(now);
        transition
    }

    fn refresh_flap(&mut self, now: Instant) {
        while let Some(at) = self.flap_times.front() {
            if now.saturating_duration_since(*at) >= self.config.flap_window {
                self.flap_times.pop_front();
            } else {
                break;
            }
        }
        let count = self.flap_times.len();
        // Cleared only when one more change would not set it again: otherwise the step down
        // released by the clearing would itself re-flag the flap at once.
        if count >= self.config.flap_transitions {
            self.flap_detected = true;
        } else if count + 2 <= self.config.flap_transitions {
            self.flap_detected = false;
        }
    }
}

#[cfg(test)]
mod tests;
