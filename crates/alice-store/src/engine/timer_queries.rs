//! The statements of the timers ([`crate::timers`]), written once over either engine's pool like
//! [`super::idempotency_queries`]. Firing is the one step that must hold across instances: the
//! `UPDATE … WHERE state = 'pending'` that moves a timer to fired changes its row for exactly
//! one transaction (PostgreSQL re-checks the condition on a row another transaction changed
//! meanwhile; SQLite has one writer), and that transaction also writes the timer's message.

use crate::StoreError;
use crate::engine::identity_queries::RowsAffected;
use crate::engine::rows::StoredRow;
use crate::engine::shared_queries::UuidParam;
use crate::timers::{FiredTimer, NewTimer, Timer, TimerKind, TimerState};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use uuid::Uuid;

/// A `SELECT` of timers with their user's name (the columns [`timer_from`] reads), and the
/// rest of the statement; a literal, so that statements built with it stay `&'static str`.
macro_rules! select_timers {
    ($rest:literal) => {
        concat!(
            "SELECT t.id, u.username, t.conversation_id, t.kind, t.label, t.message, \
             t.created_at, t.due_at, t.state, t.fired_at \
             FROM timers t JOIN users u ON u.id = t.user_id ",
            $rest
        )
    };
}

/// A user's timers in the export's order (`$1` the user's id), the first page and the next.
pub(crate) const EXPORT_FIRST: &str =
    select_timers!("WHERE t.user_id = $1 ORDER BY t.created_at, t.id LIMIT $2");
pub(crate) const EXPORT_AFTER: &str = select_timers!(
    "WHERE t.user_id = $1 AND (t.created_at, t.id) > ($2, $3) ORDER BY t.created_at, t.id \
     LIMIT $4"
);

/// The statements on one engine's pool.
pub(crate) struct TimerQueries<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> TimerQueries<'_, DB>
where
    DB: UuidParam,
    DB::Row: StoredRow,
    DB::QueryResult: RowsAffected,
    usize: ColumnIndex<DB::Row>,
    for<'a> DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'v> &'v str: Encode<'v, DB> + Type<DB>,
    for<'v> i64: Encode<'v, DB> + Decode<'v, DB> + Type<DB>,
    for<'v> Option<DB::Param>: Encode<'v, DB> + Type<DB>,
    for<'v> String: Decode<'v, DB> + Type<DB>,
    for<'v> DateTime<Utc>: Encode<'v, DB> + Type<DB>,
    for<'v> Json<&'v serde_json::Value>: Encode<'v, DB> + Type<DB>,
{
    pub(crate) async fn create(&self, timer: &NewTimer<'_>) -> Result<Timer, StoreError> {
        sqlx::query(
            "INSERT INTO users (username, created_at) VALUES ($1, $2) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(timer.username)
        .bind(timer.created_at)
        .execute(self.0)
        .await?;
        if let Some(conversation) = timer.conversation_id {
            // Someone else's conversation is refused; one not written yet (the turn that sets
            // the timer starts it) is taken on the caller's word.
            let owner: Option<String> = sqlx::query_scalar(
                "SELECT u.username FROM conversations c JOIN users u ON u.id = c.user_id \
                 WHERE c.id = $1",
            )
            .bind(DB::uuid_param(conversation))
            .fetch_optional(self.0)
            .await?;
            if owner.is_some_and(|owner| owner != timer.username) {
                return Err(StoreError::ConversationNotFound(conversation));
            }
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO timers (id, user_id, conversation_id, kind, label, message, created_at, \
             due_at) SELECT $1, id, $3, $4, $5, $6, $7, $8 FROM users WHERE username = $2",
        )
        .bind(DB::uuid_param(id))
        .bind(timer.username)
        .bind(timer.conversation_id.map(DB::uuid_param))
        .bind(timer.kind.as_str())
        .bind(timer.label)
        .bind(timer.message)
        .bind(timer.created_at)
        .bind(timer.due_at)
        .execute(self.0)
        .await?;
        self.timer(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("timer {id} is gone after its insert")))
    }

    async fn timer(&self, id: Uuid) -> Result<Option<Timer>, StoreError> {
        let row = sqlx::query(select_timers!("WHERE t.id = $1"))
            .bind(DB::uuid_param(id))
            .fetch_optional(self.0)
            .await?;
        row.as_ref().map(timer_from).transpose()
    }

    pub(crate) async fn pending(&self, username: &str) -> Result<Vec<Timer>, StoreError> {
        let rows = sqlx::query(select_timers!(
            "WHERE u.username = $1 AND t.state = 'pending' ORDER BY t.due_at, t.id"
        ))
        .bind(username)
        .fetch_all(self.0)
        .await?;
        rows.iter().map(timer_from).collect()
    }

    pub(crate) async fn count_pending(&self, username: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM timers t JOIN users u ON u.id = t.user_id \
             WHERE u.username = $1 AND t.state = 'pending'",
        )
        .bind(username)
        .fetch_one(self.0)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) async fn cancel(&self, username: &str, id: Uuid) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE timers SET state = 'cancelled' WHERE id = $1 AND state = 'pending' \
             AND user_id = (SELECT id FROM users WHERE username = $2)",
        )
        .bind(DB::uuid_param(id))
        .bind(username)
        .execute(self.0)
        .await?;
        Ok(done.changed_rows() > 0)
    }

    pub(crate) async fn cancel_all(&self, username: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE timers SET state = 'cancelled' WHERE state = 'pending' \
             AND user_id = (SELECT id FROM users WHERE username = $1)",
        )
        .bind(username)
        .execute(self.0)
        .await?;
        Ok(done.changed_rows())
    }

    pub(crate) async fn fire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        by: &str,
    ) -> Result<Vec<FiredTimer>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM timers WHERE state = 'pending' AND due_at <= $1 \
             ORDER BY due_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await?;
        let mut fired = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(timer) = self.fire(row.uuid("id")?, now, by).await? {
                fired.push(timer);
            }
        }
        Ok(fired)
    }

    /// Fires one timer and writes its message, in one transaction; None when another
    /// transaction fired or cancelled it first.
    async fn fire(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Option<FiredTimer>, StoreError> {
        let mut tx = self.0.begin().await?;
        let claimed = sqlx::query(
            "UPDATE timers SET state = 'fired', fired_at = $2, fired_by = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(DB::uuid_param(id))
        .bind(now)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        if claimed.changed_rows() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(select_timers!("WHERE t.id = $1"))
            .bind(DB::uuid_param(id))
            .fetch_one(&mut *tx)
            .await?;
        let timer = timer_from(&row)?;
        let mut message_id = None;
        if let Some(conversation) = timer.conversation_id {
            // The conversation's row first: it is locked until the commit, so a turn written
            // to the same conversation meanwhile numbers its messages after this one.
            let touched = sqlx::query(
                "UPDATE conversations SET message_count = message_count + 1, \
                 last_message_at = $2 WHERE id = $1 \
                 AND user_id = (SELECT user_id FROM timers WHERE id = $3)",
            )
            .bind(DB::uuid_param(conversation))
            .bind(now)
            .bind(DB::uuid_param(id))
            .execute(&mut *tx)
            .await?;
            if touched.changed_rows() > 0 {
                let id = Uuid::now_v7();
                let metadata =
                    serde_json::json!({ "route": { "kind": "timer", "timer_id": timer.id } });
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, seq, role, content, created_at, \
                     model_used, metadata) \
                     SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, 'assistant', $3, $4, 'alice', $5 \
                     FROM messages WHERE conversation_id = $2",
                )
                .bind(DB::uuid_param(id))
                .bind(DB::uuid_param(conversation))
                .bind(timer.message.as_str())
                .bind(now)
                .bind(Json(&metadata))
                .execute(&mut *tx)
                .await?;
                message_id = Some(id);
            }
        }
        tx.commit().await?;
        Ok(Some(FiredTimer { timer, message_id }))
    }
}

pub(crate) fn timer_from(row: &impl StoredRow) -> Result<Timer, StoreError> {
    let kind: String = row.get("kind")?;
    let state: String = row.get("state")?;
    Ok(Timer {
        id: row.uuid("id")?,
        username: row.get("username")?,
        conversation_id: row.optional_uuid("conversation_id")?,
        kind: TimerKind::parse(&kind)?,
        label: row.get("label")?,
        message: row.get("message")?,
        created_at: row.get("created_at")?,
        due_at: row.get("due_at")?,
        state: TimerState::parse(&state)?,
        fired_at: row.get("fired_at")?,
    })
}
