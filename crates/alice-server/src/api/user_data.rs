//! A user's rights under the GDPR: `GET /api/users/{u}/export` (everything held about them, as
//! one JSON document, streamed) and `DELETE /api/users/{u}` (erase all of it, including
//! response-cache entries that came from their conversations, and leave a tombstone in the
//! erasure log so a restored backup cannot bring them back). `alice user export` and `alice user forget` do
//! the same from the command line.

use crate::api::user_path::UserPath;
use crate::error::ApiError;
use crate::service::answer_cache::AnswerCache;
use crate::service::usernames::unknown_user;
use alice_identity::Caller;
use alice_store::Store;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use serde_json::{Value, json};

/// Streams the export document: the handler answers as soon as the user is known, and the
/// body follows from one database snapshot, a chunk at a time (so neither memory nor the
/// request deadline limits how much a user may hold).
pub async fn export(
    State(store): State<Store>,
    UserPath(user): UserPath,
) -> Result<Response, ApiError> {
    let document = alice_store::gdpr::export(&*store, &user, Utc::now())
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    tracing::info!(evt = "user_exported", user = %user);
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(document.into_stream()),
    )
        .into_response())
}

pub async fn erase(
    State(store): State<Store>,
    State(answers): State<AnswerCache>,
    Extension(caller): Extension<Caller>,
    UserPath(user): UserPath,
) -> Result<Json<Value>, ApiError> {
    let report = store
        .erase(&user, &format!("api:{}", caller.username))
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    let counts = report.counts();
    let cache = match answers.cache() {
        Some(cache) => json!(cache.remove_hex(&report.cache_keys).await),
        None => Value::Null,
    };
    tracing::info!(
        evt = "user_erased",
        user = %user,
        tombstone = %report.tombstone.id,
        conversations = counts.conversations,
        messages = counts.messages,
        memories = counts.memories,
        cache_keys = report.cache_keys.len(),
    );
    Ok(Json(json!({
        "user": user,
        "erased": {
            "users": counts.users,
            "conversations": counts.conversations,
            "messages": counts.messages,
            "memories": counts.memories,
            "chat_sessions": counts.chat_sessions,
            "agent_executions": counts.agent_executions,
            "idempotency_records": counts.idempotency_records,
            "answer_feedback": counts.answer_feedback,
            "experiment_outcomes": counts.experiment_outcomes,
            "cache_keys": report.cache_keys.len(),
        },
        "cache": cache,
        "tombstone": report.tombstone.id,
    })))
}
