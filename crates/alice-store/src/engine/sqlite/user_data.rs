//! Erasing a user in SQLite (GDPR article 17) so that no trace is left in the database file,
//! with the erasure's tombstone written in the same transaction.

use super::SqliteStore;
use crate::StoreError;
use crate::engine::sql;
use crate::erasure_log::{self, Tombstone};
use crate::model::{ErasureCause, ErasureCounts, ErasureReport};

impl SqliteStore {
    pub(super) async fn erase_user_data(
        &self,
        username: &str,
        cause: &ErasureCause,
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
        let answer_feedback = count("SELECT COUNT(*) FROM answer_feedback WHERE user_id = $1")
            .fetch_one(&mut *tx)
            .await?;
        let experiment_outcomes =
            count("SELECT COUNT(*) FROM experiment_outcomes WHERE user_id = $1")
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
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let counts = ErasureCounts {
            users: 1,
            conversations: unsigned(conversations),
            messages: unsigned(messages),
            memories: unsigned(memories),
            chat_sessions: unsigned(chat_sessions),
            agent_executions: unsigned(agent_executions),
            idempotency_records: unsigned(idempotency_records),
            answer_feedback: unsigned(answer_feedback),
            experiment_outcomes: unsigned(experiment_outcomes),
        };
        let key: String = sqlx::query_scalar(sql::ERASURE_KEY)
            .fetch_one(&mut *tx)
            .await?;
        let tombstone = erasure_log::tombstone_for(cause, &key, username, &counts)?;
        sqlx::query(sql::RECORD_TOMBSTONE)
            .bind(tombstone.id.to_string())
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
        // Foreign keys cascade from the user to everything that names them.
        sqlx::query(sql::DELETE_USER)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.scrub().await?;
        Ok(Some(ErasureReport {
            tombstone: Tombstone {
                counts,
                ..tombstone
            },
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
