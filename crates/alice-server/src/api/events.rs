//! `GET /api/events` (admins): the operator dashboard's one live feed, as Server-Sent Events.
//!
//! It exists so that a dashboard holds one authenticated connection instead of polling five
//! endpoints. Each event is named `snapshot` and its data is a
//! [`dashboard::Snapshot`](crate::service::dashboard::Snapshot) as JSON. The first is sent at
//! once, with `retry: 2000` so that a browser's `EventSource` reconnects on its own two
//! seconds after Alice restarts; then one every `?interval_s=` seconds (1 to 60, default 1),
//! never more than one a second: a slow reader delays the next snapshot rather than getting a
//! burst. Keep-alive comments (`:`) are sent when nothing else has been for 15 s.
//!
//! The stream ends when Alice begins to shut down ([`Stopping`]): a graceful shutdown waits
//! for every response in flight, and this one would otherwise never end. The admission gate
//! serves it in every Guardian state, like the control API, so the dashboard stays live
//! through an EMERGENCY or a LOCKDOWN.

use crate::error::ApiError;
use crate::service::ChatService;
use crate::service::dashboard;
use crate::state::{Instance, StartedAt, Stopping};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::ops::RangeInclusive;
use std::time::Duration;
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
    let snapshots = async_stream::stream! {
        // The first tick is at once: the dashboard has a picture as soon as it connects.
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                biased;
                () = stopping.cancelled() => break,
                _ = ticker.tick() => {}
            }
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
    };
    Ok(Sse::new(snapshots).keep_alive(KeepAlive::default()))
}
