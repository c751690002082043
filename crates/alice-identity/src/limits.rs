//! Limits per key: requests per minute and tokens per minute as GCRA (the generic cell rate
//! algorithm: each key keeps one "theoretical arrival time", and a request is allowed when
//! that time is no more than a minute ahead of now), and a cap on requests in flight.
//!
//! The request and token budgets live in-process, or, with `cache.redis_url` set, in Redis (one
//! Lua script, so every instance counts against the same budget); when Redis cannot be reached
//! the in-process budget is used and the failure is logged, so a Redis outage never stops
//! chat. The in-flight cap is always per process.
//!
//! The GCRA is written here rather than taken from `governor`: tokens are known only when an
//! answer is done and must then be charged in full, even past the remaining budget (governor's
//! `check_n` is all-or-nothing), and the Redis tier must do the very same arithmetic in Lua.

mod gcra;
mod redis_budget;

pub use gcra::{Budget, Decision};
pub use redis_budget::RedisBudgets;

use crate::caller::Caller;
use alice_core::config::Limits;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The window every limit is counted over.
pub const PERIOD: Duration = Duration::from_secs(60);

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    Requests(Decision),
    Tokens(Decision),
    InFlight { limit: u32 },
}

/// What a request was allowed with: the budgets after it, for the `x-ratelimit-*` headers,
/// and its in-flight permit (held until the response is done).
#[derive(Debug)]
pub struct Admitted {
    pub requests: Option<Decision>,
    pub tokens: Option<Decision>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The limiter of one Alice: every key's budgets and in-flight counts.
#[derive(Clone)]
pub struct Limiter {
    started: Instant,
    local: moka::sync::Cache<String, Arc<Mutex<Budget>>>,
    in_flight: moka::sync::Cache<String, Arc<Semaphore>>,
    redis: Option<Arc<RedisBudgets>>,
}

impl Limiter {
    /// An in-process limiter, or one that keeps budgets in `redis` when given.
    pub fn new(redis: Option<RedisBudgets>) -> Self {
        Self {
            started: Instant::now(),
            local: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(PERIOD * 2)
                .build(),
            in_flight: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(PERIOD * 10)
                .build(),
            redis: redis.map(Arc::new),
        }
    }

    /// Admits a request of `caller` or says why not: a request from the request budget, room
    /// in the token budget, and an in-flight slot.
    pub async fn admit(&self, caller: &Caller) -> Result<Admitted, Refusal> {
        let limits = caller.limits;
        let key = caller.limit_key();
        let requests = match limits.requests_per_minute {
            0 => None,
            limit => {
                let decision = self.take(&format!("{key}:requests"), limit, 1).await;
                if !decision.allowed {
                    return Err(Refusal::Requests(decision));
                }
                Some(decision)
            }
        };
        let tokens = match limits.tokens_per_minute {
            0 => None,
            limit => {
                let decision = self.take(&format!("{key}:tokens"), limit, 0).await;
                if !decision.allowed {
                    return Err(Refusal::Tokens(decision));
                }
                Some(decision)
            }
        };
        let permit = self.in_flight_permit(&key, limits)?;
        Ok(Admitted {
            requests,
            tokens,
            permit,
        })
    }

    /// Charges the tokens a finished request used to its caller's token budget.
    pub async fn charge_tokens(&self, caller: &Caller, tokens: u64) {
        let limit = caller.limits.tokens_per_minute;
        if limit == 0 || tokens == 0 {
            return;
        }
        let cost = u32::try_from(tokens).unwrap_or(u32::MAX);
        let key = format!("{}:tokens", caller.limit_key());
        if let Some(redis) = &self.redis {
            match redis.charge(&key, limit, cost).await {
                Ok(_) => return,
                Err(error) => redis_failed(&error),
            }
        }
        let now = self.started.elapsed();
        if let Ok(mut budget) = self.budget(&key).lock() {
            budget.charge(now, limit, cost);
        }
    }

    async fn take(&self, key: &str, limit: u32, cost: u32) -> Decision {
        if let Some(redis) = &self.redis {
            match redis.take(key, limit, cost).await {
                Ok(decision) => return decision,
                Err(error) => redis_failed(&error),
            }
        }
        let now = self.started.elapsed();
        match self.budget(key).lock() {
            Ok(mut budget) => budget.take(now, limit, cost),
            // A poisoned budget (a panic while it was held) limits nothing.
            Err(_) => Decision::unlimited(limit),
        }
    }

    fn budget(&self, key: &str) -> Arc<Mutex<Budget>> {
        self.local
            .get_with(key.to_owned(), || Arc::new(Mutex::new(Budget::default())))
    }

    fn in_flight_permit(
        &self,
        key: &str,
        limits: Limits,
    ) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        if limits.max_in_flight == 0 {
            return Ok(None);
        }
        let slots = self
            .in_flight
            .get_with(format!("{key}:{}", limits.max_in_flight), || {
                Arc::new(Semaphore::new(limits.max_in_flight as usize))
            });
        slots
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| Refusal::InFlight {
                limit: limits.max_in_flight,
            })
    }
}

fn redis_failed(error: &redis::RedisError) {
    tracing::warn!(
        evt = "rate_limit_redis_failed",
        %error,
        "counting this request in-process instead"
    );
}
