//! `GET /api/guardian/status`: the Guardian's status JSON (state, readings, hysteresis,
//! cooldown, brownout), as the spec shapes it. Reading it has no side effects and never waits
//! for a sample.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    match state.guardian() {
        Some(guardian) => {
            let mut status = json!(guardian.status());
            status["enabled"] = json!(true);
            Json(status)
        }
        None => Json(json!({
            "enabled": false,
            "status": "NORMAL",
            "detail": "the Guardian is off (guardian.enabled = false); every request is served at NORMAL",
        })),
    }
}
