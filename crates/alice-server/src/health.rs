//! Liveness, readiness and the background probe of the LLM backend.
//!
//! `/health` answers as long as the process serves HTTP. `/ready` says whether Alice can do its
//! work: the database answers a query and a backend is configured. It also reports what the
//! latest background probe found out about the backend, with advice when it is unreachable; the
//! probe runs off the request path, so `/ready` never waits on the backend.

use crate::AppState;
use alice_llm::{BackendHealth, Provider};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The latest probe result of a backend.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProbeReport {
    /// None until the first probe has finished.
    pub health: Option<BackendHealth>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// Probes the backend now and then every `interval` until `stop` is cancelled, logging each
/// change of its state.
pub fn spawn_probe(
    backend: Arc<dyn Provider>,
    interval: Duration,
    stop: CancellationToken,
) -> (watch::Receiver<ProbeReport>, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(ProbeReport::default());
    let task = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let health = tokio::select! {
                () = stop.cancelled() => break,
                health = backend.probe() => health,
            };
            let changed = sender.borrow().health.as_ref() != Some(&health);
            if changed {
                log_change(backend.as_ref(), &health);
            }
            sender.send_replace(ProbeReport {
                health: Some(health),
                checked_at: Some(Utc::now()),
            });
        }
    });
    (receiver, task)
}

fn log_change(backend: &dyn Provider, health: &BackendHealth) {
    let (name, url, model) = (backend.name(), backend.url(), backend.model());
    match (&health.error, health.reachable && health.model_available) {
        (None, _) | (Some(_), true) => tracing::info!(
            evt = "backend_ready",
            backend = name,
            url,
            model,
            context_length = health.context_length,
            note = health.error.as_deref(),
        ),
        (Some(error), false) => tracing::warn!(
            evt = "backend_unavailable",
            backend = name,
            url,
            model,
            reachable = health.reachable,
            error = error.as_str(),
        ),
    }
}

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "uptime_s": state.started().elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = match state.store().ping().await {
        Ok(()) => json!({ "ok": true }),
        Err(error) => {
            tracing::warn!(evt = "database_unready", error = %error);
            json!({ "ok": false, "error": "the database does not answer; see the server log" })
        }
    };
    let backend = state.backend();
    let report = state.probe_report();
    let status_of_backend = match &report.health {
        None => "unknown",
        Some(h) if h.reachable && h.model_available => "ok",
        Some(_) => "unavailable",
    };
    let backends = json!([{
        "name": backend.name(),
        "url": backend.url(),
        "model": backend.model(),
        "status": status_of_backend,
        "probe": report,
    }]);
    let ready = database["ok"] == json!(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": database,
            "backends": backends,
        })),
    )
}
