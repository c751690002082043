//! `/api/db/…`: reading the database as an operator: health, stats, a user, their
//! conversations, a conversation and its messages, and recent activity, with paging.
//! Loopback only (see the route table), like the other administrative paths.

use crate::api::user_path::UserPath;
use crate::error::ApiError;
use crate::http::paging::{PageQuery, next_offset, page};
use crate::service::usernames::unknown_user;
use alice_store::Store;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Whether the database answers, and how fast; 503 when it does not.
pub async fn health(State(store): State<Store>) -> (StatusCode, Json<Value>) {
    let started = Instant::now();
    let pinged = store.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match pinged {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "ok": true,
                "engine": store.engine(),
                "latency_ms": latency_ms,
                "queued_turns": store.queued_turns(),
            })),
        ),
        Err(error) => {
            tracing::warn!(evt = "database_unready", error = %error);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "ok": false,
                    "engine": store.engine(),
                    "error": "the database does not answer; see the server log",
                })),
            )
        }
    }
}

/// Rows per table, schema version, size, and what the write batcher has done.
pub async fn stats(State(store): State<Store>) -> Result<Json<Value>, ApiError> {
    let stats = store.stats().await?;
    Ok(Json(json!({
        "database": stats,
        "batcher": store.batcher_stats(),
    })))
}

pub async fn user(
    State(store): State<Store>,
    UserPath(user): UserPath,
) -> Result<Json<Value>, ApiError> {
    let profile = store
        .user(&user)
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    let memories = store.count_memories(&user).await?;
    Ok(Json(json!({ "user": profile, "memories": memories })))
}

pub async fn user_conversations(
    State(store): State<Store>,
    UserPath(user): UserPath,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let conversations = store.user_conversations(&user, page).await?;
    if conversations.is_empty() && store.user(&user).await?.is_none() {
        return Err(unknown_user(&user));
    }
    Ok(Json(json!({
        "user": user,
        "next_offset": next_offset(page, conversations.len()),
        "conversations": conversations,
    })))
}

/// The most recently active conversations of all users.
pub async fn recent_activity(
    State(store): State<Store>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let conversations = store.recent_conversations(page).await?;
    Ok(Json(json!({
        "next_offset": next_offset(page, conversations.len()),
        "conversations": conversations,
    })))
}
