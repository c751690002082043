//! Rows to the model, once for both engines. The engines store most columns alike; where they
//! differ (SQLite keeps UUIDs and JSON as text, PostgreSQL has native UUID and JSONB) each
//! engine says how to read the column through [`StoredRow`].

use crate::StoreError;
use crate::erasure_log::Tombstone;
use crate::model::{
    AgentExecution, AnswerFeedback, AnswerRoute, ChatSession, Conversation, ExperimentState,
    ExperimentTag, Memory, MessageOwner, NewMessage, StoredMessage, StoredOutcome,
    SystemMetricSample, User,
};
use alice_core::BrownoutLevel;
use sqlx::{Decode, Postgres, Sqlite, Type};
use uuid::Uuid;

/// A column type both engines decode natively (text, integers, floats, booleans, timestamps,
/// and their `Option`s).
pub(crate) trait Native:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Native for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A row of either engine, as the mappings below read it.
pub(crate) trait StoredRow {
    /// A column both engines store alike.
    fn get<T: Native>(&self, column: &str) -> Result<T, StoreError>;
    fn uuid(&self, column: &str) -> Result<Uuid, StoreError>;
    fn optional_uuid(&self, column: &str) -> Result<Option<Uuid>, StoreError>;
    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError>;
}

/// What a message keeps in its `metadata` JSON column (the same JSON in both engines).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    brownout_level: Option<BrownoutLevel>,
    /// `{"name", "variant"}` of the A/B experiment an answer was given under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    experiment: Option<ExperimentTag>,
    /// `{"kind", "intent", "confidence"}`: how the answer was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route: Option<AnswerRoute>,
}

impl Metadata {
    /// The metadata JSON of a message to be written.
    pub(crate) fn of(message: &NewMessage) -> serde_json::Value {
        serde_json::json!(Metadata {
            brownout_level: message.brownout_level,
            experiment: message.experiment.clone(),
            route: message.route.clone(),
        })
    }
}

pub(crate) fn tombstone_from(row: &impl StoredRow) -> Result<Tombstone, StoreError> {
    let counts = row.json("counts")?;
    Ok(Tombstone {
        id: row.uuid("id")?,
        subject: row.get("subject")?,
        key_id: row.get("key_id")?,
        erased_at: row.get("erased_at")?,
        erased_by: row.get("erased_by")?,
        counts: serde_json::from_value(counts)
            .map_err(|e| StoreError::Corrupt(format!("erasures.counts: {e}")))?,
    })
}

pub(crate) fn conversation_from(row: &impl StoredRow) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: row.uuid("id")?,
        username: row.get("username")?,
        title: row.get("title")?,
        kind: row.get("kind")?,
        started_at: row.get("started_at")?,
        last_message_at: row.get("last_message_at")?,
        ended_at: row.get("ended_at")?,
        message_count: row.get("message_count")?,
    })
}

pub(crate) fn message_from(row: &impl StoredRow) -> Result<StoredMessage, StoreError> {
    let role: String = row.get("role")?;
    let metadata = row.json("metadata")?;
    // Metadata written by a newer Alice may hold more; unknown keys are ignored.
    let metadata: Metadata = serde_json::from_value(metadata.clone())
        .map_err(|e| StoreError::Corrupt(format!("metadata {metadata}: {e}")))?;
    Ok(StoredMessage {
        id: row.uuid("id")?,
        conversation_id: row.uuid("conversation_id")?,
        seq: row.get("seq")?,
        role: role_of(&role)?,
        content: row.get("content")?,
        created_at: row.get("created_at")?,
        model_used: row.get("model_used")?,
        response_time_ms: row.get("response_time_ms")?,
        ttft_ms: row.get("ttft_ms")?,
        prompt_tokens: row.get("prompt_tokens")?,
        completion_tokens: row.get("completion_tokens")?,
        request_id: row.get("request_id")?,
        cached: row.get("cached")?,
        brownout_level: metadata.brownout_level,
        cache_key: row.get("cache_key")?,
        experiment: metadata.experiment,
        route: metadata.route,
    })
}

/// A stored role.
fn role_of(text: &str) -> Result<alice_core::Role, StoreError> {
    text.parse()
        .map_err(|e: alice_core::chat::UnknownRole| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn feedback_from(row: &impl StoredRow) -> Result<AnswerFeedback, StoreError> {
    let rating: String = row.get("rating")?;
    Ok(AnswerFeedback {
        message_id: row.uuid("message_id")?,
        conversation_id: row.uuid("conversation_id")?,
        rating: rating
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("answer_feedback.rating: {e}")))?,
        comment: row.get("comment")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

pub(crate) fn owner_from(row: &impl StoredRow) -> Result<MessageOwner, StoreError> {
    let role: String = row.get("role")?;
    let metadata = row.json("metadata")?;
    let metadata: Metadata = serde_json::from_value(metadata.clone())
        .map_err(|e| StoreError::Corrupt(format!("metadata {metadata}: {e}")))?;
    Ok(MessageOwner {
        conversation_id: row.uuid("conversation_id")?,
        username: row.get("username")?,
        role: role_of(&role)?,
        experiment: metadata.experiment,
    })
}

pub(crate) fn user_from(row: &impl StoredRow) -> Result<User, StoreError> {
    Ok(User {
        username: row.get("username")?,
        display_name: row.get("display_name")?,
        language: row.get("language")?,
        timezone: row.get("timezone")?,
        preferences: row.json("preferences")?,
        created_at: row.get("created_at")?,
    })
}

pub(crate) fn memory_from(row: &impl StoredRow) -> Result<Memory, StoreError> {
    Ok(Memory {
        id: row.uuid("id")?,
        username: row.get("username")?,
        content: row.get("content")?,
        created_at: row.get("created_at")?,
        source_conversation_id: row.optional_uuid("source_conversation_id")?,
    })
}

pub(crate) fn session_from(row: &impl StoredRow) -> Result<ChatSession, StoreError> {
    Ok(ChatSession {
        id: row.get("id")?,
        client: row.get("client")?,
        started_at: row.get("started_at")?,
        last_seen_at: row.get("last_seen_at")?,
        ended_at: row.get("ended_at")?,
        metadata: row.json("metadata")?,
    })
}

pub(crate) fn execution_from(row: &impl StoredRow) -> Result<AgentExecution, StoreError> {
    Ok(AgentExecution {
        id: row.get("id")?,
        conversation_id: row.optional_uuid("conversation_id")?,
        agent: row.get("agent")?,
        status: row.get("status")?,
        input: row.get("input")?,
        output: row.get("output")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        metadata: row.json("metadata")?,
    })
}

pub(crate) fn metric_from(row: &impl StoredRow) -> Result<SystemMetricSample, StoreError> {
    Ok(SystemMetricSample {
        recorded_at: row.get("recorded_at")?,
        guardian_state: row.get("guardian_state")?,
        brownout_level: row.get("brownout_level")?,
        ram_pct: row.get("ram_pct")?,
        cpu_pct: row.get("cpu_pct")?,
        disk_pct: row.get("disk_pct")?,
        samples: row.get("samples")?,
    })
}

/// A text column read as one of the model's enums.
fn parsed<T: std::str::FromStr<Err = String>>(
    row: &impl StoredRow,
    column: &str,
) -> Result<T, StoreError> {
    let text: String = row.get(column)?;
    text.parse()
        .map_err(|e: String| StoreError::Corrupt(format!("{column}: {e}")))
}

/// A count or duration column (never negative when Alice wrote it).
fn unsigned(row: &impl StoredRow, column: &str) -> Result<Option<u64>, StoreError> {
    let value: Option<i64> = row.get(column)?;
    Ok(value.map(|value| u64::try_from(value).unwrap_or(0)))
}

/// An `experiment_outcomes` row with the answer's `rating` (NULL when unrated).
pub(crate) fn outcome_from(row: &impl StoredRow) -> Result<StoredOutcome, StoreError> {
    let rating: Option<String> = row.get("rating")?;
    let status: i32 = row.get("status")?;
    Ok(StoredOutcome {
        id: row.get("id")?,
        experiment: row.get("experiment")?,
        variant: row.get("variant")?,
        request_id: row.get("request_id")?,
        route: parsed(row, "route")?,
        outcome: parsed(row, "outcome")?,
        status: u16::try_from(status).unwrap_or(0),
        latency_ms: unsigned(row, "latency_ms")?,
        ttft_ms: unsigned(row, "ttft_ms")?,
        completion_tokens: unsigned(row, "completion_tokens")?,
        message_id: row.optional_uuid("message_id")?,
        at: row.get("at")?,
        rating: rating
            .map(|rating| rating.parse())
            .transpose()
            .map_err(|e: String| StoreError::Corrupt(format!("answer_feedback.rating: {e}")))?,
    })
}

pub(crate) fn experiment_state_from(row: &impl StoredRow) -> Result<ExperimentState, StoreError> {
    Ok(ExperimentState {
        name: row.get("name")?,
        state: parsed(row, "state")?,
        reason: row.get("reason")?,
        changed_at: row.get("changed_at")?,
    })
}
