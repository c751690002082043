//! Alice's database: users, conversations, messages, memories, feedback on answers, A/B
//! experiment outcomes and the Guardian's history, in an embedded SQLite file (the default) or in PostgreSQL (when several
//! Alice instances share state), both through sqlx with their own migrations.
//!
//! - [`Store`] is what the server holds: [`Store::open`] picks the engine from the URL, and
//!   turns are written through the [`batcher`] (a request completes once its turn is
//!   committed), A/B experiment outcomes through the [`outcome_writer`] (a request does not
//!   wait for them);
//! - [`StoreBackend`] is the contract both engines fulfil, checked by one shared test suite;
//!   [`Engine`] names the engine a configuration means, and the engines ([`SqliteStore`],
//!   [`PostgresStore`]) live in `engine` with the SQL and row mapping they share;
//! - [`identity`] keeps accounts, API keys and web sessions (hashed) for `alice-identity`;
//! - [`idempotency`] keeps the answers of chat requests a client may retry (`Idempotency-Key`);
//! - [`timers`] keeps timers and reminders and fires each once, across instances;
//! - [`search_terms`] turns Swedish text into the stemmed terms memories are searched by;
//! - [`gdpr`] streams a user's export document; [`erasure_log`] keeps the tombstones that keep
//!   an erased person erased after a restore;
//! - [`backup`] makes, restores and verifies backups (and applies the erasure log to what it
//!   restores);
//! - [`private_file`] creates the files of backups and exports readable by their owner alone.

pub mod backend;
pub mod backup;
pub mod batcher;
mod engine;
pub mod erasure_log;
pub mod gdpr;
pub mod idempotency;
pub mod identity;
mod model;
pub mod outcome_writer;
pub mod private_file;
pub mod search_terms;
mod store;
pub mod timers;

pub use backend::StoreBackend;
pub use batcher::{BatchCounters, BatchSettings, BatcherStats};
pub use engine::Engine;
pub use engine::postgres::PostgresStore;
pub use engine::postgres::url::redact_password;
pub use engine::sqlite::SqliteStore;
pub use idempotency::{Claim, ClaimOutcome, IdempotencyTables, NewClaim, StoredAnswer};
pub use identity::{Account, ApiKeyRecord, IdentityTables, KeyLimits, NewApiKey, SessionRecord};
pub use model::{
    AgentExecution, AnswerFeedback, AnswerRoute, ChatRoute, ChatSession, Conversation,
    ConversationTarget, ErasureCause, ErasureCounts, ErasureReport, ExperimentState, ExperimentTag,
    Memory, MemoryMatch, MessageOwner, NewFeedback, NewMemory, NewMessage, NewOutcome, NewTurn,
    OutcomeKind, Page, Rating, RecordedTurn, RetentionReport, RunState, StoreStats, StoredMessage,
    StoredOutcome, SystemMetricSample, ToolUse, User,
};
pub use outcome_writer::OutcomeCounters;
pub use store::{Store, batch_settings};
pub use timers::{FiredTimer, NewTimer, Timer, TimerKind, TimerState, TimerTables};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with this name exists already (a user).
    #[error("{0} exists already")]
    Duplicate(String),
    #[error("conversation {0} does not exist")]
    ConversationNotFound(uuid::Uuid),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored row is malformed: {0}")]
    Corrupt(String),
    #[error("the store is closed (Alice is shutting down)")]
    Closed,
    /// The database could not be reached for a batch of writes; every turn of it failed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The database could not be reached or used at all (no connection, pool exhausted or
    /// closed, I/O), as opposed to refusing one statement.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(error) | Self::Open { source: error, .. } => matches!(
                error,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
            Self::Unavailable(_) | Self::Closed => true,
            _ => false,
        }
    }
}
