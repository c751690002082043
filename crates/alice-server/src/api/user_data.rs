//! A user's rights under the GDPR: `GET /api/users/{u}/export` (everything held about them, as
//! one JSON document) and `DELETE /api/users/{u}` (erase all of it, including response-cache
//! entries that came from their conversations). `alice user export` and `alice user forget` do
//! the same from the command line.

use crate::api::user_path::UserPath;
use crate::error::ApiError;
use crate::service::answer_cache::AnswerCache;
use crate::service::usernames::unknown_user;
use alice_store::Store;
use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde_json::{Value, json};

pub async fn export(
    State(store): State<Store>,
    UserPath(user): UserPath,
) -> Result<Json<Value>, ApiError> {
    let data = store
        .export_user(&user)
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    tracing::info!(evt = "user_exported", user = %user);
    Ok(Json(alice_store::gdpr::export_document(
        &data,
        store.engine().as_str(),
        Utc::now(),
    )))
}

pub async fn erase(
    State(store): State<Store>,
    State(answers): State<AnswerCache>,
    UserPath(user): UserPath,
) -> Result<Json<Value>, ApiError> {
    let report = store
        .erase_user(&user)
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    let cache = match answers.cache() {
        Some(cache) => json!(cache.remove_hex(&report.cache_keys).await),
        None => Value::Null,
    };
    tracing::info!(
        evt = "user_erased",
        user = %user,
        conversations = report.conversations,
        messages = report.messages,
        memories = report.memories,
        cache_keys = report.cache_keys.len(),
    );
    Ok(Json(json!({
        "user": user,
        "erased": {
            "users": report.users,
            "conversations": report.conversations,
            "messages": report.messages,
            "memories": report.memories,
            "chat_sessions": report.chat_sessions,
            "agent_executions": report.agent_executions,
            "idempotency_records": report.idempotency_records,
            "cache_keys": report.cache_keys.len(),
        },
        "cache": cache,
    })))
}
