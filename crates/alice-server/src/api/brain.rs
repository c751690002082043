//! The control ("Brain") API under `/api/brain/`: what an operator can change while Alice
//! runs. Admins only (the route table says so); the admission gate never blocks it, so
//! control works in EMERGENCY and LOCKDOWN too.
//!
//! - `GET  /api/brain/status`: Guardian state and level, and the chat settings in force;
//! - `POST /api/brain/context/set` `{messages: 1-32}`: earlier messages sent with each question
//!   (the brownout preset still caps it);
//! - `POST /api/brain/model/switch` `{model?, reason?}`: ask the backends for another model
//!   (it must be pulled), or back to the configured one without `model`;
//! - `POST /api/brain/brownout` `{activate, level?, reason?}`: a manual brownout at a level
//!   (a floor under the Guardian's own), or off;
//! - `POST /api/brain/guardian/override` `{confirm_override: true}`: leave LOCKDOWN.

use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::runtime::guardian_link::GuardianLink;
use crate::service::ChatService;
use crate::service::brain_settings::BrainSettings;
use alice_core::BrownoutLevel;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Bounds of `context/set`, from the spec.
const CONTEXT_MESSAGES: std::ops::RangeInclusive<usize> = 1..=32;

pub async fn status(State(service): State<ChatService>) -> Json<Value> {
    let preset = service.preset();
    let chat = &service.config.chat;
    let guardian = service.guardian.in_process();
    Json(json!({
        "guardian": {
            "enabled": guardian.is_some(),
            "state": service.guardian.state(),
            "brownout_level": preset.level,
            "manual_brownout": guardian.and_then(|g| g.snapshot().manual.clone()),
        },
        "chat": {
            "model": service.model_label(),
            "model_requested": service.model_for(&preset),
            "history_messages": service.brain.history_messages(chat.history_messages).min(preset.history_messages),
            "max_tokens": chat.max_tokens.min(preset.max_tokens),
            "num_ctx": chat.num_ctx,
        },
        "backends": service.llm.status(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSet {
    messages: usize,
}

pub async fn set_context(
    State(brain): State<Arc<BrainSettings>>,
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
    brain.set_history_messages(body.messages);
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
    State(brain): State<Arc<BrainSettings>>,
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
    brain.switch_model(model.clone());
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
    State(link): State<GuardianLink>,
    JsonBody(body): JsonBody<BrownoutSwitch>,
) -> Result<Json<Value>, ApiError> {
    let guardian = link.in_process().ok_or_else(guardian_off)?;
    if body.activate {
        let level = body.level.unwrap_or(BrownoutLevel::Moderate);
        let reason = body.reason.unwrap_or_else(|| "manual".to_owned());
        guardian.set_manual_brownout(Some((level, reason)));
    } else {
        guardian.set_manual_brownout(None);
    }
    Ok(Json(json!({
        "state": guardian.state(),
        // The level served: the latency brownout may hold it above the manual one.
        "brownout_level": link.level(),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    confirm_override: bool,
}

pub async fn override_lockdown(
    State(guardian): State<GuardianLink>,
    JsonBody(body): JsonBody<Override>,
) -> Result<Json<Value>, ApiError> {
    let guardian = guardian.in_process().ok_or_else(guardian_off)?;
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
