//! The admission gate: what the Guardian's state lets through.
//!
//! | state | chat and LLM paths (`/api/chat`, `/v1/chat/completions`) | other paths | health, readiness, Guardian status, control (`/health`, `/ready`, `/metrics`, `/api/metrics/...`, `/api/guardian/...`, `/api/brain/...`) |
//! |---|---|---|---|
//! | NORMAL | pass | pass | pass |
//! | BROWNOUT | pass, served with the brownout preset (shorter, cheaper answers) | pass | pass |
//! | DEGRADED | 429, `Retry-After: guardian.shed_retry_after` (5 s) | pass | pass |
//! | EMERGENCY, LOCKDOWN | 503, `Retry-After: guardian.refuse_retry_after` (15 s) | 503 | pass |
//!
//! Control actions never pass through the gate they control, and an operator can always see
//! why Alice refuses. A blocked response carries `{error (Swedish), guardian_mode,
//! guardian_status, request_id, timestamp, retry_after}` and the headers `x-guardian-mode`,
//! `x-guardian-status`, `retry-after` (and `x-request-id`, from the request context).

use crate::AppState;
use crate::request_context::current_request_id;
use alice_guardian::GuardianState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// What the gate does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Pass,
    /// 429: chat is shed while the machine is degraded.
    Shed,
    /// 503: only health, status and control are served.
    Refuse,
}

/// The table above, as code.
pub fn admission(state: GuardianState, path: &str) -> Admission {
    match state {
        GuardianState::Normal | GuardianState::Brownout => Admission::Pass,
        GuardianState::Degraded if is_llm_path(path) => Admission::Shed,
        GuardianState::Degraded => Admission::Pass,
        GuardianState::Emergency | GuardianState::Lockdown if is_always_served(path) => {
            Admission::Pass
        }
        GuardianState::Emergency | GuardianState::Lockdown => Admission::Refuse,
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn is_llm_path(path: &str) -> bool {
    under(path, "/api/chat") || under(path, "/v1/chat/completions")
}

fn is_always_served(path: &str) -> bool {
    [
        "/health",
        "/ready",
        "/metrics",
        "/api/metrics",
        "/api/guardian",
        "/api/brain",
    ]
    .iter()
    .any(|prefix| under(path, prefix))
}

pub async fn admission_gate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let guardian_state = state.guardian_state();
    let config = &state.config().guardian;
    let (status, retry_after, guardian_status, message) = match admission(
        guardian_state,
        request.uri().path(),
    ) {
        Admission::Pass => return next.run(request).await,
        Admission::Shed => (
            StatusCode::TOO_MANY_REQUESTS,
            config.shed_retry_after,
            "shedding",
            "Alice är hårt belastad just nu och tar inte emot frågor. Försök igen om en liten stund.",
        ),
        Admission::Refuse => (
            StatusCode::SERVICE_UNAVAILABLE,
            config.refuse_retry_after,
            "unavailable",
            "Alice har pausat för att skydda datorn. Försök igen om en stund.",
        ),
    };
    tracing::warn!(
        evt = "request_blocked",
        status = status.as_u16(),
        guardian_mode = %guardian_state,
        path = request.uri().path(),
    );
    blocked(
        status,
        guardian_state,
        guardian_status,
        message,
        retry_after,
    )
}

fn blocked(
    status: StatusCode,
    mode: GuardianState,
    guardian_status: &'static str,
    message: &str,
    retry_after: Duration,
) -> Response {
    let seconds = retry_after.as_secs().max(1);
    let mut response = (
        status,
        axum::Json(json!({
            "error": message,
            "guardian_mode": mode,
            "guardian_status": guardian_status,
            "request_id": current_request_id(),
            "timestamp": chrono::Utc::now(),
            "retry_after": seconds,
        })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    if let Ok(value) = HeaderValue::from_str(&mode.to_string()) {
        headers.insert("x-guardian-mode", value);
    }
    headers.insert(
        "x-guardian-status",
        HeaderValue::from_static(guardian_status),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Admission::*;
        use GuardianState::*;
        let rows = [
            ("/api/chat", [Pass, Pass, Shed, Refuse, Refuse]),
            ("/v1/chat/completions", [Pass, Pass, Shed, Refuse, Refuse]),
            ("/api/conversations/x", [Pass, Pass, Pass, Refuse, Refuse]),
            ("/v1/models", [Pass, Pass, Pass, Refuse, Refuse]),
            ("/health", [Pass, Pass, Pass, Pass, Pass]),
            ("/ready", [Pass, Pass, Pass, Pass, Pass]),
            ("/api/guardian/status", [Pass, Pass, Pass, Pass, Pass]),
            ("/api/brain/brownout", [Pass, Pass, Pass, Pass, Pass]),
            ("/api/chatty", [Pass, Pass, Pass, Refuse, Refuse]),
        ];
        for (path, expected) in rows {
            let got: Vec<Admission> = [Normal, Brownout, Degraded, Emergency, Lockdown]
                .into_iter()
                .map(|state| admission(state, path))
                .collect();
            assert_eq!(got, expected, "{path}");
        }
    }
}
