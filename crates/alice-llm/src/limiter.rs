//! Bounded concurrency per backend, with a bounded, timed FIFO queue in front of it.
//!
//! A model server slows down for everyone when it takes more work than it has slots for (Ollama
//! queues internally, then answers 503). Alice keeps its own count: at most `max_concurrent`
//! requests go to a backend at once; up to `queue_depth` more wait, first come first served
//! (tokio's semaphore is fair). A request is refused *at once* rather than left waiting when
//! the queue is full, or when the wait it can expect (how long slots are held, on average,
//! times its place in the queue) would pass its deadline or `queue_timeout`. Refused requests
//! fail over to the next backend or get 503 with Retry-After.
//!
//! With adaptive concurrency on, the limit itself moves (AIMD): after every `sample_size`
//! completed answers, one slot more if their p95 was within `target_p95`, a quarter fewer (at
//! least one) if not, always between `min` and `max`. A lower limit takes effect as slots come
//! back: no running answer is cut.

use alice_core::config::AdaptiveConcurrencyConfig;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Weight of the newest sample in the moving average of slot hold times.
const HOLD_TIME_WEIGHT: f64 = 0.2;

/// Why a request was not given a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `queue_depth` requests are already waiting.
    QueueFull,
    /// The expected wait would pass the deadline or `queue_timeout`.
    WaitTooLong { expected: Duration },
    /// It waited `queue_timeout` (or to its deadline) without getting a slot.
    TimedOut,
}

/// The concurrency limit and queue of one backend.
#[derive(Debug)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    queue_depth: usize,
    queue_timeout: Duration,
    waiting: AtomicUsize,
    control: Mutex<Control>,
    adaptive: Option<AdaptiveConcurrencyConfig>,
}

#[derive(Debug)]
struct Control {
    /// The limit in force.
    limit: usize,
    /// Permits the semaphore holds in all, free and taken; above `limit` while a lowered
    /// limit waits for taken slots to come back.
    issued: usize,
    /// Moving average of how long a slot is held, in seconds; None until one came back.
    mean_hold_s: Option<f64>,
    /// Answer times since the last adjustment (adaptive only).
    samples: Vec<Duration>,
}

/// A slot on a backend. Dropping it returns it; [`Slot::completed`] also counts its time
/// towards adaptive concurrency.
#[derive(Debug)]
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    limiter: Arc<Limiter>,
    taken: Instant,
}

impl Slot {
    /// The answer this slot served is complete: its time is a sample for the adaptive limit.
    pub fn completed(self) {
        self.limiter.sample(self.taken.elapsed());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let held = self.taken.elapsed();
        if let Some(permit) = self.permit.take()
            && self.limiter.give_back(held)
        {
            permit.forget();
        }
    }
}

/// Decrements the waiting count however the wait ends (also when the caller is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Limiter {
    /// A limiter of `max_concurrent` slots, or, with `adaptive` enabled, of a limit that starts
    /// at its `initial` and moves.
    pub fn new(
        max_concurrent: usize,
        queue_depth: usize,
        queue_timeout: Duration,
        adaptive: Option<AdaptiveConcurrencyConfig>,
    ) -> Arc<Self> {
        let limit = adaptive.as_ref().map_or(max_concurrent, |a| a.initial);
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(limit)),
            queue_depth,
            queue_timeout,
            waiting: AtomicUsize::new(0),
            control: Mutex::new(Control {
                limit,
                issued: limit,
                mean_hold_s: None,
                samples: Vec::new(),
            }),
            adaptive,
        })
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The concurrency limit in force.
    pub fn limit(&self) -> usize {
        self.control().limit
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.control()
            .issued
            .saturating_sub(self.slots.available_permits())
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Takes a slot, waiting in the queue if need be, or says at once why not.
    pub async fn acquire(self: &Arc<Self>, deadline: Option<Instant>) -> Result<Slot, Refusal> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(self.slot(permit));
        }
        let now = Instant::now();
        let mut limit = now + self.queue_timeout;
        if let Some(deadline) = deadline {
            limit = limit.min(deadline);
        }
        let place = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let _waiting = Waiting(&self.waiting);
        if place > self.queue_depth {
            return Err(Refusal::QueueFull);
        }
        if let Some(expected) = self.expected_wait(place)
            && now + expected > limit
        {
            return Err(Refusal::WaitTooLong { expected });
        }
        match tokio::time::timeout_at(limit, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(self.slot(permit)),
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(Refusal::TimedOut),
        }
    }

    fn slot(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            permit: Some(permit),
            limiter: Arc::clone(self),
            taken: Instant::now(),
        }
    }

    /// The wait a request at `place` in the queue can expect: every `limit` requests ahead of
    /// it take one mean hold time.
    fn expected_wait(&self, place: usize) -> Option<Duration> {
        let control = self.control();
        let mean = control.mean_hold_s?;
        let rounds = place.div_ceil(control.limit.max(1)) as f64;
        Duration::try_from_secs_f64(mean * rounds).ok()
    }

    /// Records how long a slot was held; true when the slot must not return to the pool
    /// because a lowered limit is still above its target.
    fn give_back(&self, held: Duration) -> bool {
        let mut control = self.control();
        let sample = held.as_secs_f64();
        control.mean_hold_s = Some(match control.mean_hold_s {
            None => sample,
            Some(old) => old + HOLD_TIME_WEIGHT * (sample - old),
        });
        if control.issued > control.limit {
            control.issued -= 1;
            true
        } else {
            false
        }
    }

    /// Counts a completed answer's time; every `sample_size` of them, moves the limit.
    fn sample(&self, took: Duration) {
        let Some(adaptive) = &self.adaptive else {
            return;
        };
        let mut control = self.control();
        control.samples.push(took);
        if control.samples.len() < adaptive.sample_size {
            return;
        }
        let mut samples = std::mem::take(&mut control.samples);
        samples.sort();
        let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
        let old = control.limit;
        let new = if p95 > adaptive.target_p95 {
            (old * 3 / 4).min(old - 1).max(adaptive.min)
        } else {
            (old + 1).min(adaptive.max)
        };
        control.limit = new;
        if new > control.issued {
            self.slots.add_permits(new - control.issued);
            control.issued = new;
        } else if control.issued > new {
            // Free slots go now; taken ones as they come back (see give_back).
            let forgotten = self.slots.forget_permits(control.issued - new);
            control.issued -= forgotten;
        }
        if new != old {
            tracing::info!(
                evt = "concurrency_limit_changed",
                from = old,
                to = new,
                p95_ms = p95.as_millis() as u64,
                target_ms = adaptive.target_p95.as_millis() as u64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_then_queue_then_refusal() {
        let limiter = Limiter::new(2, 1, Duration::from_secs(10), None);
        let a = limiter.acquire(None).await.unwrap();
        let _b = limiter.acquire(None).await.unwrap();
        assert_eq!(limiter.in_flight(), 2);

        let queued = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire(None).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 1);
        assert_eq!(limiter.acquire(None).await.unwrap_err(), Refusal::QueueFull);
        assert_eq!(
            limiter.queued(),
            1,
            "a refused request leaves the queue at once"
        );

        drop(a);
        let slot = queued.await.unwrap();
        assert!(slot.is_ok(), "the waiting request gets the freed slot");
        assert_eq!(limiter.queued(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_queue_timeout_ends_with_a_refusal() {
        let limiter = Limiter::new(1, 4, Duration::from_millis(500), None);
        let _held = limiter.acquire(None).await.unwrap();
        let started = Instant::now();
        assert_eq!(limiter.acquire(None).await.unwrap_err(), Refusal::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_the_wait() {
        let limiter = Limiter::new(1, 4, Duration::from_secs(10), None);
        let _held = limiter.acquire(None).await.unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        assert_eq!(
            limiter.acquire(Some(deadline)).await.unwrap_err(),
            Refusal::TimedOut
        );
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn an_expected_wait_past_the_deadline_is_refused_without_waiting() {
        let limiter = Limiter::new(1, 4, Duration::from_secs(10), None);
        // Teach it that a slot is held for 2 s.
        let slot = limiter.acquire(None).await.unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(slot);
        let _held = limiter.acquire(None).await.unwrap();
        let started = Instant::now();
        let refusal = limiter
            .acquire(Some(started + Duration::from_secs(1)))
            .await
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::WaitTooLong {
                expected: Duration::from_secs(2)
            }
        );
        assert_eq!(started.elapsed(), Duration::ZERO, "refused at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_gives_up_its_place() {
        let limiter = Limiter::new(1, 1, Duration::from_secs(10), None);
        let _held = limiter.acquire(None).await.unwrap();
        let waiter = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire(None).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(limiter.queued(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(limiter.queued(), 0);
    }

    fn adaptive() -> Option<AdaptiveConcurrencyConfig> {
        Some(AdaptiveConcurrencyConfig {
            enabled: true,
            min: 1,
            max: 10,
            initial: 5,
            target_p95: Duration::from_secs(2),
            sample_size: 5,
        })
    }

    /// Completes `n` answers that each take `took`, one after another.
    async fn answers(limiter: &Arc<Limiter>, n: usize, took: Duration) {
        for _ in 0..n {
            let slot = limiter.acquire(None).await.unwrap();
            tokio::time::advance(took).await;
            slot.completed();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_answers_lower_the_limit_and_fast_ones_raise_it_within_bounds() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), adaptive());
        assert_eq!(limiter.limit(), 5, "adaptive starts from its initial limit");
        answers(&limiter, 5, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 3, "5 * 3/4 = 3");
        answers(&limiter, 10, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 1, "3 -> 2 -> 1");
        answers(&limiter, 5, Duration::from_secs(3)).await;
        assert_eq!(limiter.limit(), 1, "never below min");
        answers(&limiter, 100, Duration::from_millis(500)).await;
        assert_eq!(
            limiter.limit(),
            10,
            "one step per 5 answers, never above max"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_limit_waits_for_taken_slots_instead_of_cutting_them() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), adaptive());
        let held: Vec<Slot> = futures_util::future::join_all((0..5).map(|_| limiter.acquire(None)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(limiter.in_flight(), 5);
        // Five slow answers from a second limiter's worth of samples: feed them directly.
        for _ in 0..5 {
            limiter.sample(Duration::from_secs(3));
        }
        assert_eq!(limiter.limit(), 3);
        assert_eq!(limiter.in_flight(), 5, "running answers keep their slots");
        drop(held);
        assert_eq!(limiter.in_flight(), 0);
        let now: Vec<Slot> = futures_util::future::join_all((0..3).map(|_| limiter.acquire(None)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(limiter.in_flight(), 3);
        assert_eq!(
            limiter.acquire(Some(Instant::now())).await.unwrap_err(),
            Refusal::TimedOut,
            "the fourth waits: the limit is 3 now"
        );
        drop(now);
    }

    #[tokio::test(start_paused = true)]
    async fn without_adaptive_the_limit_never_moves() {
        let limiter = Limiter::new(3, 16, Duration::from_secs(10), None);
        answers(&limiter, 40, Duration::from_secs(30)).await;
        assert_eq!(limiter.limit(), 3);
    }
}
