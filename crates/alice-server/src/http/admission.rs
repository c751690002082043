//! The admission gate: what the Guardian's state lets through.
//!
//! | state | chat and LLM paths (`/api/chat`, `/v1/chat/completions`) | other paths | health, readiness, Guardian status, control, the dashboard's feed, the page and its login (`/health`, `/ready`, `/metrics`, `/api/metrics/...`, `/api/guardian/...`, `/api/brain/...`, `/api/events`, `/`, `/assets/...`, `/api/auth/...`) |
//! |---|---|---|---|
//! | NORMAL | pass | pass | pass |
//! | BROWNOUT | pass, served with the brownout preset (shorter, cheaper answers) | pass | pass |
//! | DEGRADED | 429, `Retry-After: guardian.shed_retry_after` (5 s) | pass | pass |
//! | EMERGENCY, LOCKDOWN | 503, `Retry-After: guardian.refuse_retry_after` (15 s) | 503 | pass |
//!
//! Control actions never pass through the gate they control, and an operator can always see
//! why Alice refuses (the dashboard's `/api/events` included: it reads state and costs no
//! backend). A refusal is an [`ApiError`] (`Shed` or `Refused`): its body carries
//! `{error (Swedish), code, detail, guardian_mode, guardian_status, request_id, timestamp,
//! retry_after}` and the headers `x-guardian-mode`, `x-guardian-status`, `retry-after` (and
//! `x-request-id`, from the request context); under `/v1` the body is OpenAI's error object.

use crate::error::ApiError;
use crate::error::openai::response_for;
use crate::runtime::guardian_link::GuardianLink;
use alice_core::Config;
use alice_guardian::GuardianState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

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
    // The page, so that an operator can log in and watch in any state.
    if path == "/" {
        return true;
    }
    [
        "/assets",
        "/api/auth",
        "/health",
        "/ready",
        "/metrics",
        "/api/metrics",
        "/api/guardian",
        "/api/brain",
        "/api/events",
    ]
    .iter()
    .any(|prefix| under(path, prefix))
}

pub async fn admission_gate(
    State(guardian): State<GuardianLink>,
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let mode = guardian.state();
    let path = request.uri().path();
    let refusal = match admission(mode, path) {
        Admission::Pass => return next.run(request).await,
        Admission::Shed => ApiError::Shed {
            mode,
            retry_after: config.guardian.shed_retry_after,
        },
        Admission::Refuse => ApiError::Refused {
            mode,
            retry_after: config.guardian.refuse_retry_after,
        },
    };
    tracing::warn!(
        evt = "request_blocked",
        status = refusal.status().as_u16(),
        guardian_mode = %mode,
        path,
    );
    response_for(path, refusal)
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
            ("/api/events", [Pass, Pass, Pass, Pass, Pass]),
            ("/api/eventsx", [Pass, Pass, Pass, Refuse, Refuse]),
            ("/api/render", [Pass, Pass, Pass, Refuse, Refuse]),
            ("/api/chatty", [Pass, Pass, Pass, Refuse, Refuse]),
            ("/", [Pass, Pass, Pass, Pass, Pass]),
            ("/assets/app.js", [Pass, Pass, Pass, Pass, Pass]),
            ("/api/auth/login", [Pass, Pass, Pass, Pass, Pass]),
            ("/assetsx", [Pass, Pass, Pass, Refuse, Refuse]),
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
