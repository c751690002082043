//! The route table: every path Alice serves and the handler behind it, and nothing else.

use crate::{AppState, api_chat, conversations, health};
use axum::Router;
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/api/chat", post(api_chat::chat))
        .route(
            "/api/conversations/{id}",
            get(conversations::get_conversation),
        )
        .route(
            "/api/conversations/{id}/messages",
            get(conversations::get_messages),
        )
}
