//! One user's data read page by page from one snapshot of the database, for the streamed GDPR
//! export ([`crate::gdpr`]). The snapshot is a read transaction held for the whole export:
//! PostgreSQL's REPEATABLE READ READ ONLY, SQLite's deferred transaction (in WAL mode a reader
//! sees the database as it was at its first read, and writers go on). Pages follow keys
//! (`started_at, id` and the like), not offsets, so each page costs the same however far the
//! export has come.
//!
//! The statements are the same for both engines; the two implementations differ only in their
//! types, so one macro writes both.

use crate::StoreError;
use crate::engine::rows::{
    conversation_from, execution_from, feedback_from, memory_from, message_from, outcome_from,
    session_from, user_from,
};
use crate::engine::shared_queries::UuidParam;
use crate::engine::sql::{self, conversation_query, memory_query, outcome_query};
use crate::engine::timer_queries;
use crate::gdpr::ExportSnapshot;
use crate::model::{
    AgentExecution, AnswerFeedback, ChatSession, Conversation, Memory, StoredMessage,
    StoredOutcome, User,
};
use crate::timers::Timer;
use sqlx::{Pool, Postgres, Row, Sqlite, Transaction};
use uuid::Uuid;

const CONVERSATIONS_FIRST: &str = concat!(
    conversation_query!(),
    "WHERE c.user_id = $1 ORDER BY c.started_at, c.id LIMIT $2"
);
const CONVERSATIONS_AFTER: &str = concat!(
    conversation_query!(),
    "WHERE c.user_id = $1 AND (c.started_at, c.id) > ($2, $3) ORDER BY c.started_at, c.id \
     LIMIT $4"
);
const MEMORIES_FIRST: &str = concat!(
    memory_query!(),
    "WHERE m.user_id = $1 ORDER BY m.created_at, m.id LIMIT $2"
);
const MEMORIES_AFTER: &str = concat!(
    memory_query!(),
    "WHERE m.user_id = $1 AND (m.created_at, m.id) > ($2, $3) ORDER BY m.created_at, m.id \
     LIMIT $4"
);
macro_rules! session_query {
    () => {
        "SELECT id, client, started_at, last_seen_at, ended_at, metadata FROM chat_sessions \
         WHERE user_id = $1 "
    };
}
const SESSIONS_FIRST: &str = concat!(session_query!(), "ORDER BY started_at, id LIMIT $2");
const SESSIONS_AFTER: &str = concat!(
    session_query!(),
    "AND (started_at, id) > ($2, $3) ORDER BY started_at, id LIMIT $4"
);
macro_rules! execution_query {
    () => {
        "SELECT id, conversation_id, agent, status, input, output, started_at, finished_at, \
         metadata FROM agent_executions WHERE user_id = $1 "
    };
}
const EXECUTIONS_FIRST: &str = concat!(execution_query!(), "ORDER BY started_at, id LIMIT $2");
const EXECUTIONS_AFTER: &str = concat!(
    execution_query!(),
    "AND (started_at, id) > ($2, $3) ORDER BY started_at, id LIMIT $4"
);
// Feedback pages by answer id (UUIDv7, so in the order the answers were given), through
// `answer_feedback_by_user`. Each row's conversation is looked up by the answer's primary key:
// written as a join, PostgreSQL hashes the whole `messages` table for a page of a few hundred
// rows once that table is small enough (its `query_plans` test saw it).
macro_rules! feedback_export_query {
    () => {
        "SELECT f.message_id, \
         (SELECT m.conversation_id FROM messages m WHERE m.id = f.message_id) AS conversation_id, \
         f.rating, f.comment, f.created_at, f.updated_at FROM answer_feedback f WHERE f.user_id = $1 "
    };
}
pub(crate) const FEEDBACK_FIRST: &str =
    concat!(feedback_export_query!(), "ORDER BY f.message_id LIMIT $2");
pub(crate) const FEEDBACK_AFTER: &str = concat!(
    feedback_export_query!(),
    "AND f.message_id > $2 ORDER BY f.message_id LIMIT $3"
);

// A user's experiment outcomes page by row number through `experiment_outcomes_by_user`.
pub(crate) const OUTCOMES_FIRST: &str = concat!(
    outcome_query!(),
    "WHERE o.user_id = $1 ORDER BY o.id LIMIT $2"
);
pub(crate) const OUTCOMES_AFTER: &str = concat!(
    outcome_query!(),
    "WHERE o.user_id = $1 AND o.id > $2 ORDER BY o.id LIMIT $3"
);

macro_rules! export_snapshot {
    ($name:ident, $db:ty, $begin:literal) => {
        /// A user's data in one read transaction of this engine.
        pub(crate) struct $name {
            tx: Transaction<'static, $db>,
            user: User,
            user_id: i64,
        }

        impl $name {
            /// Opens the snapshot; None when the database does not know the user.
            pub(crate) async fn open(
                pool: &Pool<$db>,
                username: &str,
            ) -> Result<Option<Self>, StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let Some(row) = sqlx::query(sql::USER)
                    .bind(username)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let user = user_from(&row)?;
                let user_id: i64 = row.try_get("id")?;
                Ok(Some(Self { tx, user, user_id }))
            }
        }

        #[async_trait::async_trait]
        impl ExportSnapshot for $name {
            fn user(&self) -> &User {
                &self.user
            }

            async fn conversations(
                &mut self,
                after: Option<&Conversation>,
                limit: u32,
            ) -> Result<Vec<Conversation>, StoreError> {
                let query = match after {
                    None => sqlx::query(CONVERSATIONS_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(CONVERSATIONS_AFTER)
                        .bind(self.user_id)
                        .bind(last.started_at)
                        .bind(<$db as UuidParam>::uuid_param(last.id)),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(conversation_from).collect()
            }

            async fn messages(
                &mut self,
                conversation: Uuid,
                after_seq: i64,
                limit: u32,
            ) -> Result<Vec<StoredMessage>, StoreError> {
                let rows = sqlx::query(sql::MESSAGES_AFTER)
                    .bind(<$db as UuidParam>::uuid_param(conversation))
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(message_from).collect()
            }

            async fn memories(
                &mut self,
                after: Option<&Memory>,
                limit: u32,
            ) -> Result<Vec<Memory>, StoreError> {
                let query = match after {
                    None => sqlx::query(MEMORIES_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(MEMORIES_AFTER)
                        .bind(self.user_id)
                        .bind(last.created_at)
                        .bind(<$db as UuidParam>::uuid_param(last.id)),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(memory_from).collect()
            }

            async fn timers(
                &mut self,
                after: Option<&Timer>,
                limit: u32,
            ) -> Result<Vec<Timer>, StoreError> {
                let query = match after {
                    None => sqlx::query(timer_queries::EXPORT_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(timer_queries::EXPORT_AFTER)
                        .bind(self.user_id)
                        .bind(last.created_at)
                        .bind(<$db as UuidParam>::uuid_param(last.id)),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(timer_queries::timer_from).collect()
            }

            async fn chat_sessions(
                &mut self,
                after: Option<&ChatSession>,
                limit: u32,
            ) -> Result<Vec<ChatSession>, StoreError> {
                let query = match after {
                    None => sqlx::query(SESSIONS_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(SESSIONS_AFTER)
                        .bind(self.user_id)
                        .bind(last.started_at)
                        .bind(last.id.clone()),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(session_from).collect()
            }

            async fn agent_executions(
                &mut self,
                after: Option<&AgentExecution>,
                limit: u32,
            ) -> Result<Vec<AgentExecution>, StoreError> {
                let query = match after {
                    None => sqlx::query(EXECUTIONS_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(EXECUTIONS_AFTER)
                        .bind(self.user_id)
                        .bind(last.started_at)
                        .bind(last.id.clone()),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(execution_from).collect()
            }

            async fn answer_feedback(
                &mut self,
                after: Option<&AnswerFeedback>,
                limit: u32,
            ) -> Result<Vec<AnswerFeedback>, StoreError> {
                let query = match after {
                    None => sqlx::query(FEEDBACK_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(FEEDBACK_AFTER)
                        .bind(self.user_id)
                        .bind(<$db as UuidParam>::uuid_param(last.message_id)),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(feedback_from).collect()
            }

            async fn experiment_outcomes(
                &mut self,
                after: Option<&StoredOutcome>,
                limit: u32,
            ) -> Result<Vec<StoredOutcome>, StoreError> {
                let query = match after {
                    None => sqlx::query(OUTCOMES_FIRST).bind(self.user_id),
                    Some(last) => sqlx::query(OUTCOMES_AFTER).bind(self.user_id).bind(last.id),
                };
                let rows = query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(outcome_from).collect()
            }

            async fn finish(self: Box<Self>) -> Result<(), StoreError> {
                self.tx.commit().await?;
                Ok(())
            }
        }
    };
}

export_snapshot!(SqliteExport, Sqlite, "BEGIN");
export_snapshot!(
    PostgresExport,
    Postgres,
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
);
