//! Idempotent retries of chat requests: a client that lost an answer (a dropped connection, a
//! timeout on its side) may send the request again with the same `Idempotency-Key` and get the
//! first answer back, byte for byte, instead of a second answer and a second stored turn.
//!
//! The layer sits on `POST /api/chat` and `POST /v1/chat/completions` only, inside
//! authentication, the rate limit and the admission gate, so it knows the caller; a key is
//! scoped to the caller's user. A request without the header costs a header lookup. With one:
//! - the key must be 1 to `chat.idempotency_key_max_chars` visible ASCII characters (else 400);
//! - the request is fingerprinted: SHA-256 of the path and the body's JSON written canonically
//!   (object keys sorted, no whitespace), so the same request sent with other spacing or key
//!   order is the same request; a body that is not JSON is hashed as it is;
//! - the key is claimed in the store in one atomic step ([`alice_store::IdempotencyTables`]):
//!   - a new claim runs the handler; a 2xx answer whose body ends is kept (up to
//!     `chat.idempotency_max_answer_bytes`) for `chat.idempotency_ttl`. Anything else (another
//!     status, a stream that failed after its head, a body too large, a client gone before
//!     the end) releases the key, so a retry runs again. A streamed answer ends for its client
//!     only once it is kept, so a retry right after it is a replay, never a 409;
//!   - the same request answered → the kept status, content type and body, with
//!     `Idempotent-Replayed: true`; the handler does not run, so no turn is stored;
//!   - the same request still running → 409 with Retry-After `chat.idempotency_retry_after`;
//!   - a different request under the key (another body, or the other route) → 422.
//!
//! A running claim is a lease: it holds for `deadlines.chat` plus
//! `chat.idempotency_abandon_margin`, renewed while a streamed answer is still producing bytes.
//! A claim whose lease ran out belongs to a request whose instance died (a live one answers, or
//! gets its 504, within the deadline, and a live stream renews); a retry takes it over.

use crate::error::ApiError;
use crate::error::openai::response_for;
use crate::http::json_body::BodyLimit;
use crate::http::request_context::RequestContext;
use crate::metrics::Metrics;
use alice_core::Config;
use alice_identity::Caller;
use alice_store::{Claim, ClaimOutcome, IdempotencyTables, NewClaim, StoredAnswer};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Instant;

/// The request header that names a request for retries.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a response that is a kept answer, not a new one.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the layer needs, put in each request's extensions by the router (see [`crate::app`]).
#[derive(Clone)]
pub struct Idempotency(Arc<Shared>);

struct Shared {
    tables: IdempotencyTables,
    metrics: Arc<Metrics>,
    settings: Settings,
}

#[derive(Clone, Copy)]
struct Settings {
    key_max_chars: usize,
    max_answer_bytes: usize,
    ttl: Duration,
    retry_after: Duration,
    /// How long a running claim holds without being renewed.
    lease: Duration,
}

impl Idempotency {
    pub fn new(tables: IdempotencyTables, metrics: Arc<Metrics>, config: &Config) -> Self {
        let chat = &config.chat;
        Self(Arc::new(Shared {
            tables,
            metrics,
            settings: Settings {
                key_max_chars: chat.idempotency_key_max_chars,
                max_answer_bytes: chat.idempotency_max_answer_bytes,
                ttl: chat.idempotency_ttl,
                retry_after: chat.idempotency_retry_after,
                lease: config
                    .deadlines
                    .chat
                    .saturating_add(chat.idempotency_abandon_margin),
            },
        }))
    }
}

/// The layer (route-level, on the chat routes).
pub async fn idempotent(request: Request, next: Next) -> Response {
    if !request.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    match answer_once(request, next).await {
        Ok(response) => response,
        Err(error) => response_for(&path, error),
    }
}

async fn answer_once(request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(layer) = request.extensions().get::<Idempotency>().cloned() else {
        tracing::error!(
            evt = "idempotency_unconfigured",
            "the router put no Idempotency in the request"
        );
        return Err(ApiError::Internal);
    };
    let shared = &layer.0;
    let settings = shared.settings;
    let key = key_of(request.headers(), settings.key_max_chars)?.to_owned();
    let Some(username) = request
        .extensions()
        .get::<Caller>()
        .map(|caller| caller.username.clone())
    else {
        tracing::error!(
            evt = "idempotency_without_caller",
            "the chat route ran unauthenticated"
        );
        return Err(ApiError::Internal);
    };
    let (parts, body) = request.into_parts();
    let limit = parts
        .extensions
        .get::<BodyLimit>()
        .map_or(usize::MAX, |l| l.0);
    let body = read_body(body, limit).await?;
    let path = parts.uri.path();
    let json = serde_json::from_slice::<Value>(&body).ok();
    let fingerprint = fingerprint(path, &body, json.as_ref());
    let outcome = shared
        .tables
        .claim(&NewClaim {
            username: &username,
            key: &key,
            fingerprint: &fingerprint,
            subject: subject_of(path, json.as_ref(), &username),
            running_until: after(settings.lease),
        })
        .await?;
    let claim = match outcome {
        ClaimOutcome::Claimed(claim) => claim,
        ClaimOutcome::Completed(answer) => {
            shared.metrics.record_idempotency("replayed");
            tracing::info!(evt = "idempotent_replay", user = %username, status = answer.status);
            return Ok(replay(answer));
        }
        ClaimOutcome::Running => {
            shared.metrics.record_idempotency("conflict");
            return Err(ApiError::IdempotentRequestRunning {
                retry_after: settings.retry_after,
            });
        }
        ClaimOutcome::Mismatch => {
            shared.metrics.record_idempotency("mismatch");
            return Err(ApiError::IdempotencyKeyReused);
        }
    };
    // From here the claim is held; dropped unfinished (the deadline, the client gone), it is
    // released in the background.
    let held = HeldClaim {
        shared: Arc::clone(shared),
        claim: Some(claim),
    };
    let failed_midstream = parts
        .extensions
        .get::<RequestContext>()
        .map(|context| Arc::clone(&context.failed_midstream))
        .unwrap_or_default();
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if !response.status().is_success() {
        held.release().await;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let status = parts.status.as_u16();
    let Some(length) = body.size_hint().exact() else {
        // A stream: kept as it goes out.
        let body = KeepingBody {
            inner: body,
            kept: Some(Vec::new()),
            max: settings.max_answer_bytes,
            status,
            content_type,
            held: Some(held),
            failed_midstream,
            renewed: Instant::now(),
            finishing: None,
        };
        return Ok(Response::from_parts(parts, Body::new(body)));
    };
    // A whole answer (already in memory): kept before it is sent.
    if usize::try_from(length).map_or(true, |length| length > settings.max_answer_bytes) {
        held.release().await;
        return Ok(Response::from_parts(parts, body));
    }
    let bytes = match axum::body::to_bytes(body, settings.max_answer_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(evt = "idempotent_answer_unreadable", error = %error);
            held.release().await;
            return Err(ApiError::Internal);
        }
    };
    held.complete(StoredAnswer {
        status,
        content_type,
        body: bytes.to_vec(),
    })
    .await;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// The key the request names, if it is one: 1 to `max_chars` visible ASCII characters, once.
fn key_of(headers: &axum::http::HeaderMap, max_chars: usize) -> Result<&str, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let invalid = || ApiError::InvalidIdempotencyKey { max_chars };
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(invalid());
    };
    let bytes = value.as_bytes();
    let visible = bytes.iter().all(|byte| (0x21..=0x7e).contains(byte));
    if bytes.is_empty() || bytes.len() > max_chars || !visible {
        return Err(invalid());
    }
    value.to_str().map_err(|_| invalid())
}

/// The whole body, within the body limit, answered as the handler's own extractor would.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::invalid("body", format!("the body could not be read: {error}"))
        }
    })
}

/// What the request is: SHA-256 of its path and its body's canonical JSON (`json`, the body
/// parsed; the body as it is when it is not JSON), in hex.
fn fingerprint(path: &str, body: &[u8], json: Option<&Value>) -> String {
    let mut hash = Sha256::new();
    hash.update(path.as_bytes());
    hash.update(b"\n");
    match json {
        Some(json) => {
            hash.update(b"json\n");
            write_canonical(json, &mut hash);
        }
        None => {
            hash.update(b"raw\n");
            hash.update(body);
        }
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whose turn the answer is, so that erasing that user erases the kept answer: on `/api/chat`
/// the user the body names (only an admin may name another user; anyone else's request is
/// refused by the handler, and its key released), otherwise the caller. `/v1`'s `user` is a
/// client's label, not an Alice user.
fn subject_of<'a>(path: &str, json: Option<&'a Value>, caller: &'a str) -> &'a str {
    if path != "/api/chat" {
        return caller;
    }
    json.and_then(|body| body.get("user"))
        .and_then(Value::as_str)
        .unwrap_or(caller)
}

/// `value` as JSON with every object's keys sorted and no whitespace, into the hash.
fn write_canonical(value: &Value, hash: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hash.update(b"{");
            for (n, (name, value)) in entries.into_iter().enumerate() {
                if n > 0 {
                    hash.update(b",");
                }
                hash.update(Value::String(name.clone()).to_string().as_bytes());
                hash.update(b":");
                write_canonical(value, hash);
            }
            hash.update(b"}");
        }
        Value::Array(items) => {
            hash.update(b"[");
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    hash.update(b",");
                }
                write_canonical(item, hash);
            }
            hash.update(b"]");
        }
        scalar => hash.update(scalar.to_string().as_bytes()),
    }
}

/// A kept answer, sent again.
fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(value) = answer
        .content_type
        .and_then(|value| HeaderValue::from_str(&value).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// When `duration` from now will have passed (far in the future if it cannot be told).
fn after(duration: Duration) -> DateTime<Utc> {
    let now = Utc::now();
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| now.checked_add_signed(duration))
        .unwrap_or_else(|| now + chrono::Duration::days(365))
}

/// A claim this request holds until it completes or releases it; dropped while held (the
/// handler cancelled by the deadline, a stream dropped by its client), it is released by a
/// spawned task, so dropping never waits on the database.
struct HeldClaim {
    shared: Arc<Shared>,
    claim: Option<Claim>,
}

impl HeldClaim {
    /// Keeps the answer for replay.
    async fn complete(mut self, answer: StoredAnswer) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let tables = &self.shared.tables;
        match tables
            .complete(&claim, &answer, after(self.shared.settings.ttl))
            .await
        {
            Ok(true) => self.shared.metrics.record_idempotency("stored"),
            // Taken over after the lease ran out; the other request's answer stands.
            Ok(false) => tracing::warn!(evt = "idempotency_claim_lost", key = claim.key()),
            Err(error) => {
                tracing::warn!(evt = "idempotent_answer_not_kept", error = %error);
                release(&self.shared, &claim).await;
            }
        }
    }

    /// Gives the key up, so a retry runs again.
    async fn release(mut self) {
        if let Some(claim) = self.claim.take() {
            release(&self.shared, &claim).await;
        }
    }

    /// Extends the lease in the background (a stream is still going).
    fn renew(&self) {
        let Some(claim) = self.claim.clone() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let until = after(shared.settings.lease);
            if let Err(error) = shared.tables.renew(&claim, until).await {
                tracing::warn!(evt = "idempotency_renew_failed", error = %error);
            }
        });
    }
}

impl Drop for HeldClaim {
    fn drop(&mut self) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        // Without a runtime (the process is ending) the lease runs out instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release(&shared, &claim).await });
        }
    }
}

async fn release(shared: &Shared, claim: &Claim) {
    match shared.tables.release(claim).await {
        Ok(true) => shared.metrics.record_idempotency("released"),
        Ok(false) => {}
        // The lease runs out instead, and a retry takes the key over then.
        Err(error) => tracing::warn!(evt = "idempotency_release_failed", error = %error),
    }
}

/// A streamed answer's body, passed on as it comes while its bytes are kept; at its end the
/// answer is kept (or the key released) before the end goes out.
struct KeepingBody {
    inner: Body,
    /// None once the answer is larger than `max`: it is then not kept.
    kept: Option<Vec<u8>>,
    max: usize,
    status: u16,
    content_type: Option<String>,
    /// Until the end: then taken by `finishing`.
    held: Option<HeldClaim>,
    failed_midstream: Arc<AtomicBool>,
    /// When the lease was last renewed.
    renewed: Instant,
    /// Keeping the answer (or releasing the key) at the end.
    finishing: Option<BoxFuture<'static, ()>>,
}

impl KeepingBody {
    fn keep(&mut self, data: &Bytes) {
        if let Some(kept) = &mut self.kept {
            if kept.len() + data.len() > self.max {
                self.kept = None;
            } else {
                kept.extend_from_slice(data);
            }
        }
        if let Some(held) = &self.held
            && self.renewed.elapsed() >= held.shared.settings.lease / 3
        {
            self.renewed = Instant::now();
            held.renew();
        }
    }

    /// What to do with the claim now that the answer has ended.
    fn finish(&mut self) -> Option<BoxFuture<'static, ()>> {
        let held = self.held.take()?;
        let kept = self.kept.take();
        match kept {
            Some(body) if !self.failed_midstream.load(Ordering::Relaxed) => {
                let answer = StoredAnswer {
                    status: self.status,
                    content_type: self.content_type.take(),
                    body,
                };
                Some(Box::pin(held.complete(answer)))
            }
            _ => Some(Box::pin(held.release())),
        }
    }
}

impl HttpBody for KeepingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(finishing) = &mut this.finishing {
                ready!(finishing.as_mut().poll(cx));
                this.finishing = None;
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        this.keep(data);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(error)) => {
                    // A broken body is no answer to keep; dropping the claim releases it.
                    this.held = None;
                    return Poll::Ready(Some(Err(error)));
                }
                None => match this.finish() {
                    Some(finishing) => this.finishing = Some(finishing),
                    None => return Poll::Ready(None),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.finishing.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn the_fingerprint_ignores_spacing_and_key_order_but_not_content_or_path() {
        let fingerprint = |path: &str, body: &[u8]| {
            super::fingerprint(path, body, serde_json::from_slice(body).ok().as_ref())
        };
        let a = fingerprint(
            "/api/chat",
            br#"{"message":"Hej","user":"anna","n":[1,{"b":2,"a":1}]}"#,
        );
        let b = fingerprint(
            "/api/chat",
            b"{ \"n\": [1, {\"a\": 1, \"b\": 2}],\n  \"user\": \"anna\", \"message\": \"Hej\" }",
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let other = fingerprint(
            "/api/chat",
            br#"{"message":"Hej!","user":"anna","n":[1,{"b":2,"a":1}]}"#,
        );
        assert_ne!(a, other);
        let reordered = fingerprint(
            "/api/chat",
            br#"{"message":"Hej","user":"anna","n":[{"b":2,"a":1},1]}"#,
        );
        assert_ne!(a, reordered, "array order matters");
        let elsewhere = fingerprint(
            "/v1/chat/completions",
            br#"{"message":"Hej","user":"anna","n":[1,{"b":2,"a":1}]}"#,
        );
        assert_ne!(a, elsewhere);
        assert_ne!(
            fingerprint("/api/chat", b"not json"),
            fingerprint("/api/chat", b"not  json")
        );
    }

    #[test]
    fn the_subject_is_the_user_an_admin_chats_for_on_the_native_route_only() {
        let body = serde_json::json!({"message": "Hej", "user": "anna"});
        assert_eq!(subject_of("/api/chat", Some(&body), "admin"), "anna");
        assert_eq!(
            subject_of("/v1/chat/completions", Some(&body), "admin"),
            "admin"
        );
        let own = serde_json::json!({"message": "Hej"});
        assert_eq!(subject_of("/api/chat", Some(&own), "bo"), "bo");
        assert_eq!(subject_of("/api/chat", None, "bo"), "bo");
    }

    #[test]
    fn a_key_is_visible_ascii_of_bounded_length_sent_once() {
        let headers = |values: &[&[u8]]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(IDEMPOTENCY_KEY, HeaderValue::from_bytes(value).unwrap());
            }
            map
        };
        assert_eq!(
            key_of(&headers(&[b"3f2b-AZ_az~!"]), 255).unwrap(),
            "3f2b-AZ_az~!"
        );
        assert!(key_of(&headers(&[&[b'k'; 255]]), 255).is_ok());
        for bad in [
            &b""[..],
            b"two words",
            b"tab\there",
            &[b'k'; 256],
            "nyckel-å".as_bytes(),
        ] {
            assert!(
                matches!(
                    key_of(&headers(&[bad]), 255),
                    Err(ApiError::InvalidIdempotencyKey { max_chars: 255 })
                ),
                "{bad:?}"
            );
        }
        assert!(key_of(&headers(&[b"one", b"two"]), 255).is_err());
    }
}
