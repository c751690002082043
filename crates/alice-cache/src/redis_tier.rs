//! The shared tier: answers in Redis, so several Alice instances hit on each other's answers.
//!
//! Redis is an optimisation, never a dependency: every call has a short timeout, and after a
//! failure Redis is skipped for `redis_retry_after` (one log line per outage, not one per
//! request), then tried again. A request whose Redis call fails goes on as a miss.

use crate::answer::CachedAnswer;
use crate::key::CacheKey;
use crate::metrics::CacheMetrics;
use redis::aio::MultiplexedConnection;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Keys scanned per round when purging.
const PURGE_SCAN_COUNT: u32 = 500;

pub struct RedisTier {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    retry_after: Duration,
    ttl: Duration,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Set while Redis is being skipped after a failure.
    down_until: Mutex<Option<Instant>>,
    metrics: CacheMetrics,
}

/// Why Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisTierError {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("Redis is skipped after a recent failure")]
    Skipped,
}

impl RedisTier {
    /// Checks the URL only; the connection is made on first use, so Alice starts while Redis
    /// is down.
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        retry_after: Duration,
        ttl: Duration,
        metrics: CacheMetrics,
    ) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            timeout,
            retry_after,
            ttl,
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            metrics,
        })
    }

    fn redis_key(&self, key: &CacheKey) -> String {
        format!("{}:{}", self.prefix, key.to_hex())
    }

    /// The answer stored under `key`, if Redis has one and answers in time.
    pub async fn get(&self, key: &CacheKey) -> Option<CachedAnswer> {
        let redis_key = self.redis_key(key);
        let bytes: Option<Vec<u8>> = self
            .call(|mut connection| async move {
                redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async(&mut connection)
                    .await
            })
            .await
            .ok()?;
        // An entry that does not parse (another version's shape) is a miss, not an error.
        serde_json::from_slice(&bytes?).ok()
    }

    /// Stores `answer` under `key` with the cache's TTL; failures are logged and counted.
    pub async fn put(&self, key: &CacheKey, answer: &CachedAnswer) {
        let Ok(bytes) = serde_json::to_vec(answer) else {
            return;
        };
        let redis_key = self.redis_key(key);
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .call(|mut connection| async move {
                redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await;
    }

    /// Deletes these answers; returns how many Redis had.
    pub async fn delete(&self, keys: &[CacheKey]) -> Result<u64, RedisTierError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let redis_keys: Vec<String> = keys.iter().map(|key| self.redis_key(key)).collect();
        self.call(|mut connection| async move {
            redis::cmd("DEL")
                .arg(&redis_keys)
                .query_async(&mut connection)
                .await
        })
        .await
    }

    /// Deletes every key under the prefix; returns how many.
    pub async fn purge(&self) -> Result<u64, RedisTierError> {
        let pattern = format!("{}:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<String>) = self
                .call(|mut connection| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(PURGE_SCAN_COUNT)
                        .query_async(&mut connection)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let removed: u64 = self
                    .call(|mut connection| async move {
                        redis::cmd("DEL")
                            .arg(&keys)
                            .query_async(&mut connection)
                            .await
                    })
                    .await?;
                deleted += removed;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Runs one command within the timeout, connecting first when needed; a failure marks
    /// Redis down for `retry_after`.
    async fn call<T, F, Fut>(&self, command: F) -> Result<T, RedisTierError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(RedisTierError::Skipped);
        }
        let attempt = async {
            let connection = self.connection().await?;
            command(connection).await.map_err(RedisTierError::from)
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisTierError::TimedOut(self.timeout)),
        };
        match result {
            Ok(value) => {
                let recovered = self
                    .down_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .is_some();
                if recovered {
                    tracing::info!(evt = "cache_redis_back", "Redis answers again");
                }
                Ok(value)
            }
            Err(error) => {
                self.metrics.redis_error();
                // A broken connection is not reused; the next try makes a new one.
                *self.connection.lock().await = None;
                let mut down = self
                    .down_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if down.is_none() {
                    tracing::warn!(
                        evt = "cache_redis_down",
                        error = %error,
                        retry_after_ms = self.retry_after.as_millis() as u64,
                        "Redis failed; answers are cached in this instance only until it is back"
                    );
                }
                *down = Some(Instant::now() + self.retry_after);
                Err(error)
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, RedisTierError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }
}
