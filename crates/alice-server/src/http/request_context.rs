//! Per-request context: request id, log span, deadline, and the request's figures.
//!
//! The middleware honours a client's `x-request-id` (when it is a sane token) or makes one,
//! returns it on every response, runs the request inside a `request` span carrying `req_id` (so
//! each log line the request causes names it), and answers 504 when the path's deadline passes.
//! The id is also kept in a task-local, so an error built anywhere in the request can name it,
//! and so are the configured Retry-After values ([`crate::error::RetryAdvice`]).
//!
//! It also records the request in the metrics registry, when its response has ended (for a
//! stream, when the last event went out or the client left), and sends Alice's own share of the
//! time so far as `x-alice-overhead-ms`: total time minus the time spent waiting on backends,
//! which handlers measure through [`UpstreamTime`]. At the same moment, a chat request's A/B
//! experiment outcome is settled ([`Experiments::settle`]); its span carries `experiment` and
//! `variant` once the handler assigned them, so the request's log lines name them.
//!
//! A chat request cut by its deadline reaches the latency brownout here, with the deadline as
//! its time to first token: the user waited that long and saw nothing (a non-streamed answer
//! shows nothing until it is whole), and a backend slower than the deadline must raise the
//! level rather than vanish from the figures.

use crate::error::{ApiError, ErrorCode, RETRY_ADVICE, RetryAdvice};
use crate::http::authentication::AuthenticatedUser;
use crate::http::client_addr;
use crate::http::request_id::{self, REQUEST_ID, REQUEST_ID_HEADER, current_request_id};
use crate::metrics::Metrics;
use crate::runtime::experiments::{ExperimentSlot, Experiments, RequestEnd, Route};
use crate::runtime::guardian_link::GuardianLink;
use alice_core::Config;
use alice_llm::RoutedStream;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

pub const OVERHEAD_HEADER: HeaderName = HeaderName::from_static("x-alice-overhead-ms");
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
    /// Time spent waiting on backends so far.
    pub upstream: Arc<UpstreamTime>,
    /// Prompt and completion tokens the answer used, told by the chat paths when it is done;
    /// the rate limiter charges them to the caller's token budget.
    pub tokens: Arc<AtomicU64>,
    /// Set by the chat paths when a streamed answer failed after its 200 head went out (the
    /// stream then ends with an error event): the idempotency layer must not keep it.
    pub failed_midstream: Arc<AtomicBool>,
    /// The A/B experiment the chat handlers assigned the request to, and its answer.
    pub experiment: Arc<ExperimentSlot>,
}

impl RequestContext {
    /// Notes the tokens the answer used.
    pub fn used_tokens(&self, prompt: Option<u64>, completion: Option<u64>) {
        let used = prompt.unwrap_or(0).saturating_add(completion.unwrap_or(0));
        self.tokens.fetch_add(used, Ordering::Relaxed);
    }

    /// Notes that the streamed answer failed after it began.
    pub fn fail_midstream(&self) {
        self.failed_midstream.store(true, Ordering::Relaxed);
    }
}

/// Time a request spent waiting on backends: in the router (queue, retries, first token) and
/// for each later event of the answer. Alice's overhead is the rest of the request's time.
#[derive(Debug, Default)]
pub struct UpstreamTime {
    micros: AtomicU64,
}

impl UpstreamTime {
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }

    fn add(&self, waited: Duration) {
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Awaits `call` (a backend call) and counts its time as upstream time.
    pub async fn time<F: Future>(&self, call: F) -> F::Output {
        let started = Instant::now();
        let output = call.await;
        self.add(started.elapsed());
        output
    }

    /// The backend's events, with the wait for each one counted as upstream time.
    pub fn stream(self: &Arc<Self>, mut events: RoutedStream) -> RoutedStream {
        let clock = Arc::clone(self);
        async_stream::stream! {
            loop {
                let next = clock.time(events.next()).await;
                match next {
                    Some(event) => yield event,
                    None => break,
                }
            }
        }
        .boxed()
    }
}

/// The chat route of a request, by its route pattern and method.
fn chat_route(route: &str, method: &axum::http::Method) -> Option<Route> {
    match (route, *method == axum::http::Method::POST) {
        ("/api/chat", true) => Some(Route::Native),
        ("/v1/chat/completions", true) => Some(Route::OpenAi),
        _ => None,
    }
}

pub async fn request_context(
    State(config): State<Arc<Config>>,
    State(metrics): State<Arc<Metrics>>,
    State(experiments): State<Experiments>,
    State(guardian): State<GuardianLink>,
    mut request: Request,
    next: Next,
) -> Response {
    let received = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| request_id::is_acceptable_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = client_addr::resolve(peer, request.headers(), &config.server.trusted_proxies);
    request.extensions_mut().insert(client);
    let timeout = config.deadlines.for_path(&path);
    let upstream = Arc::new(UpstreamTime::default());
    let context = RequestContext {
        request_id: request_id.clone(),
        received,
        deadline: received + timeout,
        timeout,
        path: path.clone(),
        upstream: upstream.clone(),
        tokens: Arc::default(),
        failed_midstream: Arc::default(),
        experiment: Arc::default(),
    };
    let slot = Arc::clone(&context.experiment);
    let is_chat = chat_route(&route, &method).is_some();
    let in_experiment = chat_route(&route, &method)
        .filter(|_| experiments.any())
        .map(|route| (experiments, slot, route));
    request.extensions_mut().insert(context);

    let span = tracing::info_span!(
        "request",
        req_id = %request_id,
        conversation_id = tracing::field::Empty,
        experiment = tracing::field::Empty,
        variant = tracing::field::Empty
    );
    let work = async move {
        let mut response = match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                if let (true, Some(latency)) = (is_chat, guardian.latency()) {
                    latency.observe(received, timeout, Duration::ZERO);
                }
                ApiError::DeadlineExceeded {
                    path: path.clone(),
                    timeout,
                }
                .into_response()
            }
        };
        let status = response.status().as_u16();
        let user = response
            .extensions()
            .get::<AuthenticatedUser>()
            .map(|user| user.0.as_str());
        tracing::info!(
            evt = "request_done",
            method = %method,
            path = %path,
            status,
            user,
            client = client.ip.map(tracing::field::display),
            duration_ms = received.elapsed().as_secs_f64() * 1000.0,
        );
        let caller = user.map(str::to_owned);
        if let Ok(value) = HeaderValue::from_str(&current_request_id().unwrap_or_default()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        let overhead = received.elapsed().saturating_sub(upstream.get());
        if let Ok(value) = HeaderValue::from_str(&format!("{:.3}", overhead.as_secs_f64() * 1e3)) {
            response.headers_mut().insert(OVERHEAD_HEADER, value);
        }
        let error = response.extensions().get::<ErrorCode>().map(|code| code.0);
        let experiment = in_experiment.map(|(experiments, slot, route)| SettleWhenDone {
            experiments,
            slot,
            route,
            request_id: current_request_id().unwrap_or_default(),
            caller,
        });
        let record = RecordWhenDone {
            metrics,
            route,
            method: method.to_string(),
            status,
            error,
            received,
            upstream,
            experiment,
        };
        if is_event_stream(&response) {
            let (parts, body) = response.into_parts();
            // The guard travels with the body and records when the stream ends or the client
            // leaves, whichever drops the body first.
            let body = body.into_data_stream().map(move |chunk| {
                let _ = &record;
                chunk
            });
            response = Response::from_parts(parts, Body::from_stream(body));
        }
        response
    };
    let advice = RetryAdvice::from(&config.server);
    REQUEST_ID
        .scope(
            request_id,
            RETRY_ADVICE.scope(advice, work.instrument(span)),
        )
        .await
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"))
}

/// Records a request in the metrics registry when dropped: at once for an ordinary response,
/// with the body for a stream.
struct RecordWhenDone {
    metrics: Arc<Metrics>,
    route: String,
    method: String,
    status: u16,
    /// The error code of an error answer.
    error: Option<&'static str>,
    received: Instant,
    upstream: Arc<UpstreamTime>,
    /// A chat request's experiment outcome, settled with the rest.
    experiment: Option<SettleWhenDone>,
}

/// What settling a chat request's experiment outcome needs.
struct SettleWhenDone {
    experiments: Experiments,
    slot: Arc<ExperimentSlot>,
    route: Route,
    request_id: String,
    caller: Option<String>,
}

impl Drop for RecordWhenDone {
    fn drop(&mut self) {
        let took = self.received.elapsed();
        self.metrics.record_request(
            &self.route,
            &self.method,
            (self.status, self.error),
            took,
            took.saturating_sub(self.upstream.get()),
        );
        if let Some(settle) = &self.experiment {
            settle.experiments.settle(
                &settle.slot,
                &RequestEnd {
                    route: settle.route,
                    request_id: &settle.request_id,
                    status: self.status,
                    error: self.error,
                    caller: settle.caller.as_deref(),
                },
            );
        }
    }
}
