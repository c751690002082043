//! The open-loop engine: sends each request at its scheduled time, whatever the earlier ones
//! are doing, and records what became of it.
//!
//! One task walks the schedule and only ever sleeps until the next send time; each request is
//! its own task. So a slow or stuck target piles up open requests instead of slowing the
//! sending, which is the whole point: a closed-loop tool (N users, each waiting for its answer)
//! sends less exactly when the server struggles, and its latency figures omit the wait. The one
//! brake is `--max-in-flight`, and an arrival it stops is dropped and counted, not postponed.
//!
//! Each arrival is one request. Multi-turn conversations are interleaved with the rest: when a
//! turn is answered, the conversation's next turn waits in a queue and goes out with the next
//! arrival, ahead of new corpus items, so conversations move on without changing the rate.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::corpus::{Corpus, Kind};
use crate::record::{Answered, Recorder};
use crate::schedule::ArrivalClock;
use crate::target::{Failure, History, Target};

/// Mixed into the seed for choosing requests, so that stream differs from the arrival gaps'.
const PICKER_SALT: u64 = 0x616c_6963_6562_656e;
/// How often [`Engine::drain`] looks whether the last requests have ended.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// A turn ready to be sent: which corpus item, which of its turns, and the history so far.
struct Work {
    item: usize,
    turn: usize,
    history: History,
}

/// State shared by the scheduler and the request tasks.
pub struct Engine {
    target: Target,
    corpus: Corpus,
    timeout: Duration,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    recorder: Mutex<Recorder>,
    /// Conversations whose next turn is due.
    ready: Mutex<VecDeque<Work>>,
}

/// Gives back a request's in-flight slot when its task ends, however it ends.
struct Slot(Arc<Engine>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a counter half-updated; keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    pub fn new(
        target: Target,
        corpus: Corpus,
        recorder: Recorder,
        timeout: Duration,
        max_in_flight: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            target,
            corpus,
            timeout,
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            recorder: Mutex::new(recorder),
            ready: Mutex::new(VecDeque::new()),
        })
    }

    pub fn recorder(&self) -> MutexGuard<'_, Recorder> {
        locked(&self.recorder)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Sends on schedule until the clock runs out or `stop` resolves.
    pub async fn drive(
        self: &Arc<Self>,
        clock: ArrivalClock,
        start: Instant,
        seed: u64,
        stop: impl Future<Output = ()>,
    ) {
        let mut picker = StdRng::seed_from_u64(seed ^ PICKER_SALT);
        let mut stop = std::pin::pin!(stop);
        for offset in clock {
            let due = start + offset;
            if due > Instant::now() {
                tokio::select! {
                    biased;
                    () = &mut stop => return,
                    () = tokio::time::sleep_until(due) => {}
                }
            } else {
                // Behind schedule (a burst, or a busy machine): send at once to catch up, but let
                // the request tasks run and the stop signal in between.
                tokio::task::yield_now().await;
                if stop.as_mut().now_or_never().is_some() {
                    return;
                }
            }
            if self.in_flight.load(Ordering::Acquire) >= self.max_in_flight {
                self.recorder().arrival(offset, true);
                continue;
            }
            self.recorder().arrival(offset, false);
            let work = self.next_work(&mut picker);
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            let slot = Slot(Arc::clone(self));
            tokio::spawn(async move { slot.0.request(work, start, offset).await });
        }
    }

    /// Waits until no request is open, at most `limit` (the report counts any left as
    /// unfinished).
    pub async fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    fn next_work(&self, picker: &mut StdRng) -> Work {
        if let Some(work) = locked(&self.ready).pop_front() {
            return work;
        }
        Work {
            item: picker.random_range(0..self.corpus.len().max(1)),
            turn: 0,
            history: History::new(self.target.api()),
        }
    }

    async fn request(&self, work: Work, start: Instant, intended: Duration) {
        let sent_at = Instant::now();
        self.recorder()
            .sent(intended, sent_at.saturating_duration_since(start));
        let Some(item) = self.corpus.get(work.item) else {
            return;
        };
        let Some(message) = item.messages.get(work.turn) else {
            return;
        };
        let conversation = item.kind == Kind::Conversation;
        if conversation && work.turn == 0 {
            self.recorder().conversation_started();
        }
        let sent = tokio::time::timeout(self.timeout, self.target.send(&work.history, message));
        let result = sent.await.unwrap_or(Err(Failure::Timeout));
        let done = Instant::now();
        let intended_at = start + intended;

        let has_next = conversation && work.turn + 1 < item.messages.len();
        let outcome = result.and_then(|answer| {
            let next = if has_next {
                Some(work.history.after(message, &answer)?)
            } else {
                None
            };
            Ok((answer, next))
        });
        match outcome {
            Ok((answer, next)) => {
                let mut recorder = self.recorder();
                recorder.answered(
                    intended,
                    Answered {
                        latency: done.saturating_duration_since(intended_at),
                        service: done.saturating_duration_since(sent_at),
                        ttft: answer
                            .first_token_at
                            .map(|t| t.saturating_duration_since(intended_at)),
                        gaps: &answer.token_gaps,
                        route: answer.route.as_deref(),
                    },
                );
                match next {
                    Some(history) => {
                        drop(recorder);
                        locked(&self.ready).push_back(Work {
                            item: work.item,
                            turn: work.turn + 1,
                            history,
                        });
                    }
                    None if conversation => recorder.conversation_completed(),
                    None => {}
                }
            }
            Err(failure) => {
                let mut recorder = self.recorder();
                recorder.failed(intended, &failure);
                if conversation {
                    recorder.conversation_abandoned();
                }
            }
        }
    }
}
