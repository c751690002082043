//! Limits per key, independent of the Guardian: a caller's requests per minute, tokens per
//! minute and requests in flight ([`alice_identity::limits`]). A request over a limit gets 429
//! with Retry-After; every answer to a limited caller carries OpenAI's `x-ratelimit-*` headers,
//! so clients written for OpenAI pace themselves. The tokens an answer used are charged when
//! its body ends (a stream's last event), and the in-flight slot is given back then too.

use crate::error::ApiError;
use crate::error::openai::response_for;
use crate::http::request_context::RequestContext;
use crate::metrics::Metrics;
use alice_core::Config;
use alice_core::config::Limits;
use alice_identity::Caller;
use alice_identity::limits::{Admitted, Decision, Limiter, Refusal};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The layer: admit or refuse, then charge the answer's tokens when it is done.
pub async fn rate_limit(
    State(limiter): State<Limiter>,
    State(config): State<Arc<Config>>,
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = request
        .extensions()
        .get::<Caller>()
        .filter(|caller| caller.limits != Limits::UNLIMITED)
        .cloned()
    else {
        return next.run(request).await;
    };
    let tokens = request
        .extensions()
        .get::<RequestContext>()
        .map(|context| context.tokens.clone());
    let admitted = match limiter.admit(&caller).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            metrics.record_rate_limited(match refusal {
                Refusal::Requests(_) => "requests",
                Refusal::Tokens(_) => "tokens",
                Refusal::InFlight { .. } => "in_flight",
            });
            return refuse(
                &request,
                &caller,
                refusal,
                config.auth.in_flight_retry_after,
            );
        }
    };
    let Admitted {
        requests,
        tokens: token_budget,
        permit,
    } = admitted;
    let mut response = next.run(request).await;
    write_headers(
        response.headers_mut(),
        requests.as_ref(),
        token_budget.as_ref(),
    );
    // Held by the body: dropped, with the tokens charged, when the answer is done or the
    // client goes away.
    let done = AnswerDone {
        limiter,
        caller,
        tokens,
        _permit: permit,
    };
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _ = &done;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// Charges the answer's tokens and frees the in-flight slot when the response body is dropped.
struct AnswerDone {
    limiter: Limiter,
    caller: Caller,
    tokens: Option<Arc<std::sync::atomic::AtomicU64>>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for AnswerDone {
    fn drop(&mut self) {
        let used = self
            .tokens
            .as_ref()
            .map_or(0, |tokens| tokens.load(Ordering::Relaxed));
        if used == 0 || self.caller.limits.tokens_per_minute == 0 {
            return;
        }
        let limiter = self.limiter.clone();
        let caller = self.caller.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { limiter.charge_tokens(&caller, used).await });
        }
    }
}

fn refuse(
    request: &Request,
    caller: &Caller,
    refusal: Refusal,
    in_flight_retry_after: Duration,
) -> Response {
    let (what, retry_after, requests, tokens) = match &refusal {
        Refusal::Requests(decision) => (
            format!("{} requests per minute", caller.limits.requests_per_minute),
            decision.retry_after,
            Some(decision),
            None,
        ),
        Refusal::Tokens(decision) => (
            format!("{} tokens per minute", caller.limits.tokens_per_minute),
            decision.retry_after,
            None,
            Some(decision),
        ),
        Refusal::InFlight { limit } => (
            format!("{limit} requests in flight at once"),
            in_flight_retry_after,
            None,
            None,
        ),
    };
    tracing::info!(
        evt = "rate_limited",
        user = %caller.username,
        key = %caller.limit_key(),
        limit = %what,
    );
    let error = ApiError::RateLimited { what, retry_after };
    let mut response = response_for(request.uri().path(), error);
    write_headers(response.headers_mut(), requests, tokens);
    response
}

/// OpenAI's rate-limit headers for the budgets a request was checked against.
fn write_headers(headers: &mut HeaderMap, requests: Option<&Decision>, tokens: Option<&Decision>) {
    const REQUESTS: [&str; 3] = [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    ];
    const TOKENS: [&str; 3] = [
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ];
    for (names, decision) in [(REQUESTS, requests), (TOKENS, tokens)] {
        let Some(decision) = decision else { continue };
        let [limit, remaining, reset] = names.map(HeaderName::from_static);
        headers.insert(limit, HeaderValue::from(decision.limit));
        headers.insert(remaining, HeaderValue::from(decision.remaining));
        if let Ok(value) = HeaderValue::from_str(&openai_duration(decision.reset)) {
            headers.insert(reset, value);
        }
    }
}

/// A duration as OpenAI writes its resets: `20ms`, `1s`, `1.5s`, `6m0s`.
fn openai_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let minutes = millis / 60_000;
    let seconds = (millis % 60_000) as f64 / 1000.0;
    let seconds = format!("{seconds:.3}");
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::openai_duration;
    use std::time::Duration;

    #[test]
    fn resets_are_written_as_openai_writes_them() {
        assert_eq!(openai_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(openai_duration(Duration::from_secs(1)), "1s");
        assert_eq!(openai_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(openai_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(openai_duration(Duration::from_millis(61_250)), "1m1.25s");
    }
}
