//! `/api/users/{u}/memories`: a user's personal memories, to list, add and delete (the same
//! memories "kom ihåg att …" and "glöm …" keep in the chat).

use crate::api::user_path::UserPath;
use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::paging::{PageQuery, next_offset, page};
use crate::service::memory_commands::{forget_matching, memory_text};
use alice_core::Config;
use alice_store::{NewMemory, Store};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// `POST` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMemoryBody {
    pub content: String,
}

pub async fn list(
    State(store): State<Store>,
    UserPath(user): UserPath,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let page = page(query)?;
    let memories = store.memories(&user, page).await?;
    let total = store.count_memories(&user).await?;
    Ok(Json(json!({
        "user": user,
        "total": total,
        "next_offset": next_offset(page, memories.len()),
        "memories": memories,
    })))
}

pub async fn add(
    State(store): State<Store>,
    State(config): State<Arc<Config>>,
    UserPath(user): UserPath,
    JsonBody(body): JsonBody<NewMemoryBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content = memory_text(&config.memory, &body.content)?;
    let limit = config.memory.max_per_user;
    let memory = store
        .add_memory(&user, NewMemory::new(content, Utc::now()), limit)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "{user} already has {limit} memories (memory.max_per_user); delete some first"
            ))
        })?;
    Ok((StatusCode::CREATED, Json(json!(memory))))
}

/// `DELETE` on the collection: `?matching=words` deletes the memories that hold every word;
/// without it, every memory of the user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    #[serde(default)]
    matching: Option<String>,
}

pub async fn delete_many(
    State(store): State<Store>,
    State(config): State<Arc<Config>>,
    UserPath(user): UserPath,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let deleted = forget_matching(&store, &config.memory, &user, query.matching.as_deref()).await?;
    Ok(Json(json!({ "user": user, "deleted": deleted })))
}

pub async fn delete_one(
    State(store): State<Store>,
    UserPath(user): UserPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not a memory id (a UUID)")))?;
    match store.delete_memories(&user, &[id]).await? {
        0 => Err(ApiError::NotFound(format!(
            "{user} has no memory {id}; list them with GET /api/users/{user}/memories"
        ))),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}
