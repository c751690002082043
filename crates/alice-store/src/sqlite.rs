//! The SQLite implementation of the store.

use crate::StoreError;
use crate::model::{
    Conversation, ConversationTarget, NewMessage, NewTurn, RecordedTurn, StoredMessage, title_from,
};
use alice_core::Role;
use alice_core::config::{DatabaseConfig, Synchronous};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::path::Path;
use std::str::FromStr;
use uuid::Uuid;

/// The message columns every message query reads, as a literal so queries stay `&'static str`.
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, role, content, created_at, model_used, response_time_ms, \
         ttft_ms, prompt_tokens, completion_tokens, request_id, cached, metadata"
    };
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pool of connections to Alice's SQLite database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating when missing) the database, sets the pragmas on every connection and
    /// applies pending migrations.
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
            .connect_with(options)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Checks that the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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

    /// Closes every connection after the ones in use are returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The conversation with this id, if any.
    pub async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(
            "SELECT c.id, u.username, c.title, c.kind, c.started_at, c.last_message_at,
                    c.ended_at, c.message_count
             FROM conversations c JOIN users u ON u.id = c.user_id
             WHERE c.id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| conversation_from(&row))
        .transpose()
    }

    /// The last `limit` messages of a conversation, oldest first: the history sent to a model.
    pub async fn recent_messages(
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

    /// Messages of a conversation in order, `limit` at most, starting after message number
    /// `after_seq` (0 for the start).
    pub async fn messages(
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

    /// Writes a user message and its answer in one transaction, creating the conversation (and
    /// its user) when the turn starts one.
    pub async fn record_turn(&self, turn: NewTurn) -> Result<RecordedTurn, StoreError> {
        // IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy_timeout)
        // instead of failing when this transaction upgrades from reading to writing.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let conversation_id = match &turn.conversation {
            ConversationTarget::Existing(id) => *id,
            ConversationTarget::New { id, username } => {
                let user_id = ensure_user(&mut tx, username, turn.user.created_at).await?;
                sqlx::query(
                    "INSERT INTO conversations (id, user_id, title, started_at, last_message_at)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(id.to_string())
                .bind(user_id)
                .bind(title_from(&turn.user.content))
                .bind(turn.user.created_at)
                .bind(turn.user.created_at)
                .execute(&mut *tx)
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
        .fetch_optional(&mut *tx)
        .await?;
        let Some(count) = count else {
            return Err(StoreError::ConversationNotFound(conversation_id));
        };
        let conversation = conversation_id.to_string();
        insert_message(
            &mut tx,
            &conversation,
            count - 1,
            Role::User,
            &turn.user,
            &turn.request_id,
        )
        .await?;
        insert_message(
            &mut tx,
            &conversation,
            count,
            Role::Assistant,
            &turn.assistant,
            &turn.request_id,
        )
        .await?;
        tx.commit().await?;
        Ok(RecordedTurn {
            conversation_id,
            user_message_id: turn.user.id,
            assistant_message_id: turn.assistant.id,
        })
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
             metadata)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    })
}
