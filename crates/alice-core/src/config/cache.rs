//! `[cache]`: the response cache's size, lifetime and optional shared Redis tier.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The response cache: answers that do not depend on who asks, when, or what came before are
/// kept and served again, and identical such requests in flight share one backend call.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Serve and keep shareable answers. Off: every request goes to a backend.
    pub enabled: bool,
    /// Answers kept at most.
    pub max_entries: u64,
    /// Bytes of answer text kept at most, over all entries.
    pub max_bytes: u64,
    /// How long an answer is served again.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// A Redis server shared by several Alice instances, e.g. "redis://127.0.0.1:6379"; not
    /// set: this instance's memory only.
    pub redis_url: Option<String>,
    /// Prefix of Alice's keys in Redis, so instances that should not share answers can use
    /// the same server.
    pub redis_key_prefix: String,
    /// Longest wait for Redis on a request; slower is treated as a miss.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// After Redis failed, how long requests skip it before it is tried again.
    #[serde(with = "humantime_serde")]
    pub redis_retry_after: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 500,
            max_bytes: 16 * 1024 * 1024,
            ttl: Duration::from_secs(15 * 60),
            redis_url: None,
            redis_key_prefix: "alice:cache:v1".to_owned(),
            redis_timeout: Duration::from_millis(100),
            redis_retry_after: Duration::from_secs(5),
        }
    }
}

impl CacheConfig {
    /// Every problem with the values, each named by its key (`cache.ttl: ...`); empty when the
    /// settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.max_entries >= 1,
            "cache.max_entries",
            "must be at least 1 (set cache.enabled = false to switch the cache off)",
        );
        problems.check(
            self.max_bytes >= 1024,
            "cache.max_bytes",
            "must be at least 1024 bytes",
        );
        problems.check(!self.ttl.is_zero(), "cache.ttl", "must be longer than zero");
        if let Some(url) = &self.redis_url {
            problems.check(
                url.starts_with("redis://"),
                "cache.redis_url",
                "must be a redis:// URL, e.g. \"redis://127.0.0.1:6379\" (TLS, rediss://, is \
                 not built in: reach Redis over loopback or a trusted network)",
            );
        }
        problems.check(
            !self.redis_timeout.is_zero(),
            "cache.redis_timeout",
            "must be longer than zero",
        );
        problems.check(
            !self.redis_retry_after.is_zero(),
            "cache.redis_retry_after",
            "must be longer than zero",
        );
        problems.into_list()
    }
}
