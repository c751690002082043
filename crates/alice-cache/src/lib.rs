//! Alice's response cache: answers that may be shared are kept and served again, and identical
//! shareable requests in flight at the same time share one backend call.
//!
//! - [`classifier`]: may this request's answer be shared with anyone who asks the same thing?
//! - [`normalise`] (in `alice-core`, where it builds without the tiers' Redis and moka): the
//!   prompt text as the cache key sees it.
//! - [`key`]: the key, over everything that decides what the answer says.
//! - [`local`] and [`redis_tier`]: the in-process tier and the optional shared one.
//! - [`coalescer`]: the requests in flight, and replaying one call's events to every request
//!   that asked the same.
//! - [`metrics`]: what the cache counts.
//!
//! [`ResponseCache`] puts the tiers together: lookups try this process first, then Redis, and a
//! Redis hit is kept locally too.

pub mod answer;
pub mod classifier;
pub mod coalescer;
pub mod key;
pub mod local;
pub mod metrics;
pub mod redis_tier;

pub use alice_core::normalise::{self, normalise_prompt};
pub use answer::CachedAnswer;
pub use classifier::{Reason, Verdict, classify};
pub use coalescer::{Coalescer, FlightReader, FlightWriter, Joined};
pub use key::{CacheKey, KeyParts};
pub use metrics::CacheMetrics;

use alice_core::config::CacheConfig;
use local::LocalTier;
use redis_tier::RedisTier;
use serde::Serialize;
use std::sync::Arc;

/// Where a hit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Local,
    Redis,
}

/// What a purge (or a removal of some keys) removed.
#[derive(Debug, Serialize)]
pub struct PurgeReport {
    pub local: u64,
    /// Keys deleted from Redis; None without Redis.
    pub redis: Option<u64>,
    /// Why Redis could not be purged, when it could not.
    pub redis_error: Option<String>,
}

/// Why the cache could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache.redis_url: {0} (write it as \"redis://host:6379\", or leave it out)")]
    BadRedisUrl(#[from] redis::RedisError),
}

/// The two tiers behind one lookup.
pub struct ResponseCache {
    local: LocalTier,
    redis: Option<RedisTier>,
    metrics: CacheMetrics,
}

impl ResponseCache {
    /// Fails only on a malformed `redis_url`; Redis itself is reached on first use.
    pub fn new(config: &CacheConfig, metrics: CacheMetrics) -> Result<Self, CacheError> {
        let redis = match &config.redis_url {
            Some(url) => Some(RedisTier::new(
                url,
                &config.redis_key_prefix,
                config.redis_timeout,
                config.redis_retry_after,
                config.ttl,
                metrics.clone(),
            )?),
            None => None,
        };
        Ok(Self {
            local: LocalTier::new(
                config.max_entries,
                config.max_bytes,
                config.ttl,
                metrics.clone(),
            ),
            redis,
            metrics,
        })
    }

    /// The answer kept for `key`, from this process or else from Redis; counted as a hit or a
    /// miss.
    pub async fn get(&self, key: &CacheKey) -> Option<(Arc<CachedAnswer>, Tier)> {
        if let Some(answer) = self.local.get(key) {
            self.metrics.hit("local");
            return Some((answer, Tier::Local));
        }
        if let Some(redis) = &self.redis
            && let Some(answer) = redis.get(key).await
        {
            let answer = Arc::new(answer);
            self.local.insert(*key, answer.clone());
            self.metrics.hit("redis");
            return Some((answer, Tier::Redis));
        }
        self.metrics.miss();
        None
    }

    /// Keeps `answer` here and in Redis. Call it off the request path: it waits for Redis.
    /// Counted as stored once every tier has had its try, so the counter also tells when
    /// another instance can find the answer.
    pub async fn put(&self, key: CacheKey, answer: CachedAnswer) {
        let answer = Arc::new(answer);
        self.local.insert(key, answer.clone());
        if let Some(redis) = &self.redis {
            redis.put(&key, &answer).await;
        }
        self.metrics.stored();
    }

    /// Forgets every answer, here and in Redis.
    pub async fn purge(&self) -> PurgeReport {
        let local = self.local.purge();
        let (redis, redis_error) = match &self.redis {
            None => (None, None),
            Some(redis) => match redis.purge().await {
                Ok(deleted) => (Some(deleted), None),
                Err(error) => (None, Some(error.to_string())),
            },
        };
        PurgeReport {
            local,
            redis,
            redis_error,
        }
    }

    /// Forgets the answers under these keys as [`CacheKey::to_hex`] wrote them (what a stored
    /// message keeps), here and in Redis: erasing a user's data. Text that is not a key is
    /// skipped.
    pub async fn remove_hex(&self, keys: &[String]) -> PurgeReport {
        let keys: Vec<CacheKey> = keys
            .iter()
            .filter_map(|hex| CacheKey::from_hex(hex))
            .collect();
        self.remove(&keys).await
    }

    /// Forgets these answers, here and in Redis.
    pub async fn remove(&self, keys: &[CacheKey]) -> PurgeReport {
        let local = keys.iter().filter(|key| self.local.remove(key)).count() as u64;
        let (redis, redis_error) = match &self.redis {
            None => (None, None),
            Some(redis) => match redis.delete(keys).await {
                Ok(deleted) => (Some(deleted), None),
                Err(error) => (None, Some(error.to_string())),
            },
        };
        PurgeReport {
            local,
            redis,
            redis_error,
        }
    }

    /// Answers kept in this process and their size in bytes.
    pub fn usage(&self) -> (u64, u64) {
        self.local.usage()
    }

    pub fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_redis_url_the_client_cannot_use_names_the_setting() {
        let config = CacheConfig {
            redis_url: Some("redis://[::1".to_owned()),
            ..CacheConfig::default()
        };
        let error = ResponseCache::new(&config, CacheMetrics::default())
            .err()
            .unwrap()
            .to_string();
        assert!(error.starts_with("cache.redis_url:"), "{error}");
    }
}
