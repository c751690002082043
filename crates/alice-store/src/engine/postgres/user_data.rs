//! Erasing a user in PostgreSQL (GDPR article 17), vacuumed out of the tables' pages, with the
//! erasure's tombstone written in the same transaction.

use super::PostgresStore;
use crate::StoreError;
use crate::engine::sql;
use crate::erasure_log::{self, Tombstone};
use crate::model::{ErasureCause, ErasureCounts, ErasureReport};
use sqlx::Row;

impl PostgresStore {
    pub(super) async fn erase_user_data(
        &self,
        username: &str,
        cause: &ErasureCause,
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
                     WHERE user_id = $1 OR subject = $2) AS idempotency_records,
                    (SELECT count(*) FROM answer_feedback WHERE user_id = $1) AS answer_feedback,
                    (SELECT count(*) FROM experiment_outcomes
                     WHERE user_id = $1) AS experiment_outcomes",
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
        let count = |column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(counts.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        let counts = ErasureCounts {
            users: 1,
            conversations: count("conversations")?,
            messages: count("messages")?,
            memories: count("memories")?,
            chat_sessions: count("chat_sessions")?,
            agent_executions: count("agent_executions")?,
            idempotency_records: count("idempotency_records")?,
            answer_feedback: count("answer_feedback")?,
            experiment_outcomes: count("experiment_outcomes")?,
        };
        let key: String = sqlx::query_scalar(sql::ERASURE_KEY)
            .fetch_one(&mut *tx)
            .await?;
        let tombstone = erasure_log::tombstone_for(cause, &key, username, &counts)?;
        sqlx::query(sql::RECORD_TOMBSTONE)
            .bind(tombstone.id)
            .bind(&tombstone.subject)
            .bind(&tombstone.key_id)
            .bind(tombstone.erased_at)
            .bind(&tombstone.erased_by)
            .bind(sqlx::types::Json(&tombstone.counts))
            .execute(&mut *tx)
            .await?;
        // Kept answers of turns an admin asked for on the user's behalf hold their text too.
        sqlx::query(sql::DELETE_IDEMPOTENCY_RECORDS_ABOUT)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        // Everything else goes with the user: ON DELETE CASCADE.
        sqlx::query(sql::DELETE_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let report = ErasureReport {
            tombstone: Tombstone {
                counts,
                ..tombstone
            },
            cache_keys,
        };
        tx.commit().await?;
        // PostgreSQL keeps deleted rows in its files until they are vacuumed; vacuuming now
        // removes them from the pages at once rather than whenever autovacuum comes by.
        // (VACUUM FULL would rewrite the files, but it locks the tables: that is left to the
        // operator.) The erasure is committed, so a failure here is only worth a warning.
        if let Err(error) = sqlx::raw_sql(
            "VACUUM users, conversations, messages, memories, chat_sessions, agent_executions, \
             idempotency_records, answer_feedback, experiment_outcomes",
        )
        .execute(&self.pool)
        .await
        {
            tracing::warn!(evt = "erase_vacuum_failed", error = %error);
        }
        Ok(Some(report))
    }
}
