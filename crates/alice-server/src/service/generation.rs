//! An answer as it streams from its source to a client, shared by both chat APIs: the text so
//! far and who answered ([`Generation`]), the events with the request's deadline and the
//! errors that end them ([`answer_events`]), and the one way a backend failure becomes an
//! [`ApiError`].

use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::service::ChatService;
use crate::service::answers::{Served, stream_ended};
use alice_llm::{AnsweredBy, Completion, RoutedEvent, RoutedStream, ToolCall};
use futures_util::StreamExt;
use tokio::time::Instant;

/// The answer as it arrives.
#[derive(Debug, Default)]
pub struct Generation {
    pub text: String,
    /// The model's calls of the tools it was offered, when it made any.
    pub tool_calls: Vec<ToolCall>,
    pub first_token_at: Option<Instant>,
    /// Which backend took the request, as the router said before the text.
    pub answered_by: Option<AnsweredBy>,
    /// Whether the answer is fresh, kept, or shared with an identical request.
    pub served: Served,
}

impl Generation {
    /// An answer for a request served from `served`.
    pub fn served_from(served: Served) -> Self {
        Self {
            served,
            ..Self::default()
        }
    }

    /// The answer's `model` field: "backend:model", marked when it was a failover or a cache
    /// hit.
    pub fn model_label(&self, service: &ChatService) -> String {
        let label = self
            .answered_by
            .as_ref()
            .map_or_else(|| service.model_label(), AnsweredBy::label);
        if self.cached() {
            format!("{label} (cache)")
        } else {
            label
        }
    }

    pub fn cached(&self) -> bool {
        matches!(self.served, Served::Cache(_))
    }

    pub fn push(&mut self, delta: &str) {
        if self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
        self.text.push_str(delta);
    }
}

/// Time to first token and time waiting on backends, for the metrics, once an answer is done;
/// and, for an answer a backend gave, its time to first token and queue wait for the latency
/// brownout (a kept answer or Alice's own says nothing about the backends).
pub fn record_chat_metrics(
    service: &ChatService,
    api: &'static str,
    context: &RequestContext,
    generation: &Generation,
) {
    let ttft = generation
        .first_token_at
        .map(|at| at.duration_since(context.received));
    service
        .metrics
        .record_chat(api, ttft, context.upstream.get());
    let from_backend = matches!(generation.served, Served::Backend | Served::Coalesced);
    if let (true, Some(ttft), Some(latency)) = (from_backend, ttft, service.guardian.latency()) {
        let queue_wait = generation
            .answered_by
            .as_ref()
            .map_or(0, |by| by.queue_wait_ms);
        latency.observe(
            context.received,
            ttft,
            std::time::Duration::from_millis(queue_wait),
        );
    }
}

/// The backend's events from the first one on, as a streaming API hands them to a client:
/// each item is an event, or the one error that ends the answer (`deadlines.stream_max`, a
/// backend failure, or a stream that stopped without `Done`). Nothing follows `Done` or an
/// error. Dropping it drops the backend request.
///
/// The request's deadline (`deadlines.chat`) has done its work by now: it bounded the wait for
/// the first token. A stream that keeps producing tokens is not cut at it: the router ends an
/// answer that falls silent for longer than the backend's `idle_timeout`, and this stream ends
/// at `deadlines.stream_max` after the request came in.
pub fn answer_events(
    service: &ChatService,
    context: &RequestContext,
    first: RoutedEvent,
    mut upstream: RoutedStream,
) -> impl futures_util::Stream<Item = Result<RoutedEvent, ApiError>> + Send + use<> {
    let context = context.clone();
    let ended = ended_early(service);
    let stream_max = service.config.deadlines.stream_max;
    let stream_end = context.received + stream_max;
    async_stream::stream! {
        let mut pending = Some(first);
        loop {
            let next = match pending.take() {
                Some(event) => Ok(Some(Ok(event))),
                None => tokio::time::timeout_at(stream_end, upstream.next()).await,
            };
            match next {
                Err(_) => {
                    yield Err(ApiError::StreamTooLong { limit: stream_max });
                    break;
                }
                Ok(None) => {
                    yield Err(ended);
                    break;
                }
                Ok(Some(Err(error))) => {
                    yield Err(ApiError::Backend(error));
                    break;
                }
                Ok(Some(Ok(RoutedEvent::Done(completion)))) => {
                    yield Ok(RoutedEvent::Done(completion));
                    break;
                }
                Ok(Some(Ok(event))) => yield Ok(event),
            }
        }
    }
}

/// A whole answer, for the APIs' non-streamed replies: the text, tool calls and who answered, and the
/// backend's completion. Fails as [`answer_events`] would end.
pub async fn collect(
    service: &ChatService,
    context: &RequestContext,
    mut generation: Generation,
    mut upstream: RoutedStream,
) -> Result<(Generation, Completion), ApiError> {
    while let Some(event) = upstream.next().await {
        match event.map_err(|error| backend_error(context, error))? {
            RoutedEvent::Started(by) => generation.answered_by = Some(by),
            RoutedEvent::Delta(text) => generation.push(&text),
            RoutedEvent::ToolCalls(calls) => generation.tool_calls.extend(calls),
            RoutedEvent::Done(completion) => return Ok((generation, completion)),
        }
    }
    Err(ended_early(service))
}

/// The error a backend call that failed before its first token becomes ([`backend_error`]).
/// One that timed out also counts for the latency brownout, with the time waited as its time to
/// first token (it had none for at least that long): a backend slower than the deadline must
/// raise the level, not vanish from the figures. Quick refusals are left out; they would count
/// as fast answers.
pub fn failed_to_open(
    service: &ChatService,
    context: &RequestContext,
    error: alice_llm::LlmError,
) -> ApiError {
    if error.kind == alice_llm::ErrorKind::TimedOut
        && let Some(latency) = service.guardian.latency()
    {
        latency.observe(
            context.received,
            context.received.elapsed(),
            std::time::Duration::ZERO,
        );
    }
    backend_error(context, error)
}

/// A backend stream that stopped before saying it was done.
pub fn ended_early(service: &ChatService) -> ApiError {
    ApiError::Backend(stream_ended(service))
}

/// The error a failed backend call becomes. When the request's deadline is what stopped the
/// backend, the client is told about the deadline (504 with path and timeout).
pub fn backend_error(context: &RequestContext, error: alice_llm::LlmError) -> ApiError {
    if error.kind == alice_llm::ErrorKind::TimedOut && Instant::now() >= context.deadline {
        ApiError::DeadlineExceeded {
            path: context.path.clone(),
            timeout: context.timeout,
        }
    } else {
        ApiError::Backend(error)
    }
}
