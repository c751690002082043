//! A user's data in PostgreSQL, for the GDPR: everything exported from one snapshot, or
//! everything erased and vacuumed out of the tables' pages.

use super::PostgresStore;
use crate::StoreError;
use crate::engine::rows::{
    conversation_from, execution_from, memory_from, message_from, session_from, user_from,
};
use crate::engine::sql::{self, conversation_query, memory_query, message_columns};
use crate::model::{ConversationWithMessages, ErasureReport, StoredMessage, UserData};
use sqlx::Row;
use std::collections::HashMap;
use uuid::Uuid;

impl PostgresStore {
    pub(super) async fn export_user_data(
        &self,
        username: &str,
    ) -> Result<Option<UserData>, StoreError> {
        // One snapshot, so the export is consistent while turns keep being written.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let Some(row) = sqlx::query(sql::USER)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let user = user_from(&row)?;
        let user_id: i64 = row.try_get("id")?;

        let mut messages: HashMap<Uuid, Vec<StoredMessage>> = HashMap::new();
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.user_id = $1 ORDER BY m.conversation_id, m.seq"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let message = message_from(row)?;
            messages
                .entry(message.conversation_id)
                .or_default()
                .push(message);
        }
        let conversations = sqlx::query(concat!(
            conversation_query!(),
            "WHERE c.user_id = $1 ORDER BY c.started_at, c.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let conversation = conversation_from(row)?;
            Ok(ConversationWithMessages {
                messages: messages.remove(&conversation.id).unwrap_or_default(),
                conversation,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let memories = sqlx::query(concat!(
            memory_query!(),
            "WHERE m.user_id = $1 ORDER BY m.created_at, m.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(memory_from)
        .collect::<Result<Vec<_>, _>>()?;
        let chat_sessions = sqlx::query(
            "SELECT id, client, started_at, last_seen_at, ended_at, metadata
             FROM chat_sessions WHERE user_id = $1 ORDER BY started_at, id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(session_from)
        .collect::<Result<Vec<_>, _>>()?;
        let agent_executions = sqlx::query(
            "SELECT id, conversation_id, agent, status, input, output, started_at, finished_at,
                    metadata
             FROM agent_executions WHERE user_id = $1 ORDER BY started_at, id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(execution_from)
        .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(Some(UserData {
            user,
            conversations,
            memories,
            chat_sessions,
            agent_executions,
        }))
    }

    pub(super) async fn erase_user_data(
        &self,
        username: &str,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(user_id) =
            sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = $1 FOR UPDATE")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        // Locking the user's conversations makes a turn being written to one of them either
        // finish first (and be counted) or find the conversation gone.
        sqlx::query("SELECT id FROM conversations WHERE user_id = $1 ORDER BY id FOR UPDATE")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let counts = sqlx::query(
            "SELECT (SELECT count(*) FROM conversations WHERE user_id = $1) AS conversations,
                    (SELECT count(*) FROM messages m JOIN conversations c
                         ON c.id = m.conversation_id WHERE c.user_id = $1) AS messages,
                    (SELECT count(*) FROM memories WHERE user_id = $1) AS memories,
                    (SELECT count(*) FROM chat_sessions WHERE user_id = $1) AS chat_sessions,
                    (SELECT count(*) FROM agent_executions
                     WHERE user_id = $1 OR conversation_id IN
                         (SELECT id FROM conversations WHERE user_id = $1)) AS agent_executions,
                    (SELECT count(*) FROM idempotency_records
                     WHERE user_id = $1 OR subject = $2) AS idempotency_records",
        )
        .bind(user_id)
        .bind(username)
        .fetch_one(&mut *tx)
        .await?;
        let cache_keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT m.cache_key FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             WHERE c.user_id = $1 AND m.cache_key IS NOT NULL ORDER BY m.cache_key",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        // Kept answers of turns an admin asked for on the user's behalf hold their text too.
        sqlx::query(sql::DELETE_IDEMPOTENCY_RECORDS_ABOUT)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        // Everything else goes with the user: ON DELETE CASCADE.
        let users = sqlx::query(sql::DELETE_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let count = |column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(counts.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        let report = ErasureReport {
            users,
            conversations: count("conversations")?,
            messages: count("messages")?,
            memories: count("memories")?,
            chat_sessions: count("chat_sessions")?,
            agent_executions: count("agent_executions")?,
            idempotency_records: count("idempotency_records")?,
            cache_keys,
        };
        tx.commit().await?;
        // PostgreSQL keeps deleted rows in its files until they are vacuumed; vacuuming now
        // removes them from the pages at once rather than whenever autovacuum comes by.
        // (VACUUM FULL would rewrite the files, but it locks the tables: that is left to the
        // operator.) The erasure is committed, so a failure here is only worth a warning.
        if let Err(error) = sqlx::raw_sql(
            "VACUUM users, conversations, messages, memories, chat_sessions, agent_executions, \
             idempotency_records",
        )
        .execute(&self.pool)
        .await
        {
            tracing::warn!(evt = "erase_vacuum_failed", error = %error);
        }
        Ok(Some(report))
    }
}
