//! The latency brownout: the brownout level that this Alice's own answers ask for.
//!
//! The Guardian's state machine reacts to the machine (RAM, CPU, disk); it cannot see a model
//! server that is slow because it is busy elsewhere, on another host, or just swamped with
//! long prompts. [`LatencyController`] watches what users feel instead: each answer's time to
//! first token and its wait for a backend slot. Every evaluation takes the p95 of both over the
//! answers of the last `guardian.latency_window` and:
//!
//! - **steps up** one level (at most `guardian.latency_max_level`) when either p95 is above its
//!   target (`guardian.target_ttft_p95`, `guardian.target_queue_wait_p95`) and at least
//!   `guardian.latency_dwell` has passed since the last change;
//! - **steps down** one level when both p95s have stayed below
//!   `guardian.latency_recover_fraction` of their targets for the dwell (the band between that
//!   fraction and the target holds the level: the hysteresis);
//! - decides nothing on fewer than `guardian.latency_min_answers` answers. So that a trickle of
//!   traffic is judged too, the newest `latency_min_answers` answers are kept even when they
//!   are older than the window; without any traffic the level holds (nobody is served at it,
//!   and answers still in flight, slow ones above all, must not count as calm).
//!
//! Only answers that *started after the last change* are judged. Answers served before a
//! change were served at the old level: they say nothing about whether the new level is
//! enough. Judging them would step up again on the slowness that caused the first step (one
//! slow minute would ratchet to the maximum), and after a recovery the slow answers would hold
//! the level up for a whole window. So each change starts the judgement afresh, and the dwell
//! gives the new level time to gather answers of its own.
//!
//! The controller is pure: observations and evaluations carry explicit instants, so tests
//! script them; the server feeds it and evaluates it once per `guardian.interval`.

use crate::config::GuardianConfig;
use alice_core::BrownoutLevel;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Answers kept at most; beyond it the oldest are forgotten (a bound on memory under a flood).
const MAX_ANSWERS: usize = 20_000;

/// What the controller needs of `[guardian]`.
#[derive(Clone, Debug, PartialEq)]
struct Targets {
    ttft: Duration,
    queue_wait: Duration,
    window: Duration,
    min_answers: usize,
    dwell: Duration,
    max_level: BrownoutLevel,
    recover_fraction: f64,
}

impl From<&GuardianConfig> for Targets {
    fn from(c: &GuardianConfig) -> Self {
        Self {
            ttft: c.target_ttft_p95,
            queue_wait: c.target_queue_wait_p95,
            window: c.latency_window,
            min_answers: c.latency_min_answers,
            dwell: c.latency_dwell,
            max_level: c.latency_max_level,
            recover_fraction: c.latency_recover_fraction,
        }
    }
}

/// One answer's latency.
#[derive(Clone, Copy, Debug)]
struct Answer {
    at: Instant,
    ttft: Duration,
    queue_wait: Duration,
}

/// A change of the latency level, for the log and the status.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyChange {
    pub from: BrownoutLevel,
    pub to: BrownoutLevel,
    pub reason: String,
}

/// The controller as of its last evaluation: what the status and the metrics show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyView {
    pub level: BrownoutLevel,
    /// Why the level is what it is (the last change's reason; "" before any change).
    pub reason: String,
    /// Seconds since the last change (or since start).
    pub since_change_s: f64,
    /// Answers judged at the last evaluation.
    pub answers: usize,
    pub ttft_p95_ms: Option<u64>,
    pub queue_wait_p95_ms: Option<u64>,
    pub target_ttft_p95_ms: u64,
    pub target_queue_wait_p95_ms: u64,
}

/// The p95s of one evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Judged {
    answers: usize,
    ttft: Duration,
    queue_wait: Duration,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct LatencyController {
    targets: Targets,
    answers: VecDeque<Answer>,
    level: BrownoutLevel,
    changed_at: Instant,
    reason: String,
    /// Since when both p95s have been below the recovery band: the last change, or the last
    /// evaluation that found them above it, whichever came later.
    calm_since: Instant,
    last: Option<Judged>,
    last_evaluated: Instant,
}

impl LatencyController {
    pub fn new(config: &GuardianConfig, now: Instant) -> Self {
        Self {
            targets: Targets::from(config),
            answers: VecDeque::new(),
            level: BrownoutLevel::None,
            changed_at: now,
            reason: String::new(),
            calm_since: now,
            last: None,
            last_evaluated: now,
        }
    }

    pub fn level(&self) -> BrownoutLevel {
        self.level
    }

    /// One answer whose request was received at `at`: its time to first token and its time
    /// waiting for a backend slot.
    pub fn observe(&mut self, at: Instant, ttft: Duration, queue_wait: Duration) {
        if self.answers.len() == MAX_ANSWERS {
            self.answers.pop_front();
        }
        self.answers.push_back(Answer {
            at,
            ttft,
            queue_wait,
        });
    }

    /// Judges the answers of the window as of `now`; returns the change, if the level moved.
    pub fn evaluate(&mut self, now: Instant) -> Option<LatencyChange> {
        let t = self.targets.clone();
        let window_start = now.checked_sub(t.window);
        while self.answers.len() > t.min_answers
            && self
                .answers
                .front()
                .is_some_and(|a| window_start.is_some_and(|start| a.at < start))
        {
            self.answers.pop_front();
        }
        self.last_evaluated = now;
        let judged: Vec<&Answer> = self
            .answers
            .iter()
            .filter(|a| a.at >= self.changed_at)
            .collect();
        let dwelt = now.duration_since(self.changed_at) >= t.dwell;
        if judged.len() < t.min_answers {
            // No evidence either way: the calm is neither broken nor proven.
            self.last = None;
            return None;
        }
        let ttft = p95(judged.iter().map(|a| a.ttft));
        let queue_wait = p95(judged.iter().map(|a| a.queue_wait));
        let answers = judged.len();
        self.last = Some(Judged {
            answers,
            ttft,
            queue_wait,
        });
        if ttft > t.ttft || queue_wait > t.queue_wait {
            self.calm_since = now;
            if !dwelt || self.level >= t.max_level {
                return None;
            }
            let mut missed = Vec::new();
            if ttft > t.ttft {
                missed.push(format!("ttft p95 {} > {}", seconds(ttft), seconds(t.ttft)));
            }
            if queue_wait > t.queue_wait {
                missed.push(format!(
                    "queue wait p95 {} > {}",
                    seconds(queue_wait),
                    seconds(t.queue_wait)
                ));
            }
            let reason = format!("{} over {answers} answers", missed.join(" and "));
            return Some(self.change(heavier(self.level), reason, now));
        }
        let calm_ttft = t.ttft.mul_f64(t.recover_fraction);
        let calm_queue_wait = t.queue_wait.mul_f64(t.recover_fraction);
        if ttft >= calm_ttft || queue_wait >= calm_queue_wait {
            // Within the band: the targets hold, but not by enough to lighten.
            self.calm_since = now;
            return None;
        }
        if self.level == BrownoutLevel::None || now.duration_since(self.calm_since) < t.dwell {
            return None;
        }
        let reason = format!(
            "ttft p95 {} < {} and queue wait p95 {} < {} over {answers} answers",
            seconds(ttft),
            seconds(calm_ttft),
            seconds(queue_wait),
            seconds(calm_queue_wait)
        );
        Some(self.change(lighter(self.level), reason, now))
    }

    fn change(&mut self, to: BrownoutLevel, reason: String, now: Instant) -> LatencyChange {
        let change = LatencyChange {
            from: self.level,
            to,
            reason: reason.clone(),
        };
        self.level = to;
        self.reason = reason;
        self.changed_at = now;
        self.calm_since = now;
        change
    }

    /// What the last evaluation saw, for the status and the metrics.
    pub fn view(&self) -> LatencyView {
        LatencyView {
            level: self.level,
            reason: self.reason.clone(),
            since_change_s: self
                .last_evaluated
                .duration_since(self.changed_at)
                .as_secs_f64(),
            answers: self.last.map_or(0, |j| j.answers),
            ttft_p95_ms: self.last.map(|j| millis(j.ttft)),
            queue_wait_p95_ms: self.last.map(|j| millis(j.queue_wait)),
            target_ttft_p95_ms: millis(self.targets.ttft),
            target_queue_wait_p95_ms: millis(self.targets.queue_wait),
        }
    }
}

/// The nearest-rank 95th percentile (of a non-empty set; zero for an empty one).
fn p95(values: impl Iterator<Item = Duration>) -> Duration {
    let mut values: Vec<Duration> = values.collect();
    values.sort_unstable();
    let rank = (values.len() * 95).div_ceil(100);
    values
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

fn heavier(level: BrownoutLevel) -> BrownoutLevel {
    match level {
        BrownoutLevel::None => BrownoutLevel::Light,
        BrownoutLevel::Light => BrownoutLevel::Moderate,
        BrownoutLevel::Moderate => BrownoutLevel::Heavy,
        BrownoutLevel::Heavy | BrownoutLevel::Emergency => BrownoutLevel::Emergency,
    }
}

fn lighter(level: BrownoutLevel) -> BrownoutLevel {
    match level {
        BrownoutLevel::None | BrownoutLevel::Light => BrownoutLevel::None,
        BrownoutLevel::Moderate => BrownoutLevel::Light,
        BrownoutLevel::Heavy => BrownoutLevel::Moderate,
        BrownoutLevel::Emergency => BrownoutLevel::Heavy,
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
