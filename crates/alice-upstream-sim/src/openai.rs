//! OpenAI's chat API: `/v1/chat/completions` (SSE streaming or one JSON object)
//! and `/v1/models`, with errors in OpenAI's `{"error":{...}}` shape.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::answer::{Plan, SimMessage, SimToolCall, tool_call_for};
use crate::faults::{self, Admission, Rejection, mid_stream_message};
use crate::generate::{Event, Generation};
use crate::models::CREATED_UNIX;
use crate::record::{Api, RecordedRequest};
use crate::state::{SimState, now_unix};
use crate::wire::{WireMessage, offered_tools, positive_int, stop_sequences};

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

/// OpenAI's error body, with `type` and `code` chosen by status.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let code_name = format!("http_{}", status.as_u16());
    let (kind, code) = match status.as_u16() {
        404 => ("invalid_request_error", "model_not_found"),
        400 | 422 => ("invalid_request_error", "invalid_request"),
        429 => ("rate_limit_error", "rate_limit_exceeded"),
        s if s >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request_error", code_name.as_str()),
    };
    let body = ErrorBody {
        message,
        kind,
        param: None,
        code,
    };
    (status, Json(json!({ "error": body }))).into_response()
}

// ---- /v1/chat/completions ---------------------------------------------------------

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<Value>,
    #[serde(default)]
    max_completion_tokens: Option<Value>,
    #[serde(default)]
    temperature: Option<Value>,
    #[serde(default)]
    stop: Option<Value>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

impl ChatRequest {
    /// `{max_tokens, temperature, stop}` as received, `null` when none was sent.
    fn recorded_options(&self) -> Value {
        let mut options = serde_json::Map::new();
        if let Some(max) = self
            .max_tokens
            .as_ref()
            .or(self.max_completion_tokens.as_ref())
        {
            options.insert("max_tokens".into(), max.clone());
        }
        if let Some(temperature) = &self.temperature {
            options.insert("temperature".into(), temperature.clone());
        }
        if let Some(stop) = &self.stop {
            options.insert("stop".into(), stop.clone());
        }
        if options.is_empty() {
            Value::Null
        } else {
            Value::Object(options)
        }
    }
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl Usage {
    fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Value>,
}

/// The pieces a streamed call is sent in, as OpenAI streams one: the first fragment with the
/// id, type, name and empty arguments, then the arguments' JSON text split in two (inside the
/// JSON, at a character boundary), so a client has to join them.
fn call_fragments(call: &SimToolCall) -> Vec<Value> {
    let arguments = call.arguments.to_string();
    let half = arguments.chars().count() / 2;
    let at = arguments
        .char_indices()
        .nth(half)
        .map_or(arguments.len(), |(at, _)| at);
    let (head, tail) = arguments.split_at(at);
    vec![
        json!([{"index": 0, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}]),
        json!([{"index": 0, "function": {"arguments": head}}]),
        json!([{"index": 0, "function": {"arguments": tail}}]),
    ]
}

/// `message.tool_calls` of a whole answer.
fn whole_calls(call: &SimToolCall) -> Value {
    json!([{"id": call.id, "type": "function",
        "function": {"name": call.name, "arguments": call.arguments.to_string()}}])
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

/// Identity shared by all chunks of one streamed completion.
struct StreamMeta {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl StreamMeta {
    fn chunk<'a>(&'a self, delta: Delta<'a>, finish_reason: Option<&'a str>) -> Chunk<'a> {
        Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
            usage: None,
        }
    }
}

fn sse_event(buffer: &mut Vec<u8>, value: &impl Serialize) -> Result<(), std::io::Error> {
    buffer.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut *buffer, value).map_err(std::io::Error::other)?;
    buffer.extend_from_slice(b"\n\n");
    Ok(())
}

fn sse(value: &impl Serialize) -> Result<Bytes, std::io::Error> {
    let mut buffer = Vec::new();
    sse_event(&mut buffer, value)?;
    Ok(Bytes::from(buffer))
}

pub(crate) async fn chat_completions(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid request body: {e}"),
            );
        }
    };
    if request.model.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "'model' is required");
    }
    let options = request.recorded_options();
    let messages: Vec<SimMessage> = match request.messages {
        Some(messages) if !messages.is_empty() => {
            messages.into_iter().map(WireMessage::into_sim).collect()
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "'messages' must contain at least one message",
            );
        }
    };
    let stream = request.stream.unwrap_or(false);
    let include_usage = request
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let limit = request
        .max_tokens
        .as_ref()
        .or(request.max_completion_tokens.as_ref())
        .and_then(positive_int);
    let stop = stop_sequences(request.stop.as_ref());
    let model = request.model;
    let tools = request.tools.unwrap_or_default();
    let tool_choice = request.tool_choice;

    let record = RecordedRequest {
        api: Api::OpenAi,
        model: model.clone(),
        messages: messages.clone(),
        stream,
        options,
        keep_alive: None,
        tools: tools.clone(),
        tool_choice: tool_choice.clone(),
        outcome: String::new(),
    };
    let ticket = match faults::admit(&state, record).await {
        Admission::Answer(ticket) => ticket,
        Admission::Reject(Rejection::Stopped) => return faults::cut_response(),
        Admission::Reject(rejection) => return error(rejection.status(), &rejection.message()),
        Admission::Hang(ticket) => return faults::hang(&state, ticket).await,
    };

    if stream && ticket.faults.endless_event {
        return faults::endless_event(
            &state,
            ticket,
            faults::EndlessEvent {
                content_type: "text/event-stream",
                opening: "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\n",
                repeated: "data: endless endless endless endless endless endless endless\n",
            },
        );
    }
    let meta = StreamMeta {
        id: format!("chatcmpl-{}", state.next_completion_id()),
        created: now_unix(),
        model,
        include_usage,
    };
    // `tool_choice: "none"` asks for text; any other choice leaves it to the rule.
    let offered = if tool_choice.as_ref().and_then(Value::as_str) == Some("none") {
        Vec::new()
    } else {
        offered_tools(&tools)
    };
    let plan = match tool_call_for(&messages, &offered, &ticket.faults.tool_calls) {
        Some(call) => Plan::calling(&messages, call),
        None => Plan::new(&messages, ticket.faults.answer_tokens, limit, &stop),
    };
    let generation = Generation::new(Arc::clone(&state), plan, ticket);
    if stream {
        streamed(meta, generation)
    } else {
        whole(meta, generation).await
    }
}

fn streamed(meta: StreamMeta, generation: Generation) -> Response {
    let first = sse(&meta.chunk(
        Delta {
            role: Some("assistant"),
            content: Some(""),
            tool_calls: None,
        },
        None,
    ));
    let events = futures_util::stream::unfold(generation, |mut generation| async move {
        let event = generation.next().await?;
        Some((event, generation))
    });
    let rest = events.map(move |event| match event {
        Event::Token(token) => sse(&meta.chunk(
            Delta {
                content: Some(&token),
                ..Delta::default()
            },
            None,
        )),
        Event::Failed(after) => sse(&json!({
            "error": { "message": mid_stream_message(after), "type": "server_error" }
        })),
        Event::Done {
            finish,
            tool_call,
            prompt_tokens,
            completion_tokens,
            ..
        } => {
            let mut buffer = Vec::new();
            for fragment in tool_call.iter().flat_map(call_fragments) {
                let delta = Delta {
                    tool_calls: Some(fragment),
                    ..Delta::default()
                };
                sse_event(&mut buffer, &meta.chunk(delta, None))?;
            }
            let end = meta.chunk(Delta::default(), Some(finish.as_str()));
            sse_event(&mut buffer, &end)?;
            if meta.include_usage {
                let usage = Chunk {
                    choices: Vec::new(),
                    usage: Some(Usage::new(prompt_tokens, completion_tokens)),
                    ..meta.chunk(Delta::default(), None)
                };
                sse_event(&mut buffer, &usage)?;
            }
            buffer.extend_from_slice(b"data: [DONE]\n\n");
            Ok(Bytes::from(buffer))
        }
        Event::Cut => Err(std::io::Error::other("simulator stopped")),
    });
    let body = futures_util::stream::once(async move { first }).chain(rest);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

async fn whole(meta: StreamMeta, generation: Generation) -> Response {
    match generation.collect().await {
        (
            text,
            Event::Done {
                finish,
                tool_call,
                prompt_tokens,
                completion_tokens,
                ..
            },
        ) => Json(json!({
            "id": meta.id,
            "object": "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "choices": [{
                "index": 0,
                "message": match &tool_call {
                    Some(call) => json!({
                        "role": "assistant", "content": null, "tool_calls": whole_calls(call),
                    }),
                    None => json!({ "role": "assistant", "content": text }),
                },
                "finish_reason": finish.as_str(),
            }],
            "usage": Usage::new(prompt_tokens, completion_tokens),
        }))
        .into_response(),
        (_, Event::Failed(after)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &mid_stream_message(after),
        ),
        (_, Event::Token(_) | Event::Cut) => faults::cut_response(),
    }
}

// ---- /v1/models -----------------------------------------------------------------

pub(crate) async fn models(State(state): State<Arc<SimState>>) -> Json<Value> {
    let data: Vec<Value> = state
        .config
        .models
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "object": "model",
                "created": CREATED_UNIX,
                "owned_by": "alice-sim",
            })
        })
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn recorded_options_keep_what_was_sent() {
        let request: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [], "max_completion_tokens": 7, "stop": ["x"], "user": "u"
        }))
        .unwrap();
        assert_eq!(
            request.recorded_options(),
            json!({"max_tokens": 7, "stop": ["x"]})
        );
        let bare: ChatRequest = serde_json::from_value(json!({"model": "m"})).unwrap();
        assert_eq!(bare.recorded_options(), Value::Null);
    }

    #[test]
    fn chunks_serialize_like_openai() {
        let meta = StreamMeta {
            id: "chatcmpl-1".into(),
            created: 1,
            model: "m".into(),
            include_usage: false,
        };
        let bytes = sse(&meta.chunk(
            Delta {
                content: Some("Hej"),
                ..Delta::default()
            },
            None,
        ))
        .unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("data: {") && text.ends_with("}\n\n"));
        let value: Value = serde_json::from_str(&text["data: ".len()..]).unwrap();
        assert_eq!(value["object"], "chat.completion.chunk");
        assert_eq!(value["choices"][0]["delta"], json!({"content": "Hej"}));
        assert_eq!(value["choices"][0]["finish_reason"], Value::Null);
        assert!(value.get("usage").is_none());
    }

    #[test]
    fn a_streamed_call_comes_in_fragments_whose_arguments_join() {
        let call = SimToolCall {
            id: "call_1".into(),
            name: "weather".into(),
            arguments: json!({"city": "Göteborg"}),
        };
        let fragments = call_fragments(&call);
        assert_eq!(fragments[0][0]["id"], "call_1");
        assert_eq!(fragments[0][0]["function"]["name"], "weather");
        let pieces: Vec<&str> = fragments[1..]
            .iter()
            .map(|f| f[0]["function"]["arguments"].as_str().unwrap())
            .collect();
        assert!(pieces.iter().all(|p| !p.is_empty()), "{pieces:?}");
        assert_eq!(pieces.concat(), r#"{"city":"Göteborg"}"#);
    }
}
