//! The contract both databases fulfil: [`StoreBackend`]. The SQLite and PostgreSQL
//! implementations pass the same test suite (`tests/store_contract.rs`), so the server never
//! needs to know which one it talks to.

use crate::StoreError;
use crate::erasure_log::{ErasureKey, Tombstone};
use crate::gdpr::ExportSnapshot;
use crate::model::{
    AnswerFeedback, Conversation, ErasureCause, ErasureReport, ExperimentState, Memory,
    MemoryMatch, MessageOwner, NewFeedback, NewMemory, NewOutcome, NewTurn, Page, RecordedTurn,
    RetentionReport, RunState, StoreStats, StoredMessage, StoredOutcome, SystemMetricSample, User,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::engine::Engine;

/// What the database does for Alice. Writes of turns come in batches from the write batcher
/// ([`crate::Store::record_turn`]); everything else is called directly.
#[async_trait::async_trait]
pub trait StoreBackend: Send + Sync + std::fmt::Debug {
    fn engine(&self) -> Engine;

    /// The identity tables of this database: accounts, API keys, web sessions.
    fn identity(&self) -> crate::identity::IdentityTables;

    /// The idempotency records of this database: kept answers of chat requests that may be
    /// retried.
    fn idempotency(&self) -> crate::idempotency::IdempotencyTables;

    /// The timers and reminders of this database ([`crate::timers`]).
    fn timers(&self) -> crate::timers::TimerTables;

    /// Checks that the database answers a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection after the ones in use are returned.
    async fn close(&self);

    /// The newest migration applied.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Writes turns in one transaction, creating conversations (and their users) that a turn
    /// starts. A turn that names a conversation that no longer exists gets
    /// [`StoreError::ConversationNotFound`] in its slot and the others are written; any other
    /// failure fails the whole batch and nothing of it is written.
    async fn record_turns(
        &self,
        turns: &[NewTurn],
    ) -> Result<Vec<Result<RecordedTurn, StoreError>>, StoreError>;

    /// The conversation with this id, if any.
    async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError>;

    /// The last `limit` messages of a conversation, oldest first: the history sent to a model.
    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Messages of a conversation in order, `limit` at most, after message number `after_seq`
    /// (0 for the start).
    async fn messages(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// A user's profile, if the user exists.
    async fn user(&self, username: &str) -> Result<Option<User>, StoreError>;

    /// A user's conversations, the most recently active first.
    async fn user_conversations(
        &self,
        username: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// A user's conversations whose title or any message holds `text`, letter case ignored
    /// (Swedish letters too, whatever the database's locale), the most recently active first.
    /// Reads only that user's conversations and their messages.
    async fn search_conversations(
        &self,
        username: &str,
        text: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Whose message this is (its conversation, the owner, its role); None for no such message.
    async fn message_owner(&self, id: Uuid) -> Result<Option<MessageOwner>, StoreError>;

    /// Stores `username`'s feedback on an answer in a conversation of theirs, replacing what
    /// they gave it before (its `created_at` stays); None, and nothing stored, when the
    /// message is not an answer (role assistant) in one of their conversations.
    async fn put_feedback(
        &self,
        username: &str,
        feedback: &NewFeedback,
    ) -> Result<Option<AnswerFeedback>, StoreError>;

    /// Deletes `username`'s feedback on a message; whether there was any.
    async fn delete_feedback(&self, username: &str, message_id: Uuid) -> Result<bool, StoreError>;

    /// The feedback on a conversation's messages numbered after `after_seq` up to
    /// `through_seq`, in message order: the ratings beside a page of [`Self::messages`].
    async fn feedback_between(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        through_seq: i64,
    ) -> Result<Vec<AnswerFeedback>, StoreError>;

    /// All users' conversations, the most recently active first.
    async fn recent_conversations(&self, page: Page) -> Result<Vec<Conversation>, StoreError>;

    /// Rows per table, schema version and size.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Stores a memory for a user (created when new), unless the user already has `max`
    /// memories: then nothing is stored and the answer is None. Counting and storing are one
    /// atomic step, so writers at the same moment cannot pass the cap together.
    async fn add_memory(
        &self,
        username: &str,
        memory: NewMemory,
        max: u32,
    ) -> Result<Option<Memory>, StoreError>;

    /// A user's memories, newest first.
    async fn memories(&self, username: &str, page: Page) -> Result<Vec<Memory>, StoreError>;

    /// How many memories a user has.
    async fn count_memories(&self, username: &str) -> Result<u64, StoreError>;

    /// A user's memories that match the words of `query` (Swedish stemming), the most relevant
    /// first, `limit` at most. A query with no searchable word matches nothing.
    async fn search_memories(
        &self,
        username: &str,
        query: &str,
        matching: MemoryMatch,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError>;

    /// Deletes these memories of the user; returns how many there were.
    async fn delete_memories(&self, username: &str, ids: &[Uuid]) -> Result<u64, StoreError>;

    /// A read snapshot of everything held about a user, for the streamed GDPR export
    /// ([`crate::gdpr::export`]); None for a user the database does not know.
    async fn export_snapshot(
        &self,
        username: &str,
    ) -> Result<Option<Box<dyn ExportSnapshot>>, StoreError>;

    /// Erases a user and everything that names them, so that no trace is left in the database
    /// files (SQLite rewrites itself), and records the erasure's tombstone in the same
    /// transaction ([`crate::erasure_log`]); None for a user the database does not know.
    async fn erase_user(
        &self,
        username: &str,
        cause: &ErasureCause,
    ) -> Result<Option<ErasureReport>, StoreError>;

    /// The database's erasure key, which names people in tombstones.
    async fn erasure_key(&self) -> Result<ErasureKey, StoreError>;

    /// Every tombstone the database holds, oldest first.
    async fn erasure_log(&self) -> Result<Vec<Tombstone>, StoreError>;

    /// Records a tombstone (of an erasure applied elsewhere) unless it is held already.
    async fn record_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError>;

    /// Deletes messages written before `cutoff`, and conversations left empty.
    async fn delete_messages_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError>;

    /// Writes one downsampled Guardian sample.
    async fn record_system_metrics(&self, sample: &SystemMetricSample) -> Result<(), StoreError>;

    /// The downsampled Guardian samples since `since`, oldest first.
    async fn system_metrics(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SystemMetricSample>, StoreError>;

    /// Writes experiment outcomes in one transaction. Requests record theirs through
    /// [`crate::Store::record_outcome`], which queues them for a writer task that calls this.
    async fn record_outcomes(&self, outcomes: &[NewOutcome]) -> Result<(), StoreError>;

    /// Experiment `experiment`'s outcomes (all, or those at or after `since`) in the order
    /// they were written, each with the rating its answer got (`answer_feedback`).
    async fn outcomes(
        &self,
        experiment: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<StoredOutcome>, StoreError>;

    /// Sets an experiment's state (running, paused, stopped) and why, as of now.
    async fn set_experiment_state(
        &self,
        name: &str,
        state: RunState,
        reason: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Every experiment state set, by name (an experiment without one runs).
    async fn experiment_states(&self) -> Result<Vec<ExperimentState>, StoreError>;
}
