//! The GCRA of one budget, as plain arithmetic on a clock reading the caller passes in: a
//! budget of `limit` per [`PERIOD`] spends one "emission interval" (`PERIOD / limit`) per unit,
//! and allows a spend while its theoretical arrival time stays within a period of now. A full
//! budget allows a burst of `limit` at once, and refills evenly.

use super::PERIOD;
use std::time::Duration;

/// One key's budget: its theoretical arrival time, counted from the limiter's start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    tat: Duration,
}

/// What a budget said, with the figures the `x-ratelimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Units left after this spend.
    pub remaining: u32,
    /// Until the budget is full again.
    pub reset: Duration,
    /// Until a refused spend would be allowed (zero when allowed).
    pub retry_after: Duration,
}

impl Decision {
    pub(super) fn unlimited(limit: u32) -> Self {
        Self {
            allowed: true,
            limit,
            remaining: limit,
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
        }
    }

    /// The decision for a budget whose arrival time is `ahead` of now after the spend (or,
    /// refused, before it); `wanted` is where the spend would have put it.
    pub(super) fn from_ahead(allowed: bool, limit: u32, ahead: Duration, wanted: Duration) -> Self {
        let interval = emission_interval(limit);
        let room = PERIOD.saturating_sub(ahead);
        Self {
            allowed,
            limit,
            remaining: u32::try_from(room.as_nanos() / interval.as_nanos().max(1))
                .unwrap_or(u32::MAX),
            reset: ahead,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                wanted.saturating_sub(PERIOD)
            },
        }
    }
}

/// The time one unit of a `limit` per period budget stands for.
pub(super) fn emission_interval(limit: u32) -> Duration {
    PERIOD / limit.max(1)
}

impl Budget {
    /// Spends `cost` units if they fit. A cost of 0 asks whether any room is left at all, and
    /// spends nothing.
    pub fn take(&mut self, now: Duration, limit: u32, cost: u32) -> Decision {
        let start = self.tat.max(now);
        let wanted_tat = start + emission_interval(limit) * cost;
        let wanted = wanted_tat - now;
        let fits = if cost == 0 {
            wanted < PERIOD
        } else {
            wanted <= PERIOD
        };
        if fits {
            self.tat = wanted_tat;
            Decision::from_ahead(true, limit, wanted, wanted)
        } else {
            let interval = emission_interval(limit);
            let needed = if cost == 0 { wanted + interval } else { wanted };
            Decision::from_ahead(false, limit, start - now, needed)
        }
    }

    /// Spends `cost` units whether or not they fit (tokens, known once an answer is done); the
    /// debt is kept to at most one more period, so one huge answer cannot lock a key for long.
    pub fn charge(&mut self, now: Duration, limit: u32, cost: u32) {
        let tat = self.tat.max(now) + emission_interval(limit).saturating_mul(cost);
        self.tat = tat.min(now + PERIOD * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_budget_allows_a_burst_of_its_limit_then_refills_evenly() {
        let mut budget = Budget::default();
        let now = Duration::from_secs(100);
        for spent in 1..=60 {
            let decision = budget.take(now, 60, 1);
            assert!(decision.allowed, "request {spent}");
            assert_eq!(decision.remaining, 60 - spent);
        }
        let refused = budget.take(now, 60, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(
            refused.retry_after, SECOND,
            "one request comes back each second"
        );
        assert_eq!(refused.reset, PERIOD);
        assert!(!budget.take(now + SECOND / 2, 60, 1).allowed);
        assert!(budget.take(now + SECOND, 60, 1).allowed);
        assert!(!budget.take(now + SECOND, 60, 1).allowed);
        // A quiet minute fills it again.
        let later = now + PERIOD * 2;
        assert_eq!(budget.take(later, 60, 1).remaining, 59);
    }

    #[test]
    fn tokens_are_charged_in_full_after_the_answer_and_checked_before_the_next() {
        let mut tokens = Budget::default();
        let now = Duration::from_secs(10);
        assert!(
            tokens.take(now, 1000, 0).allowed,
            "an empty budget has room"
        );
        tokens.charge(now, 1000, 1500);
        let refused = tokens.take(now, 1000, 0);
        assert!(!refused.allowed, "1500 of 1000 tokens were spent");
        // 500 tokens over (30 s of refill), and one more for room: 30.06 s.
        assert_eq!(refused.retry_after, Duration::from_millis(30_060));
        assert!(tokens.take(now + Duration::from_secs(31), 1000, 0).allowed);
    }

    #[test]
    fn a_huge_charge_locks_a_key_for_at_most_two_periods() {
        let mut tokens = Budget::default();
        let now = Duration::from_secs(10);
        tokens.charge(now, 100, u32::MAX);
        assert!(!tokens.take(now + PERIOD, 100, 0).allowed);
        assert!(tokens.take(now + PERIOD + PERIOD, 100, 0).allowed);
    }
}
