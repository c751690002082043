//! What the cache counts, for the server's one metrics registry (the same pattern as the LLM
//! router's metrics: families created here, registered by the server). How many answers and
//! bytes the cache holds is read when the registry is scraped, from [`crate::ResponseCache::usage`].

use crate::classifier::Reason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    /// "local", "redis" (hits by tier) or "miss".
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The cache's counters. Cheap to clone; clones count into the same series.
#[derive(Clone, Default)]
pub struct CacheMetrics {
    lookups: Family<ResultLabel, Counter>,
    uncacheable: Family<ReasonLabel, Counter>,
    evictions: Counter,
    coalesced: Counter,
    stored: Counter,
    redis_errors: Counter,
}

impl CacheMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "cache_lookups",
            "Cache lookups of shareable requests: hits by tier (local, redis) and misses",
            metrics.lookups.clone(),
        );
        registry.register(
            "cache_uncacheable",
            "Requests whose answer may not be shared, by reason",
            metrics.uncacheable.clone(),
        );
        registry.register(
            "cache_evictions",
            "Answers dropped to keep the cache within its entry and byte bounds",
            metrics.evictions.clone(),
        );
        registry.register(
            "cache_coalesced",
            "Requests that joined an identical request already in flight instead of calling a backend",
            metrics.coalesced.clone(),
        );
        registry.register(
            "cache_stored",
            "Answers stored in the cache",
            metrics.stored.clone(),
        );
        registry.register(
            "cache_redis_errors",
            "Redis calls that failed or timed out (the request went on without Redis)",
            metrics.redis_errors.clone(),
        );
        metrics
    }

    pub(crate) fn hit(&self, tier: &'static str) {
        self.lookups
            .get_or_create(&ResultLabel { result: tier })
            .inc();
    }
    pub(crate) fn miss(&self) {
        self.lookups
            .get_or_create(&ResultLabel { result: "miss" })
            .inc();
    }
    pub fn uncacheable(&self, reason: Reason) {
        self.uncacheable
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }
    pub(crate) fn evicted(&self) {
        self.evictions.inc();
    }
    pub fn coalesced(&self) {
        self.coalesced.inc();
    }
    pub(crate) fn stored(&self) {
        self.stored.inc();
    }
    pub(crate) fn redis_error(&self) {
        self.redis_errors.inc();
    }

    /// Evictions so far (for tests and status pages).
    pub fn evictions(&self) -> u64 {
        self.evictions.get()
    }
    /// Requests coalesced so far.
    pub fn coalesced_count(&self) -> u64 {
        self.coalesced.get()
    }
    /// Lookups answered from the cache so far, either tier.
    pub fn hits(&self) -> u64 {
        self.lookups_of("local") + self.lookups_of("redis")
    }
    /// Lookups that found nothing so far.
    pub fn misses(&self) -> u64 {
        self.lookups_of("miss")
    }
    fn lookups_of(&self, result: &'static str) -> u64 {
        self.lookups
            .get(&ResultLabel { result })
            .map_or(0, |counter| counter.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_and_misses_are_read_back() {
        let metrics = CacheMetrics::default();
        assert_eq!((metrics.hits(), metrics.misses()), (0, 0));
        metrics.hit("local");
        metrics.hit("redis");
        metrics.hit("local");
        metrics.miss();
        assert_eq!((metrics.hits(), metrics.misses()), (3, 1));
    }
}
