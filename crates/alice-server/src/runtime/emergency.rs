//! The Guardian's emergency action: when it asks for one, the answers in flight are drained
//! or cut and the models unloaded. Intake is already stopped by the admission gate
//! (EMERGENCY refuses new requests), and the router starts no new generation (for requests
//! admitted before, still waiting for a slot) until the Guardian is below EMERGENCY again.

use crate::runtime::guardian_remote::RemoteGuardian;
use alice_guardian::{Guardian, GuardianEvent, GuardianState};
use alice_llm::LlmRouter;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Runs the emergency action each time the Guardian in this process asks for one.
pub fn respond_to_local(
    guardian: &Guardian,
    llm: Arc<LlmRouter>,
    drain: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut events = guardian.events();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                event = events.recv() => event,
            };
            match event {
                Ok(GuardianEvent::Kill { .. }) => {
                    llm.emergency_stop(drain).await;
                }
                Ok(GuardianEvent::Transition(t))
                    if t.from >= GuardianState::Emergency && t.to < GuardianState::Emergency =>
                {
                    llm.resume();
                }
                Ok(GuardianEvent::Transition(_)) => {}
                // Missed events: the next kill still arrives.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// The same for an Alice that follows a Guardian daemon: when the daemon's state rises into
/// EMERGENCY, the action runs here as a local Guardian's kill would run it.
pub fn respond_to_remote(
    remote: &RemoteGuardian,
    llm: Arc<LlmRouter>,
    drain: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut views = remote.subscribe();
    tokio::spawn(async move {
        let mut last = views.borrow().state;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                changed = views.changed() => if changed.is_err() { break },
            }
            let now = views.borrow().state;
            if now == GuardianState::Emergency && last < GuardianState::Emergency {
                llm.emergency_stop(drain).await;
            } else if now < GuardianState::Emergency && last >= GuardianState::Emergency {
                llm.resume();
            }
            last = now;
        }
    })
}
