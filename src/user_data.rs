//! `alice user export` and `alice user forget`: a user's GDPR rights from the command line,
//! working on the database directly (Alice may be running or not). Erasure also removes the
//! user's answers from the shared Redis cache; a running Alice's in-process cache keeps them
//! until they expire (`cache.ttl`), unless the erasure goes through `DELETE /api/users/{u}`.

use alice_core::Config;
use anyhow::Context;
use std::path::Path;

/// Writes the user's export document to `output` (standard output when None), streamed from
/// one database snapshot.
pub async fn export(config: &Config, user: &str, output: Option<&Path>) -> anyhow::Result<()> {
    let store = alice_store::Store::open(&config.database).await?;
    let written = async {
        let document = alice_store::gdpr::export(&*store, user, chrono::Utc::now())
            .await?
            .with_context(|| format!("no user {user:?} in the database"))?;
        match output {
            // Owner-only (0600): the document is everything Alice holds about a person.
            Some(path) => {
                let file = alice_store::private_file::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let mut file = std::io::BufWriter::new(file);
                document
                    .write_to(&mut file)
                    .await
                    .with_context(|| format!("cannot write {}", path.display()))?;
                file.into_inner()
                    .map_err(std::io::IntoInnerError::into_error)?
                    .sync_all()
                    .with_context(|| format!("cannot write {}", path.display()))
            }
            None => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                Ok(document.write_to(&mut out).await?)
            }
        }
    }
    .await;
    store.close().await;
    written
}

/// Erases the user and prints what was deleted.
pub async fn forget(config: &Config, user: &str) -> anyhow::Result<()> {
    let store = alice_store::Store::open(&config.database).await?;
    let report = store.erase(user, "cli").await;
    store.close().await;
    let report = report?.with_context(|| format!("no user {user:?} in the database"))?;
    let counts = report.counts();
    let redis = match (&config.cache.redis_url, report.cache_keys.is_empty()) {
        (Some(_), false) => {
            let cache = alice_cache::ResponseCache::new(
                &config.cache,
                alice_cache::CacheMetrics::default(),
            )?;
            let removed = cache.remove_hex(&report.cache_keys).await;
            match (removed.redis, removed.redis_error) {
                (Some(deleted), _) => format!("{deleted} deleted from Redis"),
                (None, Some(error)) => format!("Redis could not be reached ({error})"),
                (None, None) => "no Redis".to_owned(),
            }
        }
        (Some(_), true) => "none to delete from Redis".to_owned(),
        (None, _) => "no Redis configured".to_owned(),
    };
    let summary = format!(
        "erased {user}: {} conversations, {} messages, {} memories, {} chat sessions, \
         {} agent executions, {} experiment outcomes; {} cached answers ({redis}); tombstone {} \
         in the database and {}\n",
        counts.conversations,
        counts.messages,
        counts.memories,
        counts.chat_sessions,
        counts.agent_executions,
        counts.experiment_outcomes,
        report.cache_keys.len(),
        report.tombstone.id,
        config.database.erasure_log.display(),
    );
    crate::write_stdout(summary.as_bytes())
}
