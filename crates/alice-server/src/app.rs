//! The whole HTTP application: the route table (every path Alice serves and the handler behind
//! it) and the layers around it, outermost first: CORS (only for
//! `server.cors_allowed_origins`, so blocked and error responses carry it too) → request
//! context (id, span, deadline → 504) → admission gate (429 / 503 by the Guardian's state) →
//! panic catcher (→ 500 with the request id) → body limit → routes. The administrative paths
//! sit behind the loopback gate.

use crate::api::{
    brain, cache, chat, conversations, db, guardian, health, memories, metrics, openai, user_data,
};
use crate::error::ApiError;
use crate::http::json_body::BodyLimit;
use crate::http::loopback::loopback_only;
use crate::http::{admission, request_context, request_id};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};

/// The router with its layers, for a given state.
pub fn app(state: AppState) -> Router {
    let body_limit = state.chat.config.server.body_limit_bytes;
    let cors = cors(&state.chat.config.server.cors_allowed_origins);
    routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admission_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::request_context,
        ))
        .layer(cors)
        .with_state(state)
}

/// Every path and its handler, without the layers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/metrics/summary", get(metrics::summary))
        .route("/api/guardian/status", get(guardian::status))
        .nest(
            "/api/brain",
            Router::new()
                .route("/status", get(brain::status))
                .route("/context/set", post(brain::set_context))
                .route("/model/switch", post(brain::switch_model))
                .route("/brownout", post(brain::set_brownout))
                .route("/guardian/override", post(brain::override_lockdown))
                .route("/cache", get(cache::stats))
                .route("/cache/purge", post(cache::purge))
                .layer(axum::middleware::from_fn(loopback_only)),
        )
        // Reading the database, and a user's data (memories, export, erasure): for the operator
        // and the user's own tools on this machine, until Alice has authentication.
        .nest(
            "/api/db",
            Router::new()
                .route("/health", get(db::health))
                .route("/stats", get(db::stats))
                .route("/users/{user}", get(db::user))
                .route("/users/{user}/conversations", get(db::user_conversations))
                .route("/conversations/{id}", get(conversations::get_conversation))
                .route(
                    "/conversations/{id}/messages",
                    get(conversations::get_messages),
                )
                .route("/recent-activity", get(db::recent_activity))
                .layer(axum::middleware::from_fn(loopback_only)),
        )
        .nest(
            "/api/users/{user}",
            Router::new()
                .route("/", delete(user_data::erase))
                .route("/export", get(user_data::export))
                .route(
                    "/memories",
                    get(memories::list)
                        .post(memories::add)
                        .delete(memories::delete_many),
                )
                .route("/memories/{id}", delete(memories::delete_one))
                .layer(axum::middleware::from_fn(loopback_only)),
        )
        .route("/api/chat", post(chat::chat))
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
            post(openai::chat_completions).fallback(openai::method_not_allowed),
        )
        .route(
            "/v1/models",
            get(openai::models).fallback(openai::method_not_allowed),
        )
        .route("/v1/{*rest}", any(openai::not_found))
}

/// Browser access for the configured origins only; none by default.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            request_id::REQUEST_ID_HEADER,
        ])
        .expose_headers([
            request_id::REQUEST_ID_HEADER,
            header::RETRY_AFTER,
            HeaderName::from_static("x-guardian-mode"),
            HeaderName::from_static("x-guardian-status"),
        ])
}

async fn not_found(request: Request) -> ApiError {
    ApiError::RouteNotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(evt = "handler_panicked", panic = %text);
    ApiError::Internal.into_response()
}
