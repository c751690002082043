//! Ollama's native API: `/api/chat` (NDJSON streaming or one JSON object),
//! `/api/tags`, `/api/show`, `/api/ps`, `/api/version` and the `/` liveness reply.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::answer::{Finish, Plan, SimMessage, SimToolCall, tool_call_for};
use crate::faults::{self, Admission, Rejection, mid_stream_message};
use crate::generate::{Event, Generation, Timings};
use crate::models::{ARCHITECTURE, Details, MODIFIED_AT, ModelCard};
use crate::record::{Api, RecordedRequest, outcome};
use crate::state::{SimState, keep_alive_is_zero, now_rfc3339, rfc3339};
use crate::wire::{WireMessage, offered_tools, positive_int, stop_sequences};

/// Ollama's error body: `{"error":"..."}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "error": message }))).into_response()
}

pub(crate) async fn root() -> &'static str {
    "Ollama is running"
}

pub(crate) async fn version() -> Json<Value> {
    Json(json!({ "version": "0.0.0-alice-sim" }))
}

// ---- /api/chat ----------------------------------------------------------------

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    keep_alive: Option<Value>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: &'a str,
    /// Ollama's calls: whole, arguments an object, no id.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Value>,
}

/// `message.tool_calls` as Ollama sends it.
fn wire_calls(call: &SimToolCall) -> Value {
    json!([{ "function": { "name": call.name, "arguments": call.arguments } }])
}

#[derive(Serialize)]
struct DoneStats {
    total_duration: u128,
    load_duration: u128,
    prompt_eval_count: u64,
    prompt_eval_duration: u128,
    eval_count: u64,
    eval_duration: u128,
}

impl DoneStats {
    fn new(prompt_tokens: u64, completion_tokens: u64, t: Timings) -> Self {
        Self {
            total_duration: t.total.as_nanos(),
            load_duration: t.load.as_nanos(),
            prompt_eval_count: prompt_tokens,
            prompt_eval_duration: t.prompt_eval.as_nanos(),
            eval_count: completion_tokens,
            eval_duration: t.eval.as_nanos(),
        }
    }
}

/// One line of a chat answer (or the whole non-streamed answer).
#[derive(Serialize)]
struct ChatLine<'a> {
    model: &'a str,
    created_at: String,
    message: OutMessage<'a>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<&'a str>,
    #[serde(flatten)]
    stats: Option<DoneStats>,
}

impl<'a> ChatLine<'a> {
    fn token(model: &'a str, content: &'a str) -> Self {
        Self {
            model,
            created_at: now_rfc3339(),
            message: OutMessage {
                role: "assistant",
                content,
                tool_calls: None,
            },
            done: false,
            done_reason: None,
            stats: None,
        }
    }

    fn done(model: &'a str, content: &'a str, reason: &'a str, stats: Option<DoneStats>) -> Self {
        Self {
            done: true,
            done_reason: Some(reason),
            stats,
            ..Self::token(model, content)
        }
    }
}

fn ndjson_line(value: &impl Serialize) -> Result<Bytes, std::io::Error> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(Bytes::from(line))
}

pub(crate) async fn chat(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    if body.iter().all(u8::is_ascii_whitespace) {
        return error(StatusCode::BAD_REQUEST, "missing request body");
    }
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    if request.model.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "model is required");
    }
    let messages: Vec<SimMessage> = request
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(WireMessage::into_sim)
        .collect();
    let stream = request.stream.unwrap_or(true);
    let options = request.options.unwrap_or(Value::Null);
    let limit = options.get("num_predict").and_then(positive_int);
    let stop = stop_sequences(options.get("stop"));
    let unload = request.keep_alive.as_ref().is_some_and(keep_alive_is_zero);
    let model = request.model;
    let tools = request.tools.unwrap_or_default();

    let record = RecordedRequest {
        api: Api::Ollama,
        model: model.clone(),
        messages: messages.clone(),
        stream,
        options,
        keep_alive: request.keep_alive,
        tools: tools.clone(),
        tool_choice: None,
        outcome: String::new(),
    };
    let mut ticket = match faults::admit(&state, record).await {
        Admission::Answer(ticket) => ticket,
        Admission::Reject(Rejection::Stopped) => return faults::cut_response(),
        Admission::Reject(rejection) => return error(rejection.status(), rejection.message()),
        Admission::Hang(ticket) => return faults::hang(&state, ticket).await,
    };

    if messages.is_empty() {
        ticket.tracker.finish(outcome::OK);
        let reason = if unload { "unload" } else { "load" };
        return Json(ChatLine::done(&model, "", reason, None)).into_response();
    }

    if stream && ticket.faults.endless_event {
        return faults::endless_event(
            &state,
            ticket,
            faults::EndlessEvent {
                content_type: "application/x-ndjson",
                opening: "{\"message\":{\"role\":\"assistant\",\"content\":\"",
                repeated: "endless endless endless endless endless endless endless ",
            },
        );
    }
    // Ollama has no tool_choice: offered tools may always be called.
    let plan = match tool_call_for(&messages, &offered_tools(&tools), &ticket.faults.tool_calls) {
        Some(call) => Plan::calling(&messages, call),
        None => Plan::new(&messages, ticket.faults.answer_tokens, limit, &stop),
    };
    let generation = Generation::new(Arc::clone(&state), plan, ticket);
    if stream {
        streamed(model, generation)
    } else {
        whole(&model, generation).await
    }
}

fn streamed(model: String, generation: Generation) -> Response {
    let events = futures_util::stream::unfold(generation, |mut generation| async move {
        let event = generation.next().await?;
        Some((event, generation))
    });
    let lines = events.map(move |event| match event {
        Event::Token(token) => ndjson_line(&ChatLine::token(&model, &token)),
        Event::Failed(after) => ndjson_line(&json!({ "error": mid_stream_message(after) })),
        Event::Done {
            finish,
            tool_call,
            prompt_tokens,
            completion_tokens,
            timings,
        } => {
            let stats = DoneStats::new(prompt_tokens, completion_tokens, timings);
            let done = ndjson_line(&ChatLine::done(
                &model,
                "",
                done_reason(finish),
                Some(stats),
            ))?;
            // Ollama sends the calls whole in a line of their own before the last.
            let Some(call) = tool_call else {
                return Ok(done);
            };
            let mut calls = ChatLine::token(&model, "");
            calls.message.tool_calls = Some(wire_calls(&call));
            let mut lines = ndjson_line(&calls)?.to_vec();
            lines.extend_from_slice(&done);
            Ok(Bytes::from(lines))
        }
        Event::Cut => Err(std::io::Error::other("simulator stopped")),
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}

async fn whole(model: &str, generation: Generation) -> Response {
    match generation.collect().await {
        (
            text,
            Event::Done {
                finish,
                tool_call,
                prompt_tokens,
                completion_tokens,
                timings,
            },
        ) => {
            let stats = DoneStats::new(prompt_tokens, completion_tokens, timings);
            let mut line = ChatLine::done(model, &text, done_reason(finish), Some(stats));
            line.message.tool_calls = tool_call.as_ref().map(wire_calls);
            Json(line).into_response()
        }
        (_, Event::Failed(after)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, mid_stream_message(after))
        }
        (_, Event::Token(_) | Event::Cut) => faults::cut_response(),
    }
}

/// Ollama's `done_reason`: it names no reason for a tool call, which ends as "stop".
fn done_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::ToolCalls => Finish::Stop.as_str(),
        other => other.as_str(),
    }
}

// ---- model listings -------------------------------------------------------------

#[derive(Serialize)]
struct TagEntry {
    name: String,
    model: String,
    modified_at: &'static str,
    size: u64,
    digest: String,
    details: Details,
}

impl From<ModelCard> for TagEntry {
    fn from(card: ModelCard) -> Self {
        Self {
            model: card.name.clone(),
            name: card.name,
            modified_at: MODIFIED_AT,
            size: card.size,
            digest: card.digest,
            details: card.details,
        }
    }
}

pub(crate) async fn tags(State(state): State<Arc<SimState>>) -> Json<Value> {
    let models: Vec<TagEntry> = state
        .config
        .models
        .iter()
        .map(|name| TagEntry::from(ModelCard::for_name(name)))
        .collect();
    Json(json!({ "models": models }))
}

#[derive(Deserialize)]
struct ShowRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn show(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let request: ShowRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let Some(name) = request
        .model
        .filter(|m| !m.is_empty())
        .or(request.name.filter(|m| !m.is_empty()))
    else {
        return error(StatusCode::BAD_REQUEST, "model is required");
    };
    if !state.has_model(&name) {
        return error(StatusCode::NOT_FOUND, format!("model '{name}' not found"));
    }
    let card = ModelCard::for_name(&name);
    let mut model_info = serde_json::Map::new();
    model_info.insert("general.architecture".into(), json!(ARCHITECTURE));
    model_info.insert(
        "general.parameter_count".into(),
        json!(card.parameter_count),
    );
    model_info.insert(
        format!("{ARCHITECTURE}.context_length"),
        json!(state.config.context_length),
    );
    Json(json!({
        "modelfile": format!("# Modelfile generated by alice-upstream-sim\nFROM {name}\n"),
        "parameters": "temperature 0.7\nstop \"<|end|>\"",
        "template": "{{ .Prompt }}",
        "details": card.details,
        "model_info": model_info,
        "capabilities": ["completion"],
        "modified_at": MODIFIED_AT,
    }))
    .into_response()
}

#[derive(Serialize)]
struct RunningEntry {
    #[serde(flatten)]
    tag: TagEntry,
    expires_at: String,
    size_vram: u64,
    context_length: u64,
}

pub(crate) async fn ps(State(state): State<Arc<SimState>>) -> Json<Value> {
    let models: Vec<RunningEntry> = state
        .loaded_models()
        .into_iter()
        .map(|(name, until)| {
            let card = ModelCard::for_name(&name);
            RunningEntry {
                size_vram: card.size,
                tag: TagEntry::from(card),
                expires_at: until.map_or_else(|| "2318-01-01T00:00:00Z".to_owned(), rfc3339),
                context_length: state.config.context_length,
            }
        })
        .collect();
    Json(json!({ "models": models }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn token_and_done_lines_have_ollamas_fields() {
        let token: Value =
            serde_json::from_slice(&ndjson_line(&ChatLine::token("m", " Du")).unwrap()).unwrap();
        assert_eq!(token["model"], "m");
        assert_eq!(token["message"]["role"], "assistant");
        assert_eq!(token["message"]["content"], " Du");
        assert_eq!(token["done"], false);
        assert!(token.get("done_reason").is_none());
        assert!(token["created_at"].as_str().unwrap().ends_with('Z'));

        let stats = DoneStats::new(3, 4, Timings::default());
        let line = ndjson_line(&ChatLine::done("m", "", "length", Some(stats))).unwrap();
        assert!(line.ends_with(b"\n"));
        let done: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(done["done"], true);
        assert_eq!(done["done_reason"], "length");
        assert_eq!(done["prompt_eval_count"], 3);
        assert_eq!(done["eval_count"], 4);
        for field in [
            "total_duration",
            "load_duration",
            "prompt_eval_duration",
            "eval_duration",
        ] {
            assert!(done[field].is_u64(), "{field}");
        }
    }
}
