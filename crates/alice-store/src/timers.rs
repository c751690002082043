//! Timers and reminders: what a user asked Alice to tell them later. The store keeps them, so
//! they outlive a restart, and fires each exactly once however many Alice instances share the
//! database: [`TimerTables::fire_due`] moves a due timer from pending to fired with one
//! conditional `UPDATE`, and only the instance whose statement changed the row delivers it. The
//! timer's message goes into the conversation it was set in within the same transaction, so a
//! crash never leaves a timer fired but unsaid, nor said twice.
//!
//! The store knows nothing of languages or clocks: the caller composes the message when the
//! timer is set and passes the current time in.
//!
//! [`TimerTables`] runs the same statements on either engine (see `engine::timer_queries`),
//! as [`crate::idempotency::IdempotencyTables`] does.

use crate::StoreError;
use crate::engine::timer_queries::TimerQueries;
use crate::engine::{EnginePool, on_engine};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

/// What kind of thing a timer is: a countdown ("timer på tio minuter") or a reminder of
/// something ("påminn mig om att ringa mamma").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    Timer,
    Reminder,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Timer => "timer",
            TimerKind::Reminder => "reminder",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "timer" => Ok(TimerKind::Timer),
            "reminder" => Ok(TimerKind::Reminder),
            other => Err(StoreError::Corrupt(format!("timers.kind is {other:?}"))),
        }
    }
}

/// Where a timer is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerState {
    Pending,
    Fired,
    Cancelled,
}

impl TimerState {
    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(TimerState::Pending),
            "fired" => Ok(TimerState::Fired),
            "cancelled" => Ok(TimerState::Cancelled),
            other => Err(StoreError::Corrupt(format!("timers.state is {other:?}"))),
        }
    }
}

/// A timer to be set.
#[derive(Clone, Debug)]
pub struct NewTimer<'a> {
    pub username: &'a str,
    /// The conversation its message goes into when it fires (None, or a conversation that is
    /// gone by then: only the event).
    pub conversation_id: Option<Uuid>,
    pub kind: TimerKind,
    /// What it is for ("äggen", "ringa mamma"); may be empty.
    pub label: &'a str,
    /// What Alice says when it fires.
    pub message: &'a str,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A timer as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Timer {
    pub id: Uuid,
    pub username: String,
    pub conversation_id: Option<Uuid>,
    pub kind: TimerKind,
    pub label: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub state: TimerState,
    pub fired_at: Option<DateTime<Utc>>,
}

/// A timer this instance fired, and the message it left in the conversation (None when the
/// timer had no conversation, or its conversation was deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiredTimer {
    pub timer: Timer,
    pub message_id: Option<Uuid>,
}

/// The timers of one database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct TimerTables(EnginePool);

impl TimerTables {
    pub(crate) fn sqlite(pool: SqlitePool) -> Self {
        Self(EnginePool::Sqlite(pool))
    }

    pub(crate) fn postgres(pool: PgPool) -> Self {
        Self(EnginePool::Postgres(pool))
    }

    /// Sets a timer, creating its user when the database does not know them yet. A
    /// conversation of another user is refused as [`StoreError::ConversationNotFound`]; one
    /// that does not exist (yet) is accepted, for the turn that sets the timer may be the one
    /// that starts it.
    pub async fn create(&self, timer: &NewTimer<'_>) -> Result<Timer, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.create(timer))
    }

    /// The user's pending timers, soonest first.
    pub async fn pending(&self, username: &str) -> Result<Vec<Timer>, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.pending(username))
    }

    /// How many pending timers the user has.
    pub async fn count_pending(&self, username: &str) -> Result<u64, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.count_pending(username))
    }

    /// Cancels one pending timer of the user; false when it is not theirs or not pending.
    pub async fn cancel(&self, username: &str, id: Uuid) -> Result<bool, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.cancel(username, id))
    }

    /// Cancels every pending timer of the user; returns how many.
    pub async fn cancel_all(&self, username: &str) -> Result<u64, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.cancel_all(username))
    }

    /// Fires up to `limit` timers due at `now`, each exactly once across every instance on the
    /// database, and returns the ones this call fired (`by` names the instance, kept with
    /// the timer). A timer whose delivery fails stays pending for the next call.
    pub async fn fire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        by: &str,
    ) -> Result<Vec<FiredTimer>, StoreError> {
        on_engine!(self.0, TimerQueries, q => q.fire_due(now, limit, by))
    }
}
