//! The PostgreSQL engine: for when several Alice instances share one database. It keeps the
//! same tables as SQLite with native types (UUID, TIMESTAMPTZ, JSONB), searches memories with
//! PostgreSQL's own `swedish` text-search configuration, and can keep its tables in a schema of
//! their own (`database.schema`), so Alice can share a database with other applications.
//!
//! This file opens the pool and implements [`StoreBackend`]; [`batch`] writes batches of turns,
//! [`user_data`] erases a user, [`rows`] reads rows for the shared mapping and
//! [`url`] keeps passwords out of messages.

mod batch;
#[cfg(test)]
mod query_plans;
mod rows;
pub mod url;
mod user_data;

use crate::StoreError;
use crate::backend::{Engine, StoreBackend};
use crate::engine::export_snapshot::PostgresExport;
use crate::engine::quote_identifier;
use crate::engine::rows::memory_from;
use crate::engine::shared_queries::SharedQueries;
use crate::engine::sql::{self, conversation_query, memory_query};
use crate::engine::substring::regex_pattern;
use crate::erasure_log::{ErasureKey, Tombstone};
use crate::gdpr::ExportSnapshot;
use crate::model::{
    AnswerFeedback, Conversation, ErasureCause, ErasureReport, ExperimentState, Memory,
    MemoryMatch, MessageOwner, NewFeedback, NewMemory, NewOutcome, NewTurn, Page, RecordedTurn,
    RetentionReport, RunState, StoreStats, StoredMessage, StoredOutcome, SystemMetricSample, User,
};
use alice_core::config::DatabaseConfig;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::collections::BTreeMap;
use std::str::FromStr;
use url::redact_password;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A user's memories matching tsquery text `$2`, best first, `$3` at most (`$1` is the
/// username): the memories in the prompt of every answer for a named user. PostgreSQL reads the
/// user's entries of `memories_by_user` and tests each tsvector (a few hundred nanoseconds a
/// memory, and `memory.max_per_user` bounds them), or the GIN index when that is cheaper;
/// `query_plans` tests keep the big tables off sequential scans.
const SEARCH_MEMORIES: &str = concat!(
    memory_query!(),
    ", to_tsquery('swedish', $2) q \
     WHERE u.username = $1 AND m.search @@ q \
     ORDER BY ts_rank(m.search, q) DESC, m.created_at DESC, m.id DESC \
     LIMIT $3"
);

/// A page of user `$1`'s conversations whose title or any message matches regular expression
/// `$2` ([`regex_pattern`]: the search text, case ignored, in any locale), the most recently
/// active first (`$3`, `$4`: limit and offset). The user's conversations come through
/// `conversations_by_user`, and each one's messages through the `(conversation_id, seq)` index
/// until one matches: the cost grows with what this user holds, never with other users' data
/// (`query_plans` keeps it off sequential scans).
const SEARCH_CONVERSATIONS: &str = concat!(
    conversation_query!(),
    "WHERE u.username = $1 AND (c.title ~ $2 OR EXISTS (SELECT 1 FROM messages m \
     WHERE m.conversation_id = c.id AND m.content ~ $2)) \
     ORDER BY c.last_message_at DESC, c.id DESC LIMIT $3 OFFSET $4"
);

/// A pool of connections to Alice's PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// The queries this engine runs like the other one.
    fn shared(&self) -> SharedQueries<'_, sqlx::Postgres> {
        SharedQueries(&self.pool)
    }

    /// Connects, creates the configured schema when missing (every connection then works in
    /// it, the migrations' bookkeeping table included) and applies pending migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            url: redact_password(&config.url),
            source,
        };
        let mut options = PgConnectOptions::from_str(&config.url).map_err(open_error)?;
        if let Some(schema) = &config.schema {
            create_schema(&options, schema).await.map_err(open_error)?;
            options = options.options([("search_path", quote_identifier(schema))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// `CREATE SCHEMA IF NOT EXISTS` on a connection of its own, before the pool's connections
/// name the schema in their search_path.
async fn create_schema(options: &PgConnectOptions, schema: &str) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect_with(options).await?;
    // The name is quoted as an identifier, so any schema name is taken literally.
    let created = connection
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        )))
        .await;
    connection.close().await?;
    match created {
        Ok(_) => Ok(()),
        // Two instances creating the schema at once: one of them loses the race, and the
        // schema exists all the same.
        Err(sqlx::Error::Database(error))
            if matches!(error.code().as_deref(), Some("42P06" | "23505")) =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

#[async_trait::async_trait]
impl StoreBackend for PostgresStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn identity(&self) -> crate::identity::IdentityTables {
        crate::identity::IdentityTables::postgres(self.pool.clone())
    }

    fn idempotency(&self) -> crate::idempotency::IdempotencyTables {
        crate::idempotency::IdempotencyTables::postgres(self.pool.clone())
    }

    fn timers(&self) -> crate::timers::TimerTables {
        crate::timers::TimerTables::postgres(self.pool.clone())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.shared().ping().await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    async fn record_turns(
        &self,
        turns: &[NewTurn],
    ) -> Result<Vec<Result<RecordedTurn, StoreError>>, StoreError> {
        batch::record_turns(&self.pool, turns).await
    }

    async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        self.shared().conversation(id).await
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.shared().recent_messages(conversation_id, limit).await
    }

    async fn messages(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.shared()
            .messages(conversation_id, after_seq, limit)
            .await
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.shared().user(username).await
    }

    async fn user_conversations(
        &self,
        username: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        self.shared().user_conversations(username, page).await
    }

    async fn search_conversations(
        &self,
        username: &str,
        text: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        self.shared()
            .search_conversations(SEARCH_CONVERSATIONS, username, regex_pattern(text), page)
            .await
    }

    async fn message_owner(&self, id: Uuid) -> Result<Option<MessageOwner>, StoreError> {
        self.shared().message_owner(id).await
    }

    async fn put_feedback(
        &self,
        username: &str,
        feedback: &NewFeedback,
    ) -> Result<Option<AnswerFeedback>, StoreError> {
        self.shared().put_feedback(username, feedback).await
    }

    async fn delete_feedback(&self, username: &str, message_id: Uuid) -> Result<bool, StoreError> {
        self.shared().delete_feedback(username, message_id).await
    }

    async fn feedback_between(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        through_seq: i64,
    ) -> Result<Vec<AnswerFeedback>, StoreError> {
        self.shared()
            .feedback_between(conversation_id, after_seq, through_seq)
            .await
    }

    async fn recent_conversations(&self, page: Page) -> Result<Vec<Conversation>, StoreError> {
        self.shared().recent_conversations(page).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let counts = sqlx::query(
            "SELECT (SELECT count(*) FROM users) AS users,
                    (SELECT count(*) FROM conversations) AS conversations,
                    (SELECT count(*) FROM messages) AS messages,
                    (SELECT count(*) FROM memories) AS memories,
                    (SELECT count(*) FROM chat_sessions) AS chat_sessions,
                    (SELECT count(*) FROM agent_executions) AS agent_executions,
                    (SELECT count(*) FROM system_metrics) AS system_metrics,
                    (SELECT count(*) FROM answer_feedback) AS answer_feedback,
                    (SELECT count(*) FROM experiment_outcomes) AS experiment_outcomes,
                    (SELECT count(*) FROM experiment_states) AS experiment_states",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut rows = BTreeMap::new();
        for table in sql::TABLES {
            rows.insert(table.to_owned(), counts.try_get::<i64, _>(table)?);
        }
        // Alice's tables (with their indexes and TOAST) as the search_path resolves them, so
        // tables of other applications in a shared schema are not counted.
        let tables: Vec<&str> = sql::TABLES
            .iter()
            .copied()
            .chain(std::iter::once("_sqlx_migrations"))
            .collect();
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT sum(pg_total_relation_size(to_regclass(t)))::bigint FROM unnest($1::text[]) t",
        )
        .bind(&tables)
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreStats {
            engine: Engine::Postgres.as_str(),
            schema_version: self.schema_version().await?,
            rows,
            size_bytes: size,
        })
    }

    async fn add_memory(
        &self,
        username: &str,
        memory: NewMemory,
        max: u32,
    ) -> Result<Option<Memory>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_ids = batch::ensure_users(&mut tx, &[(username, memory.created_at)]).await?;
        let user_id = batch::user_id_of(&user_ids, username)?;
        // The user's row is locked until commit: another instance adding a memory for the same
        // user waits here, and then counts this one (each statement of READ COMMITTED sees what
        // was committed before it began).
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "INSERT INTO memories (id, user_id, content, created_at, source_conversation_id)
             SELECT $1, $2, $3, $4, $5
             WHERE (SELECT count(*) FROM memories WHERE user_id = $2) < $7
             RETURNING id, $6::text AS username, content, created_at, source_conversation_id",
        )
        .bind(memory.id)
        .bind(user_id)
        .bind(&memory.content)
        .bind(memory.created_at)
        .bind(memory.source_conversation_id)
        .bind(username)
        .bind(i64::from(max))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let stored = memory_from(&row)?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    async fn memories(&self, username: &str, page: Page) -> Result<Vec<Memory>, StoreError> {
        let rows = sqlx::query(concat!(
            memory_query!(),
            "WHERE u.username = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(username)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn count_memories(&self, username: &str) -> Result<u64, StoreError> {
        self.shared().count_memories(username).await
    }

    async fn search_memories(
        &self,
        username: &str,
        query: &str,
        matching: MemoryMatch,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError> {
        let Some(tsquery) = tsquery_of(query, matching) else {
            return Ok(Vec::new());
        };
        // A query of stop words only becomes an empty tsquery, which matches nothing
        // (PostgreSQL says so in a NOTICE).
        let rows = sqlx::query(SEARCH_MEMORIES)
            .bind(username)
            .bind(tsquery)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn delete_memories(&self, username: &str, ids: &[Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = sqlx::query(
            "DELETE FROM memories m USING users u
             WHERE m.user_id = u.id AND u.username = $1 AND m.id = ANY($2)",
        )
        .bind(username)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    async fn export_snapshot(
        &self,
        username: &str,
    ) -> Result<Option<Box<dyn ExportSnapshot>>, StoreError> {
        Ok(PostgresExport::open(&self.pool, username)
            .await?
            .map(|snapshot| Box::new(snapshot) as Box<dyn ExportSnapshot>))
    }

    async fn erase_user(
        &self,
        username: &str,
        cause: &ErasureCause,
    ) -> Result<Option<ErasureReport>, StoreError> {
        self.erase_user_data(username, cause).await
    }

    async fn erasure_key(&self) -> Result<ErasureKey, StoreError> {
        self.shared().erasure_key().await
    }

    async fn erasure_log(&self) -> Result<Vec<Tombstone>, StoreError> {
        self.shared().erasure_log().await
    }

    async fn record_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError> {
        self.shared().record_tombstone(tombstone).await
    }

    async fn delete_messages_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "WITH gone AS (DELETE FROM messages WHERE created_at < $1 RETURNING conversation_id)
             SELECT conversation_id, count(*) AS messages FROM gone GROUP BY conversation_id",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let mut touched = Vec::with_capacity(deleted.len());
        let mut messages = 0_i64;
        for row in &deleted {
            touched.push(row.try_get::<Uuid, _>("conversation_id")?);
            messages += row.try_get::<i64, _>("messages")?;
        }
        if touched.is_empty() {
            tx.commit().await?;
            return Ok(RetentionReport::default());
        }
        // Lock the touched conversations first: a turn being written to one of them then
        // commits before the emptiness check below, which (a statement of its own) sees it.
        sqlx::query("SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&touched)
            .execute(&mut *tx)
            .await?;
        let conversations = sqlx::query(
            "DELETE FROM conversations c WHERE c.id = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
        )
        .bind(&touched)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE conversations c
             SET message_count = (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
             WHERE c.id = ANY($1)",
        )
        .bind(&touched)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RetentionReport {
            messages: u64::try_from(messages).unwrap_or(0),
            conversations,
        })
    }

    async fn record_system_metrics(&self, sample: &SystemMetricSample) -> Result<(), StoreError> {
        self.shared().record_system_metrics(sample).await
    }

    async fn system_metrics(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SystemMetricSample>, StoreError> {
        self.shared().system_metrics(since, limit).await
    }

    async fn record_outcomes(&self, outcomes: &[NewOutcome]) -> Result<(), StoreError> {
        self.shared().record_outcomes("BEGIN", outcomes).await
    }

    async fn outcomes(
        &self,
        experiment: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredOutcome>, StoreError> {
        self.shared().outcomes(experiment, since).await
    }

    async fn set_experiment_state(
        &self,
        name: &str,
        state: RunState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.shared()
            .set_experiment_state(name, state, reason, Utc::now())
            .await
    }

    async fn experiment_states(&self) -> Result<Vec<ExperimentState>, StoreError> {
        self.shared().experiment_states().await
    }
}

/// The tsquery text for a memory search: the query's words, lowercase, joined by `|` (any) or
/// `&` (all), for `to_tsquery('swedish', …)` to stem and to drop stop words from. Words are
/// made of letters and digits only, so they cannot carry tsquery operators. None when the
/// query has no word.
fn tsquery_of(query: &str, matching: MemoryMatch) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return None;
    }
    let operator = match matching {
        MemoryMatch::Any => " | ",
        MemoryMatch::All => " & ",
    };
    Some(words.join(operator))
}

#[cfg(test)]
mod tests {
    use super::tsquery_of;
    use crate::model::MemoryMatch;

    #[test]
    fn tsquery_joins_plain_lowercase_words() {
        assert_eq!(
            tsquery_of("Vad heter HUNDEN? Hunden!", MemoryMatch::Any).as_deref(),
            Some("vad | heter | hunden")
        );
        assert_eq!(
            tsquery_of("glöm 'jordgubbar' & (allt) | !x:*", MemoryMatch::All).as_deref(),
            Some("glöm & jordgubbar & allt & x")
        );
        assert_eq!(tsquery_of(" ?! -- ", MemoryMatch::Any), None);
    }
}
