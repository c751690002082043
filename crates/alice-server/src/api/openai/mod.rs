//! `POST /v1/chat/completions` and `GET /v1/models`: OpenAI's chat API in front of Alice, so the
//! official `openai` SDKs, and the tools built on them, work unchanged with
//! `base_url = "http://HOST:PORT/v1"` and any API key.
//!
//! The endpoint is stateless, like OpenAI's: the client sends the whole conversation each time,
//! and nothing is stored in Alice's conversation tables. `/api/chat` is the endpoint that keeps
//! history.
//!
//! How a request becomes a backend request:
//! - `model` is required, as in OpenAI's API, but any value is accepted: Alice answers with its
//!   configured backend and names that in the answer's `model` (the streamed answer names the
//!   primary backend, because its chunks go out before the router says who answered).
//! - The client's system (or `developer`) messages replace `chat.system_prompt`; they are joined
//!   into one system message at the start, as most chat templates take only one. Without any,
//!   Alice's own system prompt is used, so Alice still answers as Alice.
//! - Content is a string or an array of text parts (joined by newlines); images, audio and
//!   files are refused. The last message must be from the user, or (in a tool round) a
//!   `tool` result.
//! - All messages together may hold `4 × chat.max_message_chars` characters: the client resends
//!   the history that `/api/chat` would keep for it, so the bound is a few messages' worth. What
//!   really decides is the context window: the oldest history is left out until the prompt fits
//!   `chat.num_ctx` minus the answer's tokens; if the system and last user message alone do not
//!   fit, the answer is 400 `context_length_exceeded`, as from OpenAI.
//! - `max_tokens` / `max_completion_tokens` (the newer name wins when both are sent) are
//!   lowered to `chat.max_tokens`, not refused, because many clients send a large fixed value.
//! - Tools are passed through: the client's `tools` (functions, at most 128) go to the
//!   backend, in each backend protocol's shape, and the model's calls come back in OpenAI's:
//!   non-streamed as `choices[0].message.tool_calls` with `content: null` (or the text that
//!   came with them) and `finish_reason: "tool_calls"`; streamed as `delta.tool_calls` chunks
//!   (each call whole in one chunk, with `index`, `id`, `type` and `function{name,
//!   arguments}`), then a chunk with `finish_reason: "tool_calls"`. The client runs the tools
//!   and sends the assistant's message with its `tool_calls` (content may be null) and one
//!   `tool` message per result, with its `tool_call_id`; Alice runs no tool here. History is
//!   trimmed without separating a result from its call. `tool_choice` ("auto", "none",
//!   "required" or a named function) goes to an OpenAI-compatible backend as it is; Ollama has
//!   no such setting, so there it is ignored, except that "none" offers Ollama no tools. The
//!   embedded last resort is offered no tools and answers with text. Requests that offer tools
//!   are never answered from, or kept in, the response cache, nor shared with an identical
//!   request in flight: a call's result comes from the client's own world.
//! - `n` other than 1 and the legacy `functions` / `function_call` (use `tools` and
//!   `tool_choice`) are refused with 400; sampling options
//!   Alice does not pass on (`top_p`, `seed`, `response_format`, ...) and unknown fields are
//!   accepted and ignored, because the SDKs send extras.
//!
//! A caller taking part in an A/B experiment that covers `/v1` gets their variant's settings
//! (its system prompt when the client sends none, brownout floor, model and backend), and every
//! reply and chunk carries an extra top-level `"alice_experiment": {"name", "variant"}`, which
//! the SDKs ignore.
//!
//! Errors have OpenAI's shape, `{"error": {message, type, param, code}}`, with the status codes,
//! `Retry-After` and log lines of [`ApiError`], except that Alice's 422 for bad input is 400
//! here: OpenAI answers invalid requests with 400, and the SDKs raise `BadRequestError` for it.

use crate::error::ApiError;
use crate::error::openai::OpenAiError;
use crate::http::json_body::JsonBody;
use crate::http::request_context::RequestContext;
use crate::runtime::experiments::{self, Assigned, Route};
use crate::service::ChatService;
use crate::service::answers;
use crate::service::context_budget;
use crate::service::generation::{self, Generation};
use crate::service::turn;
use crate::state::StartedAt;
use alice_identity::{Caller, Credential};
use alice_llm::{AnsweredBy, ChatRequest, Completion, LlmRouter, RoutedEvent, RoutedStream};
use alice_request::openai::{CompletionBody, Plan};
use axum::extract::{FromRequest, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use reply::{AnswerHead, Delta, WireCall, finish_reason};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use tracing::{Instrument, Span};

mod reply;

/// The model id `/v1/models` lists besides the backend's own; any id is accepted anyway.
const ALIAS_MODEL_ID: &str = "alice";
/// Longest part of a client's `user` that goes into log lines; it is free text of any length.
const MAX_LOGGED_USER_CHARS: usize = 64;

pub async fn chat_completions(
    State(service): State<ChatService>,
    Extension(context): Extension<RequestContext>,
    Extension(caller): Extension<Caller>,
    OpenAiJson(body): OpenAiJson<CompletionBody>,
) -> Result<Response, OpenAiError> {
    let user: Option<String> = body
        .user
        .as_deref()
        .map(|user| user.chars().take(MAX_LOGGED_USER_CHARS).collect());
    // The caller's variant (the body's `user` is only a label); nobody's with auth off.
    let assigned = match caller.credential {
        Credential::Open => None,
        _ => service.experiments.assign(Route::OpenAi, &caller.username),
    };
    if let Some(assigned) = &assigned {
        // On the request's span, before the handler's own: every line of the request names it.
        experiments::note_in_span(assigned);
        context.experiment.take_part(assigned.clone());
    }
    let span = tracing::info_span!(
        "openai",
        user = user.as_deref(),
        requested_model = %body.model
    );
    let priority = caller.priority;
    answer(
        service,
        context,
        (caller.username, priority),
        assigned,
        body,
    )
    .instrument(span)
    .await
}

/// `client` is the caller, whose turn the request waits in at the backend (the body's `user`
/// is only a label), and its key's priority class; `assigned` the A/B experiment's variant the
/// caller takes part in.
async fn answer(
    service: ChatService,
    context: RequestContext,
    (client, priority): (String, alice_core::Priority),
    assigned: Option<Assigned>,
    body: CompletionBody,
) -> Result<Response, OpenAiError> {
    // A variant's system prompt replaces `chat.system_prompt`: used, like it, when the client
    // sends none of its own.
    let variant_settings = assigned
        .as_ref()
        .and_then(|a| a.variant.system_prompt.as_ref())
        .map(|prompt| alice_core::config::ChatConfig {
            system_prompt: prompt.clone(),
            ..service.config.chat.clone()
        });
    let settings = variant_settings.as_ref().unwrap_or(&service.config.chat);
    let mut plan = Plan::from_body(body, settings)?;
    // The brownout preset makes answers cheaper here too; the client's own system prompt
    // stays, as this API leaves the conversation to the client.
    let preset = service.preset_for(assigned.as_ref());
    (plan.max_tokens, plan.temperature) =
        turn::under_preset(&preset, plan.max_tokens, plan.temperature);
    plan.dropped += context_budget::keep_recent(&mut plan.prompt, preset.history_messages);
    if plan.dropped > 0 {
        tracing::info!(
            evt = "history_trimmed",
            dropped_messages = plan.dropped,
            num_ctx = settings.num_ctx
        );
    }
    let request = ChatRequest {
        messages: plan.prompt,
        max_tokens: plan.max_tokens,
        temperature: plan.temperature,
        num_ctx: settings.num_ctx,
        stop: plan.stop,
        deadline: Some(context.deadline),
        stream_deadline: plan
            .stream
            .then(|| context.received + service.config.deadlines.stream_max),
        model: service.model_for_variant(&preset, assigned.as_ref()),
        client: Some(client),
        priority,
        backend: assigned.as_ref().and_then(|a| a.variant.backend.clone()),
        tools: plan.tools,
        tool_choice: plan.tool_choice,
    };
    // A request that came with history (trimmed or not) is a conversation: not shareable.
    let share = answers::shareable(
        &service,
        &request,
        preset.level,
        plan.dropped > 0,
        assigned.as_ref(),
    );
    let answer = context
        .upstream
        .time(answers::open(&service, request, share))
        .await
        .map_err(|error| generation::failed_to_open(&service, &context, error))?;
    let served = answer.served;
    let mut upstream = context.upstream.stream(answer.events);
    let head = AnswerHead::new(service.model_label(), assigned.as_ref().map(Assigned::tag));

    if !plan.stream {
        let whole = Generation::served_from(served);
        let (whole, completion) = generation::collect(&service, &context, whole, upstream).await?;
        log_done(&service, &Span::current(), &context, &whole, &completion);
        let head = AnswerHead {
            model: whole.model_label(&service),
            ..head
        };
        let calls = WireCall::all(&whole.tool_calls, false);
        return Ok(Json(head.completion(&whole.text, &calls, &completion)).into_response());
    }

    // Wait for the first event before committing to a 200 stream, so a backend that fails
    // before it answers gets a proper HTTP status (and Retry-After) the SDK can act on. The
    // router says who answers first; every chunk then names that model.
    let mut generation = Generation::served_from(served);
    let first = loop {
        match upstream.next().await {
            Some(Ok(RoutedEvent::Started(by))) => generation.answered_by = Some(by),
            Some(Ok(event)) => break event,
            Some(Err(error)) => return Err(generation::backend_error(&context, error).into()),
            None => return Err(generation::ended_early(&service).into()),
        }
    };
    let head = AnswerHead {
        model: generation.model_label(&service),
        ..head
    };
    let chunks = sse_chunks(
        service,
        context,
        head,
        plan.include_usage,
        (generation, first),
        upstream,
    );
    Ok(Sse::new(chunks)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The `data:` lines of a streamed answer: a role chunk, a chunk per delta, a chunk with the
/// finish reason, the usage chunk when asked for, then `[DONE]`. A failure after the first
/// token sends an error chunk and ends without `[DONE]`, so the SDK raises instead of returning
/// a cut answer as complete. Dropping the stream (the client left) drops the backend request.
fn sse_chunks(
    service: ChatService,
    context: RequestContext,
    head: AnswerHead,
    include_usage: bool,
    (mut generation, first): (Generation, RoutedEvent),
    upstream: RoutedStream,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    // The stream is polled outside the request's span, so its log lines name it as parent.
    let span = Span::current();
    let events = generation::answer_events(&service, &context, first, upstream);
    async_stream::stream! {
        yield Ok(Event::default().data(head.chunk(Delta::role(), None, include_usage)));
        futures_util::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(RoutedEvent::Started(by)) => generation.answered_by = Some(by),
                Ok(RoutedEvent::Delta(text)) => {
                    generation.push(&text);
                    if !text.is_empty() {
                        yield Ok(Event::default().data(head.chunk(Delta::text(&text), None, include_usage)));
                    }
                }
                Ok(RoutedEvent::ToolCalls(calls)) => {
                    let wire = WireCall::all(&calls, true);
                    yield Ok(Event::default().data(head.chunk(Delta::calls(&wire), None, include_usage)));
                    generation.tool_calls.extend(calls);
                }
                Ok(RoutedEvent::Done(completion)) => {
                    log_done(&service, &span, &context, &generation, &completion);
                    let reason = finish_reason(&completion.finish_reason);
                    yield Ok(Event::default().data(head.chunk(Delta::default(), Some(reason), include_usage)));
                    if include_usage {
                        yield Ok(Event::default().data(head.usage_chunk(&completion)));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    break;
                }
                Err(error) => yield Ok(error_chunk(&span, &context, error.into())),
            }
        }
    }
}

fn data(chunk: &Value) -> Event {
    Event::default().data(chunk.to_string())
}

/// An error chunk in OpenAI's shape, logged as a failed stream and noted in the request's
/// context, so that the failed answer is not kept for a retry.
fn error_chunk(span: &Span, context: &RequestContext, error: OpenAiError) -> Event {
    tracing::warn!(parent: span, evt = "stream_failed", code = error.code(), error = %error);
    context.fail_midstream();
    context
        .experiment
        .failed(error.status().as_u16(), error.code());
    data(&error.body())
}

/// Logged as `chat_done`, like `/api/chat`'s turns, so latency and token figures cover both
/// APIs; `api` tells them apart (and that nothing was stored).
fn log_done(
    service: &ChatService,
    span: &Span,
    context: &RequestContext,
    generation: &Generation,
    completion: &Completion,
) {
    let millis =
        |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    generation::record_chat_metrics(service, "openai", context, generation);
    context.used_tokens(completion.prompt_tokens, completion.completion_tokens);
    let ttft_ms = generation
        .first_token_at
        .map(|at| millis(at.duration_since(context.received)));
    let total_ms = millis(context.received.elapsed());
    // Nothing is stored here, so the outcome names no answer.
    context.experiment.answered(experiments::Answered {
        latency_ms: total_ms,
        ttft_ms,
        completion_tokens: completion.completion_tokens,
        message_id: None,
    });
    tracing::info!(
        parent: span,
        evt = "chat_done",
        api = "openai",
        model = generation.answered_by.as_ref().map(AnsweredBy::label),
        ttft_ms,
        total_ms,
        upstream_ms = completion.upstream_total_ms,
        prompt_tokens = completion.prompt_tokens,
        completion_tokens = completion.completion_tokens,
        tool_calls = generation.tool_calls.len(),
        // The backend's own reason, which the answer may have mapped to "stop".
        finish_reason = ?completion.finish_reason,
    );
}

/// `GET /v1/models`: the configured model, and the alias `alice`.
pub async fn models(
    State(llm): State<Arc<LlmRouter>>,
    State(started): State<StartedAt>,
) -> Json<Value> {
    // OpenAI's `created` is when the model was made; when Alice started is the closest it knows.
    let created =
        chrono::Utc::now().timestamp() - i64::try_from(started.0.elapsed().as_secs()).unwrap_or(0);
    let mut ids = vec![llm.model().to_owned()];
    if ids[0] != ALIAS_MODEL_ID {
        ids.push(ALIAS_MODEL_ID.to_owned());
    }
    let data: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({ "id": id, "object": "model", "created": created, "owned_by": "alice" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// Unknown paths under `/v1`, answered in OpenAI's shape so an SDK shows the message.
pub async fn not_found(request: Request) -> OpenAiError {
    ApiError::RouteNotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
    .into()
}

/// A wrong method on a `/v1` path, in OpenAI's shape.
pub async fn method_not_allowed(request: Request) -> OpenAiError {
    ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
    .into()
}

/// A JSON body whose errors come in OpenAI's shape: 400 naming the field, 413 over the limit.
pub struct OpenAiJson<T>(pub T);

impl<S, T> FromRequest<S> for OpenAiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = OpenAiError;

    async fn from_request(request: Request, service: &S) -> Result<Self, Self::Rejection> {
        // The same reading and checks as Alice's own API; only the error shape differs.
        let JsonBody(body) = JsonBody::from_request(request, service).await?;
        Ok(OpenAiJson(body))
    }
}
