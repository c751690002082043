//! The in-process tier: a bounded LRU-ish map (moka's TinyLFU) with an expiry per entry.
//!
//! Two bounds hold at once: at most `max_entries` answers and at most `max_bytes` of them.
//! moka bounds one weight, so each entry weighs its size but never less than
//! `max_bytes / max_entries`; then neither bound can be passed. Expiry is checked on read
//! against tokio's clock, so tests move time with `tokio::time::advance`; moka's own
//! time-to-live (wall clock) is set as well, so expired entries also leave memory unread.

use crate::answer::CachedAnswer;
use crate::key::CacheKey;
use crate::metrics::CacheMetrics;
use moka::notification::RemovalCause;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone)]
struct Entry {
    answer: Arc<CachedAnswer>,
    stored_at: Instant,
}

pub struct LocalTier {
    entries: moka::sync::Cache<CacheKey, Entry>,
    ttl: Duration,
}

impl LocalTier {
    pub fn new(max_entries: u64, max_bytes: u64, ttl: Duration, metrics: CacheMetrics) -> Self {
        let least_weight = (max_bytes / max_entries.max(1)).max(1);
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |_, entry: &Entry| {
                u32::try_from(entry.answer.size_bytes().max(least_weight)).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    metrics.evicted();
                }
            })
            .build();
        Self { entries, ttl }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        let entry = self.entries.get(key)?;
        if entry.stored_at.elapsed() >= self.ttl {
            self.entries.invalidate(key);
            return None;
        }
        Some(entry.answer)
    }

    pub fn insert(&self, key: CacheKey, answer: Arc<CachedAnswer>) {
        self.entries.insert(
            key,
            Entry {
                answer,
                stored_at: Instant::now(),
            },
        );
    }

    /// Forgets one answer; returns whether it was kept.
    pub fn remove(&self, key: &CacheKey) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Forgets every answer; returns how many there were.
    pub fn purge(&self) -> u64 {
        self.entries.run_pending_tasks();
        let count = self.entries.entry_count();
        self.entries.invalidate_all();
        self.entries.run_pending_tasks();
        count
    }

    /// Answers kept and their weight in bytes (after pending evictions are applied).
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::key::KeyParts;
    use alice_core::BrownoutLevel;

    fn key(prompt: &str) -> CacheKey {
        CacheKey::new(KeyParts {
            prompt,
            system_prompt: "",
            model: "m",
            brownout: BrownoutLevel::None,
            max_tokens: 100,
            temperature: 0.0,
            stop: &[],
            experiment: None,
        })
    }

    fn answer(text: &str) -> Arc<CachedAnswer> {
        Arc::new(CachedAnswer {
            chunks: vec![text.to_owned()],
            backend: "ollama".into(),
            model: "m".into(),
            prompt_tokens: None,
            completion_tokens: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_expires_after_its_ttl() {
        let tier = LocalTier::new(
            10,
            1 << 20,
            Duration::from_secs(900),
            CacheMetrics::default(),
        );
        tier.insert(key("a"), answer("svar"));
        tokio::time::advance(Duration::from_secs(899)).await;
        assert_eq!(tier.get(&key("a")).unwrap().text(), "svar");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(tier.get(&key("a")).is_none(), "15 minutes have passed");
    }

    #[test]
    fn the_entry_bound_holds() {
        let metrics = CacheMetrics::default();
        let tier = LocalTier::new(5, 1 << 20, Duration::from_secs(900), metrics.clone());
        for i in 0..50 {
            tier.insert(key(&i.to_string()), answer("kort"));
        }
        let (entries, _) = tier.usage();
        assert!(entries <= 5, "{entries} entries");
        assert!(metrics.evictions() >= 45);
    }

    #[test]
    fn the_byte_bound_holds() {
        let tier = LocalTier::new(
            1000,
            64 * 1024,
            Duration::from_secs(900),
            CacheMetrics::default(),
        );
        let long = "x".repeat(10 * 1024);
        for i in 0..50 {
            tier.insert(key(&i.to_string()), answer(&long));
        }
        let (entries, bytes) = tier.usage();
        assert!(bytes <= 64 * 1024, "{bytes} bytes");
        assert!(entries <= 6, "{entries} entries of 10 KiB");
    }

    #[test]
    fn purge_forgets_everything() {
        let tier = LocalTier::new(
            10,
            1 << 20,
            Duration::from_secs(900),
            CacheMetrics::default(),
        );
        tier.insert(key("a"), answer("1"));
        tier.insert(key("b"), answer("2"));
        assert_eq!(tier.purge(), 2);
        assert!(tier.get(&key("a")).is_none());
    }
}
