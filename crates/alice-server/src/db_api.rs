//! `/api/db/…`: reading the database as an operator: health, stats, a user, their
//! conversations, a conversation and its messages, and recent activity, with paging.
//! Loopback only (see the route table), like the other administrative paths.

use crate::AppState;
use crate::chat::check_username;
use crate::error::ApiError;
use crate::paging::{PageQuery, next_offset, page};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use tokio::time::Instant;

/// Whether the database answers, and how fast; 503 when it does not.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store();
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
pub async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store();
    let stats = store.stats().await?;
    let counters = store.batch_counters();
    let batches = counters.batches.load(Ordering::Relaxed);
    let turns = counters.turns.load(Ordering::Relaxed);
    Ok(Json(json!({
        "database": stats,
        "batcher": {
            "batches": batches,
            "turns": turns,
            "failed": counters.failed.load(Ordering::Relaxed),
            "queued": store.queued_turns(),
            "turns_per_batch": if batches == 0 { 0.0 } else { turns as f64 / batches as f64 },
        },
    })))
}

pub async fn user(
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_username(&user)?;
    let profile = state
        .store()
        .user(&user)
        .await?
        .ok_or_else(|| unknown_user(&user))?;
    let memories = state.store().count_memories(&user).await?;
    Ok(Json(json!({ "user": profile, "memories": memories })))
}

pub async fn user_conversations(
    State(state): State<AppState>,
    Path(user): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    check_username(&user)?;
    let page = page(query)?;
    let conversations = state.store().user_conversations(&user, page).await?;
    if conversations.is_empty() && state.store().user(&user).await?.is_none() {
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
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let conversations = state.store().recent_conversations(page).await?;
    Ok(Json(json!({
        "next_offset": next_offset(page, conversations.len()),
        "conversations": conversations,
    })))
}

pub fn unknown_user(user: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no user {user:?} in the database (users are created by their first chat turn or memory)"
    ))
}
