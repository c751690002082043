//! `GET /api/events`: one live feed per caller, as Server-Sent Events.
//!
//! Every caller gets their own fired timers and reminders, each as a `timer` event (`id:` the
//! timer's id; data: the timer as `GET /api/users/{user}/timers` shows it, with `fired_at` and
//! the `message_id` of Alice's message in its conversation). An admin's feed also carries the
//! operator dashboard's `snapshot` events, so that a dashboard holds one authenticated
//! connection instead of polling five endpoints: each is a
//! [`dashboard::Snapshot`](crate::service::dashboard::Snapshot) as JSON, the first sent at
//! once, then one every `?interval_s=` seconds (1 to 60, default 1), never more than one a
//! second: a slow reader delays the next snapshot rather than getting a burst. A feed that fell
//! so far behind that fired timers were dropped for it gets a `missed` event with their number
//! (the messages are in the conversations still). The first event (a `connected` comment for
//! users) carries `retry: 2000`, so that a browser's `EventSource` reconnects on its own two
//! seconds after Alice restarts. Keep-alive comments (`:`) are sent when nothing else has been
//! for 15 s.
//!
//! The stream ends when Alice begins to shut down ([`Stopping`]): a graceful shutdown waits
//! for every response in flight, and this one would otherwise never end. The admission gate
//! serves it in every Guardian state, like the control API, so the dashboard stays live
//! through an EMERGENCY or a LOCKDOWN, and timers still ring.

use crate::error::ApiError;
use crate::service::ChatService;
use crate::service::dashboard;
use crate::state::{Instance, StartedAt, Stopping};
use alice_identity::Caller;
use alice_store::FiredTimer;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::ops::RangeInclusive;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

/// What a browser waits before reconnecting a dropped stream (the SSE `retry` field).
pub const RECONNECT_AFTER: Duration = Duration::from_millis(2000);
/// Seconds between snapshots a client may ask for.
const INTERVALS_S: RangeInclusive<u64> = 1..=60;
const DEFAULT_INTERVAL_S: u64 = 1;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    interval_s: Option<u64>,
}

pub async fn events(
    State(service): State<ChatService>,
    State(Instance(instance)): State<Instance>,
    State(StartedAt(started)): State<StartedAt>,
    State(Stopping(stopping)): State<Stopping>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let interval_s = query.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
    if !INTERVALS_S.contains(&interval_s) {
        return Err(ApiError::invalid(
            "interval_s",
            format!(
                "seconds between snapshots, {} to {}",
                INTERVALS_S.start(),
                INTERVALS_S.end()
            ),
        ));
    }
    let period = Duration::from_secs(interval_s);
    let admin = caller.is_admin();
    // Subscribed before the response goes out: a timer fired once the client has the headers
    // is in the feed.
    let mut bell = service.timers.subscribe();
    let events = async_stream::stream! {
        // The first tick is at once: the dashboard has a picture as soon as it connects.
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if !admin {
            yield Ok(Event::default().comment("connected").retry(RECONNECT_AFTER));
        }
        let mut first = true;
        loop {
            tokio::select! {
                biased;
                () = stopping.cancelled() => break,
                rung = bell.recv() => match rung {
                    Ok(fired) if fired.timer.username == caller.username => {
                        match timer_event(&fired) {
                            Ok(event) => yield Ok(event),
                            Err(error) => {
                                tracing::error!(evt = "timer_event_failed", %error);
                                break;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        yield Ok(Event::default().event("missed").data(missed.to_string()));
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = ticker.tick(), if admin => {
                    let snapshot = dashboard::snapshot(&service, &instance, started);
                    let mut event = Event::default().event("snapshot");
                    if first {
                        event = event.retry(RECONNECT_AFTER);
                        first = false;
                    }
                    match event.json_data(&snapshot) {
                        Ok(event) => yield Ok(event),
                        Err(error) => {
                            // A serde_json failure on plain data: a bug, and the stream cannot go on.
                            tracing::error!(evt = "dashboard_snapshot_failed", %error);
                            break;
                        }
                    }
                }
            }
        }
    };
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// A fired timer as its `timer` event.
fn timer_event(fired: &FiredTimer) -> Result<Event, axum::Error> {
    let mut data = serde_json::json!(fired.timer);
    data["message_id"] = serde_json::json!(fired.message_id);
    Event::default()
        .event("timer")
        .id(fired.timer.id.to_string())
        .json_data(data)
}
