//! The rows the store reads and writes, as Rust types.

use alice_core::{BrownoutLevel, Role};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Conversation {
    pub id: Uuid,
    pub username: String,
    pub title: String,
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub message_count: i64,
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub model_used: Option<String>,
    pub response_time_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub request_id: Option<String>,
    pub cached: bool,
    /// The brownout level an answer was served at (from the message's metadata).
    pub brownout_level: Option<BrownoutLevel>,
}

/// A message to be written.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: Uuid,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub model_used: Option<String>,
    pub response_time_ms: Option<i64>,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cached: bool,
    /// Kept in the message's metadata.
    pub brownout_level: Option<BrownoutLevel>,
}

impl NewMessage {
    /// A message with content and time only; the measurements default to unknown.
    pub fn new(content: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            content: content.into(),
            created_at,
            model_used: None,
            response_time_ms: None,
            ttft_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cached: false,
            brownout_level: None,
        }
    }
}

/// Which conversation a turn belongs to.
#[derive(Clone, Debug)]
pub enum ConversationTarget {
    /// A conversation that must already exist.
    Existing(Uuid),
    /// A conversation created with this turn, for this user (created too when new). Its title
    /// is the first 50 characters of the user's message.
    New { id: Uuid, username: String },
}

/// A user message and the answer to it, written together.
#[derive(Clone, Debug)]
pub struct NewTurn {
    pub conversation: ConversationTarget,
    pub request_id: String,
    pub user: NewMessage,
    pub assistant: NewMessage,
}

/// Where a turn landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedTurn {
    pub conversation_id: Uuid,
    pub user_message_id: Uuid,
    pub assistant_message_id: Uuid,
}

/// The title of a conversation: the first 50 characters of its first user message, on one line.
pub(crate) fn title_from(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(50)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::title_from;

    #[test]
    fn title_is_fifty_characters_not_bytes() {
        let message = "Vad är skillnaden mellan en älg och en ren? Förklara gärna för ett barn.";
        let title = title_from(message);
        assert_eq!(title.chars().count(), 50);
        assert!(title.starts_with("Vad är skillnaden mellan en älg"));
    }

    #[test]
    fn title_collapses_whitespace() {
        assert_eq!(title_from("  Hej\n\nAlice  "), "Hej Alice");
    }
}
