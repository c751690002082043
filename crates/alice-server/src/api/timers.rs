//! `/api/users/{user}/timers`: a user's timers and reminders (the ones the chat sets with
//! "sätt en timer på tio minuter" or "påminn mig om …"), listed, set and cancelled. A fired
//! one arrives as a `timer` event on `/api/events` and as Alice's message in its conversation.

use crate::api::user_path::UserPath;
use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::service::timers::{self, TimerRequest};
use alice_core::Config;
use alice_store::{Store, TimerKind};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Longest `in_seconds` accepted before `timers.max_ahead` is checked (a bound for the
/// arithmetic, about 30 years).
const MAX_SECONDS: u64 = 1_000_000_000;

pub async fn list(
    State(store): State<Store>,
    UserPath(user): UserPath,
) -> Result<Json<Value>, ApiError> {
    let pending = store.timers().pending(&user).await?;
    Ok(Json(json!({ "user": user, "timers": pending })))
}

/// A timer to set: when (`in_seconds` from now, or `due_at`), and optionally what for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTimerBody {
    #[serde(default)]
    in_seconds: Option<u64>,
    #[serde(default)]
    due_at: Option<DateTime<Utc>>,
    /// "timer" (the default) or "reminder".
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    label: String,
    /// What Alice says when it fires; by default a Swedish sentence naming the label.
    #[serde(default)]
    message: Option<String>,
    /// The conversation its message goes into; none: only the event.
    #[serde(default)]
    conversation_id: Option<Uuid>,
}

pub async fn add(
    State(store): State<Store>,
    State(config): State<Arc<Config>>,
    UserPath(user): UserPath,
    JsonBody(body): JsonBody<NewTimerBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let due_at = match (body.in_seconds, body.due_at) {
        (Some(seconds), None) if (1..=MAX_SECONDS).contains(&seconds) => {
            Utc::now() + chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "in_seconds",
                format!("seconds from now, 1 to {MAX_SECONDS}"),
            ));
        }
        (None, Some(at)) => at,
        _ => {
            return Err(ApiError::invalid(
                "in_seconds",
                "give either in_seconds (from now) or due_at (RFC 3339), not both",
            ));
        }
    };
    let kind = match body.kind.as_deref() {
        None | Some("timer") => TimerKind::Timer,
        Some("reminder") => TimerKind::Reminder,
        Some(other) => {
            return Err(ApiError::invalid(
                "kind",
                format!("{other:?} is not a kind; use \"timer\" or \"reminder\""),
            ));
        }
    };
    // Through the API, only a conversation of the user's that exists (the chat also links a
    // conversation its turn is starting).
    if let Some(id) = body.conversation_id {
        let theirs = store
            .conversation(id)
            .await?
            .is_some_and(|conversation| conversation.username == user);
        if !theirs {
            return Err(ApiError::ConversationNotFound(id.to_string()));
        }
    }
    let label = body.label.trim();
    let message = body.message.unwrap_or_else(|| default_message(kind, label));
    let timer = timers::set(
        &store,
        &config.timers,
        TimerRequest {
            username: &user,
            conversation_id: body.conversation_id,
            kind,
            label,
            message: &message,
            due_at,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(timer))))
}

/// What Alice says when a timer set through the API fires, if the caller gave no message.
fn default_message(kind: TimerKind, label: &str) -> String {
    match (kind, label.is_empty()) {
        (TimerKind::Timer, true) => "Din timer har gått ut.".to_owned(),
        (TimerKind::Timer, false) => format!("Din timer för {label} har gått ut."),
        (TimerKind::Reminder, true) => "Det här är din påminnelse.".to_owned(),
        (TimerKind::Reminder, false) => format!("Påminnelse: {label}."),
    }
}

pub async fn cancel(
    State(store): State<Store>,
    UserPath(user): UserPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not a timer id (a UUID)")))?;
    if store.timers().cancel(&user, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "{user} has no pending timer {id}; list them with GET /api/users/{user}/timers"
        )))
    }
}
