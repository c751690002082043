//! The shared answers a chat service draws on: the response cache (when `cache.enabled`) and
//! the shareable requests in flight, by cache key (see [`crate::service::answers`]).

use alice_cache::{CacheKey, Coalescer, ResponseCache};
use alice_llm::{LlmError, RoutedEvent};
use std::sync::Arc;

/// One event of a flight, as every request in it receives it.
pub type FlightEvent = Result<RoutedEvent, LlmError>;

/// The response cache (when `cache.enabled`) and the shareable requests in flight, by cache
/// key. Cheap to clone.
#[derive(Clone, Default)]
pub struct AnswerCache {
    cache: Option<Arc<ResponseCache>>,
    flights: Arc<Coalescer<CacheKey, FlightEvent>>,
}

impl AnswerCache {
    pub fn new(cache: Option<Arc<ResponseCache>>) -> Self {
        Self {
            cache,
            flights: Arc::default(),
        }
    }

    /// The response cache; None when `cache.enabled` is false.
    pub fn cache(&self) -> Option<&ResponseCache> {
        self.cache.as_deref()
    }

    pub fn flights(&self) -> &Coalescer<CacheKey, FlightEvent> {
        &self.flights
    }
}
