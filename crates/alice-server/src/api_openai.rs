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
//!   files are refused. The last message must be from the user.
//! - All messages together may hold `4 × chat.max_message_chars` characters: the client resends
//!   the history that `/api/chat` would keep for it, so the bound is a few messages' worth. What
//!   really decides is the context window: the oldest history is left out until the prompt fits
//!   `chat.num_ctx` minus the answer's tokens; if the system and last user message alone do not
//!   fit, the answer is 400 `context_length_exceeded`, as from OpenAI.
//! - `max_tokens` / `max_completion_tokens` (the newer name wins when both are sent) are
//!   lowered to `chat.max_tokens`, not refused, because many clients send a large fixed value.
//! - `n` other than 1, tools and the legacy functions are refused with 400; sampling options
//!   Alice does not pass on (`top_p`, `seed`, `response_format`, ...) and unknown fields are
//!   accepted and ignored, because the SDKs send extras.
//!
//! Errors have OpenAI's shape, `{"error": {message, type, param, code}}`, with the status codes,
//! `Retry-After` and log lines of [`ApiError`], except that Alice's 422 for bad input is 400
//! here: OpenAI answers invalid requests with 400, and the SDKs raise `BadRequestError` for it.

use crate::AppState;
use crate::answers;
use crate::chat::{self, Generation};
use crate::context_budget::{DoesNotFit, fit_prompt};
use crate::error::ApiError;
use crate::json_body::JsonBody;
use crate::request_context::RequestContext;
use alice_core::config::ChatConfig;
use alice_core::{ChatMessage, Role};
use alice_llm::{AnsweredBy, ChatRequest, Completion, FinishReason, RoutedEvent, RoutedStream};
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::convert::Infallible;
use tracing::{Instrument, Span};

/// OpenAI allows at most four stop sequences.
const MAX_STOP_SEQUENCES: usize = 4;
/// All messages together may hold this many times `chat.max_message_chars` characters.
const CONVERSATION_CHARS_FACTOR: usize = 4;
/// The model id `/v1/models` lists besides the backend's own; any id is accepted anyway.
const ALIAS_MODEL_ID: &str = "alice";
/// Longest part of a client's `user` that goes into log lines; it is free text of any length.
const MAX_LOGGED_USER_CHARS: usize = 64;

/// `POST /v1/chat/completions` body: the fields Alice reads. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct CompletionBody {
    /// Required, as by OpenAI; any value is accepted (see the module documentation).
    model: String,
    messages: Vec<InMessage>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    /// A string or an array of strings, checked by [`stop_sequences`].
    #[serde(default)]
    stop: Value,
    user: Option<String>,
    n: Option<i64>,
    // Taken as raw values only to refuse them when they ask for something.
    #[serde(default)]
    tools: Value,
    #[serde(default)]
    tool_choice: Value,
    #[serde(default)]
    functions: Value,
    #[serde(default)]
    function_call: Value,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// One message as a client sends it; `content` is checked by [`content_text`].
#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

/// A checked request, ready to go to the backend.
#[derive(Debug)]
struct Plan {
    prompt: Vec<ChatMessage>,
    /// History messages left out to fit the context window.
    dropped: usize,
    max_tokens: u32,
    temperature: f32,
    stop: Vec<String>,
    stream: bool,
    include_usage: bool,
}

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    OpenAiJson(body): OpenAiJson<CompletionBody>,
) -> Result<Response, OpenAiError> {
    let user: Option<String> = body
        .user
        .as_deref()
        .map(|user| user.chars().take(MAX_LOGGED_USER_CHARS).collect());
    let span = tracing::info_span!(
        "openai",
        user = user.as_deref(),
        requested_model = %body.model
    );
    answer(state, context, body).instrument(span).await
}

async fn answer(
    state: AppState,
    context: RequestContext,
    body: CompletionBody,
) -> Result<Response, OpenAiError> {
    let settings = &state.config().chat;
    let mut plan = Plan::from_body(body, settings)?;
    // The brownout preset makes answers cheaper here too; the client's own system prompt
    // stays, as this API leaves the conversation to the client.
    let preset = state.preset();
    (plan.max_tokens, plan.temperature) =
        chat::under_preset(&preset, plan.max_tokens, plan.temperature);
    plan.dropped += crate::context_budget::keep_recent(&mut plan.prompt, preset.history_messages);
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
        model: state.model_for(&preset),
    };
    // A request that came with history (trimmed or not) is a conversation: not shareable.
    let share = answers::shareable(&state, &request, preset.level, plan.dropped > 0);
    let answer = context
        .upstream
        .time(answers::open(&state, request, share))
        .await
        .map_err(|error| chat::backend_error(&context, error))?;
    let served = answer.served;
    let mut upstream = context.upstream.stream(answer.events);
    let head = AnswerHead::new(state.model_label());

    if !plan.stream {
        let mut generation = Generation::served_from(served);
        while let Some(event) = upstream.next().await {
            match event.map_err(|error| chat::backend_error(&context, error))? {
                RoutedEvent::Started(by) => generation.answered_by = Some(by),
                RoutedEvent::Delta(text) => generation.push(&text),
                RoutedEvent::Done(completion) => {
                    log_done(&state, &Span::current(), &context, &generation, &completion);
                    let model = generation.model_label(&state);
                    let head = AnswerHead { model, ..head };
                    return Ok(Json(head.completion(&generation.text, &completion)).into_response());
                }
            }
        }
        return Err(chat::ended_early(&state).into());
    }

    // Wait for the first event before committing to a 200 stream, so a backend that fails
    // before it answers gets a proper HTTP status (and Retry-After) the SDK can act on. The
    // router says who answers first; every chunk then names that model.
    let mut generation = Generation::served_from(served);
    let first = loop {
        match upstream.next().await {
            Some(Ok(RoutedEvent::Started(by))) => generation.answered_by = Some(by),
            Some(Ok(event)) => break event,
            Some(Err(error)) => return Err(chat::backend_error(&context, error).into()),
            None => return Err(chat::ended_early(&state).into()),
        }
    };
    let head = AnswerHead {
        model: generation.model_label(&state),
        ..head
    };
    let chunks = sse_chunks(
        state,
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
    state: AppState,
    context: RequestContext,
    head: AnswerHead,
    include_usage: bool,
    (mut generation, first): (Generation, RoutedEvent),
    upstream: RoutedStream,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    // The stream is polled outside the request's span, so its log lines name it as parent.
    let span = Span::current();
    let events = chat::answer_events(&state, &context, first, upstream);
    async_stream::stream! {
        yield Ok(data(&head.chunk(json!({"role": "assistant", "content": ""}), None, include_usage)));
        futures_util::pin_mut!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(RoutedEvent::Started(by)) => generation.answered_by = Some(by),
                Ok(RoutedEvent::Delta(text)) => {
                    generation.push(&text);
                    if !text.is_empty() {
                        yield Ok(data(&head.chunk(json!({ "content": text }), None, include_usage)));
                    }
                }
                Ok(RoutedEvent::Done(completion)) => {
                    log_done(&state, &span, &context, &generation, &completion);
                    let reason = finish_reason(&completion.finish_reason);
                    yield Ok(data(&head.chunk(json!({}), Some(reason), include_usage)));
                    if include_usage {
                        yield Ok(data(&head.usage_chunk(&completion)));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    break;
                }
                Err(error) => yield Ok(error_chunk(&span, error.into())),
            }
        }
    }
}

fn data(chunk: &Value) -> Event {
    Event::default().data(chunk.to_string())
}

/// An error chunk in OpenAI's shape, logged as a failed stream.
fn error_chunk(span: &Span, error: OpenAiError) -> Event {
    tracing::warn!(parent: span, evt = "stream_failed", code = error.code(), error = %error.error);
    data(&error.body())
}

/// Logged as `chat_done`, like `/api/chat`'s turns, so latency and token figures cover both
/// APIs; `api` tells them apart (and that nothing was stored).
fn log_done(
    state: &AppState,
    span: &Span,
    context: &RequestContext,
    generation: &Generation,
    completion: &Completion,
) {
    let millis =
        |duration: std::time::Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    chat::record_chat_metrics(state, "openai", context, generation);
    tracing::info!(
        parent: span,
        evt = "chat_done",
        api = "openai",
        model = generation.answered_by.as_ref().map(AnsweredBy::label),
        ttft_ms = generation
            .first_token_at
            .map(|at| millis(at.duration_since(context.received))),
        total_ms = millis(context.received.elapsed()),
        upstream_ms = completion.upstream_total_ms,
        prompt_tokens = completion.prompt_tokens,
        completion_tokens = completion.completion_tokens,
        // The backend's own reason, which the answer may have mapped to "stop".
        finish_reason = ?completion.finish_reason,
    );
}

/// What every chunk of one answer (or the whole answer) carries.
#[derive(Debug)]
struct AnswerHead {
    id: String,
    /// Unix seconds.
    created: i64,
    model: String,
}

impl AnswerHead {
    fn new(model: String) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: chrono::Utc::now().timestamp(),
            model,
        }
    }

    /// The non-streamed answer.
    fn completion(&self, text: &str, completion: &Completion) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "logprobs": null,
                "finish_reason": finish_reason(&completion.finish_reason),
            }],
            "usage": usage(completion),
        })
    }

    /// One streamed chunk. OpenAI puts `"usage": null` on every chunk when usage was asked
    /// for, and no `usage` key at all when it was not.
    fn chunk(&self, delta: Value, finish: Option<&str>, include_usage: bool) -> Value {
        let mut chunk = self.chunk_head(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        }]));
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The chunk `stream_options.include_usage` asks for: no choices, only the usage.
    fn usage_chunk(&self, completion: &Completion) -> Value {
        let mut chunk = self.chunk_head(json!([]));
        chunk["usage"] = usage(completion);
        chunk
    }

    fn chunk_head(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }
}

/// Token counts as the backend reported them; 0 where it did not.
fn usage(completion: &Completion) -> Value {
    let prompt = completion.prompt_tokens.unwrap_or(0);
    let answer = completion.completion_tokens.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": answer,
        "total_tokens": prompt.saturating_add(answer),
    })
}

/// OpenAI's finish reasons. Anything else a backend reports (Ollama's "load", "unload") ended
/// the answer normally as far as the client can tell, so it is "stop"; the log has the original.
fn finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Other(_) => "stop",
    }
}

impl Plan {
    /// Checks a request against OpenAI's rules and Alice's limits, and builds the prompt.
    fn from_body(body: CompletionBody, settings: &ChatConfig) -> Result<Plan, OpenAiError> {
        refuse_unsupported(&body)?;
        let max_tokens = max_tokens(&body, settings)?;
        let temperature = match body.temperature {
            None => settings.temperature,
            Some(t) if (0.0..=2.0).contains(&t) => t,
            Some(t) => {
                return Err(invalid(
                    "temperature",
                    format!("{t} is out of range; send a number from 0 to 2"),
                ));
            }
        };
        let stop = stop_sequences(&body.stop)?;
        let (prompt, dropped) = prompt(body.messages, settings, max_tokens)?;
        Ok(Plan {
            prompt,
            dropped,
            max_tokens,
            temperature,
            stop,
            stream: body.stream.unwrap_or(false),
            include_usage: body
                .stream_options
                .and_then(|options| options.include_usage)
                .unwrap_or(false),
        })
    }
}

/// Refuses what Alice cannot do rather than ignoring it, so a client never takes a plain answer
/// for several choices or for a model that saw its tools.
fn refuse_unsupported(body: &CompletionBody) -> Result<(), OpenAiError> {
    if let Some(n) = body.n.filter(|&n| n != 1) {
        return Err(OpenAiError::with_code(
            ApiError::invalid(
                "n",
                format!(
                    "n = {n} asks for several answers; Alice gives one, so leave n out or send 1"
                ),
            ),
            "unsupported_value",
        ));
    }
    for (field, value) in [
        ("tools", &body.tools),
        ("tool_choice", &body.tool_choice),
        ("functions", &body.functions),
        ("function_call", &body.function_call),
    ] {
        if asks_for_tools(value) {
            return Err(OpenAiError::with_code(
                ApiError::invalid(
                    field,
                    "tools are not supported yet; send the request without tools, tool_choice, \
                     functions and function_call",
                ),
                "unsupported_parameter",
            ));
        }
    }
    Ok(())
}

/// Empty lists, `null` and `"none"` ask for nothing, and some clients always send them.
fn asks_for_tools(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::String(choice) => !choice.is_empty() && choice != "none",
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The answer's token limit: the client's, lowered to `chat.max_tokens`; that when not given.
fn max_tokens(body: &CompletionBody, settings: &ChatConfig) -> Result<u32, OpenAiError> {
    let (field, asked) = match (body.max_completion_tokens, body.max_tokens) {
        (Some(asked), _) => ("max_completion_tokens", asked),
        (None, Some(asked)) => ("max_tokens", asked),
        (None, None) => return Ok(settings.max_tokens),
    };
    if asked == 0 {
        return Err(invalid(
            field,
            "must be at least 1; leave it out for the server's limit",
        ));
    }
    Ok(asked.min(settings.max_tokens))
}

/// `stop` as a list: a string or an array of up to four strings. Empty strings can end nothing
/// and are dropped.
fn stop_sequences(stop: &Value) -> Result<Vec<String>, OpenAiError> {
    let shape = "send a string or an array of up to 4 strings";
    let sequences: Vec<String> = match stop {
        Value::Null => return Ok(Vec::new()),
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid(
                    "stop",
                    format!("every stop sequence must be a string; {shape}"),
                )
            })?,
        _ => {
            return Err(invalid(
                "stop",
                format!("{stop} is not a stop sequence; {shape}"),
            ));
        }
    };
    if sequences.len() > MAX_STOP_SEQUENCES {
        return Err(invalid(
            "stop",
            format!("{} stop sequences were sent; {shape}", sequences.len()),
        ));
    }
    Ok(sequences.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Turns the client's messages into the prompt: system first, then as much history as fits,
/// then the last user message. Returns it with the number of history messages left out.
fn prompt(
    messages: Vec<InMessage>,
    settings: &ChatConfig,
    max_tokens: u32,
) -> Result<(Vec<ChatMessage>, usize), OpenAiError> {
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "the list is empty; send at least one message, the last one from the user",
        ));
    }
    let mut checked = Vec::with_capacity(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        let role = role(index, &message.role)?;
        checked.push(ChatMessage::new(
            role,
            content_text(index, message.content)?,
        ));
    }
    let chars: usize = checked.iter().map(|m| m.content.chars().count()).sum();
    let limit = settings
        .max_message_chars
        .saturating_mul(CONVERSATION_CHARS_FACTOR);
    if chars > limit {
        return Err(invalid(
            "messages",
            format!(
                "the messages hold {chars} characters; the limit is {limit} \
                 ({CONVERSATION_CHARS_FACTOR} × chat.max_message_chars); send less history"
            ),
        ));
    }
    let last = checked.len() - 1;
    let Some(new) = checked.pop().filter(|m| m.role == Role::User) else {
        return Err(invalid(
            format!("messages[{last}].role"),
            "the last message must be from the user; Alice does not continue an assistant's \
             message",
        ));
    };
    let (system, history): (Vec<_>, Vec<_>) =
        checked.into_iter().partition(|m| m.role == Role::System);
    let system = if system.is_empty() {
        (!settings.system_prompt.trim().is_empty())
            .then(|| ChatMessage::new(Role::System, settings.system_prompt.clone()))
    } else {
        let joined: Vec<String> = system.into_iter().map(|m| m.content).collect();
        Some(ChatMessage::new(Role::System, joined.join("\n\n")))
    };
    let offered = history.len() + usize::from(system.is_some()) + 1;
    let prompt = fit_prompt(system, history, new, settings.num_ctx, max_tokens).map_err(
        |DoesNotFit { needed, available }| {
            OpenAiError::with_code(
                ApiError::invalid(
                    "messages",
                    format!(
                        "the system messages and the last user message need about {needed} \
                         tokens, but the context window of {} tokens leaves {available} after \
                         the {max_tokens} reserved for the answer; shorten them or ask for fewer \
                         max_tokens",
                        settings.num_ctx
                    ),
                ),
                "context_length_exceeded",
            )
        },
    )?;
    let dropped = offered - prompt.len();
    Ok((prompt, dropped))
}

fn role(index: usize, role: &str) -> Result<Role, OpenAiError> {
    match role {
        // OpenAI's newer name for the system role.
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" | "function" => Err(OpenAiError::with_code(
            ApiError::invalid(
                format!("messages[{index}].role"),
                "tool results are not supported yet, as tools are not; leave them out",
            ),
            "unsupported_value",
        )),
        other => Err(invalid(
            format!("messages[{index}].role"),
            format!("unknown role {other:?}; use system, user or assistant"),
        )),
    }
}

/// A message's text: a string, or the text parts of an array joined by newlines.
fn content_text(index: usize, content: Value) -> Result<String, OpenAiError> {
    let field = format!("messages[{index}].content");
    let parts = match content {
        Value::String(text) => return Ok(text),
        Value::Array(parts) => parts,
        Value::Null => {
            return Err(invalid(field, "the message has no content; send its text"));
        }
        _ => {
            return Err(invalid(
                field,
                "send a string or an array of {\"type\": \"text\", \"text\": \"...\"} parts",
            ));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (part_index, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text").and_then(Value::as_str) {
                Some(text) => texts.push(text),
                None => {
                    return Err(invalid(
                        field,
                        format!("part {part_index} is a text part without a \"text\" string"),
                    ));
                }
            },
            Some(other) => {
                return Err(OpenAiError::with_code(
                    ApiError::invalid(
                        field,
                        format!(
                            "part {part_index} is of type {other:?}; Alice reads only text parts, \
                             not images, audio or files, so send the text alone"
                        ),
                    ),
                    "unsupported_value",
                ));
            }
            None => {
                return Err(invalid(
                    field,
                    format!(
                        "part {part_index} has no \"type\"; send {{\"type\": \"text\", \"text\": \"...\"}}"
                    ),
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> OpenAiError {
    ApiError::invalid(field, detail).into()
}

/// `GET /v1/models`: the configured model, and the alias `alice`.
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    // OpenAI's `created` is when the model was made; when Alice started is the closest it knows.
    let created = chrono::Utc::now().timestamp()
        - i64::try_from(state.started().elapsed().as_secs()).unwrap_or(0);
    let mut ids = vec![state.backend().model().to_owned()];
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
    fn with_code(error: ApiError, code: &'static str) -> Self {
        Self {
            error: Box::new(error),
            openai_code: Some(code),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.error.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            status => status,
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

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        Self {
            error: Box::new(error),
            openai_code: None,
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

/// A JSON body whose errors come in OpenAI's shape: 400 naming the field, 413 over the limit.
pub struct OpenAiJson<T>(pub T);

impl<S, T> FromRequest<S> for OpenAiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = OpenAiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The same reading and checks as Alice's own API; only the error shape differs.
        let JsonBody(body) = JsonBody::from_request(request, state).await?;
        Ok(OpenAiJson(body))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn settings() -> ChatConfig {
        ChatConfig::default()
    }

    fn plan(body: Value) -> Result<Plan, OpenAiError> {
        let body: CompletionBody = serde_json::from_value(body).unwrap();
        Plan::from_body(body, &settings())
    }

    fn refused(body: Value) -> (String, String, &'static str) {
        let error = plan(body).unwrap_err();
        let reply = error.body();
        (
            reply["error"]["param"].as_str().unwrap_or("").to_owned(),
            reply["error"]["message"].as_str().unwrap().to_owned(),
            error.code(),
        )
    }

    #[test]
    fn defaults_come_from_the_config_and_alices_prompt_is_used() {
        let plan =
            plan(json!({"model": "x", "messages": [{"role": "user", "content": "Hej"}]})).unwrap();
        assert_eq!(plan.max_tokens, 2048);
        assert_eq!(plan.temperature, 0.3);
        assert!(plan.stop.is_empty() && !plan.stream && !plan.include_usage);
        assert_eq!(plan.prompt.len(), 2);
        assert_eq!(plan.prompt[0].content, settings().system_prompt);
        assert_eq!(plan.prompt[1], ChatMessage::new(Role::User, "Hej"));
    }

    #[test]
    fn client_system_messages_replace_alices_and_go_first() {
        let plan = plan(json!({"model": "x", "messages": [
            {"role": "user", "content": "a"},
            {"role": "system", "content": "S1"},
            {"role": "assistant", "content": "b"},
            {"role": "developer", "content": "S2"},
            {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
        ]}))
        .unwrap();
        let roles: Vec<Role> = plan.prompt.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::User]
        );
        assert_eq!(plan.prompt[0].content, "S1\n\nS2");
        assert_eq!(plan.prompt[3].content, "c\nd");
    }

    #[test]
    fn token_limits_are_capped_and_the_newer_name_wins() {
        let body = |extra: Value| {
            let mut body = json!({"model": "x", "messages": [{"role": "user", "content": "Hej"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            body
        };
        assert_eq!(plan(body(json!({"max_tokens": 3}))).unwrap().max_tokens, 3);
        assert_eq!(
            plan(body(json!({"max_tokens": 99999}))).unwrap().max_tokens,
            2048
        );
        assert_eq!(
            plan(body(json!({"max_tokens": 3, "max_completion_tokens": 5})))
                .unwrap()
                .max_tokens,
            5
        );
        assert_eq!(refused(body(json!({"max_tokens": 0}))).0, "max_tokens");
        assert_eq!(refused(body(json!({"temperature": 2.5}))).0, "temperature");
        assert_eq!(
            plan(body(json!({"stop": ["a", "", "b"]}))).unwrap().stop,
            ["a", "b"]
        );
        assert_eq!(plan(body(json!({"stop": "x"}))).unwrap().stop, ["x"]);
        assert_eq!(
            refused(body(json!({"stop": ["1", "2", "3", "4", "5"]}))).0,
            "stop"
        );
        assert_eq!(refused(body(json!({"stop": [1]}))).0, "stop");
        let (param, _, code) = refused(body(json!({"n": 2})));
        assert_eq!((param.as_str(), code), ("n", "unsupported_value"));
        assert!(plan(body(json!({"n": 1, "tools": [], "tool_choice": "none"}))).is_ok());
        assert_eq!(
            refused(body(json!({"tool_choice": "auto"}))).0,
            "tool_choice"
        );
        let (param, message, code) = refused(body(json!({"tools": [{"type": "function"}]})));
        assert_eq!((param.as_str(), code), ("tools", "unsupported_parameter"));
        assert!(message.contains("tools are not supported yet"), "{message}");
    }

    #[test]
    fn messages_are_checked() {
        let one = |message: Value| refused(json!({"model": "x", "messages": [message]}));
        assert_eq!(refused(json!({"model": "x", "messages": []})).0, "messages");
        let (param, message, code) = one(json!({"role": "user", "content": [
            {"type": "text", "text": "Vad är detta?"},
            {"type": "image_url", "image_url": {"url": "data:..."}},
        ]}));
        assert_eq!(param, "messages[0].content");
        assert_eq!(code, "unsupported_value");
        assert!(message.contains("image_url"), "{message}");
        assert_eq!(one(json!({"role": "user"})).0, "messages[0].content");
        assert_eq!(
            one(json!({"role": "user", "content": 5})).0,
            "messages[0].content"
        );
        assert_eq!(
            one(json!({"role": "robot", "content": "x"})).0,
            "messages[0].role"
        );
        assert_eq!(
            one(json!({"role": "tool", "content": "x"})).2,
            "unsupported_value"
        );
        assert_eq!(
            one(json!({"role": "assistant", "content": "x"})).0,
            "messages[0].role"
        );
    }

    #[test]
    fn a_prompt_that_cannot_fit_is_context_length_exceeded_and_history_is_trimmed() {
        let big = "ord ".repeat(2200);
        let (param, _, code) =
            refused(json!({"model": "x", "messages": [{"role": "user", "content": big}]}));
        assert_eq!(
            (param.as_str(), code),
            ("messages", "context_length_exceeded")
        );

        let mut messages: Vec<Value> = (0..12)
            .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "x".repeat(2000)}))
            .collect();
        messages.push(json!({"role": "user", "content": "Hej"}));
        let plan = plan(json!({"model": "x", "messages": messages})).unwrap();
        assert!(plan.dropped > 0);
        assert_eq!(plan.prompt.len() + plan.dropped, 14);
        assert_eq!(plan.prompt.last().unwrap().content, "Hej");

        let (param, message, _) = refused(json!({"model": "x", "messages": [
            {"role": "system", "content": "x".repeat(20000)},
            {"role": "user", "content": "x".repeat(20000)},
        ]}));
        assert_eq!(param, "messages");
        assert!(message.contains("32000"), "{message}");
    }

    #[test]
    fn errors_have_openais_shape_and_status() {
        let error = invalid("n", "nope");
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
