//! The whole HTTP application: the route table (every path Alice serves, who may call it and
//! the handler behind it) and the layers around it, outermost first: CORS (only for
//! `server.cors_allowed_origins`, so blocked and error responses carry it too) → request
//! context (id, span, deadline → 504, the client's address) → browser defences (421 for a
//! foreign Host, 415 for a body that is not JSON) → authentication (401 / 403 by the route's
//! [`Access`]) → rate limit (429 per key) → admission gate (429 / 503 by the Guardian's state) → panic catcher (→ 500
//! with the request id) → body limit → routes; on the two chat routes, idempotent retries
//! ([`idempotency`]: replay, 409, 422 for a request with an `Idempotency-Key`) run last, with
//! the caller known.

use crate::api::{
    brain, cache, chat, conversations, db, guardian, health, memories, metrics, openai, session,
    timers, user_data, web_page,
};
use crate::api::{events, experiments, feedback, render};
use crate::error::ApiError;
use crate::http::authentication::{self, Access, RouteAccess};
use crate::http::idempotency::{self, Idempotency};
use crate::http::json_body::BodyLimit;
use crate::http::{admission, browser_defences, rate_limit, request_context, request_id};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, post};

/// The router with its layers, for a given state.
pub fn app(state: AppState) -> Router {
    let body_limit = state.chat.config.server.body_limit_bytes;
    let cors = cors(&state.chat.config.server.cors_allowed_origins);
    let idempotency = Idempotency::new(
        state.chat.store.idempotency(),
        state.chat.metrics.clone(),
        &state.chat.config,
    );
    // One layer of layers: axum boxes each `.layer()` around every route and clones the whole
    // stack below a middleware for every request, so ten separate layers cost ten boxed clones
    // per request where this costs one. Outermost first.
    let layers = tower::ServiceBuilder::new()
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::request_context,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            browser_defences::browser_defences,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authentication::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admission_gate,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::Extension(idempotency));
    routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(layers)
        .with_state(state)
}

/// One route of the table: its method (None: any), its path pattern and who may call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub method: Option<Method>,
    pub path: &'static str,
    pub access: Access,
}

/// Every route Alice serves, who may call it and its handler. Nothing is served that is not
/// here, and nothing is here without its [`Access`]: the authentication layer reads it, and
/// the tests request every route in it without a key and with a wrong user's key.
fn table() -> Vec<(Route, MethodRouter<AppState>)> {
    use Access::{Admin, Caller, Metrics, Public};
    let route = |method: Method, path, access, handler: MethodRouter<AppState>| {
        (
            Route {
                method: Some(method),
                path,
                access,
            },
            handler,
        )
    };
    vec![
        // The web page; what it shows needs a login.
        route(Method::GET, "/", Public, get(web_page::index)),
        route(Method::GET, "/assets/{file}", Public, get(web_page::asset)),
        route(Method::GET, "/health", Public, get(health::health)),
        // Minimal for everyone; backends and probe errors for admins.
        route(Method::GET, "/ready", Public, get(health::ready)),
        route(Method::GET, "/metrics", Metrics, get(metrics::metrics)),
        route(
            Method::GET,
            "/api/metrics/summary",
            Admin,
            get(metrics::summary),
        ),
        route(
            Method::GET,
            "/api/guardian/status",
            Caller,
            get(guardian::status),
        ),
        // The page's login, with a password or an API key; API clients send the key instead.
        route(
            Method::POST,
            "/api/auth/login",
            Public,
            post(session::log_in),
        ),
        route(
            Method::POST,
            "/api/auth/logout",
            Caller,
            post(session::log_out),
        ),
        route(Method::GET, "/api/auth/me", Caller, get(session::me)),
        // The control API.
        route(Method::GET, "/api/brain/status", Admin, get(brain::status)),
        route(
            Method::POST,
            "/api/brain/context/set",
            Admin,
            post(brain::set_context),
        ),
        route(
            Method::POST,
            "/api/brain/model/switch",
            Admin,
            post(brain::switch_model),
        ),
        route(
            Method::POST,
            "/api/brain/brownout",
            Admin,
            post(brain::set_brownout),
        ),
        route(
            Method::POST,
            "/api/brain/guardian/override",
            Admin,
            post(brain::override_lockdown),
        ),
        route(Method::GET, "/api/brain/cache", Admin, get(cache::stats)),
        route(
            Method::POST,
            "/api/brain/cache/purge",
            Admin,
            post(cache::purge),
        ),
        // Each caller's live feed (SSE; the dashboard's too) and the page's Markdown renderer.
        route(Method::GET, "/api/events", Caller, get(events::events)),
        route(Method::POST, "/api/render", Caller, post(render::render)),
        // The database across users.
        route(Method::GET, "/api/db/health", Admin, get(db::health)),
        route(Method::GET, "/api/db/stats", Admin, get(db::stats)),
        route(Method::GET, "/api/db/users/{user}", Admin, get(db::user)),
        route(
            Method::GET,
            "/api/db/users/{user}/conversations",
            Admin,
            get(db::user_conversations),
        ),
        route(
            Method::GET,
            "/api/db/conversations/{id}",
            Admin,
            get(conversations::get_conversation),
        ),
        route(
            Method::GET,
            "/api/db/conversations/{id}/messages",
            Admin,
            get(conversations::get_messages),
        ),
        route(
            Method::GET,
            "/api/db/recent-activity",
            Admin,
            get(db::recent_activity),
        ),
        // A user's own data (or, for an admin, anyone's): the {user} extractor checks whose.
        route(
            Method::DELETE,
            "/api/users/{user}",
            Caller,
            delete(user_data::erase),
        ),
        route(
            Method::GET,
            "/api/users/{user}/export",
            Caller,
            get(user_data::export),
        ),
        route(
            Method::GET,
            "/api/users/{user}/memories",
            Caller,
            get(memories::list),
        ),
        route(
            Method::POST,
            "/api/users/{user}/memories",
            Caller,
            post(memories::add),
        ),
        route(
            Method::DELETE,
            "/api/users/{user}/memories",
            Caller,
            delete(memories::delete_many),
        ),
        route(
            Method::GET,
            "/api/users/{user}/timers",
            Caller,
            get(timers::list),
        ),
        route(
            Method::POST,
            "/api/users/{user}/timers",
            Caller,
            post(timers::add),
        ),
        route(
            Method::DELETE,
            "/api/users/{user}/timers/{id}",
            Caller,
            delete(timers::cancel),
        ),
        route(
            Method::DELETE,
            "/api/users/{user}/memories/{id}",
            Caller,
            delete(memories::delete_one),
        ),
        // Chat, and the caller's own conversations.
        route(
            Method::POST,
            "/api/chat",
            Caller,
            post(chat::chat).route_layer(from_fn(idempotency::idempotent)),
        ),
        route(
            Method::GET,
            "/api/conversations/{id}",
            Caller,
            get(conversations::get_conversation),
        ),
        route(
            Method::GET,
            "/api/conversations/{id}/messages",
            Caller,
            get(conversations::get_messages),
        ),
        // The page: the caller's own conversations (searched with ?q=), thumbs on answers.
        route(
            Method::GET,
            "/api/conversations",
            Caller,
            get(conversations::list),
        ),
        route(
            Method::PUT,
            "/api/messages/{id}/feedback",
            Caller,
            axum::routing::put(feedback::put),
        ),
        route(
            Method::DELETE,
            "/api/messages/{id}/feedback",
            Caller,
            delete(feedback::delete),
        ),
        // A/B experiments: feedback naming the answer in the body, and the report.
        route(Method::POST, "/api/feedback", Caller, post(feedback::post)),
        route(
            Method::GET,
            "/api/experiments/{name}",
            Admin,
            get(experiments::report),
        ),
        // /v1 answers every error, also for wrong paths and methods, in OpenAI's shape.
        route(
            Method::POST,
            "/v1/chat/completions",
            Caller,
            post(openai::chat_completions)
                .route_layer(from_fn(idempotency::idempotent))
                .fallback(openai::method_not_allowed),
        ),
        route(
            Method::GET,
            "/v1/models",
            Caller,
            get(openai::models).fallback(openai::method_not_allowed),
        ),
        (
            Route {
                method: None,
                path: "/v1/{*rest}",
                access: Caller,
            },
            any(openai::not_found),
        ),
    ]
}

/// Every route, without its handler: what the authentication layer and the tests read.
pub fn route_table() -> Vec<Route> {
    table().into_iter().map(|(route, _)| route).collect()
}

/// The access of every route, for the authentication layer.
pub fn route_access() -> RouteAccess {
    RouteAccess::new(
        route_table()
            .into_iter()
            .map(|route| (route.method, route.path, route.access)),
    )
}

/// Every path and its handler, without the layers.
pub fn routes() -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (route, handler)| {
            router.route(route.path, handler)
        })
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
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            request_id::REQUEST_ID_HEADER,
            idempotency::IDEMPOTENCY_KEY,
        ])
        .expose_headers([
            request_id::REQUEST_ID_HEADER,
            header::RETRY_AFTER,
            idempotency::IDEMPOTENT_REPLAYED,
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
