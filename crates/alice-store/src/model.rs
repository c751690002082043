//! The rows the store reads and writes, as Rust types.

use crate::erasure_log::Tombstone;
use alice_core::{BrownoutLevel, Role};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
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
    /// The response-cache key of an answer that was kept in or served from the cache, so
    /// erasing the user also erases the cache entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_key: Option<String>,
    /// The A/B experiment and variant an answer was given under (from the message's metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentTag>,
    /// How an answer was made (from the message's metadata); None for user messages and for
    /// answers stored before routes were kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<AnswerRoute>,
}

/// How an answer was made: by Alice herself for a request her intent layer recognised, by a
/// model, or as a fired timer's message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerRoute {
    /// "intent" (Alice answered herself), "tool" (a tool answered for Alice), "model" or
    /// "timer".
    pub kind: String,
    /// The intent's name ("time", "timer", "remember"), for kind "intent".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The intent classifier's confidence (0 to 1), for kinds "intent" and "tool".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The tool that answered (kind "tool"), or that was skipped or failed (kind "intent":
    /// Alice said so herself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The tools the model called on the way to the answer (kind "model"), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<ToolUse>,
}

/// One tool call a model made, and what came of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub name: String,
    /// The arguments as the model wrote them (JSON text).
    pub arguments: String,
    /// Whether the tool answered; when not, `result` says why.
    pub ok: bool,
    /// What was given back to the model (cut to a few hundred characters here).
    pub result: String,
    pub ms: u64,
}

/// The experiment and variant an answer was given under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentTag {
    pub name: String,
    pub variant: String,
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
    /// See [`StoredMessage::cache_key`].
    pub cache_key: Option<String>,
    /// Kept in the message's metadata; see [`StoredMessage::experiment`].
    pub experiment: Option<ExperimentTag>,
    /// Kept in the message's metadata; see [`StoredMessage::route`].
    pub route: Option<AnswerRoute>,
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
            cache_key: None,
            experiment: None,
            route: None,
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

/// A user's profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub username: String,
    pub display_name: Option<String>,
    pub language: String,
    pub timezone: String,
    pub preferences: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A personal memory ("kom ihåg att …"), as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Memory {
    pub id: Uuid,
    pub username: String,
    pub content: String,
    pub created_at: DateTime<Utc>,
    /// The conversation the memory was made in, while it exists.
    pub source_conversation_id: Option<Uuid>,
}

/// A memory to be written.
#[derive(Clone, Debug)]
pub struct NewMemory {
    pub id: Uuid,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub source_conversation_id: Option<Uuid>,
}

impl NewMemory {
    pub fn new(content: impl Into<String>, created_at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            content: content.into(),
            created_at,
            source_conversation_id: None,
        }
    }
}

/// A thumb on one of Alice's answers: `"up"` or `"down"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Up => "up",
            Rating::Down => "down",
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rating {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "up" => Ok(Rating::Up),
            "down" => Ok(Rating::Down),
            other => Err(format!("{other:?} is not a rating (up or down)")),
        }
    }
}

/// A user's feedback on one of Alice's answers (`answer_feedback`): one per answer, given by
/// the user whose conversation it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnswerFeedback {
    /// The answer (an assistant message).
    pub message_id: Uuid,
    /// The answer's conversation.
    pub conversation_id: Uuid,
    pub rating: Rating,
    pub comment: Option<String>,
    /// When the answer was first rated.
    pub created_at: DateTime<Utc>,
    /// When the rating or comment last changed.
    pub updated_at: DateTime<Utc>,
}

/// Feedback to store on an answer, replacing what its owner gave it before.
#[derive(Clone, Debug)]
pub struct NewFeedback {
    pub message_id: Uuid,
    pub rating: Rating,
    pub comment: Option<String>,
    /// Now: the feedback's `updated_at`, and its `created_at` when the answer had none.
    pub at: DateTime<Utc>,
}

/// Whose a message is: its conversation, the conversation's owner and the message's role (and
/// an answer's experiment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageOwner {
    pub conversation_id: Uuid,
    pub username: String,
    pub role: Role,
    /// The experiment and variant an answer was given under (its metadata).
    pub experiment: Option<ExperimentTag>,
}

/// How a memory search matches its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMatch {
    /// Any term: for finding what is relevant to a question, best first.
    Any,
    /// Every term: for "glöm …", which must only delete what it names.
    All,
}

/// A page of a list: `limit` rows after skipping `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u32,
    pub limit: u32,
}

/// A client session (`chat_sessions`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatSession {
    pub id: String,
    pub client: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
}

/// One agent run (`agent_executions`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentExecution {
    pub id: String,
    pub conversation_id: Option<Uuid>,
    pub agent: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub metadata: serde_json::Value,
}

/// How many rows of each kind an erasure deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErasureCounts {
    pub users: u64,
    pub conversations: u64,
    pub messages: u64,
    pub memories: u64,
    pub chat_sessions: u64,
    pub agent_executions: u64,
    /// Kept answers of idempotent chat requests (`Idempotency-Key`), which hold answer text.
    #[serde(default)]
    pub idempotency_records: u64,
    /// The user's thumbs on answers (`answer_feedback`), with their comments.
    #[serde(default)]
    pub answer_feedback: u64,
    /// What became of the user's requests in A/B experiments (`experiment_outcomes`).
    #[serde(default)]
    pub experiment_outcomes: u64,
}

impl ErasureCounts {
    /// Adds another erasure's counts to these.
    pub fn add(&mut self, other: &ErasureCounts) {
        self.users += other.users;
        self.conversations += other.conversations;
        self.messages += other.messages;
        self.memories += other.memories;
        self.chat_sessions += other.chat_sessions;
        self.agent_executions += other.agent_executions;
        self.idempotency_records += other.idempotency_records;
        self.answer_feedback += other.answer_feedback;
        self.experiment_outcomes += other.experiment_outcomes;
    }
}

/// Which chat API a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChatRoute {
    /// `POST /api/chat`.
    #[serde(rename = "native")]
    Native,
    /// `POST /v1/chat/completions`.
    #[serde(rename = "openai")]
    OpenAi,
}

/// What became of a request an experiment assigned a variant to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// A complete answer.
    Answered,
    /// An error answer (a backend failure, a deadline, a broken stream, a bad request…).
    Error,
    /// Refused for load: 429 or 503 from the Guardian's gate, a key's limits or a saturated
    /// backend.
    Shed,
}

/// Whether an experiment runs, as `experiment_states` says (an experiment without a row
/// runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    /// Paused by the guard rail (or an operator); `alice experiment resume` runs it again.
    Paused,
    /// Stopped by an operator (`alice experiment stop`).
    Stopped,
}

/// A text column's words for the enums above, both ways.
macro_rules! text_enum {
    ($type:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($type::$variant),)*
                    other => Err(format!(
                        "{other:?} is not one of {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(ChatRoute { Native => "native", OpenAi => "openai" });
text_enum!(OutcomeKind { Answered => "answered", Error => "error", Shed => "shed" });
text_enum!(RunState { Running => "running", Paused => "paused", Stopped => "stopped" });

/// An experiment outcome to be written ([`crate::Store::record_outcome`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NewOutcome {
    pub experiment: String,
    pub variant: String,
    /// The user the request was for; None for one the database does not know (the row is then
    /// anonymous).
    pub username: Option<String>,
    pub request_id: String,
    pub route: ChatRoute,
    pub outcome: OutcomeKind,
    /// The HTTP status the client got (200 for an answer, also a streamed one).
    pub status: u16,
    /// Milliseconds from Alice receiving the request to the complete answer.
    pub latency_ms: Option<u64>,
    /// Milliseconds from Alice receiving the request to the answer's first token.
    pub ttft_ms: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The stored answer (`/api/chat` only; `/v1` stores nothing).
    pub message_id: Option<Uuid>,
    pub at: DateTime<Utc>,
}

/// An experiment outcome as stored, with the rating its answer got, if any.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredOutcome {
    /// The row's number: rows are numbered in the order they were written.
    pub id: i64,
    pub experiment: String,
    pub variant: String,
    pub request_id: String,
    pub route: ChatRoute,
    pub outcome: OutcomeKind,
    pub status: u16,
    pub latency_ms: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The stored answer, while it exists.
    pub message_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    /// The thumb the answer's owner gave it (`answer_feedback`).
    pub rating: Option<Rating>,
}

/// An experiment's state as an operator or the guard rail set it (`experiment_states`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExperimentState {
    pub name: String,
    pub state: RunState,
    /// Why: the operator's words, or the guard rail's sentence.
    pub reason: Option<String>,
    pub changed_at: DateTime<Utc>,
}

/// Why a user is erased, which decides the tombstone the erasure leaves
/// ([`crate::erasure_log`]).
#[derive(Clone, Debug)]
pub enum ErasureCause {
    /// Someone asked now (`cli`, `api:<username>`): a new tombstone is written.
    Request { by: String },
    /// A restore applies an erasure again: the erasure's own tombstone is recorded.
    Replay(Tombstone),
}

/// What erasing a user deleted (GDPR article 17).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// The erasure's tombstone, as recorded in the database; its counts are what was deleted
    /// now (for a replayed erasure: from the restored database).
    pub tombstone: Tombstone,
    /// Response-cache keys of the user's answers, for the caller to erase from the cache.
    pub cache_keys: Vec<String>,
}

impl ErasureReport {
    /// What was deleted.
    pub fn counts(&self) -> &ErasureCounts {
        &self.tombstone.counts
    }
}

/// What the retention job deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub messages: u64,
    /// Conversations left with no message, deleted with them.
    pub conversations: u64,
}

/// Counts and size of the database, for `/api/db/stats`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreStats {
    pub engine: &'static str,
    pub schema_version: i64,
    /// Rows per table.
    pub rows: std::collections::BTreeMap<String, i64>,
    /// Bytes on disk, when the engine tells.
    pub size_bytes: Option<i64>,
}

/// One downsampled Guardian sample (`system_metrics`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemMetricSample {
    pub recorded_at: DateTime<Utc>,
    pub guardian_state: String,
    pub brownout_level: String,
    pub ram_pct: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    /// Guardian samples the row summarises.
    pub samples: i64,
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
