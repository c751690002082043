//! Alice's errors as OpenAI's API reports them, for `/v1`: `{"error": {message, type, param,
//! code}}`, so the official SDKs raise the right exception with Alice's message. Status,
//! `Retry-After` and the log line stay [`ApiError`]'s; only the body's shape (and 422 → 400 for
//! invalid input: OpenAI answers invalid requests with 400, and the SDKs raise
//! `BadRequestError` for it) differ. A reused `Idempotency-Key` stays 422 here too.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error as OpenAI's API reports it. It wraps [`ApiError`] so that status, `Retry-After`
/// and logging stay decided in one place; only the body's shape (and 422 → 400) differ.
#[derive(Debug)]
pub struct OpenAiError {
    /// Boxed: a backend error is large, and handlers pass this by value through `?`.
    error: Box<ApiError>,
    /// OpenAI's own code, where it has one for this failure; otherwise Alice's is used.
    openai_code: Option<&'static str>,
}

impl OpenAiError {
    pub fn with_code(error: ApiError, code: &'static str) -> Self {
        Self {
            error: Box::new(error),
            openai_code: Some(code),
        }
    }

    pub fn status(&self) -> StatusCode {
        match (self.error.as_ref(), self.error.status()) {
            // A key reused for another request is 422 on every route, as the Idempotency-Key
            // draft (draft-ietf-httpapi-idempotency-key-header) has it; it is no invalid input.
            (ApiError::IdempotencyKeyReused, status) => status,
            (_, StatusCode::UNPROCESSABLE_ENTITY) => StatusCode::BAD_REQUEST,
            (_, status) => status,
        }
    }

    pub fn code(&self) -> &'static str {
        self.openai_code.unwrap_or_else(|| self.error.code())
    }

    /// `{"error": {message, type, param, code}}`.
    pub fn body(&self) -> Value {
        let kind = match self.status().as_u16() {
            429 => "rate_limit_error",
            500.. => "server_error",
            _ => "invalid_request_error",
        };
        let param = match self.error.as_ref() {
            // A body that is not JSON at all has no parameter to blame.
            ApiError::InvalidInput { field, .. } if field != "body" => json!(field),
            _ => Value::Null,
        };
        json!({
            "error": {
                "message": self.error.detail(),
                "type": kind,
                "param": param,
                "code": self.code(),
            }
        })
    }
}

/// The response to an error refused by a layer before any handler ran: OpenAI's shape under
/// `/v1`, Alice's own everywhere else (the handlers of each surface choose theirs themselves).
pub fn response_for(path: &str, error: ApiError) -> Response {
    if path == "/v1" || path.starts_with("/v1/") {
        OpenAiError::from(error).into_response()
    } else {
        error.into_response()
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        Self {
            error: Box::new(error),
            openai_code: None,
        }
    }
}

/// A request body `alice-request` refused, with OpenAI's code when it has its own.
impl From<alice_request::Invalid> for OpenAiError {
    fn from(invalid: alice_request::Invalid) -> Self {
        let code = invalid.code;
        let error = ApiError::from(invalid);
        match code {
            Some(code) => OpenAiError::with_code(error, code),
            None => error.into(),
        }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.body().to_string();
        // ApiError's own response carries the status, Retry-After and the log line of a 5xx;
        // only its JSON body is swapped for OpenAI's (both are application/json).
        let mut response = self.error.into_response();
        *response.status_mut() = status;
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(body);
        response
    }
}

impl std::fmt::Display for OpenAiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn errors_have_openais_shape_and_status() {
        let error = OpenAiError::from(ApiError::invalid("n", "nope"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let body = error.body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "n");
        assert_eq!(body["error"]["code"], "invalid_input");
        assert_eq!(body["error"]["message"], "n: nope");
        let broken = OpenAiError::from(ApiError::invalid("body", "not JSON"));
        assert_eq!(broken.body()["error"]["param"], Value::Null);
        let large = OpenAiError::from(ApiError::PayloadTooLarge { limit: 10 });
        assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(large.body()["error"]["type"], "invalid_request_error");
    }
}
