//! Reading conversations back: `GET /api/conversations/{id}` and `.../messages`. A
//! conversation is its owner's alone: anyone else's key gets the 404 of a conversation that
//! does not exist (an admin's key reads any, also under `/api/db/conversations/…`).

use crate::error::ApiError;
use alice_identity::Caller;
use alice_store::{Conversation, Store, StoredMessage};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Messages in a page when the request does not say.
const DEFAULT_PAGE: u32 = 100;

fn conversation_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::invalid(
            "conversation_id",
            format!("{raw:?} is not a conversation id (a UUID such as 0192f0c4-...)"),
        )
    })
}

/// The conversation, if it exists and the caller may read it.
async fn readable_conversation(
    store: &Store,
    caller: &Caller,
    id: Uuid,
) -> Result<Conversation, ApiError> {
    store
        .conversation(id)
        .await?
        .filter(|conversation| caller.may_act_for(&conversation.username))
        .ok_or_else(|| ApiError::ConversationNotFound(id.to_string()))
}

pub async fn get_conversation(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = conversation_id(&raw)?;
    let conversation = readable_conversation(&store, &caller, id).await?;
    Ok(Json(json!(conversation)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Return messages after this message number (`seq`); 0 for the start.
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct MessagesPage {
    conversation_id: Uuid,
    messages: Vec<StoredMessage>,
    /// Pass as `after` to read the next page; absent on the last page.
    next_after: Option<i64>,
}

pub async fn get_messages(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = conversation_id(&raw)?;
    let Query(page) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let limit = crate::http::paging::checked_limit(page.limit, DEFAULT_PAGE)?;
    if page.after < 0 {
        return Err(ApiError::invalid("after", "after must be 0 or more"));
    }
    readable_conversation(&store, &caller, id).await?;
    let messages = store.messages(id, page.after, limit).await?;
    let next_after = (messages.len() == limit as usize)
        .then(|| messages.last().map(|m| m.seq))
        .flatten();
    Ok(Json(json!(MessagesPage {
        conversation_id: id,
        messages,
        next_after,
    })))
}
