//! Setting a timer or reminder for a user, by the chat (a "sätt en timer på tio minuter") or
//! the timers API, within `[timers]`' limits: how far ahead, and how many pending per user.

use crate::error::ApiError;
use alice_core::config::TimersConfig;
use alice_intents::{Language, describe_duration};
use alice_store::{NewTimer, Store, StoreError, Timer, TimerKind};
use chrono::{DateTime, Utc};
use std::time::Duration;
use uuid::Uuid;

/// A timer the caller asked for, checked by [`set`].
pub struct TimerRequest<'a> {
    pub username: &'a str,
    pub conversation_id: Option<Uuid>,
    pub kind: TimerKind,
    pub label: &'a str,
    /// What Alice says when it fires.
    pub message: &'a str,
    pub due_at: DateTime<Utc>,
}

/// What Alice says when a timer of `duration` (for `label`, possibly empty) is done: "Din
/// timer på 20 minuter för äggen har gått ut." The chat's timers and the model's `set_timer`
/// word it alike.
pub fn done_message(duration: Duration, label: &str, language: Language) -> String {
    let length = describe_duration(duration, language);
    match (label.is_empty(), language) {
        (true, Language::Swedish) => format!("Din timer på {length} har gått ut."),
        (false, Language::Swedish) => format!("Din timer på {length} för {label} har gått ut."),
        (true, Language::English) => format!("Your {length} timer is done."),
        (false, Language::English) => format!("Your {length} timer for {label} is done."),
    }
}

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// Sets the timer, or says why not: due in the past or beyond `timers.max_ahead`, or the user
/// has `timers.max_pending_per_user` pending already.
pub async fn set(
    store: &Store,
    config: &TimersConfig,
    request: TimerRequest<'_>,
) -> Result<Timer, ApiError> {
    let now = Utc::now();
    let ahead = chrono::Duration::from_std(config.max_ahead).unwrap_or(chrono::Duration::MAX);
    if request.due_at < now - chrono::Duration::seconds(1) {
        return Err(ApiError::invalid(
            "due_at",
            "the time has passed already; give a time in the future",
        ));
    }
    if request.due_at > now + ahead {
        return Err(ApiError::invalid(
            "due_at",
            format!(
                "at most {} ahead (timers.max_ahead)",
                humantime::format_duration(config.max_ahead)
            ),
        ));
    }
    if request.label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::invalid(
            "label",
            format!("at most {MAX_LABEL_CHARS} characters"),
        ));
    }
    let timers = store.timers();
    let pending = timers.count_pending(request.username).await?;
    if pending >= u64::from(config.max_pending_per_user) {
        return Err(ApiError::Conflict(format!(
            "{} has {pending} pending timers and reminders already (timers.max_pending_per_user); \
             cancel some first",
            request.username
        )));
    }
    let created = timers
        .create(&NewTimer {
            username: request.username,
            conversation_id: request.conversation_id,
            kind: request.kind,
            label: request.label,
            message: request.message,
            created_at: now,
            due_at: request.due_at,
        })
        .await;
    match created {
        Ok(timer) => Ok(timer),
        Err(StoreError::ConversationNotFound(id)) => {
            Err(ApiError::ConversationNotFound(id.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}
