//! Writing a batch of turns to SQLite: one turn after the other inside the batch's transaction
//! (SQLite has one writer at a time, so a statement per row costs no round trips).

use crate::StoreError;
use crate::engine::rows::Metadata;
use crate::engine::sql;
use crate::model::{ConversationTarget, NewMessage, NewTurn, RecordedTurn, title_from};
use alice_core::Role;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

/// Counts a turn's two messages in its conversation (`$2`), stamped `$1`; no row when the
/// conversation is gone.
pub(super) const TOUCH_CONVERSATION: &str = "UPDATE conversations \
     SET message_count = message_count + 2, last_message_at = $1 \
     WHERE id = $2 RETURNING message_count";

/// The number of conversation `$1`'s newest message (0 when it has none).
pub(super) const LAST_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = $1";

/// Writes turns in one transaction; see [`crate::StoreBackend::record_turns`].
pub(super) async fn record_turns(
    pool: &SqlitePool,
    turns: &[NewTurn],
) -> Result<Vec<Result<RecordedTurn, StoreError>>, StoreError> {
    // IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy_timeout)
    // instead of failing when this transaction upgrades from reading to writing.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(turns.len());
    for turn in turns {
        outcomes.push(write_turn(&mut tx, turn).await?);
    }
    tx.commit().await?;
    Ok(outcomes)
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
                 VALUES ($1, $2, $3, $4, $5)",
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
    let count: Option<i64> = sqlx::query_scalar(TOUCH_CONVERSATION)
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
    let last_seq: i64 = sqlx::query_scalar(LAST_SEQ)
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

/// Creates the user when new; returns their row id.
pub(super) async fn ensure_user(
    tx: &mut Transaction<'_, Sqlite>,
    username: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO users (username, created_at) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING",
    )
    .bind(username)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_scalar(sql::USER_ID)
        .bind(username)
        .fetch_one(&mut **tx)
        .await?)
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
    .bind(Metadata::of(message).to_string())
    .bind(&message.cache_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
