//! The time of day Alice tells ("Vad är klockan?", a reminder "klockan tre"), behind a handle so
//! that a test can set it — to either side of a daylight-saving change, say. Everything else
//! (deadlines, timers firing, stored timestamps) reads the system's clock.

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A source of the current time. Cheap to clone.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl WallClock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    /// A clock that reads `now` (a test's: a fixed instant, or one it moves).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WallClock")
    }
}
