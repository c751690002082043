//! The queries both engines run alike to the letter (the same statement, the same values bound,
//! the same mapping of the rows), written once over either engine's pool. Each engine's
//! `StoreBackend` methods for them hand their pool to [`SharedQueries`].

use crate::StoreError;
use crate::engine::rows::{StoredRow, conversation_from, metric_from, user_from};
use crate::engine::sql;
use crate::model::{Conversation, Page, SystemMetricSample, User};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

/// The shared queries on one engine's pool.
pub(crate) struct SharedQueries<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> SharedQueries<'_, DB>
where
    DB: Database,
    DB::Row: StoredRow,
    usize: ColumnIndex<DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'v> &'v str: Encode<'v, DB> + Type<DB>,
    for<'v> i64: Encode<'v, DB> + Decode<'v, DB> + Type<DB>,
    for<'v> Option<f64>: Encode<'v, DB> + Type<DB>,
    for<'v> DateTime<Utc>: Encode<'v, DB> + Type<DB>,
{
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(self.0).await?;
        Ok(())
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
