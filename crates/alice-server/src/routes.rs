//! The route table: every path Alice serves and the handler behind it, and nothing else.

use crate::{
    AppState, api_chat, api_openai, brain, cache_api, conversations, guardian_api, health, metrics,
};
use axum::Router;
use axum::routing::{any, get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/metrics/summary", get(metrics::summary))
        .route("/api/guardian/status", get(guardian_api::status))
        .nest(
            "/api/brain",
            Router::new()
                .route("/status", get(brain::status))
                .route("/context/set", post(brain::set_context))
                .route("/model/switch", post(brain::switch_model))
                .route("/brownout", post(brain::set_brownout))
                .route("/guardian/override", post(brain::override_lockdown))
                .route("/cache", get(cache_api::stats))
                .route("/cache/purge", post(cache_api::purge))
                .layer(axum::middleware::from_fn(brain::loopback_only)),
        )
        .route("/api/chat", post(api_chat::chat))
        .route(
            "/api/conversations/{id}",
            get(conversations::get_conversation),
        )
        .route(
            "/api/conversations/{id}/messages",
            get(conversations::get_messages),
        )
        // /v1 answers every error, also for wrong paths and methods, in OpenAI's shape.
        .route(
            "/v1/chat/completions",
            post(api_openai::chat_completions).fallback(api_openai::method_not_allowed),
        )
        .route(
            "/v1/models",
            get(api_openai::models).fallback(api_openai::method_not_allowed),
        )
        .route("/v1/{*rest}", any(api_openai::not_found))
}
