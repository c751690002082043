//! The experiment outcome writer: what became of each request an A/B experiment assigned a
//! variant to reaches `experiment_outcomes` off the request's path.
//!
//! Unlike a turn (which the [`crate::batcher`] commits before the request completes), an
//! outcome is a measurement, not the user's data: a request hands it to a small bounded queue
//! and goes on at once, without waiting for room or for the commit. A writer task takes every
//! outcome queued (up to [`MAX_BATCH`]) and writes them in one transaction, so under load many
//! share a commit. When the queue is full (the database is slower than the requests) the
//! outcome is dropped and counted ([`OutcomeCounters::dropped`], served as
//! `alice_experiment_outcomes_dropped_total`): a report then misses a few requests rather than
//! the requests waiting on a report. A batch that fails is written again one by one, so a bad
//! row fails alone ([`OutcomeCounters::failed`]).
//!
//! [`OutcomeWriter::flush`] waits until everything queued before it is written (an erasure
//! flushes first, so no outcome of the user arrives after them; tests flush before reading).
//! On shutdown the queue is written out before the database closes.

use crate::backend::StoreBackend;
use crate::model::NewOutcome;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Outcomes that may wait for the writer.
pub const QUEUE: usize = 1024;
/// Outcomes written in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// Counters for the metrics.
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    /// Outcomes written.
    pub written: AtomicU64,
    /// Outcomes dropped because the queue was full (or the store closing).
    pub dropped: AtomicU64,
    /// Outcomes the database refused.
    pub failed: AtomicU64,
}

enum Job {
    Outcome(Box<NewOutcome>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The queue requests hand their outcomes to; see the module's doc.
#[derive(Debug)]
pub(crate) struct OutcomeWriter {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    counters: Arc<OutcomeCounters>,
}

impl OutcomeWriter {
    /// Starts the writer's task on the current runtime.
    pub(crate) fn start(backend: Arc<dyn StoreBackend>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let counters = Arc::new(OutcomeCounters::default());
        let task = tokio::spawn(run(backend, receiver, Arc::clone(&counters)));
        Self {
            sender: Mutex::new(Some(sender)),
            task: tokio::sync::Mutex::new(Some(task)),
            counters,
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Job>> {
        self.sender.lock().ok().and_then(|sender| sender.clone())
    }

    /// Queues an outcome without waiting; false (and counted) when it was dropped.
    pub(crate) fn record(&self, outcome: NewOutcome) -> bool {
        let queued = self
            .sender()
            .is_some_and(|sender| sender.try_send(Job::Outcome(Box::new(outcome))).is_ok());
        if !queued {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Waits until every outcome queued before this call is written (or failed).
    pub(crate) async fn flush(&self) {
        let Some(sender) = self.sender() else {
            return;
        };
        let (done, written) = oneshot::channel();
        if sender.send(Job::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    pub(crate) fn counters(&self) -> &OutcomeCounters {
        &self.counters
    }

    /// Stops taking outcomes and waits until every queued one is written.
    pub(crate) async fn drain(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(task) = self.task.lock().await.take()
            && let Err(error) = task.await
        {
            tracing::error!(evt = "outcome_writer_failed", error = %error);
        }
    }
}

async fn run(
    backend: Arc<dyn StoreBackend>,
    mut receiver: mpsc::Receiver<Job>,
    counters: Arc<OutcomeCounters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(job) = receiver.recv().await {
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Outcome(outcome) => batch.push(*outcome),
                Job::Flush(done) => flushes.push(done),
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        write(backend.as_ref(), &mut batch, &counters).await;
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write(
    backend: &dyn StoreBackend,
    batch: &mut Vec<NewOutcome>,
    counters: &OutcomeCounters,
) {
    if batch.is_empty() {
        return;
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    match backend.record_outcomes(batch).await {
        Ok(()) => {
            counters
                .written
                .fetch_add(count(batch.len()), Ordering::Relaxed);
        }
        Err(error) if batch.len() == 1 || error.is_unavailable() => {
            tracing::warn!(evt = "outcomes_failed", outcomes = batch.len(), error = %error);
            counters
                .failed
                .fetch_add(count(batch.len()), Ordering::Relaxed);
        }
        Err(error) => {
            tracing::warn!(
                evt = "outcomes_failed",
                outcomes = batch.len(),
                error = %error,
                "writing the outcomes one by one"
            );
            for outcome in batch.iter() {
                let counter = match backend.record_outcomes(std::slice::from_ref(outcome)).await {
                    Ok(()) => &counters.written,
                    Err(error) => {
                        tracing::warn!(evt = "outcome_failed", request_id = %outcome.request_id, error = %error);
                        &counters.failed
                    }
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    batch.clear();
}
