//! The two database engines and what they have in common: [`Engine`] names which one a
//! configuration means (the one place that decides it, for the store and for backups alike);
//! [`sql`] holds the statements both run as they are, [`rows`] the mapping of their rows to the
//! model and [`shared_queries`] the queries they run alike and [`export_snapshot`] the paged reads of a
//! GDPR export; [`substring`] writes the conversation search's patterns; [`sqlite`] and
//! [`postgres`] are the engines themselves.

pub(crate) mod export_snapshot;
pub(crate) mod idempotency_queries;
pub(crate) mod identity_queries;
pub(crate) mod postgres;
pub(crate) mod rows;
pub(crate) mod shared_queries;
pub(crate) mod sql;
pub(crate) mod sqlite;
mod substring;
pub(crate) mod timer_queries;

use alice_core::config::DatabaseConfig;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, SqlitePool};
use std::fmt;

/// Either engine's pool, held by the table handles that run one set of statements on both
/// ([`crate::identity::IdentityTables`], [`crate::idempotency::IdempotencyTables`],
/// [`crate::timers::TimerTables`]).
#[derive(Clone, Debug)]
pub(crate) enum EnginePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs a method of `$queries` (a statements type generic over the engine, built from a pool
/// reference) on whichever engine `$pool` (an [`EnginePool`]) holds: `on_engine!(self.0,
/// TimerQueries, q => q.pending(user))`.
macro_rules! on_engine {
    ($pool:expr, $queries:ident, $q:ident => $call:expr) => {
        match &$pool {
            $crate::engine::EnginePool::Sqlite(pool) => {
                let $q = $queries(pool);
                $call.await
            }
            $crate::engine::EnginePool::Postgres(pool) => {
                let $q = $queries(pool);
                $call.await
            }
        }
    };
}
pub(crate) use on_engine;

/// Which database engine a store runs on, or a backup was made from (and can only be restored
/// into).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine the configured URL names: PostgreSQL for `postgres://` and `postgresql://`,
    /// SQLite otherwise.
    pub fn of(config: &DatabaseConfig) -> Self {
        if config.is_postgres() {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `name` as a quoted SQL identifier (both engines quote with double quotes), so any table,
/// column, schema or database name is taken literally.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::{Engine, quote_identifier};
    use alice_core::config::DatabaseConfig;

    #[test]
    fn the_url_names_the_engine() {
        let engine = |url: &str| {
            Engine::of(&DatabaseConfig {
                url: url.into(),
                ..DatabaseConfig::default()
            })
        };
        assert_eq!(engine("postgres://db/alice"), Engine::Postgres);
        assert_eq!(engine("postgresql://db/alice"), Engine::Postgres);
        assert_eq!(engine("sqlite://alice.db"), Engine::Sqlite);
        assert_eq!(Engine::Postgres.to_string(), "postgres");
    }

    #[test]
    fn identifiers_are_quoted_literally() {
        assert_eq!(quote_identifier("users"), "\"users\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
