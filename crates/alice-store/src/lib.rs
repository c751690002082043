//! Alice's database: users, conversations and messages, in an embedded SQLite file through
//! sqlx, with migrations applied at start-up.
//!
//! - [`open`](Store::open) sets the pragmas from the config (WAL, synchronous, page cache, busy
//!   timeout, foreign keys) on every pooled connection and runs the migrations;
//! - [`record_turn`](Store::record_turn) writes a user message and its answer, and creates the
//!   conversation and user when new, in one transaction: a turn is stored whole or not at all;
//! - the read methods return conversations and their messages in order.

mod model;
mod sqlite;

pub use model::{
    Conversation, ConversationTarget, NewMessage, NewTurn, RecordedTurn, StoredMessage,
};
pub use sqlite::Store;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("conversation {0} does not exist")]
    ConversationNotFound(uuid::Uuid),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored row is malformed: {0}")]
    Corrupt(String),
}
