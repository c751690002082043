//! `[database]`: which database keeps users, conversations, messages and memories (SQLite or
//! PostgreSQL), its pool, the SQLite pragmas, the write batcher and the retention job.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// SQLite's `synchronous` pragma.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Off,
    Normal,
    Full,
}

/// The database that keeps users, conversations, messages and memories.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (relative paths are relative to the working directory; the directory is
    /// created when missing), or `postgres://USER@HOST:PORT/DATABASE` for PostgreSQL, when
    /// several Alice instances share state.
    pub url: String,
    /// PostgreSQL only: the schema Alice's tables live in (created when missing). None keeps
    /// the server's search_path (normally `public`).
    pub schema: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it is answered 503.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for a lock held by another before it fails.
    #[serde(with = "humantime_serde")]
    pub busy_timeout: Duration,
    /// SQLite page cache per connection, in MiB.
    pub cache_size_mib: u32,
    /// SQLite write-ahead log; when off, the rollback journal is used.
    pub wal: bool,
    pub synchronous: Synchronous,
    pub foreign_keys: bool,
    /// The write batcher: most turns committed in one transaction.
    pub batch_max_turns: usize,
    /// How long the batcher waits for more turns once one has arrived. Zero commits what is
    /// queued at once (turns that arrive during a commit form the next batch).
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// Turns waiting for the batcher; when full, requests wait (back-pressure), nothing is dropped.
    pub batch_queue: usize,
    /// Messages older than this are deleted by a periodic job; zero keeps them forever.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often the retention job runs.
    #[serde(with = "humantime_serde")]
    pub retention_interval: Duration,
    /// How often a downsampled Guardian sample is written to `system_metrics`; zero writes none.
    #[serde(with = "humantime_serde")]
    pub system_metrics_interval: Duration,
    /// The erasure log file: every erasure's tombstone (no personal data) is appended here as
    /// well as kept in the database, and `alice restore` reads it to erase again whoever a
    /// restored backup still holds. Keep it where the backups are, or at least not only on the
    /// disk the database is on.
    pub erasure_log: PathBuf,
}

impl DatabaseConfig {
    /// Whether the URL names a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }

    /// Every problem with the values, each named by its key (`database.url: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.url.starts_with("sqlite:") || self.is_postgres(),
            "database.url",
            "must be a sqlite:// URL such as \"sqlite://data/alice.db\" or a postgres:// URL \
             such as \"postgres://alice@127.0.0.1:5432/alice\"",
        );
        problems.check(
            self.schema.as_deref().is_none_or(|schema| {
                !schema.is_empty()
                    && schema.len() <= 63
                    && schema
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            }),
            "database.schema",
            "must be 1 to 63 lowercase letters, digits or _",
        );
        problems.check(
            self.batch_max_turns >= 1 && self.batch_queue >= 1,
            "database.batch_max_turns",
            "batch_max_turns and batch_queue must be at least 1",
        );
        problems.check(
            !self.acquire_timeout.is_zero(),
            "database.acquire_timeout",
            "must be longer than zero",
        );
        problems.check(
            !self.retention_interval.is_zero(),
            "database.retention_interval",
            "must be longer than zero",
        );
        problems.check(
            self.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        );
        problems.check(
            self.cache_size_mib >= 1,
            "database.cache_size_mib",
            "must be at least 1",
        );
        problems.into_list()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/alice.db".to_owned(),
            schema: None,
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(30),
            cache_size_mib: 64,
            wal: true,
            synchronous: Synchronous::Normal,
            foreign_keys: true,
            batch_max_turns: 64,
            batch_max_wait: Duration::ZERO,
            batch_queue: 1024,
            retention: Duration::ZERO,
            retention_interval: Duration::from_secs(3600),
            system_metrics_interval: Duration::from_secs(60),
            erasure_log: PathBuf::from("data/erasures.ndjson"),
        }
    }
}
