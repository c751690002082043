//! The HTTP plumbing both remote backends (Ollama, OpenAI-compatible) share: sending a request,
//! telling a refused status from a success, naming transport failures with their causes,
//! reading at most a bounded prefix of an error body, and reading `Retry-After`.
//!
//! What differs between the backends stays with them, behind [`Remote`]: the advice an error
//! carries and how their error bodies are shaped.

use crate::{ErrorKind, LlmError};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

pub(crate) use alice_decode::text::{ErrorText, clip};

/// A remote backend as the plumbing sees it.
pub(crate) trait Remote {
    /// This backend's error of `kind`, with its own advice.
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError;

    /// Makes sense of (the first [`Remote::error_body_limit`] bytes of) an error body.
    fn error_text(&self, body: &[u8]) -> ErrorText;

    /// Most bytes read of a failed response's body (`backends[].max_error_body_bytes`): an
    /// error body is small, a proxy's HTML page need not be. Reading stops there.
    fn error_body_limit(&self) -> usize;

    /// The error kind of a refused status; the common mapping unless the backend's error
    /// codes say more.
    fn refusal_kind(
        &self,
        status: u16,
        _text: &ErrorText,
        retry_after: Option<Duration>,
    ) -> ErrorKind {
        status_kind(status, retry_after)
    }
}

/// The kind of a failed status: 404 is a missing model, 429 and 503 are busy, other 4xx a
/// rejected request, anything else a failed backend.
pub(crate) fn status_kind(status: u16, retry_after: Option<Duration>) -> ErrorKind {
    match status {
        404 => ErrorKind::ModelNotFound,
        429 | 503 => ErrorKind::Busy {
            retry_after,
            queue: None,
        },
        code @ 400..=499 => ErrorKind::Rejected { status: code },
        code => ErrorKind::Failed { status: code },
    }
}

/// The URL of `path` on the server at `base_url`, for a client to keep; a base that is not a
/// URL is the backend's configuration error.
pub(crate) fn endpoint(
    backend: &str,
    base_url: &str,
    path: &str,
) -> Result<reqwest::Url, LlmError> {
    reqwest::Url::parse(&format!("{base_url}{path}")).map_err(|e| LlmError {
        backend: backend.to_owned(),
        url: base_url.to_owned(),
        kind: ErrorKind::Protocol,
        detail: format!("{base_url}{path} is not a URL: {e}"),
        advice: "set backends[].url to the server's address, e.g. http://127.0.0.1:11434".into(),
    })
}

/// Sends `request` and passes a successful response through; a transport failure or a refused
/// status becomes the backend's error.
pub(crate) async fn send<B: Remote + ?Sized>(
    backend: &B,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, LlmError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(backend, &e))?;
    check_status(backend, response).await
}

/// A transport failure as the backend's error: no connection (refused, DNS, timeout) is
/// [`ErrorKind::Unreachable`], anything later a broken stream.
pub(crate) fn transport_error<B: Remote + ?Sized>(backend: &B, error: &reqwest::Error) -> LlmError {
    let kind = if error.is_connect() || error.is_timeout() {
        ErrorKind::Unreachable
    } else {
        ErrorKind::StreamBroken
    };
    backend.error(kind, describe_transport(error))
}

/// Passes a successful response through; turns any other into the matching error, with what
/// the body said and the `Retry-After` the backend asked for.
pub(crate) async fn check_status<B: Remote + ?Sized>(
    backend: &B,
    response: reqwest::Response,
) -> Result<reqwest::Response, LlmError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let text = match read_body_prefix(response, backend.error_body_limit()).await {
        Ok(body) => backend.error_text(&body),
        Err(unreadable) => ErrorText {
            message: format!("(no readable body: {unreadable})"),
            code: None,
        },
    };
    let kind = backend.refusal_kind(status.as_u16(), &text, retry_after);
    Err(backend.error(kind, format!("HTTP {}: {text}", status.as_u16())))
}

/// Reads a body chunk by chunk and stops after `limit` bytes, leaving the rest unread. A body
/// that breaks keeps what arrived before; one that breaks before any byte is the transport
/// failure, described.
pub(crate) async fn read_body_prefix(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            Err(e) if body.is_empty() => return Err(describe_transport(&e)),
            Err(_) => break,
        }
    }
    Ok(body)
}

/// Reads a listing or description (`/api/tags`, `/models`) of at most `limit` bytes as JSON.
/// A larger body is not read past the limit: the backend has broken its protocol.
pub(crate) async fn read_listing<B: Remote + ?Sized, T: serde::de::DeserializeOwned>(
    backend: &B,
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<T, LlmError> {
    let too_large = || {
        backend.error(
            ErrorKind::Protocol,
            format!(
                "the answer to {what} was larger than {limit} bytes \
                 (backends[].max_listing_bytes); it was not read"
            ),
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(backend, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        backend.error(
            ErrorKind::Protocol,
            format!("unexpected answer to {what}: {e}"),
        )
    })
}

/// The pause a `Retry-After` header asks for, as of `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, now)
}

/// `Retry-After` as delta-seconds (fractions accepted, "1.5") or as an HTTP date; a date
/// already past asks for no pause. Anything else is ignored, which leaves the router's own
/// backoff.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A reqwest error with the chain of its causes ("connection refused" sits in a source;
/// reqwest's own message leaves it out).
pub(crate) fn describe_transport(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
