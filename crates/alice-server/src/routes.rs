//! The route table: every path Alice serves and the handler behind it, and nothing else.

use crate::{
    AppState, api_chat, api_openai, brain, cache_api, conversations, db_api, guardian_api, health,
    memories_api, metrics, user_data_api,
};
use axum::Router;
use axum::routing::{any, delete, get, post};

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
        // Reading the database, and a user's data (memories, export, erasure): for the operator
        // and the user's own tools on this machine, until Alice has authentication.
        .nest(
            "/api/db",
            Router::new()
                .route("/health", get(db_api::health))
                .route("/stats", get(db_api::stats))
                .route("/users/{user}", get(db_api::user))
                .route(
                    "/users/{user}/conversations",
                    get(db_api::user_conversations),
                )
                .route("/conversations/{id}", get(conversations::get_conversation))
                .route(
                    "/conversations/{id}/messages",
                    get(conversations::get_messages),
                )
                .route("/recent-activity", get(db_api::recent_activity))
                .layer(axum::middleware::from_fn(brain::loopback_only)),
        )
        .nest(
            "/api/users/{user}",
            Router::new()
                .route("/", delete(user_data_api::erase))
                .route("/export", get(user_data_api::export))
                .route(
                    "/memories",
                    get(memories_api::list)
                        .post(memories_api::add)
                        .delete(memories_api::delete_many),
                )
                .route("/memories/{id}", delete(memories_api::delete_one))
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
