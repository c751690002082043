//! Reading conversations back: `GET /api/conversations` (the caller's own, newest activity
//! first, optionally searched with `?q=`), `GET /api/conversations/{id}` and `.../messages`
//! (each answer with its owner's thumb on it, so the page shows it again after a reload). A
//! conversation is its owner's alone: anyone else's key gets the 404 of a conversation that
//! does not exist (an admin's key reads any, also under `/api/db/conversations/…`).

use crate::error::ApiError;
use crate::http::paging::{DEFAULT_LIMIT, checked_limit, next_offset};
use alice_core::Role;
use alice_identity::{Caller, Credential};
use alice_store::{Conversation, Page, Rating, Store, StoredMessage};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// Messages in a page when the request does not say.
const DEFAULT_PAGE: u32 = 100;

/// The longest search text, in characters: a search reads every message of the caller's
/// conversations, and a longer text finds nothing a shorter part of it would not.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The caller's own user name, for the routes about the caller's own data. With
/// `auth.mode = "off"` nobody is known (every caller is the admin, and turns that name no user
/// are kept as "anonymous"), so those routes answer 400 and say where to look instead.
pub(crate) fn own_username<'c>(caller: &'c Caller, instead: &str) -> Result<&'c str, ApiError> {
    if caller.credential == Credential::Open {
        return Err(ApiError::AnonymousCaller(format!(
            "auth.mode = \"off\": no caller is known, so there is nothing of the caller's own \
             here (turns that name no user are kept as user \"anonymous\"); {instead}, or turn \
             authentication on"
        )));
    }
    Ok(&caller.username)
}

/// `GET /api/conversations`: a page, and what to search for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    limit: Option<u32>,
    /// Text the title or a message must hold, letter case ignored.
    #[serde(default)]
    q: Option<String>,
}

/// A conversation in the caller's list.
#[derive(Serialize)]
struct Listed<'a> {
    id: Uuid,
    title: &'a str,
    started_at: DateTime<Utc>,
    last_message_at: DateTime<Utc>,
    message_count: i64,
}

impl<'a> From<&'a Conversation> for Listed<'a> {
    fn from(conversation: &'a Conversation) -> Self {
        Self {
            id: conversation.id,
            title: &conversation.title,
            started_at: conversation.started_at,
            last_message_at: conversation.last_message_at,
            message_count: conversation.message_count,
        }
    }
}

/// The search text of `?q=`, trimmed; None (list everything) when absent or blank.
fn search_text(q: Option<&str>) -> Result<Option<&str>, ApiError> {
    let Some(text) = q.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let length = text.chars().count();
    if length > MAX_SEARCH_CHARS {
        return Err(ApiError::invalid(
            "q",
            format!("search for at most {MAX_SEARCH_CHARS} characters; this is {length}"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "q",
            "the search text holds a control character (a line break, a tab, NUL …); search \
             for words on one line",
        ));
    }
    Ok(Some(text))
}

/// The caller's own conversations, the most recently active first, `?offset=&limit=` paged;
/// with `?q=`, those whose title or any message holds the text, letter case ignored.
pub async fn list(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let user = own_username(
        &caller,
        "an admin reads a user's conversations with GET /api/db/users/{user}/conversations",
    )?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let page = Page {
        offset: query.offset,
        limit: checked_limit(query.limit, DEFAULT_LIMIT)?,
    };
    let search = search_text(query.q.as_deref())?;
    let conversations = match search {
        Some(text) => store.search_conversations(user, text, page).await?,
        None => store.user_conversations(user, page).await?,
    };
    let listed: Vec<Listed<'_>> = conversations.iter().map(Listed::from).collect();
    Ok(Json(json!({
        "user": user,
        "q": search,
        "next_offset": next_offset(page, conversations.len()),
        "conversations": listed,
    })))
}

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

/// A message as stored, and on an answer the owner's thumb on it (`"up"`, `"down"` or null).
#[derive(Serialize)]
struct PagedMessage {
    #[serde(flatten)]
    message: StoredMessage,
    /// Only on answers (role assistant): Some(None) is serialised as null.
    #[serde(skip_serializing_if = "Option::is_none")]
    feedback: Option<Option<Rating>>,
}

#[derive(Serialize)]
struct MessagesPage {
    conversation_id: Uuid,
    messages: Vec<PagedMessage>,
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
    // The thumbs on this page's answers, in one more query (the messages' own stay as they
    // are, here and in the export).
    let ratings: HashMap<Uuid, Rating> = match messages.last() {
        Some(last) => store
            .feedback_between(id, page.after, last.seq)
            .await?
            .into_iter()
            .map(|feedback| (feedback.message_id, feedback.rating))
            .collect(),
        None => HashMap::new(),
    };
    let messages = messages
        .into_iter()
        .map(|message| PagedMessage {
            feedback: (message.role == Role::Assistant).then(|| ratings.get(&message.id).copied()),
            message,
        })
        .collect();
    Ok(Json(json!(MessagesPage {
        conversation_id: id,
        messages,
        next_after,
    })))
}
