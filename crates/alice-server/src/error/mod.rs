//! The one place where failures become HTTP responses.
//!
//! Every handler returns [`ApiError`] on failure; [`ApiError::status`] is an exhaustive match, so
//! a new variant cannot compile until someone decides its status code. Bodies are
//! `{error, detail, request_id}` (plus `field` for input errors): `error` is Swedish text an end
//! user can be shown, `detail` is English for the operator or developer and says what to do.
//! Internal error text (database messages, a backend's name, address and error text) goes to
//! the log, never to the client.
//! [`openai::OpenAiError`] is the same errors in OpenAI's body shape, for `/v1`.

mod backend;
pub mod openai;

use crate::http::request_id::current_request_id;
use alice_core::config::ServerConfig;
use alice_guardian::GuardianState;
use alice_identity::IdentityError;
use alice_llm::{ErrorKind, LlmError};
use alice_store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// The Retry-After of failures that name no time of their own (`server.*_retry_after`). The
/// request context puts the configured values in a task-local for the request, as it does
/// the request id, so an error built anywhere in the request answers with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAdvice {
    /// A backend said it is busy without saying for how long.
    pub backend_busy: Duration,
    /// No backend can be reached, or the database does not answer.
    pub unavailable: Duration,
}

impl From<&ServerConfig> for RetryAdvice {
    fn from(config: &ServerConfig) -> Self {
        Self {
            backend_busy: config.backend_busy_retry_after,
            unavailable: config.unavailable_retry_after,
        }
    }
}

tokio::task_local! {
    pub(crate) static RETRY_ADVICE: RetryAdvice;
}

/// The advice in force for the request being served; the defaults outside a request.
fn retry_advice() -> RetryAdvice {
    RETRY_ADVICE
        .try_with(|advice| *advice)
        .unwrap_or_else(|_| RetryAdvice::from(&ServerConfig::default()))
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or a parameter is malformed or breaks a limit.
    #[error("invalid {field}: {detail}")]
    InvalidInput { field: String, detail: String },
    /// The body is larger than `server.body_limit_bytes`.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("conversation {0} not found")]
    ConversationNotFound(String),
    /// Something else the path names does not exist (a user, a memory); says what to do.
    #[error("not found: {0}")]
    NotFound(String),
    /// A route about the caller's own data, asked with `auth.mode = "off"`, where nobody is
    /// known; says where to look instead.
    #[error("no caller: {0}")]
    AnonymousCaller(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method {method} not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// An LLM backend could not answer.
    #[error("{0}")]
    Backend(LlmError),
    /// The request ran past its path's deadline.
    #[error("deadline of {timeout:?} for {path} passed")]
    DeadlineExceeded { path: String, timeout: Duration },
    /// A streamed answer was still running `deadlines.stream_max` after the request came in.
    #[error("streamed answer ran past deadlines.stream_max of {limit:?}")]
    StreamTooLong { limit: Duration },
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The request's Host is not one Alice answers to (`server.allowed_hosts`).
    #[error("misdirected: {0}")]
    MisdirectedHost(String),
    /// A body that is not JSON.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The caller's key is over one of its limits (`auth.limits`, or the key's own).
    #[error("rate limited: {what}")]
    RateLimited {
        /// Which limit, e.g. "60 requests per minute".
        what: String,
        retry_after: Duration,
    },
    /// Too many failed logins for one user name (`auth.max_failed_logins`).
    #[error("too many failed logins")]
    TooManyLogins {
        /// `auth.login_lockout`.
        retry_after: Duration,
    },
    /// No credentials, or ones that prove nobody; says what to send.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is known but may not do this (a user's key on an admin path, another
    /// user's name); says what would be allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request does not fit the current state (an override outside LOCKDOWN).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The Guardian sheds chat while the machine is degraded (see [`crate::http::admission`]).
    #[error("chat shed: the Guardian is {mode}")]
    Shed {
        mode: GuardianState,
        /// `guardian.shed_retry_after`.
        retry_after: Duration,
    },
    /// The Guardian serves only health, status and control (EMERGENCY, LOCKDOWN).
    #[error("refused: the Guardian is {mode}")]
    Refused {
        mode: GuardianState,
        /// `guardian.refuse_retry_after`.
        retry_after: Duration,
    },
    /// An `Idempotency-Key` header that is not 1 to `max_chars` visible ASCII characters.
    #[error("invalid Idempotency-Key")]
    InvalidIdempotencyKey { max_chars: usize },
    /// The `Idempotency-Key` was used by this caller for a different request (another body or
    /// route) within `chat.idempotency_ttl`.
    #[error("Idempotency-Key reused for a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being answered.
    #[error("the request with this Idempotency-Key is still being answered")]
    IdempotentRequestRunning {
        /// `chat.idempotency_retry_after`.
        retry_after: Duration,
    },
    /// A bug: a handler panicked.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ConversationNotFound(_) | Self::NotFound(_) | Self::RouteNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            Self::AnonymousCaller(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Backend(error) => match error.kind {
                ErrorKind::Unreachable | ErrorKind::Busy { .. } | ErrorKind::Stopped { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                ErrorKind::ModelNotFound
                | ErrorKind::Rejected { .. }
                | ErrorKind::Failed { .. }
                | ErrorKind::StreamBroken
                | ErrorKind::Protocol => StatusCode::BAD_GATEWAY,
                ErrorKind::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            },
            Self::DeadlineExceeded { .. } | Self::StreamTooLong { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Self::Store(error) => match store_failure(error) {
                StoreFailure::NoConversation => StatusCode::NOT_FOUND,
                StoreFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                StoreFailure::Unusable | StoreFailure::Statement => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MisdirectedHost(_) => StatusCode::MISDIRECTED_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyLogins { .. } | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Shed { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Refused { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidIdempotencyKey { .. } => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotentRequestRunning { .. } => StatusCode::CONFLICT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short, stable code for clients and log lines.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::ConversationNotFound(_) => "conversation_not_found",
            Self::NotFound(_) => "not_found",
            Self::AnonymousCaller(_) => "anonymous_caller",
            Self::RouteNotFound { .. } => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Backend(error) => match error.kind {
                ErrorKind::Unreachable => "backend_unreachable",
                ErrorKind::Busy { .. } => "backend_busy",
                ErrorKind::ModelNotFound => "model_not_found",
                ErrorKind::Rejected { .. } => "backend_rejected",
                ErrorKind::Failed { .. } => "backend_failed",
                ErrorKind::StreamBroken => "backend_stream_broken",
                ErrorKind::Protocol => "backend_protocol",
                ErrorKind::TimedOut => "backend_timeout",
                ErrorKind::Stopped { .. } => "guardian_stopped",
            },
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::StreamTooLong { .. } => "stream_too_long",
            Self::Store(error) => match store_failure(error) {
                StoreFailure::NoConversation => "conversation_not_found",
                StoreFailure::Unavailable => "database_unavailable",
                StoreFailure::Unusable => "database_unusable",
                StoreFailure::Statement => "database_error",
            },
            Self::Unauthorized(_) => "unauthorized",
            Self::MisdirectedHost(_) => "misdirected_host",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyLogins { .. } => "too_many_logins",
            Self::RateLimited { .. } => "rate_limit_exceeded",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::Shed { .. } => "load_shed",
            Self::Refused { .. } => "guardian_refused",
            Self::InvalidIdempotencyKey { .. } => "invalid_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotentRequestRunning { .. } => "idempotent_request_running",
            Self::Internal => "internal",
        }
    }

    /// Text for an end user, in Swedish.
    fn user_message(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "Förfrågan är ogiltig. Kontrollera fältet som nämns.",
            Self::PayloadTooLarge { .. } => "Förfrågan är för stor.",
            Self::ConversationNotFound(_) => "Samtalet finns inte.",
            Self::NotFound(_) => "Det du söker finns inte.",
            Self::AnonymousCaller(_) => {
                "Inloggningen är avstängd, så Alice vet inte vem du är och har inget eget att visa."
            }
            Self::RouteNotFound { .. } => "Adressen finns inte.",
            Self::MethodNotAllowed { .. } => "Metoden stöds inte för den här adressen.",
            Self::Backend(_) => "Språkmodellen svarar inte just nu. Försök igen om en stund.",
            Self::DeadlineExceeded { .. } => "Svaret tog för lång tid. Försök igen.",
            Self::StreamTooLong { .. } => {
                "Svaret blev för långt och avbröts. Be om ett kortare svar."
            }
            Self::Store(error) => match store_failure(error) {
                StoreFailure::NoConversation => "Samtalet finns inte.",
                StoreFailure::Unavailable => {
                    "Databasen är inte tillgänglig just nu. Försök igen om en stund."
                }
                StoreFailure::Unusable | StoreFailure::Statement => {
                    "Databasen kan inte användas. Kontakta den som driver Alice."
                }
            },
            Self::Unauthorized(_) => "Logga in, eller skicka en API-nyckel.",
            Self::MisdirectedHost(_) => "Alice svarar inte på den här adressen.",
            Self::UnsupportedMediaType(_) => "Förfrågan måste skickas som JSON.",
            Self::TooManyLogins { .. } => {
                "För många misslyckade inloggningar. Vänta en stund och försök igen."
            }
            Self::RateLimited { .. } => {
                "Du har skickat för många frågor på kort tid. Vänta en stund och försök igen."
            }
            Self::Forbidden(_) => "Åtkomst nekad.",
            Self::Conflict(_) => "Det går inte just nu.",
            Self::Shed { .. } => {
                "Alice är hårt belastad just nu och tar inte emot frågor. Försök igen om en liten stund."
            }
            Self::Refused { .. } => {
                "Alice har pausat för att skydda datorn. Försök igen om en stund."
            }
            Self::InvalidIdempotencyKey { .. } => {
                "Idempotency-Key är ogiltig. Skicka en nyckel av synliga ASCII-tecken, till exempel ett UUID."
            }
            Self::IdempotencyKeyReused => {
                "Idempotency-Key har redan använts för en annan förfrågan. Skicka en ny nyckel."
            }
            Self::IdempotentRequestRunning { .. } => {
                "Den första förfrågan med samma Idempotency-Key besvaras fortfarande. Vänta en stund och försök igen."
            }
            Self::Internal => "Ett internt fel inträffade. Försök igen.",
        }
    }

    /// English detail for the developer or operator: what happened and what to do.
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidInput { field, detail } => format!("{field}: {detail}"),
            Self::PayloadTooLarge { limit } => format!(
                "the body is larger than {limit} bytes; send less, or raise server.body_limit_bytes"
            ),
            Self::ConversationNotFound(id) => {
                format!("no conversation {id}; leave conversation_id out to start a new one")
            }
            Self::Store(StoreError::ConversationNotFound(id)) => format!(
                "conversation {id} was removed; leave conversation_id out to start a new one"
            ),
            Self::RouteNotFound { method, path } => {
                format!("no route for {method} {path}; see the README for the API")
            }
            Self::MethodNotAllowed { method, path } => {
                format!("{path} does not take {method}; see the README for the API")
            }
            Self::Backend(error) => backend::client_detail(&error.kind),
            Self::DeadlineExceeded { path, timeout } => format!(
                "{path} did not finish within its deadline of {} ms (deadlines.* in the config)",
                timeout.as_millis()
            ),
            Self::StreamTooLong { limit } => format!(
                "the streamed answer was still running {} ms after the request came in \
                 (deadlines.stream_max); ask for fewer tokens (max_tokens) or raise \
                 deadlines.stream_max",
                limit.as_millis()
            ),
            Self::Store(error) => match store_failure(error) {
                StoreFailure::NoConversation | StoreFailure::Unavailable => {
                    "the database did not answer; see the server log for the cause".to_owned()
                }
                StoreFailure::Unusable => "the database cannot be used as it is (a malformed \
                    row, or a schema this version cannot migrate); see the server log, then \
                    check it with `alice backup verify` or restore a backup"
                    .to_owned(),
                StoreFailure::Statement => "the database refused the request; the server log \
                    has the cause under this request id"
                    .to_owned(),
            },
            Self::Shed { mode, retry_after } => format!(
                "the machine is under pressure (Guardian {mode}): chat is shed until it \
                 recovers; retry after {} s (guardian.shed_retry_after); GET \
                 /api/guardian/status says why",
                whole_seconds(*retry_after)
            ),
            Self::Refused { mode, retry_after } => format!(
                "the Guardian is in {mode} to protect the machine and serves only health, \
                 status and control; retry after {} s (guardian.refuse_retry_after); GET \
                 /api/guardian/status says why",
                whole_seconds(*retry_after)
            ),
            Self::Unauthorized(detail)
            | Self::MisdirectedHost(detail)
            | Self::UnsupportedMediaType(detail)
            | Self::Forbidden(detail)
            | Self::Conflict(detail)
            | Self::NotFound(detail)
            | Self::AnonymousCaller(detail) => detail.clone(),
            Self::RateLimited { what, retry_after } => format!(
                "this key is over its limit of {what}; retry after {} s (the x-ratelimit-* \
                 headers say how much is left); an admin can raise it per role \
                 (auth.limits.*) or per key (alice key create --requests-per-minute ...)",
                whole_seconds(*retry_after)
            ),
            Self::TooManyLogins { retry_after } => format!(
                "too many failed logins for this user name; logins for it are refused for {} s \
                 (auth.max_failed_logins, auth.login_lockout); an admin can set a new password \
                 with `alice user password <user>`",
                whole_seconds(*retry_after)
            ),
            Self::InvalidIdempotencyKey { max_chars } => format!(
                "Idempotency-Key must be 1 to {max_chars} visible ASCII characters (no spaces or \
                 control characters), e.g. a UUID; use a new key for each new request and the \
                 same key only to retry it (chat.idempotency_key_max_chars)"
            ),
            Self::IdempotencyKeyReused => "this Idempotency-Key was used for a different request \
                 (another body or path) within chat.idempotency_ttl; send a new key with a new \
                 request, and reuse a key only to retry the request it was made for"
                .to_owned(),
            Self::IdempotentRequestRunning { retry_after } => format!(
                "the first request with this Idempotency-Key is still being answered; retry \
                 after {} s with the same key to get its answer (chat.idempotency_retry_after)",
                whole_seconds(*retry_after)
            ),
            Self::Internal => {
                "an internal error occurred; the server log has the details under this request id"
                    .to_owned()
            }
        }
    }

    /// The JSON body, with the request id of the request being served.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "error": self.user_message(),
            "code": self.code(),
            "detail": self.detail(),
            "request_id": current_request_id(),
        });
        match self {
            Self::InvalidInput { field, .. } => body["field"] = json!(field),
            Self::DeadlineExceeded { path, timeout } => {
                body["path"] = json!(path);
                body["timeout_ms"] = json!(timeout.as_millis() as u64);
            }
            Self::StreamTooLong { limit } => {
                body["timeout_ms"] = json!(limit.as_millis() as u64);
            }
            Self::Backend(LlmError {
                kind: ErrorKind::Busy {
                    queue: Some(queue), ..
                },
                ..
            }) => {
                body["queue"] = json!({
                    "position": queue.position,
                    "expected_wait_ms": queue.expected_wait.map(|w| w.as_millis() as u64),
                });
            }
            Self::Shed { mode, retry_after } | Self::Refused { mode, retry_after } => {
                body["guardian_mode"] = json!(mode);
                body["guardian_status"] = json!(self.guardian_status());
                body["timestamp"] = json!(chrono::Utc::now());
                body["retry_after"] = json!(whole_seconds(*retry_after));
            }
            _ => {}
        }
        body
    }

    fn retry_after(&self) -> Option<Duration> {
        let advice = retry_advice();
        match self {
            Self::Backend(LlmError {
                kind: ErrorKind::Busy { retry_after, .. },
                ..
            }) => Some(retry_after.unwrap_or(advice.backend_busy)),
            Self::Backend(LlmError {
                kind: ErrorKind::Stopped { retry_after },
                ..
            }) => Some(*retry_after),
            Self::Backend(LlmError {
                kind: ErrorKind::Unreachable,
                ..
            }) => Some(advice.unavailable),
            Self::Store(error) if store_failure(error) == StoreFailure::Unavailable => {
                Some(advice.unavailable)
            }
            Self::Shed { retry_after, .. }
            | Self::Refused { retry_after, .. }
            | Self::TooManyLogins { retry_after }
            | Self::IdempotentRequestRunning { retry_after }
            | Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// `x-guardian-status` of a refusal by the Guardian.
    fn guardian_status(&self) -> &'static str {
        match self {
            Self::Shed { .. } => "shedding",
            _ => "unavailable",
        }
    }
}

/// What a database failure means for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreFailure {
    /// The conversation was removed while the request ran.
    NoConversation,
    /// No connection, the pool timed out, or Alice is shutting down: retry later.
    Unavailable,
    /// The database cannot be used as it is: a malformed row, a schema that cannot be migrated,
    /// a file that cannot be opened or created. Retrying will not help.
    Unusable,
    /// The database refused one statement; the log has why.
    Statement,
}

/// Every [`StoreError`] by name, so a new one cannot compile until it has a meaning here.
fn store_failure(error: &StoreError) -> StoreFailure {
    match error {
        StoreError::ConversationNotFound(_) => StoreFailure::NoConversation,
        StoreError::Closed | StoreError::Unavailable(_) => StoreFailure::Unavailable,
        StoreError::Database(_) | StoreError::Open { .. } if error.is_unavailable() => {
            StoreFailure::Unavailable
        }
        // SQLite's "database is locked" and PostgreSQL's serialization failures land here:
        // the server refused the statement, which a retry may get past.
        StoreError::Database(sqlx_error) if sqlx_error.as_database_error().is_some() => {
            StoreFailure::Unavailable
        }
        StoreError::Database(_) | StoreError::Duplicate(_) => StoreFailure::Statement,
        StoreError::Open { .. }
        | StoreError::CreateDir { .. }
        | StoreError::Migrate(_)
        | StoreError::Corrupt(_) => StoreFailure::Unusable,
    }
}

/// Seconds for Retry-After, rounded up (a client told to wait 19 s of 19.4 s would come back
/// too soon), at least 1.
fn whole_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    seconds.max(1)
}

impl ApiError {
    /// Whether this is a refusal by the Guardian, which the admission gate has logged.
    fn is_admission(&self) -> bool {
        matches!(self, Self::Shed { .. } | Self::Refused { .. })
    }
}

/// Every [`IdentityError`] by name, so a new one cannot compile until it has a meaning here.
/// Why a credential was refused stays in the log; the client is told what to send.
impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::UnknownKey
            | IdentityError::RevokedKey { .. }
            | IdentityError::ExpiredKey { .. }
            | IdentityError::UnknownSession => Self::Unauthorized(
                "the API key or session is not valid (unknown, revoked, expired or logged out); \
                 send a current key as \"Authorization: Bearer alice_…\""
                    .to_owned(),
            ),
            IdentityError::WrongPassword => Self::Unauthorized(
                "wrong user name or password; an admin sets passwords with `alice user \
                 password <user>`"
                    .to_owned(),
            ),
            IdentityError::LockedOut { retry_after, .. } => Self::TooManyLogins { retry_after },
            IdentityError::NoSuchUser(user) => Self::NotFound(format!("no user {user:?}")),
            IdentityError::UserExists(user) => {
                Self::Conflict(format!("user {user:?} exists already"))
            }
            error @ IdentityError::InvalidUsername(_) => Self::invalid("user", error.to_string()),
            IdentityError::Password(error) => Self::invalid("password", error.to_string()),
            // A role the database should never hold: a bug or a hand-edited row.
            IdentityError::UnknownRole(role) => {
                Self::Store(StoreError::Corrupt(format!("users.role is {role:?}")))
            }
            IdentityError::Store(error) => Self::Store(error),
        }
    }
}

/// A request body `alice-request` refused: Alice's 422 naming the field. (OpenAI's code, where
/// the refusal has one, is for [`openai::OpenAiError`].)
impl From<alice_request::Invalid> for ApiError {
    fn from(invalid: alice_request::Invalid) -> Self {
        ApiError::invalid(invalid.field, invalid.detail)
    }
}

impl From<LlmError> for ApiError {
    fn from(error: LlmError) -> Self {
        Self::Backend(error)
    }
}

/// The [`ApiError::code`] of an error response, in the response's extensions, so that the
/// request context can count errors by code in the metrics (`alice_http_errors_total`) without
/// reading the body. [`openai::OpenAiError`] answers keep it (they are built on ApiError's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !self.is_admission() {
            tracing::warn!(evt = "request_failed", code = self.code(), status = status.as_u16(), error = %self);
        }
        let retry_after = self.retry_after();
        let mut response = (status, axum::Json(self.body())).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        let headers = response.headers_mut();
        if let Some(after) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(after)));
        }
        if let Self::Unauthorized(_) = &self {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"alice\""),
            );
        }
        if let Self::Shed { mode, .. } | Self::Refused { mode, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(&mode.to_string()) {
                headers.insert("x-guardian-mode", value);
            }
            headers.insert(
                "x-guardian-status",
                HeaderValue::from_static(self.guardian_status()),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::error::openai::OpenAiError;

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_corrupt_database_is_a_500_with_advice_and_no_retry_after() {
        let error = ApiError::Store(StoreError::Corrupt("messages.role is \"robot\"".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code(), "database_unusable");
        assert!(
            error.detail().contains("alice backup verify"),
            "{}",
            error.detail()
        );
        let response = error.into_response();
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
        let body = body_of(response).await;
        assert!(
            !body.to_string().contains("robot"),
            "internal text stays in the log: {body}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_is_a_503_to_retry() {
        let error = ApiError::Store(StoreError::Unavailable("connection refused".into()));
        assert_eq!(error.code(), "database_unavailable");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "15");
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode("database_unavailable")),
            "the metrics count it by its code"
        );
    }

    #[tokio::test]
    async fn a_request_is_told_the_configured_retry_after() {
        let advice = RetryAdvice {
            backend_busy: Duration::from_secs(2),
            unavailable: Duration::from_secs(42),
        };
        let (outage, busy) = RETRY_ADVICE
            .scope(advice, async {
                let outage = ApiError::Store(StoreError::Closed).into_response();
                let busy = ApiError::Backend(LlmError {
                    backend: "ollama".into(),
                    url: "http://127.0.0.1:11434".into(),
                    kind: ErrorKind::Busy {
                        retry_after: None,
                        queue: None,
                    },
                    detail: "HTTP 503".into(),
                    advice: "wait".into(),
                })
                .into_response();
                (outage, busy)
            })
            .await;
        assert_eq!(outage.headers()[header::RETRY_AFTER], "42");
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn a_backend_failure_tells_the_client_neither_the_backend_nor_its_words() {
        let failed = || {
            ApiError::Backend(LlmError {
                backend: "gpu-box".into(),
                url: "http://10.1.2.3:11434".into(),
                kind: ErrorKind::Failed { status: 500 },
                detail: "HTTP 500: CUDA out of memory at /opt/models/secret.gguf".into(),
                advice: "see Ollama's log".into(),
            })
        };
        for body in [
            body_of(failed().into_response()).await,
            body_of(OpenAiError::from(failed()).into_response()).await,
        ] {
            let text = body.to_string();
            for leak in ["gpu-box", "10.1.2.3", "CUDA", "secret.gguf", "Ollama"] {
                assert!(!text.contains(leak), "{leak} in {text}");
            }
            assert!(text.contains("try again"), "{text}");
        }
        assert!(
            failed().to_string().contains("CUDA"),
            "the log line keeps it"
        );
    }

    #[tokio::test]
    async fn a_shed_request_says_why_and_when_to_retry() {
        let shed = ApiError::Shed {
            mode: GuardianState::Degraded,
            retry_after: Duration::from_secs(7),
        };
        let response = shed.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers().clone();
        assert_eq!(headers[header::RETRY_AFTER], "7");
        assert_eq!(headers["x-guardian-mode"], "DEGRADED");
        assert_eq!(headers["x-guardian-status"], "shedding");
        let body = body_of(response).await;
        assert_eq!(body["code"], "load_shed");
        assert_eq!(body["guardian_mode"], "DEGRADED");
        assert_eq!(body["retry_after"], 7);
        assert!(body["detail"].as_str().unwrap().contains("retry after 7 s"));
        assert!(body["timestamp"].is_string());
    }

    #[tokio::test]
    async fn a_refusal_on_v1_has_openais_shape_and_keeps_the_headers() {
        let refused = OpenAiError::from(ApiError::Refused {
            mode: GuardianState::Emergency,
            retry_after: Duration::from_secs(15),
        });
        let response = refused.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "15");
        assert_eq!(response.headers()["x-guardian-mode"], "EMERGENCY");
        let body = body_of(response).await;
        assert_eq!(body["error"]["type"], "server_error");
        assert_eq!(body["error"]["code"], "guardian_refused");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("EMERGENCY")
        );
    }
}
