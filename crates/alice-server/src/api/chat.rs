//! `POST /api/chat`: Alice's native chat endpoint, as JSON or as Server-Sent Events.
//!
//! Both forms stream from the backend. The streaming form waits for the backend's first event
//! before it commits to an SSE response, so a backend that fails before answering gets a proper
//! HTTP error status rather than a 200 stream holding an error. After that, events are:
//! `delta` (`{"delta": "text"}`) for each piece of the answer, then `done` with the same fields
//! as the JSON reply, or `error` with the error body.
//!
//! What Alice answers herself (the time, a timer, a sum, a memory command: see
//! [`local_answers`]) goes through the same reply and stream as a model's answer.

use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::request_context::RequestContext;
use crate::service::ChatService;
use crate::service::answers::{self, Answer, Served};
use crate::service::generation::{self, Generation};
use crate::service::local_answers::{self, LocalTurn};
use crate::service::tool_rounds::{self, ToolTurn};
use crate::service::turn::{self, ChatBody, PreparedTurn};
use alice_identity::Caller;
use alice_llm::{RoutedEvent, RoutedStream};
use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::convert::Infallible;
use tracing::{Instrument, Span};

pub async fn chat(
    State(service): State<ChatService>,
    Extension(context): Extension<RequestContext>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<ChatBody>,
) -> Result<Response, ApiError> {
    let mut turn = turn::prepare(&service, &context, &caller, &body).await?;
    Span::current().record(
        "conversation_id",
        tracing::field::display(turn.conversation_id()),
    );
    let answer = match turn.take_local() {
        Some(classification) => {
            let model = local_answers::model_name(&classification.intent);
            let local = LocalTurn {
                username: turn.username(),
                conversation_id: turn.conversation_id(),
                starts_conversation: !turn.continues_conversation(),
                message: &body.message,
                level: turn.level(),
            };
            let answer = local_answers::answer(&service, &local, classification).await?;
            turn.note_route(answer.route);
            answers::said_by_alice(model, answer.text)
        }
        None => {
            let mut request = turn.backend_request(&service, &context, body.stream);
            request.tools = tool_rounds::offered(&service, turn.level());
            if request.tools.is_empty() {
                from_backend(&service, &context, &mut turn, request).await?
            } else {
                with_tools(&service, &context, &mut turn, &body.message, request).await?
            }
        }
    };
    let served = answer.served;
    let mut upstream = context.upstream.stream(answer.events);
    if !body.stream {
        let whole = Generation::served_from(served);
        let (whole, completion) = generation::collect(&service, &context, whole, upstream).await?;
        let reply = turn::finish(&service, &context, turn, whole, completion).await?;
        return Ok(axum::Json(reply).into_response());
    }
    let first = match upstream.next().await {
        Some(Ok(event)) => event,
        Some(Err(error)) => return Err(generation::backend_error(&context, error)),
        None => return Err(generation::ended_early(&service)),
    };
    let events = sse_events(service, context, turn, (served, first), upstream);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The backend's answer (or the cache's, or a flight's, when it may be shared).
async fn from_backend(
    service: &ChatService,
    context: &RequestContext,
    turn: &mut PreparedTurn,
    request: alice_llm::ChatRequest,
) -> Result<Answer, ApiError> {
    let share = if turn.uses_memories() {
        Err(alice_cache::Reason::Personal)
    } else {
        answers::shareable(
            service,
            &request,
            turn.level(),
            turn.continues_conversation(),
            turn.assigned(),
        )
    };
    if let Ok(key) = &share {
        turn.set_cache_key(key);
    }
    context
        .upstream
        .time(answers::open(service, request, share))
        .await
        .map_err(|error| generation::failed_to_open(service, context, error))
}

/// The backend's answer after the rounds of tool calls it makes ([`tool_rounds`]).
async fn with_tools(
    service: &ChatService,
    context: &RequestContext,
    turn: &mut PreparedTurn,
    message: &str,
    request: alice_llm::ChatRequest,
) -> Result<Answer, ApiError> {
    let tools = ToolTurn {
        username: turn.username(),
        conversation_id: turn.conversation_id(),
        message,
        level: turn.level(),
    };
    let (answer, uses) = context
        .upstream
        .time(tool_rounds::answer(service, &tools, request))
        .await
        .map_err(|error| generation::failed_to_open(service, context, error))?;
    turn.note_tool_uses(uses);
    Ok(answer)
}

/// The SSE events of one answer. Runs while the client reads; if the client goes away the
/// stream is dropped, which drops the backend request and so stops generation.
fn sse_events(
    service: ChatService,
    context: RequestContext,
    turn: PreparedTurn,
    (served, first): (Served, RoutedEvent),
    upstream: RoutedStream,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let span = Span::current();
    let events = generation::answer_events(&service, &context, first, upstream);
    async_stream::stream! {
        let mut generation = Generation::served_from(served);
        futures_util::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(RoutedEvent::Started(by)) => generation.answered_by = Some(by),
                Ok(RoutedEvent::Delta(text)) => {
                    generation.push(&text);
                    yield Ok(Event::default().event("delta").data(json!({ "delta": text }).to_string()));
                }
                // This API offers the model no tools (yet), so no backend calls one; a call
                // nobody offered is not passed on.
                Ok(RoutedEvent::ToolCalls(_)) => {}
                Ok(RoutedEvent::Done(completion)) => {
                    let finished = turn::finish(&service, &context, turn, generation, completion)
                        .instrument(span.clone())
                        .await;
                    match finished {
                        Ok(reply) => {
                            let data = serde_json::to_string(&reply).unwrap_or_default();
                            yield Ok(Event::default().event("done").data(data));
                        }
                        Err(error) => yield Ok(error_event(&span, &context, &error)),
                    }
                    // The last event: answer_events ends after Done.
                    break;
                }
                Err(error) => yield Ok(error_event(&span, &context, &error)),
            }
        }
    }
}

/// An `error` event: the error body, logged under the request's span (the stream is polled
/// outside the request's task-local scope, so the request id is set here), and noted in the
/// request's context, so that the failed answer is not kept for a retry.
fn error_event(span: &Span, context: &RequestContext, error: &ApiError) -> Event {
    tracing::warn!(parent: span, evt = "stream_failed", code = error.code(), error = %error);
    context.fail_midstream();
    context
        .experiment
        .failed(error.status().as_u16(), error.code());
    let mut body: Value = error.body();
    body["request_id"] = json!(context.request_id);
    body["status"] = json!(error.status().as_u16());
    Event::default().event("error").data(body.to_string())
}
