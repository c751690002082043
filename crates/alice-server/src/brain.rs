//! The control ("Brain") API under `/api/brain/`: what an operator can change while Alice
//! runs. Until Alice has authentication it answers only clients on this machine (loopback);
//! the admission gate never blocks it, so control works in EMERGENCY and LOCKDOWN too.
//!
//! - `GET  /api/brain/status`: Guardian state and level, and the chat settings in force;
//! - `POST /api/brain/context/set` `{messages: 1-32}`: earlier messages sent with each question
//!   (the brownout preset still caps it);
//! - `POST /api/brain/model/switch` `{model?, reason?}`: ask the backends for another model
//!   (it must be pulled), or back to the configured one without `model`;
//! - `POST /api/brain/brownout` `{activate, level?, reason?}`: a manual brownout at a level
//!   (a floor under the Guardian's own), or off;
//! - `POST /api/brain/guardian/override` `{confirm_override: true}`: leave LOCKDOWN.

use crate::AppState;
use crate::error::ApiError;
use crate::json_body::JsonBody;
use alice_core::BrownoutLevel;
use axum::Json;
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bounds of `context/set`, from the spec.
const CONTEXT_MESSAGES: std::ops::RangeInclusive<usize> = 1..=32;

/// Settings an operator changed while Alice runs; each falls back to the configuration.
#[derive(Debug, Default)]
pub struct BrainSettings {
    /// Earlier messages sent with a question; 0 means "as configured".
    history_messages: AtomicUsize,
    /// The model switched to, if any.
    model: std::sync::Mutex<Option<String>>,
}

impl BrainSettings {
    /// The model an operator switched to.
    pub fn model(&self) -> Option<String> {
        self.model.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `chat.history_messages`, or what the operator set.
    pub fn history_messages(&self, configured: usize) -> usize {
        match self.history_messages.load(Ordering::Relaxed) {
            0 => configured,
            set => set,
        }
    }
}

/// Lets only clients on this machine through. A request without a known peer (never the case
/// behind `axum::serve` with connect info) is refused too.
pub async fn loopback_only(
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    request: Request,
    next: Next,
) -> Response {
    match peer {
        Ok(ConnectInfo(addr)) if addr.ip().is_loopback() => next.run(request).await,
        _ => ApiError::Forbidden(
            "the control API answers only clients on this machine (loopback) until Alice \
             has authentication"
                .into(),
        )
        .into_response(),
    }
}

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let preset = state.preset();
    let chat = &state.config().chat;
    Json(json!({
        "guardian": {
            "enabled": state.guardian().is_some(),
            "state": state.guardian_state(),
            "brownout_level": preset.level,
            "manual_brownout": state.guardian().and_then(|g| g.snapshot().manual.clone()),
        },
        "chat": {
            "model": state.model_label(),
            "model_requested": state.model_for(&preset),
            "history_messages": state.brain().history_messages(chat.history_messages).min(preset.history_messages),
            "max_tokens": chat.max_tokens.min(preset.max_tokens),
            "num_ctx": chat.num_ctx,
        },
        "backends": state.router().status(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSet {
    messages: usize,
}

pub async fn set_context(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ContextSet>,
) -> Result<Json<Value>, ApiError> {
    if !CONTEXT_MESSAGES.contains(&body.messages) {
        return Err(ApiError::invalid(
            "messages",
            format!(
                "must be between {} and {}",
                CONTEXT_MESSAGES.start(),
                CONTEXT_MESSAGES.end()
            ),
        ));
    }
    state
        .brain()
        .history_messages
        .store(body.messages, Ordering::Relaxed);
    tracing::info!(evt = "brain_context_set", messages = body.messages);
    Ok(Json(json!({ "history_messages": body.messages })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSwitch {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn switch_model(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ModelSwitch>,
) -> Result<Json<Value>, ApiError> {
    let model = body.model.map(|m| m.trim().to_owned());
    if model.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::invalid(
            "model",
            "name a model (e.g. \"llama3.2:3b\"), or leave model out to go back to the configured one",
        ));
    }
    tracing::info!(
        evt = "brain_model_switch",
        model = model.as_deref().unwrap_or("(configured)"),
        reason = body.reason.as_deref().unwrap_or(""),
    );
    *state
        .brain()
        .model
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = model.clone();
    Ok(Json(json!({ "model": model })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrownoutSwitch {
    activate: bool,
    #[serde(default)]
    level: Option<BrownoutLevel>,
    #[serde(default)]
    reason: Option<String>,
}

pub async fn set_brownout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BrownoutSwitch>,
) -> Result<Json<Value>, ApiError> {
    let guardian = state.guardian().ok_or_else(guardian_off)?;
    if body.activate {
        let level = body.level.unwrap_or(BrownoutLevel::Moderate);
        let reason = body.reason.unwrap_or_else(|| "manual".to_owned());
        guardian.set_manual_brownout(Some((level, reason)));
    } else {
        guardian.set_manual_brownout(None);
    }
    Ok(Json(json!({
        "state": guardian.state(),
        "brownout_level": guardian.preset().level,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    confirm_override: bool,
}

pub async fn override_lockdown(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Override>,
) -> Result<Json<Value>, ApiError> {
    let guardian = state.guardian().ok_or_else(guardian_off)?;
    let transition = guardian
        .override_lockdown(body.confirm_override)
        .map_err(|error| ApiError::Conflict(error.to_string()))?;
    Ok(Json(
        json!({ "from": transition.from, "to": transition.to }),
    ))
}

fn guardian_off() -> ApiError {
    ApiError::Conflict(
        "no Guardian runs in this process: it is off (guardian.enabled = false) or a daemon \
         is followed (guardian.remote_url; control it there)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn status_from(peer: [u8; 4]) -> u16 {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(loopback_only))
            .layer(MockConnectInfo(SocketAddr::from((peer, 40000))));
        let response = app
            .oneshot(Request::builder().uri("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn only_loopback_clients_reach_the_control_api() {
        assert_eq!(status_from([127, 0, 0, 1]).await, 200);
        assert_eq!(status_from([192, 168, 1, 20]).await, 403);
        assert_eq!(status_from([10, 0, 0, 7]).await, 403);
    }
}
