//! Per-request context: request id, log span, deadline.
//!
//! The middleware honours a client's `x-request-id` (when it is a sane token) or makes one,
//! returns it on every response, runs the request inside a `request` span carrying `req_id` (so
//! each log line the request causes names it), and answers 504 when the path's deadline passes.
//! The id is also kept in a task-local, so an error built anywhere in the request can name it.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-supplied request id that is honoured.
const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request the current task serves, if it serves one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// What handlers know about the request they serve.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    /// When Alice received the request; latencies are measured from here.
    pub received: Instant,
    /// When the request must be finished.
    pub deadline: Instant,
    pub timeout: Duration,
    pub path: String,
}

pub async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let received = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let timeout = state.config().deadlines.for_path(&path);
    let context = RequestContext {
        request_id: request_id.clone(),
        received,
        deadline: received + timeout,
        timeout,
        path: path.clone(),
    };
    request.extensions_mut().insert(context);

    let span = tracing::info_span!(
        "request",
        req_id = %request_id,
        conversation_id = tracing::field::Empty
    );
    let work = async move {
        let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::DeadlineExceeded {
                path: path.clone(),
                timeout,
            }
            .into_response(),
        };
        let status = response.status().as_u16();
        tracing::info!(
            evt = "request_done",
            method = %method,
            path = %path,
            status,
            duration_ms = received.elapsed().as_secs_f64() * 1000.0,
        );
        if let Ok(value) = HeaderValue::from_str(&current_request_id().unwrap_or_default()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    };
    REQUEST_ID.scope(request_id, work.instrument(span)).await
}

/// A client's id is used only if it is short, visible ASCII without spaces or quotes, so it is
/// safe in headers and logs.
fn is_acceptable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::is_acceptable_id;

    #[test]
    fn request_ids_from_clients_are_checked() {
        assert!(is_acceptable_id("abc-123_X.y"));
        assert!(!is_acceptable_id(""));
        assert!(!is_acceptable_id("has space"));
        assert!(!is_acceptable_id("quote\"inside"));
        assert!(!is_acceptable_id(&"x".repeat(129)));
    }
}
