//! [`Store`]: the handle the server holds. It opens the engine the URL names, runs its
//! migrations, sends turn writes through the write batcher and experiment outcomes through the
//! outcome writer; every read goes straight to the engine (the handle dereferences to
//! [`StoreBackend`]).

use crate::StoreError;
use crate::backend::StoreBackend;
use crate::batcher::{BatchCounters, BatchSettings, WriteBatcher};
use crate::engine::Engine;
use crate::engine::postgres::PostgresStore;
use crate::engine::sqlite::SqliteStore;
use crate::erasure_log;
use crate::model::{ErasureCause, ErasureReport, NewOutcome, NewTurn, RecordedTurn};
use crate::outcome_writer::{OutcomeCounters, OutcomeWriter};
use alice_core::config::DatabaseConfig;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Alice's database: an engine and the batcher that writes turns to it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<dyn StoreBackend>,
    batcher: Arc<WriteBatcher>,
    outcomes: Arc<OutcomeWriter>,
    /// The erasure log file (`database.erasure_log`); shared, as the store is cloned for
    /// every request.
    erasure_log: Arc<Path>,
}

impl Store {
    /// Opens the database the config names (SQLite or PostgreSQL), applies pending migrations
    /// and starts the write batcher.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let backend: Arc<dyn StoreBackend> = match Engine::of(config) {
            Engine::Postgres => Arc::new(PostgresStore::open(config).await?),
            Engine::Sqlite => Arc::new(SqliteStore::open(config).await?),
        };
        Ok(Self::with_backend(
            backend,
            batch_settings(config),
            config.erasure_log.clone(),
        ))
    }

    /// A store over an opened engine, with its own batcher, logging erasures to `erasure_log`.
    pub fn with_backend(
        backend: Arc<dyn StoreBackend>,
        settings: BatchSettings,
        erasure_log: PathBuf,
    ) -> Self {
        let batcher = Arc::new(WriteBatcher::start(Arc::clone(&backend), settings));
        let outcomes = Arc::new(OutcomeWriter::start(Arc::clone(&backend)));
        Self {
            backend,
            batcher,
            outcomes,
            erasure_log: erasure_log.into(),
        }
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

    /// The batcher's counters and queue as one report.
    pub fn batcher_stats(&self) -> crate::BatcherStats {
        use std::sync::atomic::Ordering::Relaxed;
        let counters = self.batch_counters();
        let batches = counters.batches.load(Relaxed);
        let turns = counters.turns.load(Relaxed);
        crate::BatcherStats {
            batches,
            turns,
            failed: counters.failed.load(Relaxed),
            queued: self.queued_turns(),
            turns_per_batch: if batches == 0 {
                0.0
            } else {
                turns as f64 / batches as f64
            },
        }
    }

    /// Queues an experiment outcome for the outcome writer and returns at once; false when the
    /// queue was full and the outcome was dropped (counted); see [`crate::outcome_writer`].
    pub fn record_outcome(&self, outcome: NewOutcome) -> bool {
        self.outcomes.record(outcome)
    }

    /// Waits until every outcome queued so far is written.
    pub async fn flush_outcomes(&self) {
        self.outcomes.flush().await;
    }

    /// The outcome writer's counters (written, dropped, failed).
    pub fn outcome_counters(&self) -> &OutcomeCounters {
        self.outcomes.counters()
    }

    /// Erases a user at someone's request ([`ErasureCause::Request`]): the user and everything
    /// that names them go, the tombstone is written in the same transaction and then appended
    /// to the erasure log file `database.erasure_log` ([`crate::erasure_log`]). A failure to
    /// append is logged and not returned: the erasure is done and its tombstone is in the
    /// database (and goes beside the next backup's manifest).
    pub async fn erase(
        &self,
        username: &str,
        by: &str,
    ) -> Result<Option<ErasureReport>, StoreError> {
        let cause = ErasureCause::Request { by: by.to_owned() };
        // Outcomes still queued name the user: written first, they go with them.
        self.outcomes.flush().await;
        let Some(report) = self.backend.erase_user(username, &cause).await? else {
            return Ok(None);
        };
        let (path, tombstone) = (Arc::clone(&self.erasure_log), report.tombstone.clone());
        let appended =
            tokio::task::spawn_blocking(move || erasure_log::append(&path, &tombstone)).await;
        match appended {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(evt = "erasure_log_append_failed", error = %error),
            Err(error) => tracing::error!(evt = "erasure_log_append_failed", error = %error),
        }
        Ok(Some(report))
    }

    /// Writes every queued turn and outcome, then closes the connections.
    pub async fn close(&self) {
        self.batcher.drain().await;
        self.outcomes.drain().await;
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
