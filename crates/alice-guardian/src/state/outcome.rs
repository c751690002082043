//! What a step of the state machine reports: the transition and its reason, whether an
//! emergency kill is due, and the errors of an operator's override.

use super::GuardianState;
use serde::Serialize;
use tokio::time::Instant;

/// Why the state changed (a row of the table in the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    SoftTrigger,
    HardTrigger,
    KillBlocked,
    KillLimit,
    SoftPersisted,
    UnknownReadings,
    Recovered,
    Eased,
    LockdownExpired,
    Override,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SoftTrigger => "soft_trigger",
            Self::HardTrigger => "hard_trigger",
            Self::KillBlocked => "kill_blocked",
            Self::KillLimit => "kill_limit",
            Self::SoftPersisted => "soft_persisted",
            Self::UnknownReadings => "unknown_readings",
            Self::Recovered => "recovered",
            Self::Eased => "eased",
            Self::LockdownExpired => "lockdown_expired",
            Self::Override => "override",
        }
    }
}

/// One state change.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: GuardianState,
    pub to: GuardianState,
    pub reason: Reason,
    /// What the readings were, for the log (e.g. "ram 0.95 >= 0.92").
    pub detail: String,
    pub at: Instant,
}

/// What one step did, for the caller to log and act on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub transition: Option<Transition>,
    /// An emergency kill is due (stop intake, unload models, drain).
    pub kill: bool,
    /// `Some(new value)` when `flap_detected` changed in this step.
    pub flap_changed: Option<bool>,
    /// A step down the rules asked for but flap detection held back.
    pub held: Option<GuardianState>,
    /// The sample lacked RAM or CPU and was ignored (strikes before the last).
    pub ignored_unknown: bool,
}

/// Whether an emergency kill may happen now, and why not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KillStatus {
    pub can_kill: bool,
    pub reason: Option<String>,
    pub kills_in_window: usize,
    #[serde(skip)]
    pub lockdown_until: Option<Instant>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OverrideError {
    #[error("the override must carry confirm_override: true")]
    NotConfirmed,
    #[error("the Guardian is not in LOCKDOWN (it is {0})")]
    NotInLockdown(GuardianState),
}
