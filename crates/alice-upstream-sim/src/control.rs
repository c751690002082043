//! The `/sim/*` control API, for when the simulator runs as its own process
//! (e.g. under the load tool): read the request log, change faults, read counters.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::Faults;
use crate::record::RecordedRequest;
use crate::state::{SimState, SimStats};

/// `GET /sim/requests`
pub(crate) async fn requests(State(state): State<Arc<SimState>>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests())
}

/// `DELETE /sim/requests`: clears the log and counters.
pub(crate) async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

/// `GET /sim/faults`
pub(crate) async fn faults(State(state): State<Arc<SimState>>) -> Json<Faults> {
    Json(state.faults())
}

/// `PUT /sim/faults`: replaces the faults (fields left out take their defaults), among them
/// how offered tools are called (`tool_calls`, see [`crate::ToolCalling`]).
pub(crate) async fn set_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": format!("invalid faults: {e}") })),
            )
                .into_response();
        }
    };
    if let Err(problem) = faults.validate() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": format!("invalid faults: {problem}") })),
        )
            .into_response();
    }
    tracing::debug!(?faults, "faults replaced");
    state.set_faults(faults.clone());
    Json(faults).into_response()
}

/// `GET /sim/stats`
pub(crate) async fn stats(State(state): State<Arc<SimState>>) -> Json<SimStats> {
    Json(state.stats())
}
