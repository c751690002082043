//! Liveness and readiness.
//!
//! `/health` answers as long as the process serves HTTP. `/ready` says whether Alice can do its
//! work: the database answers a query and a backend is configured. To an admin it also reports
//! each backend's breaker, load and what its latest background probe found, with advice when
//! it is unreachable, and the embedded last resort (there, or why not); to anyone else only the status, since backend URLs, models and probe
//! errors tell an outsider what runs behind Alice. Probes run off the request path, so
//! `/ready` never waits on a backend.

use crate::state::StartedAt;
use alice_identity::Caller;
use alice_llm::{BreakerState, LlmRouter};
use alice_store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn health(State(started): State<StartedAt>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "uptime_s": started.0.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub async fn ready(
    State(store): State<Store>,
    State(llm): State<Arc<LlmRouter>>,
    caller: Option<Extension<Caller>>,
) -> (StatusCode, Json<Value>) {
    let database = match store.ping().await {
        Ok(()) => json!({ "ok": true }),
        Err(error) => {
            tracing::warn!(evt = "database_unready", error = %error);
            json!({ "ok": false, "error": "the database does not answer; see the server log" })
        }
    };
    let backends: Vec<Value> = llm
        .status()
        .into_iter()
        .map(|backend| {
            let status = match (&backend.probe.health, backend.breaker) {
                (_, BreakerState::Open | BreakerState::HalfOpen) => "unavailable",
                (None, _) => "unknown",
                (Some(h), _) if h.reachable && h.model_available && h.error.is_none() => "ok",
                // Answers, but slowly (or with a note): usable, watch it.
                (Some(h), _) if h.reachable && h.model_available => "degraded",
                (Some(_), _) => "unavailable",
            };
            let mut entry = json!(backend);
            entry["status"] = json!(status);
            entry
        })
        .collect();
    let ready = database["ok"] == json!(true) && !backends.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let summary = if ready { "ready" } else { "not_ready" };
    if !caller.is_some_and(|Extension(caller)| caller.is_admin()) {
        return (status, Json(json!({ "status": summary })));
    }
    (
        status,
        Json(json!({
            "status": summary,
            "database": database,
            "backends": backends,
            "last_resort": llm.last_resort_status(),
        })),
    )
}
