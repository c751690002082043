//! `GET /api/guardian/status`: the Guardian's status JSON (state, readings, hysteresis,
//! cooldown, brownout), as the spec shapes it, with the latency brownout beside it
//! (`latency_brownout`: its level, the reason, the p95s it judged and their targets). Reading
//! it has no side effects and never waits for a sample.

use crate::runtime::guardian_link::GuardianLink;
use alice_core::BrownoutLevel;
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
        with_latency(&mut status, &guardian);
        return Json(status);
    }
    match guardian.in_process() {
        Some(local) => {
            let mut status = json!(local.status());
            status["enabled"] = json!(true);
            with_latency(&mut status, &guardian);
            Json(status)
        }
        None => Json(json!({
            "enabled": false,
            "status": "NORMAL",
            "detail": "the Guardian is off (guardian.enabled = false); every request is served at NORMAL",
        })),
    }
}

/// Adds the latency brownout to `status`; when its level is the heavier, `brownout` shows the
/// level served (with its preset) and says it comes from latency.
fn with_latency(status: &mut Value, guardian: &GuardianLink) {
    let Some(latency) = guardian.latency() else {
        status["latency_brownout"] = json!({ "enabled": false });
        return;
    };
    let view = latency.view();
    let mut shown = json!(view);
    shown["enabled"] = json!(true);
    status["latency_brownout"] = shown;
    let guardian_level: BrownoutLevel =
        serde_json::from_value(status["brownout"]["level"].clone()).unwrap_or(BrownoutLevel::None);
    if view.level > guardian_level {
        let brownout = &mut status["brownout"];
        brownout["active"] = json!(true);
        brownout["level"] = json!(view.level);
        brownout["source"] = json!("latency");
        brownout["reason"] = json!(view.reason);
        brownout["config"] = json!(alice_guardian::brownout::preset(view.level));
    }
}
