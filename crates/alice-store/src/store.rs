//! [`Store`]: the handle the server holds. It opens the engine the URL names, runs its
//! migrations, and sends turn writes through the write batcher; every read goes straight to the
//! engine (the handle dereferences to [`StoreBackend`]).

use crate::StoreError;
use crate::backend::StoreBackend;
use crate::batcher::{BatchCounters, BatchSettings, WriteBatcher};
use crate::engine::Engine;
use crate::engine::postgres::PostgresStore;
use crate::engine::sqlite::SqliteStore;
use crate::model::{NewTurn, RecordedTurn};
use alice_core::config::DatabaseConfig;
use std::ops::Deref;
use std::sync::Arc;

/// Alice's database: an engine and the batcher that writes turns to it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<dyn StoreBackend>,
    batcher: Arc<WriteBatcher>,
}

impl Store {
    /// Opens the database the config names (SQLite or PostgreSQL), applies pending migrations
    /// and starts the write batcher.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let backend: Arc<dyn StoreBackend> = match Engine::of(config) {
            Engine::Postgres => Arc::new(PostgresStore::open(config).await?),
            Engine::Sqlite => Arc::new(SqliteStore::open(config).await?),
        };
        Ok(Self::with_backend(backend, batch_settings(config)))
    }

    /// A store over an opened engine, with its own batcher.
    pub fn with_backend(backend: Arc<dyn StoreBackend>, settings: BatchSettings) -> Self {
        let batcher = Arc::new(WriteBatcher::start(Arc::clone(&backend), settings));
        Self { backend, batcher }
    }

    /// Writes a user message and its answer, creating the conversation (and its user) when the
    /// turn starts one. Returns once the turn is committed; see [`crate::batcher`].
    pub async fn record_turn(&self, turn: NewTurn) -> Result<RecordedTurn, StoreError> {
        self.batcher.record(turn).await
    }

    /// Turns waiting for the batcher.
    pub fn queued_turns(&self) -> usize {
        self.batcher.queued()
    }

    /// The batcher's counters (batches, turns written, turns failed).
    pub fn batch_counters(&self) -> &BatchCounters {
        self.batcher.counters()
    }

    /// Writes every queued turn, then closes the connections.
    pub async fn close(&self) {
        self.batcher.drain().await;
        self.backend.close().await;
    }
}

impl Deref for Store {
    type Target = dyn StoreBackend;

    fn deref(&self) -> &Self::Target {
        self.backend.as_ref()
    }
}

/// The batcher's settings from the config.
pub fn batch_settings(config: &DatabaseConfig) -> BatchSettings {
    BatchSettings {
        max_turns: config.batch_max_turns,
        max_wait: config.batch_max_wait,
        queue: config.batch_queue,
    }
}
