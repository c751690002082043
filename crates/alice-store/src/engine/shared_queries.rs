//! The queries both engines run alike to the letter (the same statement, the same values bound,
//! the same mapping of the rows), written once over either engine's pool. Each engine's
//! `StoreBackend` methods for them hand their pool to [`SharedQueries`]; the one thing bound
//! differently, a UUID, goes through [`UuidParam`]. The conversation search is run here too,
//! with the statement and pattern each engine writes its own way ([`super::substring`]).

use crate::StoreError;
use crate::engine::rows::{
    StoredRow, conversation_from, experiment_state_from, feedback_from, message_from, metric_from,
    outcome_from, owner_from, tombstone_from, user_from,
};
use crate::engine::sql;
use crate::erasure_log::{ErasureKey, Tombstone};
use crate::model::{
    AnswerFeedback, Conversation, ErasureCounts, ExperimentState, MessageOwner, NewFeedback,
    NewOutcome, Page, RunState, StoredMessage, StoredOutcome, SystemMetricSample, User,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Postgres, Sqlite, Type,
};
use uuid::Uuid;

/// How an engine binds a UUID: SQLite keeps UUIDs as text, PostgreSQL as its own type.
pub(crate) trait UuidParam: Database {
    type Param: for<'v> Encode<'v, Self> + Type<Self> + Send + 'static;

    fn uuid_param(id: Uuid) -> Self::Param;
}

impl UuidParam for Sqlite {
    type Param = String;

    fn uuid_param(id: Uuid) -> String {
        id.to_string()
    }
}

impl UuidParam for Postgres {
    type Param = Uuid;

    fn uuid_param(id: Uuid) -> Uuid {
        id
    }
}

/// The shared queries on one engine's pool.
pub(crate) struct SharedQueries<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> SharedQueries<'_, DB>
where
    DB: UuidParam,
    DB::Row: StoredRow,
    usize: ColumnIndex<DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'v> &'v str: Encode<'v, DB> + Type<DB>,
    for<'v> i64: Encode<'v, DB> + Decode<'v, DB> + Type<DB>,
    for<'v> i32: Encode<'v, DB> + Type<DB>,
    for<'v> Option<i64>: Encode<'v, DB> + Type<DB>,
    for<'v> Option<DB::Param>: Encode<'v, DB> + Type<DB>,
    for<'v> Option<f64>: Encode<'v, DB> + Type<DB>,
    for<'v> Option<String>: Encode<'v, DB> + Type<DB>,
    for<'v> DateTime<Utc>: Encode<'v, DB> + Type<DB>,
    for<'v> String: Decode<'v, DB> + Type<DB>,
    for<'v> Json<&'v ErasureCounts>: Encode<'v, DB> + Type<DB>,
{
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(self.0).await?;
        Ok(())
    }

    pub(crate) async fn erasure_key(&self) -> Result<ErasureKey, StoreError> {
        let hex: String = sqlx::query_scalar(sql::ERASURE_KEY)
            .fetch_one(self.0)
            .await?;
        ErasureKey::from_hex(&hex)
    }

    pub(crate) async fn erasure_log(&self) -> Result<Vec<Tombstone>, StoreError> {
        let rows = sqlx::query(sql::ERASURE_LOG).fetch_all(self.0).await?;
        rows.iter().map(tombstone_from).collect()
    }

    pub(crate) async fn record_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError> {
        sqlx::query(sql::RECORD_TOMBSTONE)
            .bind(DB::uuid_param(tombstone.id))
            .bind(tombstone.subject.as_str())
            .bind(tombstone.key_id.as_str())
            .bind(tombstone.erased_at)
            .bind(tombstone.erased_by.as_str())
            .bind(Json(&tombstone.counts))
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub(crate) async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(sql::CONVERSATION)
            .bind(DB::uuid_param(id))
            .fetch_optional(self.0)
            .await?
            .map(|row| conversation_from(&row))
            .transpose()
    }

    pub(crate) async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(sql::RECENT_MESSAGES)
            .bind(DB::uuid_param(conversation_id))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(message_from).collect()
    }

    pub(crate) async fn messages(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(sql::MESSAGES_AFTER)
            .bind(DB::uuid_param(conversation_id))
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(message_from).collect()
    }

    pub(crate) async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(sql::USER)
            .bind(username)
            .fetch_optional(self.0)
            .await?
            .map(|row| user_from(&row))
            .transpose()
    }

    pub(crate) async fn user_conversations(
        &self,
        username: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(sql::USER_CONVERSATIONS)
            .bind(username)
            .bind(i64::from(page.limit))
            .bind(i64::from(page.offset))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(conversation_from).collect()
    }

    pub(crate) async fn recent_conversations(
        &self,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(sql::RECENT_CONVERSATIONS)
            .bind(i64::from(page.limit))
            .bind(i64::from(page.offset))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(conversation_from).collect()
    }

    /// A page of `username`'s conversations that `statement` (the engine's search, with the
    /// username, the pattern, the limit and the offset as `$1` to `$4`) finds for `pattern`.
    pub(crate) async fn search_conversations(
        &self,
        statement: &'static str,
        username: &str,
        pattern: String,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(statement)
            .bind(username)
            .bind(pattern.as_str())
            .bind(i64::from(page.limit))
            .bind(i64::from(page.offset))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(conversation_from).collect()
    }

    pub(crate) async fn message_owner(&self, id: Uuid) -> Result<Option<MessageOwner>, StoreError> {
        sqlx::query(sql::MESSAGE_OWNER)
            .bind(DB::uuid_param(id))
            .fetch_optional(self.0)
            .await?
            .map(|row| owner_from(&row))
            .transpose()
    }

    pub(crate) async fn put_feedback(
        &self,
        username: &str,
        feedback: &NewFeedback,
    ) -> Result<Option<AnswerFeedback>, StoreError> {
        let stored = sqlx::query(sql::PUT_FEEDBACK)
            .bind(DB::uuid_param(feedback.message_id))
            .bind(username)
            .bind(feedback.rating.as_str())
            .bind(feedback.comment.clone())
            .bind(feedback.at)
            .fetch_optional(self.0)
            .await?;
        if stored.is_none() {
            return Ok(None);
        }
        // Read back for the times: `created_at` is the first rating's.
        sqlx::query(sql::FEEDBACK_OF)
            .bind(DB::uuid_param(feedback.message_id))
            .fetch_optional(self.0)
            .await?
            .map(|row| feedback_from(&row))
            .transpose()
    }

    pub(crate) async fn delete_feedback(
        &self,
        username: &str,
        message_id: Uuid,
    ) -> Result<bool, StoreError> {
        let deleted = sqlx::query(sql::DELETE_FEEDBACK)
            .bind(DB::uuid_param(message_id))
            .bind(username)
            .fetch_optional(self.0)
            .await?;
        Ok(deleted.is_some())
    }

    pub(crate) async fn feedback_between(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        through_seq: i64,
    ) -> Result<Vec<AnswerFeedback>, StoreError> {
        let rows = sqlx::query(sql::FEEDBACK_BETWEEN)
            .bind(DB::uuid_param(conversation_id))
            .bind(after_seq)
            .bind(through_seq)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(feedback_from).collect()
    }

    pub(crate) async fn count_memories(&self, username: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(sql::COUNT_MEMORIES)
            .bind(username)
            .fetch_one(self.0)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) async fn record_system_metrics(
        &self,
        sample: &SystemMetricSample,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_SYSTEM_METRIC)
            .bind(sample.recorded_at)
            .bind(sample.guardian_state.as_str())
            .bind(sample.brownout_level.as_str())
            .bind(sample.ram_pct)
            .bind(sample.cpu_pct)
            .bind(sample.disk_pct)
            .bind(sample.samples)
            .execute(self.0)
            .await?;
        Ok(())
    }

    /// Writes outcomes in one transaction, begun with `begin` (each engine's way to take the
    /// write lock).
    pub(crate) async fn record_outcomes(
        &self,
        begin: &'static str,
        outcomes: &[NewOutcome],
    ) -> Result<(), StoreError> {
        let mut tx = self.0.begin_with(begin).await?;
        for outcome in outcomes {
            let count = |value: Option<u64>| value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            sqlx::query(sql::RECORD_OUTCOME)
                .bind(outcome.experiment.as_str())
                .bind(outcome.variant.as_str())
                .bind(outcome.username.clone())
                .bind(outcome.request_id.as_str())
                .bind(outcome.route.as_str())
                .bind(outcome.outcome.as_str())
                .bind(i32::from(outcome.status))
                .bind(count(outcome.latency_ms))
                .bind(count(outcome.ttft_ms))
                .bind(count(outcome.completion_tokens))
                .bind(outcome.message_id.map(DB::uuid_param))
                .bind(outcome.at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn outcomes(
        &self,
        experiment: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredOutcome>, StoreError> {
        let query = match since {
            None => sqlx::query(sql::OUTCOMES).bind(experiment),
            Some(since) => sqlx::query(sql::OUTCOMES_SINCE)
                .bind(experiment)
                .bind(since),
        };
        let rows = query.fetch_all(self.0).await?;
        rows.iter().map(outcome_from).collect()
    }

    pub(crate) async fn set_experiment_state(
        &self,
        name: &str,
        state: RunState,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::SET_EXPERIMENT_STATE)
            .bind(name)
            .bind(state.as_str())
            .bind(reason.map(str::to_owned))
            .bind(at)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub(crate) async fn experiment_states(&self) -> Result<Vec<ExperimentState>, StoreError> {
        let rows = sqlx::query(sql::EXPERIMENT_STATES)
            .fetch_all(self.0)
            .await?;
        rows.iter().map(experiment_state_from).collect()
    }

    pub(crate) async fn system_metrics(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SystemMetricSample>, StoreError> {
        let rows = sqlx::query(sql::SYSTEM_METRICS)
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(self.0)
            .await?;
        rows.iter().map(metric_from).collect()
    }
}
