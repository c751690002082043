//! The timer bell: a background task that asks the database for timers and reminders that are
//! due, every `timers.poll_interval`, fires them ([`alice_store::TimerTables::fire_due`], which
//! also writes each one's message into its conversation, once across every instance) and rings
//! them to the open `/api/events` streams of this instance through a broadcast channel.
//!
//! Delivery to a stream is best effort, as a notification is: a user with no stream open (or
//! a stream on another instance) finds the message in the conversation. Timers survive a
//! restart because they live in the database; one due while Alice was down fires at the first
//! poll after she is back, late but once.

use alice_core::config::TimersConfig;
use alice_store::{FiredTimer, Store};
use chrono::Utc;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How many fired timers a slow stream may fall behind by before it misses some (it is told
/// how many, see `api::events`).
const RING_BUFFER: usize = 256;

/// Where fired timers are announced; each `/api/events` stream subscribes and keeps its
/// caller's own. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TimerBell(broadcast::Sender<Arc<FiredTimer>>);

impl Default for TimerBell {
    fn default() -> Self {
        Self(broadcast::channel(RING_BUFFER).0)
    }
}

impl TimerBell {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FiredTimer>> {
        self.0.subscribe()
    }

    fn ring(&self, fired: FiredTimer) {
        // No stream open is not an error: the message is in the conversation.
        let _ = self.0.send(Arc::new(fired));
    }
}

/// Starts the task that fires due timers until `stop`; `instance` is kept with each timer it
/// fires.
pub fn spawn(
    config: &TimersConfig,
    store: Store,
    bell: TimerBell,
    instance: Arc<str>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let (interval, batch) = (config.poll_interval, config.fire_batch);
    tokio::spawn(async move {
        let timers = store.timers();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            // A full batch means more may be due: fire on without waiting for the next tick.
            loop {
                let fired = match timers.fire_due(Utc::now(), batch, &instance).await {
                    Ok(fired) => fired,
                    Err(error) => {
                        tracing::warn!(evt = "timers_fire_failed", error = %error);
                        break;
                    }
                };
                let full = fired.len() >= usize::try_from(batch).unwrap_or(usize::MAX);
                for timer in fired {
                    let late_ms = (Utc::now() - timer.timer.due_at).num_milliseconds();
                    tracing::info!(
                        evt = "timer_fired",
                        timer_id = %timer.timer.id,
                        kind = timer.timer.kind.as_str(),
                        late_ms,
                    );
                    bell.ring(timer);
                }
                if !full || stop.is_cancelled() {
                    break;
                }
            }
        }
    })
}
