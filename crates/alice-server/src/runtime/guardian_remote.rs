//! Following a Guardian daemon (`alice guardian`) instead of running one in this process.
//!
//! A background task fetches the daemon's status every `guardian.remote_poll` (300 ms), each
//! fetch allowed `guardian.remote_timeout` (500 ms); the admission gate and the chat service
//! read the latest view and never wait on the daemon. A fetch that fails or times out is
//! "unknown": the spec's 3-strike rule (`guardian.unknown_strikes`, the same setting the local
//! state machine uses) lets the first two in a row keep the last known state, and from the
//! third treats the machine as DEGRADED (chat refused, everything else served) until the daemon
//! answers again.

use alice_core::BrownoutLevel;
use alice_guardian::GuardianState;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What Alice knows of the daemon's Guardian.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteView {
    /// The state requests are admitted on.
    pub state: GuardianState,
    pub level: BrownoutLevel,
    /// The daemon's last status JSON.
    pub status: Option<Value>,
    /// Failed checks in a row.
    pub unknown_streak: u32,
    pub last_error: Option<String>,
}

impl Default for RemoteView {
    fn default() -> Self {
        Self {
            state: GuardianState::Normal,
            level: BrownoutLevel::None,
            status: None,
            unknown_streak: 0,
            last_error: None,
        }
    }
}

/// The view after one check: the daemon's status, or why it could not be had. From the
/// `strikes`-th unknown check in a row on, chat is refused.
pub fn observe(view: &RemoteView, check: Result<Value, String>, strikes: u32) -> RemoteView {
    let parsed = check.and_then(|status| {
        let state = serde_json::from_value(status["status"].clone())
            .map_err(|e| format!("no state in the daemon's status: {e}"))?;
        let level = serde_json::from_value(status["brownout"]["level"].clone())
            .unwrap_or(BrownoutLevel::None);
        Ok((state, level, status))
    });
    match parsed {
        Ok((state, level, status)) => RemoteView {
            state,
            level,
            status: Some(status),
            unknown_streak: 0,
            last_error: None,
        },
        Err(error) => {
            let unknown_streak = view.unknown_streak + 1;
            let blind = unknown_streak >= strikes;
            RemoteView {
                state: if blind {
                    view.state.max(GuardianState::Degraded)
                } else {
                    view.state
                },
                level: if blind {
                    view.level.max(BrownoutLevel::Heavy)
                } else {
                    view.level
                },
                status: view.status.clone(),
                unknown_streak,
                last_error: Some(error),
            }
        }
    }
}

/// The daemon's Guardian, as last seen.
pub struct RemoteGuardian {
    pub url: String,
    view: watch::Receiver<RemoteView>,
}

impl RemoteGuardian {
    /// Starts polling `url` until `stop` is cancelled.
    pub fn start(
        url: &str,
        every: Duration,
        timeout: Duration,
        strikes: u32,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let url = url.trim_end_matches('/').to_owned();
        let (sender, view) = watch::channel(RemoteView::default());
        let status_url = format!("{url}/health");
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let check = fetch(&http, &status_url, timeout).await;
                let next = observe(&sender.borrow(), check, strikes);
                if next.unknown_streak == strikes {
                    tracing::warn!(evt = "guardian_remote_unknown", url = %status_url, error = next.last_error.as_deref().unwrap_or(""), "chat refused until the Guardian daemon answers");
                }
                if next.state != sender.borrow().state {
                    tracing::info!(evt = "guardian_remote_state", from = %sender.borrow().state, to = %next.state);
                }
                sender.send_replace(next);
            }
        });
        (Self { url, view }, task)
    }

    pub fn view(&self) -> RemoteView {
        self.view.borrow().clone()
    }

    /// Every change of the view, for those who act on the daemon's state.
    pub fn subscribe(&self) -> watch::Receiver<RemoteView> {
        self.view.clone()
    }
}

async fn fetch(http: &reqwest::Client, url: &str, timeout: Duration) -> Result<Value, String> {
    let response = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("the Guardian daemon at {url} did not answer: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "the Guardian daemon at {url} answered {}",
            response.status()
        ));
    }
    response
        .json()
        .await
        .map_err(|e| format!("the Guardian daemon at {url} sent no status: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn status(state: &str, level: &str) -> Value {
        json!({ "status": state, "brownout": { "level": level } })
    }

    #[test]
    fn the_third_unknown_check_in_a_row_refuses_chat() {
        let mut view = observe(
            &RemoteView::default(),
            Ok(status("BROWNOUT", "MODERATE")),
            3,
        );
        assert_eq!(
            (view.state, view.level),
            (GuardianState::Brownout, BrownoutLevel::Moderate)
        );
        for strike in 1..=2 {
            view = observe(&view, Err("timeout".into()), 3);
            assert_eq!(
                view.state,
                GuardianState::Brownout,
                "strike {strike} keeps the last state"
            );
        }
        view = observe(&view, Err("timeout".into()), 3);
        assert_eq!(view.state, GuardianState::Degraded, "the third blocks chat");
        assert_eq!(view.level, BrownoutLevel::Heavy);
        view = observe(&view, Ok(status("NORMAL", "NONE")), 3);
        assert_eq!(
            (view.state, view.unknown_streak),
            (GuardianState::Normal, 0)
        );
    }

    #[test]
    fn unknown_never_lowers_a_worse_known_state() {
        let mut view = observe(
            &RemoteView::default(),
            Ok(status("EMERGENCY", "EMERGENCY")),
            3,
        );
        for _ in 0..5 {
            view = observe(&view, Err("down".into()), 3);
        }
        assert_eq!(view.state, GuardianState::Emergency);
    }

    #[test]
    fn a_status_without_a_state_is_unknown() {
        let view = observe(&RemoteView::default(), Ok(json!({ "hello": 1 })), 3);
        assert_eq!(view.unknown_streak, 1);
        assert!(view.last_error.unwrap().contains("no state"));
    }
}
