//! A progress bar on the terminal while a run goes on.
//!
//! A soak lasts hours and a load test minutes; a silent terminal for that long looks like a
//! hang, and errors seen early can save the rest of the run. The bar goes to stderr (stdout is
//! for the summary) and only when stderr is a terminal and `--quiet` was not given, so logs,
//! pipes and tests never get control characters.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::Engine;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// The bar, or nothing when it must not be shown.
pub struct Progress(Option<Shown>);

/// A bar on the terminal and the task that redraws it.
struct Shown {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

/// Whole milliseconds, the unit of the bar's position.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Progress {
    /// Starts the bar for a load of `total`, updated from the engine's counters.
    pub fn start(quiet: bool, total: Duration, engine: &Arc<Engine>, start: Instant) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let length = millis(total).max(1);
        let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {percent:>3}% {msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let ticker = {
            let bar = bar.clone();
            let engine = Arc::clone(engine);
            tokio::spawn(async move {
                loop {
                    let elapsed = Instant::now().saturating_duration_since(start);
                    bar.set_position(millis(elapsed).min(length));
                    let counts = engine.recorder().totals();
                    bar.set_message(format!(
                        "sent {} ok {} err {} dropped {} open {}",
                        counts.sent,
                        counts.ok,
                        counts.errors,
                        counts.dropped,
                        engine.in_flight()
                    ));
                    tokio::time::sleep(TICK).await;
                }
            })
        };
        Self(Some(Shown { bar, ticker }))
    }

    /// Shows what happens after the schedule (waiting for answers, the cooldown) in place of
    /// the live counters.
    pub fn phase(&self, what: &str) {
        if let Some(Shown { bar, ticker }) = &self.0 {
            ticker.abort();
            if let Some(length) = bar.length() {
                bar.set_position(length);
            }
            bar.set_message(what.to_owned());
        }
    }

    /// Removes the bar before the summary is printed.
    pub fn finish(self) {
        if let Some(Shown { bar, ticker }) = self.0 {
            ticker.abort();
            bar.finish_and_clear();
        }
    }
}
