//! The running Guardian: samples on its own task, steps the state machine and publishes the
//! result so the request path reads it without ever waiting.
//!
//! Sampling reads files and may stall on a loaded machine, so it runs on the blocking pool
//! (`spawn_blocking`) and a slow sample delays only the next tick, never a request. Each step's
//! result is published as an immutable [`Snapshot`] through a `tokio::sync::watch` channel:
//! readers borrow the latest copy (no lock shared with the sampler). State changes and
//! emergency kills are also sent as [`GuardianEvent`]s on a broadcast channel, for the server to
//! stop intake, unload models and count metrics, and each change is logged as a
//! `guardian_transition` line.

use crate::brownout::{self, BrownoutLevel, ManualBrownout, Preset};
use crate::config::GuardianConfig;
use crate::sampler::{Sample, Sampler};
use crate::state::{GuardianState, Outcome, OverrideError, StateMachine, Transition};
use crate::status::GuardianStatus;
use chrono::Utc;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// The Guardian as of its latest step.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub machine: StateMachine,
    pub manual: Option<ManualBrownout>,
}

impl Snapshot {
    pub fn state(&self) -> GuardianState {
        self.machine.state()
    }

    /// The brownout level requests are served at now.
    pub fn level(&self) -> BrownoutLevel {
        brownout::effective_level(
            self.machine.state(),
            self.machine.config().brownout_level,
            self.manual.as_ref().map(|m| m.level),
        )
    }

    /// The preset requests are served with now.
    pub fn preset(&self) -> Preset {
        crate::brownout::preset(self.level())
    }

    /// The status document as of `now`.
    pub fn status(&self, now: Instant, wall_now: chrono::DateTime<Utc>) -> GuardianStatus {
        GuardianStatus::build(&self.machine, self.manual.as_ref(), now, wall_now)
    }
}

/// What the Guardian tells the rest of the server.
#[derive(Clone, Debug, PartialEq)]
pub enum GuardianEvent {
    Transition(Transition),
    /// Run the emergency action now: stop intake, unload models, drain in-flight work.
    Kill {
        at: Instant,
    },
}

struct Inner {
    machine: StateMachine,
    manual: Option<ManualBrownout>,
}

struct Shared {
    inner: Mutex<Inner>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    events: broadcast::Sender<GuardianEvent>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic mid-step leaves a usable machine; better a slightly odd state than none.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, inner: &Inner) {
        self.snapshots.send_replace(Arc::new(Snapshot {
            machine: inner.machine.clone(),
            manual: inner.manual.clone(),
        }));
    }

    fn report(&self, outcome: &Outcome) {
        if let Some(t) = &outcome.transition {
            log_transition(t);
            // No subscriber is fine: nobody needs to act.
            let _ = self.events.send(GuardianEvent::Transition(t.clone()));
        }
        if outcome.kill {
            let at = outcome
                .transition
                .as_ref()
                .map_or_else(Instant::now, |t| t.at);
            tracing::warn!(evt = "guardian_kill", "emergency action requested");
            let _ = self.events.send(GuardianEvent::Kill { at });
        }
        match outcome.flap_changed {
            Some(true) => tracing::warn!(
                evt = "guardian_flap",
                flap_detected = true,
                "state is flapping; steps down are held until it settles"
            ),
            Some(false) => tracing::info!(
                evt = "guardian_flap",
                flap_detected = false,
                "flapping ended"
            ),
            None => {}
        }
        if let Some(to) = outcome.held {
            tracing::debug!(evt = "guardian_held", to = %to, "step down held by flap detection");
        }
    }
}

fn log_transition(t: &Transition) {
    tracing::info!(
        evt = "guardian_transition",
        from = %t.from,
        to = %t.to,
        reason = t.reason.as_str(),
        detail = %t.detail,
        "guardian state changed"
    );
}

/// The Guardian. Dropping it stops its task.
pub struct Guardian {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Guardian {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Guardian {
    /// Starts sampling with `sampler` every `config.interval`. Must be called in a tokio runtime.
    pub fn start(config: GuardianConfig, sampler: impl Sampler) -> Self {
        let interval = config.interval;
        let machine = StateMachine::new(config, Instant::now());
        let first = Arc::new(Snapshot {
            machine: machine.clone(),
            manual: None,
        });
        let (snapshots, _) = watch::channel(first);
        let (events, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                machine,
                manual: None,
            }),
            snapshots,
            events,
        });
        let sampler = Arc::new(Mutex::new(sampler));
        let task_shared = shared.clone();
        let task = tokio::spawn(async move {
            // The first sample comes one interval after start, so that the sampler's first CPU
            // figure covers a whole interval (a figure over microseconds is noise).
            let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
            // A slow sample must not be followed by a burst of catch-up samples.
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let sample = take_sample(sampler.clone()).await;
                tick(&task_shared, sample, Instant::now());
            }
        });
        Self { shared, task }
    }

    /// The latest snapshot; cheap, never waits for a sample.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshots.borrow().clone()
    }

    pub fn state(&self) -> GuardianState {
        self.snapshot().state()
    }

    pub fn preset(&self) -> Preset {
        self.snapshot().preset()
    }

    pub fn status(&self) -> GuardianStatus {
        self.snapshot().status(Instant::now(), Utc::now())
    }

    /// A receiver that sees every new snapshot (for metrics gauges, the daemon's cache).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.shared.snapshots.subscribe()
    }

    /// State changes and kill requests from now on.
    pub fn events(&self) -> broadcast::Receiver<GuardianEvent> {
        self.shared.events.subscribe()
    }

    /// Leaves LOCKDOWN; the caller must have authenticated an operator.
    pub fn override_lockdown(&self, confirm_override: bool) -> Result<Transition, OverrideError> {
        let mut inner = self.shared.lock();
        let transition = inner
            .machine
            .override_lockdown(confirm_override, Instant::now())?;
        self.shared.publish(&inner);
        drop(inner);
        self.shared.report(&Outcome {
            transition: Some(transition.clone()),
            ..Outcome::default()
        });
        Ok(transition)
    }

    /// Changes the thresholds and timings while running (an operator tuning them); refuses
    /// settings that do not validate, naming each problem.
    pub fn set_config(&self, config: GuardianConfig) -> Result<(), Vec<String>> {
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(problems);
        }
        tracing::info!(
            evt = "guardian_config_changed",
            soft_ram = config.soft_ram,
            soft_cpu = config.soft_cpu
        );
        self.shared.lock().machine.set_config(config);
        Ok(())
    }

    /// Switches a manual brownout on at `level` (a floor under the automatic level), or off
    /// with `None`.
    pub fn set_manual_brownout(&self, manual: Option<(BrownoutLevel, String)>) {
        let mut inner = self.shared.lock();
        inner.manual = manual.map(|(level, reason)| {
            tracing::info!(evt = "guardian_manual_brownout", level = ?level, reason = %reason, "manual brownout on");
            ManualBrownout {
                level,
                reason,
                since: Instant::now(),
            }
        });
        if inner.manual.is_none() {
            tracing::info!(evt = "guardian_manual_brownout", "manual brownout off");
        }
        self.shared.publish(&inner);
    }
}

/// Runs the sampler on the blocking pool; a panicking sampler gives an unknown sample.
async fn take_sample<S: Sampler>(sampler: Arc<Mutex<S>>) -> Sample {
    let joined = tokio::task::spawn_blocking(move || {
        sampler.lock().unwrap_or_else(|p| p.into_inner()).sample()
    })
    .await;
    joined.unwrap_or_else(|err| {
        tracing::warn!(evt = "guardian_sample_failed", error = %err, "sampler failed");
        Sample::unknown(Utc::now())
    })
}

fn tick(shared: &Shared, sample: Sample, now: Instant) {
    tracing::debug!(
        evt = "guardian_sample",
        ram_pct = ?sample.ram_pct,
        cpu_pct = ?sample.cpu_pct,
        disk_pct = ?sample.disk_pct,
        temp_c = ?sample.temp_c,
    );
    let mut inner = shared.lock();
    let outcome = inner.machine.step(sample, now);
    shared.publish(&inner);
    drop(inner);
    shared.report(&outcome);
}

#[cfg(test)]
mod tests;
