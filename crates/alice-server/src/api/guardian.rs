//! `GET /api/guardian/status`: the Guardian's status JSON (state, readings, hysteresis,
//! cooldown, brownout), as the spec shapes it. Reading it has no side effects and never waits
//! for a sample.

use crate::runtime::guardian_link::GuardianLink;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn status(State(guardian): State<GuardianLink>) -> Json<Value> {
    if let Some(remote) = guardian.followed() {
        let view = remote.view();
        let mut status = view.status.unwrap_or_else(|| json!({}));
        status["enabled"] = json!(true);
        status["source"] = json!(remote.url);
        // The state requests are admitted on, which the 3-strike rule may have raised.
        status["status"] = json!(view.state);
        status["unknown_checks"] = json!(view.unknown_streak);
        status["remote_error"] = json!(view.last_error);
        return Json(status);
    }
    match guardian.in_process() {
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
