//! The SQLite engine: the embedded default. One file (plus its write-ahead log) next to Alice.

use crate::StoreError;
use crate::backend::{Engine, StoreBackend};
use crate::model::{
    AgentExecution, ChatSession, Conversation, ConversationTarget, ConversationWithMessages,
    ErasureReport, Memory, MemoryMatch, NewMemory, NewMessage, NewTurn, Page, RecordedTurn,
    RetentionReport, StoreStats, StoredMessage, SystemMetricSample, User, UserData, title_from,
};
use crate::search_terms::{search_terms, search_text};
use alice_core::Role;
use alice_core::config::{DatabaseConfig, Synchronous};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use uuid::Uuid;

/// The message columns every message query reads, as a literal so queries stay `&'static str`.
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, role, content, created_at, model_used, response_time_ms, \
         ttft_ms, prompt_tokens, completion_tokens, request_id, cached, metadata, cache_key"
    };
}

/// The conversation columns, joined with the user's name.
macro_rules! conversation_query {
    () => {
        "SELECT c.id, u.username, c.title, c.kind, c.started_at, c.last_message_at, c.ended_at,
                c.message_count
         FROM conversations c JOIN users u ON u.id = c.user_id "
    };
}

/// The memory columns, joined with the user's name.
macro_rules! memory_query {
    () => {
        "SELECT m.id, u.username, m.content, m.created_at, m.source_conversation_id
         FROM memories m JOIN users u ON u.id = m.user_id "
    };
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The application's tables, for stats.
const TABLES: &[&str] = &[
    "users",
    "conversations",
    "messages",
    "memories",
    "chat_sessions",
    "agent_executions",
    "system_metrics",
];

/// A pool of connections to Alice's SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
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
        Ok(
            sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Rewrites the file so deleted rows leave no trace: merges the memory index (whose old
    /// segments would keep deleted terms), vacuums (freed pages still hold old rows) and
    /// truncates the write-ahead log (which holds old page images).
    async fn scrub(&self) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO memories_fts (memories_fts) VALUES ('optimize')")
            .execute(&self.pool)
            .await?;
        sqlx::query("VACUUM").execute(&self.pool).await?;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        if busy != 0 {
            tracing::warn!(
                evt = "erase_checkpoint_busy",
                "a reader kept the write-ahead log from being truncated; it is truncated at the next checkpoint"
            );
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StoreBackend for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
        // IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy_timeout)
        // instead of failing when this transaction upgrades from reading to writing.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(turns.len());
        for turn in turns {
            outcomes.push(write_turn(&mut tx, turn).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(concat!(conversation_query!(), "WHERE c.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| conversation_from(&row))
            .transpose()
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT * FROM (SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?)
             ORDER BY seq ASC"
        ))
        .bind(conversation_id.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from).collect()
    }

    async fn messages(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?"
        ))
        .bind(conversation_id.to_string())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from).collect()
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(
            "SELECT username, display_name, language, timezone, preferences, created_at
             FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| user_from(&row))
        .transpose()
    }

    async fn user_conversations(
        &self,
        username: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(concat!(
            conversation_query!(),
            "WHERE u.username = ? ORDER BY c.last_message_at DESC, c.id DESC LIMIT ? OFFSET ?"
        ))
        .bind(username)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation_from).collect()
    }

    async fn recent_conversations(&self, page: Page) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(concat!(
            conversation_query!(),
            "ORDER BY c.last_message_at DESC, c.id DESC LIMIT ? OFFSET ?"
        ))
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation_from).collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut rows = BTreeMap::new();
        for table in TABLES {
            // Table names come from the constant list above.
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.pool)
                    .await?;
            rows.insert((*table).to_owned(), count);
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

    async fn add_memory(&self, username: &str, memory: NewMemory) -> Result<Memory, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let user_id = ensure_user(&mut tx, username, memory.created_at).await?;
        sqlx::query(
            "INSERT INTO memories (id, user_id, content, search_text, created_at,
                 source_conversation_id)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(memory.id.to_string())
        .bind(user_id)
        .bind(&memory.content)
        .bind(search_text(&memory.content))
        .bind(memory.created_at)
        .bind(memory.source_conversation_id.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Memory {
            id: memory.id,
            username: username.to_owned(),
            content: memory.content,
            created_at: memory.created_at,
            source_conversation_id: memory.source_conversation_id,
        })
    }

    async fn memories(&self, username: &str, page: Page) -> Result<Vec<Memory>, StoreError> {
        let rows = sqlx::query(concat!(
            memory_query!(),
            "WHERE u.username = ? ORDER BY m.created_at DESC, m.number DESC LIMIT ? OFFSET ?"
        ))
        .bind(username)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn count_memories(&self, username: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memories m JOIN users u ON u.id = m.user_id
             WHERE u.username = ?",
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
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
        let rows = sqlx::query(concat!(
            memory_query!(),
            "JOIN memories_fts f ON f.rowid = m.number
             WHERE u.username = ? AND memories_fts MATCH ?
             ORDER BY bm25(memories_fts), m.created_at DESC LIMIT ?"
        ))
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
            deleted += sqlx::query("DELETE FROM memories WHERE id = ? AND user_id = ?")
                .bind(id.to_string())
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn export_user(&self, username: &str) -> Result<Option<UserData>, StoreError> {
        let Some(user) = self.user(username).await? else {
            return Ok(None);
        };
        let conversations = sqlx::query(concat!(
            conversation_query!(),
            "WHERE u.username = ? ORDER BY c.started_at, c.id"
        ))
        .bind(username)
        .fetch_all(&self.pool)
        .await?;
        let mut with_messages = Vec::with_capacity(conversations.len());
        for row in &conversations {
            let conversation = conversation_from(row)?;
            let messages = sqlx::query(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ? ORDER BY seq"
            ))
            .bind(conversation.id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(message_from)
            .collect::<Result<_, _>>()?;
            with_messages.push(ConversationWithMessages {
                conversation,
                messages,
            });
        }
        let memories = sqlx::query(concat!(
            memory_query!(),
            "WHERE u.username = ? ORDER BY m.created_at, m.number"
        ))
        .bind(username)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(memory_from)
        .collect::<Result<_, _>>()?;
        let chat_sessions = sqlx::query(
            "SELECT s.id, s.client, s.started_at, s.last_seen_at, s.ended_at, s.metadata
             FROM chat_sessions s JOIN users u ON u.id = s.user_id
             WHERE u.username = ? ORDER BY s.started_at",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from)
        .collect::<Result<_, _>>()?;
        let agent_executions = sqlx::query(
            "SELECT a.id, a.conversation_id, a.agent, a.status, a.input, a.output,
                    a.started_at, a.finished_at, a.metadata
             FROM agent_executions a JOIN users u ON u.id = a.user_id
             WHERE u.username = ? ORDER BY a.started_at",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(execution_from)
        .collect::<Result<_, _>>()?;
        Ok(Some(UserData {
            user,
            conversations: with_messages,
            memories,
            chat_sessions,
            agent_executions,
        }))
    }

    async fn erase_user(&self, username: &str) -> Result<Option<ErasureReport>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(user_id);
        let conversations = count("SELECT COUNT(*) FROM conversations WHERE user_id = ?")
            .fetch_one(&mut *tx)
            .await?;
        let messages = count(
            "SELECT COUNT(*) FROM messages WHERE conversation_id IN
                 (SELECT id FROM conversations WHERE user_id = ?)",
        )
        .fetch_one(&mut *tx)
        .await?;
        let memories = count("SELECT COUNT(*) FROM memories WHERE user_id = ?")
            .fetch_one(&mut *tx)
            .await?;
        let chat_sessions = count("SELECT COUNT(*) FROM chat_sessions WHERE user_id = ?")
            .fetch_one(&mut *tx)
            .await?;
        let agent_executions = count("SELECT COUNT(*) FROM agent_executions WHERE user_id = ?")
            .fetch_one(&mut *tx)
            .await?;
        let cache_keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cache_key FROM messages WHERE cache_key IS NOT NULL AND
                 conversation_id IN (SELECT id FROM conversations WHERE user_id = ?)
             ORDER BY cache_key",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        // Foreign keys cascade from the user to everything that names them.
        sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.scrub().await?;
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(Some(ErasureReport {
            users: 1,
            conversations: unsigned(conversations),
            messages: unsigned(messages),
            memories: unsigned(memories),
            chat_sessions: unsigned(chat_sessions),
            agent_executions: unsigned(agent_executions),
            cache_keys,
        }))
    }

    async fn delete_messages_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let touched: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM messages WHERE created_at < ?",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let messages = sqlx::query("DELETE FROM messages WHERE created_at < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut conversations = 0;
        for id in &touched {
            let left: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = ?")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if left == 0 {
                conversations += sqlx::query("DELETE FROM conversations WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            } else {
                sqlx::query("UPDATE conversations SET message_count = ? WHERE id = ?")
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
        sqlx::query(
            "INSERT INTO system_metrics (recorded_at, guardian_state, brownout_level, ram_pct,
                 cpu_pct, disk_pct, samples)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sample.recorded_at)
        .bind(&sample.guardian_state)
        .bind(&sample.brownout_level)
        .bind(sample.ram_pct)
        .bind(sample.cpu_pct)
        .bind(sample.disk_pct)
        .bind(sample.samples)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn system_metrics(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SystemMetricSample>, StoreError> {
        let rows = sqlx::query(
            "SELECT recorded_at, guardian_state, brownout_level, ram_pct, cpu_pct, disk_pct,
                    samples
             FROM system_metrics WHERE recorded_at >= ? ORDER BY recorded_at, id LIMIT ?",
        )
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SystemMetricSample {
                    recorded_at: row.try_get("recorded_at")?,
                    guardian_state: row.try_get("guardian_state")?,
                    brownout_level: row.try_get("brownout_level")?,
                    ram_pct: row.try_get("ram_pct")?,
                    cpu_pct: row.try_get("cpu_pct")?,
                    disk_pct: row.try_get("disk_pct")?,
                    samples: row.try_get("samples")?,
                })
            })
            .collect()
    }
}

/// Writes one turn inside the batch's transaction. A turn whose conversation is gone is
/// refused on its own (the `Ok(Err(..))`); a database failure fails the batch.
async fn write_turn(
    tx: &mut Transaction<'_, Sqlite>,
    turn: &NewTurn,
) -> Result<Result<RecordedTurn, StoreError>, StoreError> {
    let conversation_id = match &turn.conversation {
        ConversationTarget::Existing(id) => *id,
        ConversationTarget::New { id, username } => {
            let user_id = ensure_user(tx, username, turn.user.created_at).await?;
            sqlx::query(
                "INSERT INTO conversations (id, user_id, title, started_at, last_message_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(user_id)
            .bind(title_from(&turn.user.content))
            .bind(turn.user.created_at)
            .bind(turn.user.created_at)
            .execute(&mut **tx)
            .await?;
            *id
        }
    };
    let count: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations
         SET message_count = message_count + 2, last_message_at = ?
         WHERE id = ? RETURNING message_count",
    )
    .bind(turn.assistant.created_at)
    .bind(conversation_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    if count.is_none() {
        return Ok(Err(StoreError::ConversationNotFound(conversation_id)));
    }
    let conversation = conversation_id.to_string();
    // After the retention job, the count no longer tells the last message's number; the
    // newest kept message does (the (conversation_id, seq) index answers this).
    let last_seq: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?")
            .bind(&conversation)
            .fetch_one(&mut **tx)
            .await?;
    insert_message(
        tx,
        &conversation,
        last_seq + 1,
        Role::User,
        &turn.user,
        &turn.request_id,
    )
    .await?;
    insert_message(
        tx,
        &conversation,
        last_seq + 2,
        Role::Assistant,
        &turn.assistant,
        &turn.request_id,
    )
    .await?;
    Ok(Ok(RecordedTurn {
        conversation_id,
        user_message_id: turn.user.id,
        assistant_message_id: turn.assistant.id,
    }))
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

async fn ensure_user(
    tx: &mut Transaction<'_, Sqlite>,
    username: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO users (username, created_at) VALUES (?, ?) ON CONFLICT (username) DO NOTHING",
    )
    .bind(username)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
            .bind(username)
            .fetch_one(&mut **tx)
            .await?,
    )
}

async fn insert_message(
    tx: &mut Transaction<'_, Sqlite>,
    conversation_id: &str,
    seq: i64,
    role: Role,
    message: &NewMessage,
    request_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, role, content, created_at, model_used,
             response_time_ms, ttft_ms, prompt_tokens, completion_tokens, request_id, cached,
             metadata, cache_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(message.id.to_string())
    .bind(conversation_id)
    .bind(seq)
    .bind(role.as_str())
    .bind(&message.content)
    .bind(message.created_at)
    .bind(&message.model_used)
    .bind(message.response_time_ms)
    .bind(message.ttft_ms)
    .bind(message.prompt_tokens)
    .bind(message.completion_tokens)
    .bind(request_id)
    .bind(message.cached)
    .bind(metadata_of(message).to_string())
    .bind(&message.cache_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a message keeps in its `metadata` JSON column.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    brownout_level: Option<alice_core::BrownoutLevel>,
}

fn metadata_of(message: &NewMessage) -> serde_json::Value {
    serde_json::json!(Metadata {
        brownout_level: message.brownout_level,
    })
}

fn uuid_column(row: &SqliteRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

fn conversation_from(row: &SqliteRow) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: uuid_column(row, "id")?,
        username: row.try_get("username")?,
        title: row.try_get("title")?,
        kind: row.try_get("kind")?,
        started_at: row.try_get("started_at")?,
        last_message_at: row.try_get("last_message_at")?,
        ended_at: row.try_get("ended_at")?,
        message_count: row.try_get("message_count")?,
    })
}

fn message_from(row: &SqliteRow) -> Result<StoredMessage, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(StoredMessage {
        id: uuid_column(row, "id")?,
        conversation_id: uuid_column(row, "conversation_id")?,
        seq: row.try_get("seq")?,
        role: role
            .parse()
            .map_err(|e: alice_core::chat::UnknownRole| StoreError::Corrupt(e.to_string()))?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
        model_used: row.try_get("model_used")?,
        response_time_ms: row.try_get("response_time_ms")?,
        ttft_ms: row.try_get("ttft_ms")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        request_id: row.try_get("request_id")?,
        cached: row.try_get("cached")?,
        brownout_level: {
            let text: String = row.try_get("metadata")?;
            // Metadata written by a newer Alice may hold more; unknown keys are ignored.
            serde_json::from_str::<Metadata>(&text)
                .map_err(|e| StoreError::Corrupt(format!("metadata {text:?}: {e}")))?
                .brownout_level
        },
        cache_key: row.try_get("cache_key")?,
    })
}

fn optional_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
    })
    .transpose()
}

fn json_column(row: &SqliteRow, column: &str) -> Result<serde_json::Value, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

fn user_from(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        language: row.try_get("language")?,
        timezone: row.try_get("timezone")?,
        preferences: json_column(row, "preferences")?,
        created_at: row.try_get("created_at")?,
    })
}

fn memory_from(row: &SqliteRow) -> Result<Memory, StoreError> {
    Ok(Memory {
        id: uuid_column(row, "id")?,
        username: row.try_get("username")?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
        source_conversation_id: optional_uuid(row, "source_conversation_id")?,
    })
}

fn session_from(row: &SqliteRow) -> Result<ChatSession, StoreError> {
    Ok(ChatSession {
        id: row.try_get("id")?,
        client: row.try_get("client")?,
        started_at: row.try_get("started_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        ended_at: row.try_get("ended_at")?,
        metadata: json_column(row, "metadata")?,
    })
}

fn execution_from(row: &SqliteRow) -> Result<AgentExecution, StoreError> {
    Ok(AgentExecution {
        id: row.try_get("id")?,
        conversation_id: optional_uuid(row, "conversation_id")?,
        agent: row.try_get("agent")?,
        status: row.try_get("status")?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        metadata: json_column(row, "metadata")?,
    })
}
