//! A user's data in SQLite, for the GDPR: everything exported, or everything erased so that
//! no trace is left in the database file.

use super::SqliteStore;
use crate::StoreError;
use crate::backend::StoreBackend;
use crate::engine::rows::{
    conversation_from, execution_from, memory_from, message_from, session_from,
};
use crate::engine::sql::{self, conversation_query, memory_query, message_columns};
use crate::model::{ConversationWithMessages, ErasureReport, UserData};

impl SqliteStore {
    pub(super) async fn export_user_data(
        &self,
        username: &str,
    ) -> Result<Option<UserData>, StoreError> {
        let Some(user) = self.user(username).await? else {
            return Ok(None);
        };
        let conversations = sqlx::query(concat!(
            conversation_query!(),
            "WHERE u.username = $1 ORDER BY c.started_at, c.id"
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
                " FROM messages m WHERE m.conversation_id = $1 ORDER BY m.seq"
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
            "WHERE u.username = $1 ORDER BY m.created_at, m.number"
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
             WHERE u.username = $1 ORDER BY s.started_at",
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
             WHERE u.username = $1 ORDER BY a.started_at",
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

    pub(super) async fn erase_user_data(
        &self,
        username: &str,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let user_id: Option<i64> = sqlx::query_scalar(sql::USER_ID)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(user_id);
        let conversations = count("SELECT COUNT(*) FROM conversations WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?;
        let messages = count(
            "SELECT COUNT(*) FROM messages WHERE conversation_id IN
                 (SELECT id FROM conversations WHERE user_id = $1)",
        )
        .fetch_one(&mut *tx)
        .await?;
        let memories = count("SELECT COUNT(*) FROM memories WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?;
        let chat_sessions = count("SELECT COUNT(*) FROM chat_sessions WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?;
        let agent_executions = count("SELECT COUNT(*) FROM agent_executions WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?;
        let idempotency_records: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM idempotency_records WHERE user_id = $1 OR subject = $2",
        )
        .bind(user_id)
        .bind(username)
        .fetch_one(&mut *tx)
        .await?;
        let cache_keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cache_key FROM messages WHERE cache_key IS NOT NULL AND
                 conversation_id IN (SELECT id FROM conversations WHERE user_id = $1)
             ORDER BY cache_key",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        // Kept answers of turns an admin asked for on the user's behalf hold their text too.
        sqlx::query(sql::DELETE_IDEMPOTENCY_RECORDS_ABOUT)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        // Foreign keys cascade from the user to everything that names them.
        sqlx::query(sql::DELETE_USER)
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
            idempotency_records: unsigned(idempotency_records),
            cache_keys,
        }))
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
