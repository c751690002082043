//! Generation slots: at most `max_concurrent` requests generate at once, a bounded
//! FIFO queue waits for a slot, and anything beyond is turned away at once
//! (Ollama's `OLLAMA_NUM_PARALLEL` / `OLLAMA_MAX_QUEUE`).
//!
//! A slot is a [`Permit`]; dropping it (or a [`Waiter`] still in the queue) frees
//! the place at once, which is what makes client disconnects release capacity.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

pub(crate) struct Gate {
    inner: Mutex<Inner>,
}

struct Inner {
    /// `None` = no limit.
    limit: Option<usize>,
    running: usize,
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
    next_waiter: u64,
}

impl Inner {
    fn has_room(&self) -> bool {
        self.limit.is_none_or(|limit| self.running < limit)
    }

    /// Hands free slots to waiters at the front of the queue.
    fn grant(&mut self) {
        while self.has_room() {
            let Some((_, tx)) = self.queue.pop_front() else {
                break;
            };
            if tx.send(()).is_ok() {
                self.running += 1;
            }
        }
    }
}

/// The gate was full: no slot and no place in the queue.
#[derive(Debug)]
pub(crate) struct Full;

/// Result of entering the gate.
pub(crate) enum Entry {
    Running(Permit),
    Queued(Waiter),
}

impl Gate {
    pub(crate) fn new(limit: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                limit: limit.map(|n| n.max(1)),
                running: 0,
                queue: VecDeque::new(),
                next_waiter: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the number of slots; waiters get freed slots at once.
    pub(crate) fn set_limit(&self, limit: Option<usize>) {
        let mut inner = self.lock();
        inner.limit = limit.map(|n| n.max(1));
        inner.grant();
    }

    /// Takes a slot, or a place in the queue (at most `max_queue` waiting), or fails.
    pub(crate) fn enter(self: &Arc<Self>, max_queue: usize) -> Result<Entry, Full> {
        let mut inner = self.lock();
        if inner.queue.is_empty() && inner.has_room() {
            inner.running += 1;
            return Ok(Entry::Running(Permit {
                gate: Arc::clone(self),
            }));
        }
        if inner.queue.len() >= max_queue {
            return Err(Full);
        }
        let id = inner.next_waiter;
        inner.next_waiter += 1;
        let (tx, rx) = oneshot::channel();
        inner.queue.push_back((id, tx));
        Ok(Entry::Queued(Waiter {
            gate: Arc::clone(self),
            id,
            rx,
            granted: false,
        }))
    }

    fn release(&self) {
        let mut inner = self.lock();
        inner.running = inner.running.saturating_sub(1);
        inner.grant();
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.running, inner.queue.len())
    }
}

/// A generation slot; freed when dropped.
pub(crate) struct Permit {
    gate: Arc<Gate>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// A place in the queue; leaves the queue (or passes on a slot it was given) when dropped.
pub(crate) struct Waiter {
    gate: Arc<Gate>,
    id: u64,
    rx: oneshot::Receiver<()>,
    granted: bool,
}

impl Waiter {
    /// Waits for a slot. `None` only if the gate lost track of this waiter.
    pub(crate) async fn wait(mut self) -> Option<Permit> {
        match (&mut self.rx).await {
            Ok(()) => {
                self.granted = true;
                Some(Permit {
                    gate: Arc::clone(&self.gate),
                })
            }
            Err(_) => None,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut inner = self.gate.lock();
        if let Some(pos) = inner.queue.iter().position(|(id, _)| *id == self.id) {
            inner.queue.remove(pos);
        } else {
            // A slot was handed to us but never taken: pass it on.
            inner.running = inner.running.saturating_sub(1);
            inner.grant();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn running(entry: Result<Entry, Full>) -> Permit {
        match entry {
            Ok(Entry::Running(p)) => p,
            _ => panic!("expected a slot"),
        }
    }

    fn queued(entry: Result<Entry, Full>) -> Waiter {
        match entry {
            Ok(Entry::Queued(w)) => w,
            _ => panic!("expected a queue place"),
        }
    }

    #[tokio::test]
    async fn no_limit_never_queues() {
        let gate = Gate::new(None);
        let permits: Vec<_> = (0..100).map(|_| running(gate.enter(0))).collect();
        assert_eq!(gate.counts(), (100, 0));
        drop(permits);
        assert_eq!(gate.counts(), (0, 0));
    }

    #[tokio::test]
    async fn queue_then_full_then_handover_in_order() {
        let gate = Gate::new(Some(1));
        let first = running(gate.enter(2));
        let second = queued(gate.enter(2));
        let third = queued(gate.enter(2));
        assert!(matches!(gate.enter(2), Err(Full)));
        assert_eq!(gate.counts(), (1, 2));

        let second = tokio::spawn(second.wait());
        tokio::task::yield_now().await;
        drop(first);
        let second = second.await.unwrap().unwrap();
        assert_eq!(gate.counts(), (1, 1));
        drop(second);
        let third = third.wait().await.unwrap();
        assert_eq!(gate.counts(), (1, 0));
        drop(third);
        assert_eq!(gate.counts(), (0, 0));
    }

    #[tokio::test]
    async fn dropped_waiters_free_their_place_or_slot() {
        let gate = Gate::new(Some(1));
        let first = running(gate.enter(5));
        let waiting = queued(gate.enter(5));
        drop(waiting);
        assert_eq!(gate.counts(), (1, 0));

        // Granted but never collected: the slot must come back.
        let granted = queued(gate.enter(5));
        drop(first);
        assert_eq!(gate.counts(), (1, 0));
        drop(granted);
        assert_eq!(gate.counts(), (0, 0));
    }

    #[tokio::test]
    async fn raising_the_limit_lets_waiters_in() {
        let gate = Gate::new(Some(1));
        let _first = running(gate.enter(5));
        let waiter = queued(gate.enter(5));
        gate.set_limit(Some(2));
        let _second = waiter.wait().await.unwrap();
        assert_eq!(gate.counts(), (2, 0));
        gate.set_limit(None);
        let _third = running(gate.enter(5));
        assert_eq!(gate.counts(), (3, 0));
    }
}
