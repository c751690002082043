//! Bounded concurrency per backend, with a bounded, timed FIFO queue in front of it.
//!
//! A model server slows down for everyone when it takes more work than it has slots for (Ollama
//! queues internally, then answers 503). Alice keeps its own count: at most `max_concurrent`
//! requests go to a backend at once; up to `queue_depth` more wait, first come first served
//! (tokio's semaphore is fair). A request is refused *at once* rather than left waiting when
//! the queue is full, or when the wait it can expect (how long slots are held, on average,
//! times its place in the queue) would pass its deadline or `queue_timeout`. Refused requests
//! fail over to the next backend or get 503 with Retry-After.

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
    max_concurrent: usize,
    queue_depth: usize,
    queue_timeout: Duration,
    waiting: AtomicUsize,
    /// Moving average of how long a slot is held, in seconds; None until a slot was returned.
    mean_hold_s: Mutex<Option<f64>>,
}

/// A slot on a backend; returning it (dropping) records how long it was held.
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    limiter: Arc<Limiter>,
    taken: Instant,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.record_hold(self.taken.elapsed());
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
    pub fn new(max_concurrent: usize, queue_depth: usize, queue_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            queue_depth,
            queue_timeout,
            waiting: AtomicUsize::new(0),
            mean_hold_s: Mutex::new(None),
        })
    }

    /// Requests holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.max_concurrent - self.slots.available_permits()
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
            _permit: permit,
            limiter: Arc::clone(self),
            taken: Instant::now(),
        }
    }

    /// The wait a request at `place` in the queue can expect: every `max_concurrent` requests
    /// ahead of it take one mean hold time.
    fn expected_wait(&self, place: usize) -> Option<Duration> {
        let mean = (*self.mean_hold_s.lock().unwrap_or_else(|p| p.into_inner()))?;
        let rounds = place.div_ceil(self.max_concurrent) as f64;
        Duration::try_from_secs_f64(mean * rounds).ok()
    }

    fn record_hold(&self, held: Duration) {
        let mut mean = self.mean_hold_s.lock().unwrap_or_else(|p| p.into_inner());
        let sample = held.as_secs_f64();
        *mean = Some(match *mean {
            None => sample,
            Some(old) => old + HOLD_TIME_WEIGHT * (sample - old),
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_then_queue_then_refusal() {
        let limiter = Limiter::new(2, 1, Duration::from_secs(10));
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
        let limiter = Limiter::new(1, 4, Duration::from_millis(500));
        let _held = limiter.acquire(None).await.unwrap();
        let started = Instant::now();
        assert_eq!(limiter.acquire(None).await.unwrap_err(), Refusal::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_bounds_the_wait() {
        let limiter = Limiter::new(1, 4, Duration::from_secs(10));
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
        let limiter = Limiter::new(1, 4, Duration::from_secs(10));
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
        let limiter = Limiter::new(1, 1, Duration::from_secs(10));
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
}
