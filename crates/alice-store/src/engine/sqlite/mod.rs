//! The SQLite engine: the embedded default. One file (plus its write-ahead log) next to Alice.
//!
//! This file opens the pool (with the configured pragmas) and implements [`StoreBackend`];
//! [`batch`] writes batches of turns, [`user_data`] erases a user and [`rows`]
//! reads rows for the shared mapping.

mod batch;
#[cfg(test)]
mod query_plans;
mod rows;
mod user_data;

use crate::StoreError;
use crate::backend::{Engine, StoreBackend};
use crate::engine::export_snapshot::SqliteExport;
use crate::engine::rows::memory_from;
use crate::engine::shared_queries::SharedQueries;
use crate::engine::sql::{self, conversation_query, memory_query};
use crate::engine::substring::glob_pattern;
use crate::erasure_log::{ErasureKey, Tombstone};
use crate::gdpr::ExportSnapshot;
use crate::model::{
    AnswerFeedback, Conversation, ErasureCause, ErasureReport, ExperimentState, Memory,
    MemoryMatch, MessageOwner, NewFeedback, NewMemory, NewOutcome, NewTurn, Page, RecordedTurn,
    RetentionReport, RunState, StoreStats, StoredMessage, StoredOutcome, SystemMetricSample, User,
};
use crate::search_terms::{search_terms, search_text};
use alice_core::config::{DatabaseConfig, Synchronous};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Stores a memory for user row `$2` unless they have `$7` already (`memory.max_per_user`).
/// The count reads only the user's entries of `memories_by_user`, which the cap itself keeps
/// to at most `$7`.
const ADD_MEMORY: &str = "INSERT INTO memories (id, user_id, content, search_text, created_at, \
         source_conversation_id) \
     SELECT $1, $2, $3, $4, $5, $6 \
     WHERE (SELECT count(*) FROM memories WHERE user_id = $2) < $7";

/// A user's memories matching full-text expression `$2`, best first, `$3` at most (`$1` is the
/// username). It runs before every answer for a named user (the memories in the prompt).
///
/// The full-text index drives the search: `CROSS JOIN` makes SQLite keep `memories_fts` as the
/// outer loop, so the expression is looked up once and only its matches are joined to their
/// rows. Written as a plain join, SQLite 3.51 (the bundled one) walks `memories_by_user`
/// instead and runs the whole full-text expression again for each of the user's memories
/// (plan `SEARCH m USING INDEX memories_by_user` then `SCAN f VIRTUAL TABLE INDEX 0:=M1`): a
/// cost that grew with every memory the user had, about 12 ms of CPU per request at 460
/// memories. `query_plans` tests hold the plan to this.
const SEARCH_MEMORIES: &str = "SELECT m.id, u.username, m.content, m.created_at, \
     m.source_conversation_id \
     FROM memories_fts f CROSS JOIN memories m ON m.number = f.rowid \
     CROSS JOIN users u ON u.id = m.user_id \
     WHERE memories_fts MATCH $2 AND u.username = $1 \
     ORDER BY bm25(memories_fts), m.created_at DESC LIMIT $3";

/// A page of user `$1`'s conversations whose title or any message matches GLOB pattern `$2`
/// ([`glob_pattern`]: the search text, case ignored), the most recently active first (`$3`, `$4`:
/// limit and offset). The user's row comes by its unique name and their conversations by
/// `conversations_by_user`, newest first; each conversation's messages are read through the
/// `(conversation_id, seq)` index only until one matches. So the cost grows with what this user
/// holds, never with other users' conversations (`query_plans` holds the plan to that). There
/// is no full-text index of messages to use: the search is for any substring, not for words.
const SEARCH_CONVERSATIONS: &str = concat!(
    conversation_query!(),
    "WHERE u.username = $1 AND (c.title GLOB $2 OR EXISTS (SELECT 1 FROM messages m \
     WHERE m.conversation_id = c.id AND m.content GLOB $2)) \
     ORDER BY c.last_message_at DESC, c.id DESC LIMIT $3 OFFSET $4"
);

/// A pool of connections to Alice's SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// The queries this engine runs like the other one.
    fn shared(&self) -> SharedQueries<'_, sqlx::Sqlite> {
        SharedQueries(&self.pool)
    }

    /// Opens (creating when missing) the database, sets the pragmas from the config on every
    /// connection and applies pending migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            url: config.url.clone(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(open_error)?
            .create_if_missing(true)
            .journal_mode(if config.wal {
                SqliteJournalMode::Wal
            } else {
                SqliteJournalMode::Delete
            })
            .synchronous(match config.synchronous {
                Synchronous::Off => SqliteSynchronous::Off,
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(config.busy_timeout)
            .foreign_keys(config.foreign_keys)
            // A negative cache_size is in KiB rather than pages.
            .pragma(
                "cache_size",
                format!("-{}", u64::from(config.cache_size_mib) * 1024),
            );
        create_parent_dir(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Reads one pragma's current value, as text (for checks and diagnostics).
    pub async fn pragma(&self, name: &str) -> Result<String, StoreError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Corrupt(format!("not a pragma name: {name}")));
        }
        // The name was checked above to be a plain identifier.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(&self.pool)
            .await?;
        let value: sqlx::Result<i64> = row.try_get(0);
        match value {
            Ok(number) => Ok(number.to_string()),
            Err(_) => Ok(row.try_get::<String, _>(0)?),
        }
    }

    async fn user_id(&self, username: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(sql::USER_ID)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?)
    }
}

#[async_trait::async_trait]
impl StoreBackend for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn identity(&self) -> crate::identity::IdentityTables {
        crate::identity::IdentityTables::sqlite(self.pool.clone())
    }

    fn idempotency(&self) -> crate::idempotency::IdempotencyTables {
        crate::idempotency::IdempotencyTables::sqlite(self.pool.clone())
    }

    fn timers(&self) -> crate::timers::TimerTables {
        crate::timers::TimerTables::sqlite(self.pool.clone())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.shared().ping().await
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await?,
        )
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
            .search_conversations(SEARCH_CONVERSATIONS, username, glob_pattern(text), page)
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
        let mut rows = BTreeMap::new();
        for table in sql::TABLES {
            // Table names come from the constant list above.
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.pool)
                    .await?;
            rows.insert(table.to_owned(), count);
        }
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.pool)
            .await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&self.pool)
            .await?;
        Ok(StoreStats {
            engine: Engine::Sqlite.as_str(),
            schema_version: self.schema_version().await?,
            rows,
            size_bytes: Some(pages * page_size),
        })
    }

    async fn add_memory(
        &self,
        username: &str,
        memory: NewMemory,
        max: u32,
    ) -> Result<Option<Memory>, StoreError> {
        // BEGIN IMMEDIATE takes the database's write lock at once, so no other writer runs
        // between this transaction's count and its insert.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let user_id = batch::ensure_user(&mut tx, username, memory.created_at).await?;
        let inserted = sqlx::query(ADD_MEMORY)
            .bind(memory.id.to_string())
            .bind(user_id)
            .bind(&memory.content)
            .bind(search_text(&memory.content))
            .bind(memory.created_at)
            .bind(memory.source_conversation_id.map(|id| id.to_string()))
            .bind(i64::from(max))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(Memory {
            id: memory.id,
            username: username.to_owned(),
            content: memory.content,
            created_at: memory.created_at,
            source_conversation_id: memory.source_conversation_id,
        }))
    }

    async fn memories(&self, username: &str, page: Page) -> Result<Vec<Memory>, StoreError> {
        let rows = sqlx::query(concat!(
            memory_query!(),
            "WHERE u.username = $1 ORDER BY m.created_at DESC, m.number DESC LIMIT $2 OFFSET $3"
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
        let terms = search_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // Terms are letters and digits only (search_terms), so quoting makes each a plain
        // FTS5 string whatever it spells (AND, OR, NOT and NEAR included).
        let operator = match matching {
            MemoryMatch::Any => " OR ",
            MemoryMatch::All => " AND ",
        };
        let expression = terms
            .iter()
            .map(|term| format!("\"{term}\""))
            .collect::<Vec<_>>()
            .join(operator);
        let rows = sqlx::query(SEARCH_MEMORIES)
            .bind(username)
            .bind(expression)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn delete_memories(&self, username: &str, ids: &[Uuid]) -> Result<u64, StoreError> {
        let Some(user_id) = self.user_id(username).await? else {
            return Ok(0);
        };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut deleted = 0;
        for id in ids {
            deleted += sqlx::query("DELETE FROM memories WHERE id = $1 AND user_id = $2")
                .bind(id.to_string())
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn export_snapshot(
        &self,
        username: &str,
    ) -> Result<Option<Box<dyn ExportSnapshot>>, StoreError> {
        Ok(SqliteExport::open(&self.pool, username)
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let touched: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM messages WHERE created_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let messages = sqlx::query("DELETE FROM messages WHERE created_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut conversations = 0;
        for id in &touched {
            let left: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if left == 0 {
                conversations += sqlx::query("DELETE FROM conversations WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            } else {
                sqlx::query("UPDATE conversations SET message_count = $1 WHERE id = $2")
                    .bind(left)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(RetentionReport {
            messages,
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
        // IMMEDIATE takes the write lock up front (see batch.rs).
        self.shared()
            .record_outcomes("BEGIN IMMEDIATE", outcomes)
            .await
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

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    let in_memory = file.as_os_str() == ":memory:";
    match file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) if !in_memory => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}
