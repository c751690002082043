//! A/B experiments in a running Alice (docs/experiments.md): which experiment and variant a
//! chat request takes part in, what became of it, and the guard rail.
//!
//! - **Assignment** ([`Experiments::assign`]): of the configured experiments that are active
//!   now (start, stop), running (not paused or stopped in `experiment_states`) and cover the
//!   route, the first in the configuration's order applies — at most one per request, so a
//!   variant's figures are never mixed with another experiment's settings. The variant is
//!   `alice_experiments::assign` of the user's name: sticky, the same on every instance.
//!   Anonymous requests (`auth.mode = "off"` without a named user) take part in none.
//! - **Outcomes**: the chat handlers note the assignment and the answer in the request's
//!   [`ExperimentSlot`]; when the response has ended (for a stream, its last event, or the
//!   client leaving), the request context calls [`Experiments::settle`], which records one
//!   outcome — answered, error or shed — through the store's outcome writer (the request never
//!   waits for it) and in `alice_experiment_outcomes_total`. A chat request refused by the
//!   Guardian's gate or the caller's limits before any handler ran is counted as shed for the
//!   caller's variant too (see [`Experiments::settle`]).
//! - **States**: `alice experiment stop|resume` (another process) and the guard write
//!   `experiment_states`; every instance reads them every [`STATE_REFRESH`], so a stop takes
//!   effect everywhere within seconds.
//! - **The guard** ([`GUARD_INTERVAL`]): `alice_experiments::guard` over each running
//!   experiment's outcomes since it last started (its start, or its last resume); a tripped one
//!   is paused, with the trip's sentence as the reason, and logged as `experiment_paused`.

use crate::metrics::Metrics;
use alice_core::config::{ExperimentConfig, VariantConfig};
use alice_experiments::{Outcome, OutcomeRow, Rating as ReportRating, Report};
use alice_store::{
    ChatRoute, ExperimentState, ExperimentTag, NewOutcome, OutcomeKind, Rating, RunState, Store,
    StoreError, StoredOutcome,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use alice_experiments::Route;

/// How often every instance reads `experiment_states` (what `alice experiment stop` writes).
pub const STATE_REFRESH: Duration = Duration::from_secs(2);
/// How often the guard judges the running experiments.
pub const GUARD_INTERVAL: Duration = Duration::from_secs(5);

/// The status of a request whose client left before the answer was complete (nginx's "client
/// closed request"): counted as an error of its variant.
pub const CLIENT_LEFT: u16 = 499;

/// Error codes of refusals for load, counted as `shed` rather than `error`: the Guardian's gate
/// (429 shed, 503 refused), the caller's limits (429), a saturated backend queue (503) and an
/// emergency stop that cut the answer.
const SHED_CODES: [&str; 5] = [
    "load_shed",
    "guardian_refused",
    "rate_limit_exceeded",
    "backend_busy",
    "guardian_stopped",
];
/// Of those, the ones a request can get before any handler assigned it a variant.
const SHED_BEFORE_HANDLER: [&str; 3] = ["load_shed", "guardian_refused", "rate_limit_exceeded"];

/// The experiment and variant a request takes part in.
#[derive(Clone, Debug, PartialEq)]
pub struct Assigned {
    pub experiment: String,
    pub variant: VariantConfig,
    /// Whose variant it is.
    pub user: String,
    pub route: Route,
}

impl Assigned {
    /// How stored answers, log lines and replies name it (`experiment` in the native reply,
    /// `alice_experiment` in `/v1`'s).
    pub fn tag(&self) -> ExperimentTag {
        ExperimentTag {
            name: self.experiment.clone(),
            variant: self.variant.name.clone(),
        }
    }
}

/// Names the experiment and variant on the current span (the request's, in a chat handler),
/// so every later log line of the request carries them.
pub fn note_in_span(assigned: &Assigned) {
    let span = tracing::Span::current();
    span.record("experiment", assigned.experiment.as_str());
    span.record("variant", assigned.variant.name.as_str());
}

/// What an answered request of a variant measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answered {
    /// Milliseconds from Alice receiving the request to the complete answer.
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The stored answer (`/api/chat`).
    pub message_id: Option<Uuid>,
}

/// One request's part in an experiment, filled in by the chat handlers and read once its
/// response has ended. Lives in the request's context.
#[derive(Debug, Default)]
pub struct ExperimentSlot(Mutex<Option<Taking>>);

#[derive(Debug)]
struct Taking {
    assigned: Assigned,
    answered: Option<Answered>,
    /// The status and code of an error after the response's head went out (a stream's error
    /// event).
    failed: Option<(u16, &'static str)>,
}

impl ExperimentSlot {
    fn with<T>(&self, f: impl FnOnce(&mut Option<Taking>) -> T) -> T {
        let mut taking = match self.0.lock() {
            Ok(taking) => taking,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut taking)
    }

    /// The request takes part in `assigned`'s experiment.
    pub fn take_part(&self, assigned: Assigned) {
        self.with(|taking| {
            *taking = Some(Taking {
                assigned,
                answered: None,
                failed: None,
            });
        });
    }

    /// The request's experiment, if it takes part in one.
    pub fn assigned(&self) -> Option<Assigned> {
        self.with(|taking| taking.as_ref().map(|t| t.assigned.clone()))
    }

    /// The answer is complete.
    pub fn answered(&self, answered: Answered) {
        self.with(|taking| {
            if let Some(taking) = taking {
                taking.answered = Some(answered);
            }
        });
    }

    /// The answer failed after the response began (a stream's error event).
    pub fn failed(&self, status: u16, code: &'static str) {
        self.with(|taking| {
            if let Some(taking) = taking {
                taking.failed = Some((status, code));
            }
        });
    }

    fn settle(&self) -> Option<Taking> {
        self.with(Option::take)
    }
}

/// How a chat request's response ended, for [`Experiments::settle`].
#[derive(Debug)]
pub struct RequestEnd<'a> {
    pub route: Route,
    pub request_id: &'a str,
    pub status: u16,
    /// The error code of an error answer.
    pub error: Option<&'static str>,
    /// The authenticated caller, if any.
    pub caller: Option<&'a str>,
}

/// The configured experiments, their states and where their outcomes go. Cheap to clone.
#[derive(Clone)]
pub struct Experiments(Arc<Inner>);

struct Inner {
    configured: Vec<ExperimentConfig>,
    /// The states set in `experiment_states`, by name, as last read.
    states: RwLock<HashMap<String, ExperimentState>>,
    store: Store,
    metrics: Arc<Metrics>,
    /// `auth.mode = "off"`: callers are nobody in particular.
    open: bool,
}

impl Experiments {
    /// The experiments of `configured`, with no state read yet (see [`Self::refresh_states`]).
    pub fn new(
        configured: Vec<ExperimentConfig>,
        store: Store,
        metrics: Arc<Metrics>,
        open: bool,
    ) -> Self {
        Self(Arc::new(Inner {
            configured,
            states: RwLock::default(),
            store,
            metrics,
            open,
        }))
    }

    /// Whether any experiment is configured.
    pub fn any(&self) -> bool {
        !self.0.configured.is_empty()
    }

    /// The configured experiment named `name`.
    pub fn configured(&self, name: &str) -> Option<&ExperimentConfig> {
        self.0.configured.iter().find(|e| e.name == name)
    }

    /// The state set for `name`, if any (none: running).
    pub fn state(&self, name: &str) -> Option<ExperimentState> {
        self.read_states().get(name).cloned()
    }

    fn read_states(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ExperimentState>> {
        match self.0.states.read() {
            Ok(states) => states,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn running(&self, name: &str) -> bool {
        self.read_states()
            .get(name)
            .is_none_or(|state| state.state == RunState::Running)
    }

    /// The experiment and variant `user`'s request by `route` takes part in: the first
    /// configured experiment that is active now, running and covers the route.
    pub fn assign(&self, route: Route, user: &str) -> Option<Assigned> {
        if self.0.configured.is_empty() {
            return None;
        }
        let now = Utc::now();
        let experiment = self.0.configured.iter().find(|e| {
            alice_experiments::active(e, now)
                && alice_experiments::covers(e, route)
                && self.running(&e.name)
        })?;
        Some(Assigned {
            experiment: experiment.name.clone(),
            variant: alice_experiments::assign(experiment, user).clone(),
            user: user.to_owned(),
            route,
        })
    }

    /// Reads `experiment_states` again.
    pub async fn refresh_states(&self) -> Result<(), StoreError> {
        let states = self.0.store.experiment_states().await?;
        let states = states.into_iter().map(|s| (s.name.clone(), s)).collect();
        match self.0.states.write() {
            Ok(mut held) => *held = states,
            Err(poisoned) => *poisoned.into_inner() = states,
        }
        Ok(())
    }

    /// Records what became of a chat request whose response has ended: the outcome of its
    /// variant, if it took part in an experiment.
    ///
    /// - Answered: the handler saw the answer complete.
    /// - Shed: an error answer of a load refusal ([`SHED_CODES`]).
    /// - Error: any other error answer, an error after the response began, or a client that
    ///   left before the answer was complete ([`CLIENT_LEFT`]).
    ///
    /// A request refused for load before any handler ran (the Guardian's gate, the caller's
    /// limits) has no variant yet; it is assigned here, by the authenticated caller, and counted
    /// as shed, so that a variant whose answers use more of the caller's token budget shows its
    /// 429s. Other requests that never reached a handler (401, an idempotent replay, a 409) are
    /// not counted.
    pub fn settle(&self, slot: &ExperimentSlot, end: &RequestEnd<'_>) {
        let (assigned, outcome, status, answered) = match slot.settle() {
            Some(Taking {
                assigned,
                answered: Some(answered),
                failed: None,
            }) => (assigned, OutcomeKind::Answered, end.status, Some(answered)),
            Some(Taking {
                assigned,
                failed: Some((status, code)),
                ..
            }) => (assigned, kind_of(code), status, None),
            Some(Taking { assigned, .. }) => match end.error {
                Some(code) => (assigned, kind_of(code), end.status, None),
                None => (assigned, OutcomeKind::Error, CLIENT_LEFT, None),
            },
            None => {
                let Some(code) = end.error.filter(|code| SHED_BEFORE_HANDLER.contains(code)) else {
                    return;
                };
                let Some(caller) = end.caller.filter(|_| !self.0.open) else {
                    return;
                };
                let Some(assigned) = self.assign(end.route, caller) else {
                    return;
                };
                (assigned, kind_of(code), end.status, None)
            }
        };
        self.0.metrics.record_experiment_outcome(
            &assigned.experiment,
            &assigned.variant.name,
            outcome.as_str(),
        );
        let answered = answered.unwrap_or_default();
        let recorded = self.0.store.record_outcome(NewOutcome {
            experiment: assigned.experiment,
            variant: assigned.variant.name,
            username: Some(assigned.user),
            request_id: end.request_id.to_owned(),
            route: match assigned.route {
                Route::Native => ChatRoute::Native,
                Route::OpenAi => ChatRoute::OpenAi,
            },
            outcome,
            status,
            latency_ms: (outcome == OutcomeKind::Answered).then_some(answered.latency_ms),
            ttft_ms: answered.ttft_ms,
            completion_tokens: answered.completion_tokens,
            message_id: answered.message_id,
            at: Utc::now(),
        });
        if !recorded {
            tracing::warn!(
                evt = "experiment_outcome_dropped",
                "the outcome writer's queue is full; the report misses this request"
            );
        }
    }

    /// Starts the state refresh and the guard, until `stop`; nothing when no experiment is
    /// configured.
    pub fn spawn(&self, stop: &CancellationToken) -> Vec<JoinHandle<()>> {
        if !self.any() {
            return Vec::new();
        }
        vec![
            tokio::spawn(refresh_states(self.clone(), stop.clone())),
            tokio::spawn(run_guard(self.clone(), stop.clone())),
        ]
    }

    /// Runs the guard once over every running experiment; the names it paused.
    pub async fn guard_once(&self) -> Vec<String> {
        let now = Utc::now();
        let mut paused = Vec::new();
        for experiment in &self.0.configured {
            if !alice_experiments::active(experiment, now) || !self.running(&experiment.name) {
                continue;
            }
            let since = self.judged_since(experiment);
            let rows = match self.0.store.outcomes(&experiment.name, since).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(evt = "experiment_guard_failed", experiment = %experiment.name, error = %error);
                    continue;
                }
            };
            let rows: Vec<OutcomeRow> = rows.iter().map(outcome_row).collect();
            let Some(trip) = alice_experiments::guard(experiment, &rows) else {
                continue;
            };
            let reason = trip.to_string();
            if let Err(error) = self
                .0
                .store
                .set_experiment_state(&experiment.name, RunState::Paused, Some(&reason))
                .await
            {
                tracing::warn!(evt = "experiment_guard_failed", experiment = %experiment.name, error = %error);
                continue;
            }
            // At once here; the other instances read it within STATE_REFRESH.
            let state = ExperimentState {
                name: experiment.name.clone(),
                state: RunState::Paused,
                reason: Some(reason.clone()),
                changed_at: Utc::now(),
            };
            match self.0.states.write() {
                Ok(mut states) => states.insert(experiment.name.clone(), state),
                Err(poisoned) => poisoned.into_inner().insert(experiment.name.clone(), state),
            };
            tracing::warn!(
                evt = "experiment_paused",
                experiment = %experiment.name,
                variant = %trip.variant,
                error_rate = trip.error_rate,
                control = %trip.control,
                control_error_rate = trip.control_error_rate,
                requests = trip.requests,
                reason = %reason,
            );
            paused.push(experiment.name.clone());
        }
        paused
    }

    /// The guard judges an experiment on its outcomes since it last started: its last resume,
    /// else its configured start, else all of them.
    fn judged_since(&self, experiment: &ExperimentConfig) -> Option<DateTime<Utc>> {
        let resumed = self.state(&experiment.name).map(|state| state.changed_at);
        match (resumed, experiment.start) {
            (Some(resumed), Some(start)) => Some(resumed.max(start)),
            (resumed, start) => resumed.or(start),
        }
    }
}

/// A refusal for load is shed; any other error code an error.
fn kind_of(code: &str) -> OutcomeKind {
    if SHED_CODES.contains(&code) {
        OutcomeKind::Shed
    } else {
        OutcomeKind::Error
    }
}

/// A stored outcome as the report and the guard read it.
pub fn outcome_row(stored: &StoredOutcome) -> OutcomeRow {
    OutcomeRow {
        variant: stored.variant.clone(),
        outcome: match stored.outcome {
            OutcomeKind::Answered => Outcome::Answered,
            OutcomeKind::Error => Outcome::Error,
            OutcomeKind::Shed => Outcome::Shed,
        },
        latency_ms: stored.latency_ms,
        ttft_ms: stored.ttft_ms,
        completion_tokens: stored.completion_tokens,
        feedback: stored.rating.map(|rating| match rating {
            Rating::Up => ReportRating::Up,
            Rating::Down => ReportRating::Down,
        }),
    }
}

/// The report of `experiment` over its outcomes in the store (all, or since `since`): what
/// `alice experiment report` prints and `GET /api/experiments/{name}` answers.
pub async fn report(
    store: &Store,
    experiment: &ExperimentConfig,
    since: Option<DateTime<Utc>>,
) -> Result<Report, StoreError> {
    let rows = store.outcomes(&experiment.name, since).await?;
    let rows: Vec<OutcomeRow> = rows.iter().map(outcome_row).collect();
    Ok(alice_experiments::report(experiment, &rows))
}

/// Reads the states every [`STATE_REFRESH`]; a failure keeps the states last read (and is
/// logged once until a read succeeds again).
async fn refresh_states(experiments: Experiments, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(STATE_REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match experiments.refresh_states().await {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(evt = "experiment_states_failed", error = %error, "assigning by the states last read");
            }
            Err(_) => {}
        }
    }
}

async fn run_guard(experiments: Experiments, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(GUARD_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the first judgement comes after a whole interval.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        experiments.guard_once().await;
    }
}
