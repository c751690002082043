//! The latency brownout of this process: every answer from a backend reports its time to first
//! token and queue wait here, and a background task evaluates the
//! [`LatencyController`](alice_guardian::LatencyController) once per `guardian.interval`,
//! publishes what it saw and logs each change as a `latency_brownout` line.
//!
//! It runs in the Alice process, beside whichever Guardian it obeys (its own or a daemon's),
//! because the latency it judges is this process's own: a Guardian daemon serves no answers.
//! Its level is one more floor under the served level (see
//! [`GuardianLink::preset`](crate::runtime::guardian_link::GuardianLink::preset)).

use alice_core::BrownoutLevel;
use alice_core::config::GuardianConfig;
use alice_guardian::{LatencyController, LatencyView};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Cheap to clone; every clone feeds and reads the same controller.
#[derive(Clone)]
pub struct LatencyBrownout {
    controller: Arc<Mutex<LatencyController>>,
    view: watch::Receiver<LatencyView>,
}

impl LatencyBrownout {
    /// Starts evaluating every `config.interval` until `stop` is cancelled.
    pub fn start(config: &GuardianConfig, stop: CancellationToken) -> (Self, JoinHandle<()>) {
        let controller = LatencyController::new(config, Instant::now());
        let (sender, view) = watch::channel(controller.view());
        let controller = Arc::new(Mutex::new(controller));
        let every = config.interval;
        let evaluated = Arc::clone(&controller);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(Instant::now() + every, every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let (change, view) = {
                    let mut controller = lock(&evaluated);
                    let change = controller.evaluate(Instant::now());
                    (change, controller.view())
                };
                if let Some(change) = change {
                    tracing::info!(
                        evt = "latency_brownout",
                        from = change.from.as_str(),
                        to = change.to.as_str(),
                        reason = %change.reason,
                        ttft_p95_ms = view.ttft_p95_ms,
                        queue_wait_p95_ms = view.queue_wait_p95_ms,
                        answers = view.answers,
                        "brownout level changed on latency"
                    );
                }
                sender.send_replace(view);
            }
        });
        (Self { controller, view }, task)
    }

    /// One answer from a backend, to a request received at `received`.
    pub fn observe(&self, received: Instant, ttft: Duration, queue_wait: Duration) {
        lock(&self.controller).observe(received, ttft, queue_wait);
    }

    /// The level latency asks for now.
    pub fn level(&self) -> BrownoutLevel {
        self.view.borrow().level
    }

    /// The last evaluation, for the status.
    pub fn view(&self) -> LatencyView {
        self.view.borrow().clone()
    }

    /// Every evaluation from now on, for the metrics.
    pub fn subscribe(&self) -> watch::Receiver<LatencyView> {
        self.view.clone()
    }
}

fn lock(controller: &Mutex<LatencyController>) -> std::sync::MutexGuard<'_, LatencyController> {
    // A panic mid-evaluation leaves a usable controller; better an odd level than none.
    controller.lock().unwrap_or_else(|p| p.into_inner())
}
