//! The write batcher: turns reach the database in batches, one transaction each, off the
//! request's own connection.
//!
//! Durability rule: a request completes only after its turn is committed (group commit). A
//! request hands its turn to the batcher and waits for the commit; while one batch is being
//! written, the turns that arrive queue up and form the next batch, so under load many turns
//! share one transaction (and one fsync) while a lone request waits for nothing but its own
//! commit. So a turn whose answer a client received is always in the database, and a kill -9
//! can only lose turns whose clients got no answer. `batch_max_wait` can hold a batch open a
//! little longer to grow it, at the price of that much latency.
//!
//! The queue is bounded: when it is full, `record_turn` waits for room (back-pressure on the
//! requests), and nothing is ever dropped. If a batch fails, its turns are written again one by
//! one, so one bad turn fails alone; when the database cannot be reached at all, the whole
//! batch fails at once instead (its requests are answered 503 without waiting again).

use crate::StoreError;
use crate::backend::StoreBackend;
use crate::model::{NewTurn, RecordedTurn};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How the batcher groups turns.
#[derive(Clone, Copy, Debug)]
pub struct BatchSettings {
    pub max_turns: usize,
    pub max_wait: Duration,
    pub queue: usize,
}

/// Counters for the metrics.
#[derive(Debug, Default)]
pub struct BatchCounters {
    /// Transactions committed by the batcher.
    pub batches: AtomicU64,
    /// Turns written.
    pub turns: AtomicU64,
    /// Turns that could not be written.
    pub failed: AtomicU64,
}

/// What the batcher has done since start and holds now, as `/api/db/stats` and the
/// dashboard report it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BatcherStats {
    /// Transactions committed.
    pub batches: u64,
    /// Turns committed, and turns that could not be written.
    pub turns: u64,
    pub failed: u64,
    /// Turns waiting for the batcher now.
    pub queued: usize,
    /// turns ÷ batches; 0 before the first batch.
    pub turns_per_batch: f64,
}

struct Pending {
    turn: NewTurn,
    done: oneshot::Sender<Result<RecordedTurn, StoreError>>,
}

/// The handle requests write through; see the module's doc.
#[derive(Debug)]
pub(crate) struct WriteBatcher {
    sender: Mutex<Option<mpsc::Sender<Pending>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    counters: Arc<BatchCounters>,
    capacity: usize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("request_id", &self.turn.request_id)
            .finish()
    }
}

impl WriteBatcher {
    /// Starts the batcher's task on the current runtime.
    pub(crate) fn start(backend: Arc<dyn StoreBackend>, settings: BatchSettings) -> Self {
        let capacity = settings.queue.max(1);
        let (sender, receiver) = mpsc::channel(capacity);
        let counters = Arc::new(BatchCounters::default());
        let task = tokio::spawn(run(backend, settings, receiver, Arc::clone(&counters)));
        Self {
            sender: Mutex::new(Some(sender)),
            task: tokio::sync::Mutex::new(Some(task)),
            counters,
            capacity,
        }
    }

    /// Queues a turn (waiting for room when the queue is full) and waits for its commit.
    pub(crate) async fn record(&self, turn: NewTurn) -> Result<RecordedTurn, StoreError> {
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::Closed)?
            .clone()
            .ok_or(StoreError::Closed)?;
        let (done, committed) = oneshot::channel();
        sender
            .send(Pending { turn, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        committed.await.map_err(|_| StoreError::Closed)?
    }

    /// Turns queued and not yet taken into a batch.
    pub(crate) fn queued(&self) -> usize {
        self.sender
            .lock()
            .ok()
            .and_then(|sender| sender.as_ref().map(|s| self.capacity - s.capacity()))
            .unwrap_or(0)
    }

    pub(crate) fn counters(&self) -> &BatchCounters {
        &self.counters
    }

    /// Stops taking turns and waits until every queued turn is written.
    pub(crate) async fn drain(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(task) = self.task.lock().await.take()
            && let Err(error) = task.await
        {
            tracing::error!(evt = "batcher_failed", error = %error);
        }
    }
}

async fn run(
    backend: Arc<dyn StoreBackend>,
    settings: BatchSettings,
    mut receiver: mpsc::Receiver<Pending>,
    counters: Arc<BatchCounters>,
) {
    let max_turns = settings.max_turns.max(1);
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + settings.max_wait;
        while batch.len() < max_turns {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) if settings.max_wait.is_zero() => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, receiver.recv()).await {
                        Ok(Some(pending)) => batch.push(pending),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        write(backend.as_ref(), batch, &counters).await;
    }
}

async fn write(backend: &dyn StoreBackend, batch: Vec<Pending>, counters: &BatchCounters) {
    let (turns, waiters): (Vec<NewTurn>, Vec<_>) =
        batch.into_iter().map(|p| (p.turn, p.done)).unzip();
    let outcomes = match backend.record_turns(&turns).await {
        Ok(outcomes) => {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            outcomes
        }
        Err(error) if turns.len() == 1 => vec![Err(error)],
        // Writing the turns one by one would only wait for the database again, once each.
        Err(error) if error.is_unavailable() => {
            tracing::warn!(evt = "batch_failed", turns = turns.len(), error = %error);
            let message = error.to_string();
            turns
                .iter()
                .map(|_| Err(StoreError::Unavailable(message.clone())))
                .collect()
        }
        Err(error) => {
            tracing::warn!(
                evt = "batch_failed",
                turns = turns.len(),
                error = %error,
                "writing the turns one by one"
            );
            let mut outcomes = Vec::with_capacity(turns.len());
            for turn in &turns {
                let outcome = match backend.record_turns(std::slice::from_ref(turn)).await {
                    Ok(mut one) => {
                        counters.batches.fetch_add(1, Ordering::Relaxed);
                        one.pop().unwrap_or(Err(StoreError::Closed))
                    }
                    Err(error) => Err(error),
                };
                outcomes.push(outcome);
            }
            outcomes
        }
    };
    for (waiter, outcome) in waiters.into_iter().zip(outcomes) {
        match &outcome {
            Ok(_) => counters.turns.fetch_add(1, Ordering::Relaxed),
            Err(_) => counters.failed.fetch_add(1, Ordering::Relaxed),
        };
        // A waiter that went away (its client left) no longer needs the outcome; the turn is
        // written all the same.
        let _ = waiter.send(outcome);
    }
}
