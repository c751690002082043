//! Ollama's native API, as a client.
//!
//! Alice uses `/api/chat` rather than Ollama's OpenAI-compatible endpoint because only the native
//! one takes `options.num_ctx` and `keep_alive`. The response is NDJSON: one JSON object per
//! line, the last with `done: true`. An error *during* a stream keeps HTTP 200 and arrives as an
//! `{"error": "..."}` line, so every line is checked for one.

use crate::http::{self, ErrorText, Remote};
use crate::provider::{
    BackendHealth, ChatEvent, ChatRequest, ChatStream, Completion, FinishReason,
};
use crate::wire::{StreamCaps, body_bytes, line_error, lines};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::BackendConfig;
use alice_core::ChatMessage;
use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A client for one Ollama server and model.
#[derive(Clone, Debug)]
pub struct OllamaClient {
    name: String,
    http: reqwest::Client,
    base_url: String,
    model: String,
    keep_alive: Value,
    /// `max_error_body_bytes`.
    error_body_limit: usize,
    /// `max_event_bytes` and `max_answer_bytes`.
    stream_caps: StreamCaps,
    /// `max_listing_bytes`.
    listing_limit: usize,
}

impl OllamaClient {
    pub fn new(config: &BackendConfig) -> Result<Self, LlmError> {
        let base_url = config.url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LlmError {
                backend: config.name.clone(),
                url: base_url.clone(),
                kind: ErrorKind::Protocol,
                detail: format!("cannot build an HTTP client: {e}"),
                advice: "check the ollama section of the configuration".into(),
            })?;
        Ok(Self {
            name: config.name.clone(),
            http,
            base_url,
            model: config.model.clone(),
            keep_alive: keep_alive_value(&config.keep_alive),
            error_body_limit: config.max_error_body_bytes,
            stream_caps: StreamCaps::of(config),
            listing_limit: config.max_listing_bytes,
        })
    }

    /// The names of the models the server has (`GET /api/tags`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let request = self.http.get(format!("{}/api/tags", self.base_url));
        let response = http::send(self, request).await?;
        let tags: Tags =
            http::read_listing(self, response, self.listing_limit, "GET /api/tags").await?;
        Ok(tags.models.into_iter().map(|m| m.name).collect())
    }

    /// The context length the model was trained with (`POST /api/show`, key
    /// `<architecture>.context_length` of `model_info`).
    pub async fn context_length(&self) -> Result<Option<u64>, LlmError> {
        let request = self
            .http
            .post(format!("{}/api/show", self.base_url))
            .json(&serde_json::json!({ "model": self.model }));
        let response = http::send(self, request).await?;
        let show: Show =
            http::read_listing(self, response, self.listing_limit, "POST /api/show").await?;
        Ok(show.model_info.and_then(|info| {
            info.iter()
                .find(|(key, _)| key.ends_with(".context_length"))
                .and_then(|(_, value)| value.as_u64())
        }))
    }

    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        let advice = match &kind {
            ErrorKind::Unreachable => format!(
                "Start Ollama with `ollama serve` and pull the model with `ollama pull {}`, \
                 or set backends[].url to where Ollama runs",
                self.model
            ),
            ErrorKind::ModelNotFound => format!(
                "Pull the model with `ollama pull {}`, or set backends[].model to one that \
                 `ollama list` shows",
                self.model
            ),
            ErrorKind::Busy { .. } => "Ollama's queue is full: try again shortly, or raise \
                 OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE on the Ollama server"
                .to_owned(),
            ErrorKind::Rejected { .. } => {
                "Ollama rejected the request; check the model and the chat options".to_owned()
            }
            ErrorKind::Failed { .. } | ErrorKind::StreamBroken => {
                "Ollama failed while answering; see Ollama's log (`journalctl -u ollama` or its \
                 terminal) and try again"
                    .to_owned()
            }
            ErrorKind::Protocol => {
                "the server at this backend's url does not speak Ollama's API; check the address"
                    .to_owned()
            }
            ErrorKind::Stopped { .. } => crate::error::STOPPED_ADVICE.to_owned(),
            ErrorKind::TimedOut => {
                "Ollama is too slow: a smaller model, fewer parallel requests, or longer \
                 backends[].first_token_timeout / idle_timeout"
                    .to_owned()
            }
        };
        LlmError {
            backend: self.name.clone(),
            url: self.base_url.clone(),
            kind,
            detail,
            advice,
        }
    }

    fn protocol_error(&self, error: &dyn std::fmt::Display) -> LlmError {
        self.error(ErrorKind::Protocol, format!("unexpected response: {error}"))
    }
}

impl Remote for OllamaClient {
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        OllamaClient::error(self, kind, detail)
    }

    fn error_text(&self, body: &[u8]) -> ErrorText {
        error_text(body)
    }

    fn error_body_limit(&self) -> usize {
        self.error_body_limit
    }
}

#[async_trait]
impl Provider for OllamaClient {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn url(&self) -> &str {
        &self.base_url
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let body = ChatBody {
            model: request.model.as_deref().unwrap_or(&self.model),
            messages: &request.messages,
            stream: true,
            keep_alive: &self.keep_alive,
            options: Options {
                num_ctx: request.num_ctx,
                num_predict: request.max_tokens,
                temperature: request.temperature,
                stop: &request.stop,
            },
        };
        let request = self
            .http
            .post(format!("{}/api/chat", self.base_url))
            .json(&body);
        let response = http::send(self, request).await?;
        let client = self.clone();
        let caps = self.stream_caps;
        let lines = lines(body_bytes(response, caps), caps);
        let events = futures_util::stream::unfold(
            (lines, client, false),
            |(mut lines, client, finished)| async move {
                if finished {
                    return None;
                }
                loop {
                    let event = match lines.next().await {
                        None => Err(client.error(
                            ErrorKind::StreamBroken,
                            "the stream ended before its final line".into(),
                        )),
                        Some(Err(e)) => {
                            let (kind, detail) = line_error(&e, client.stream_caps);
                            Err(client.error(kind, detail))
                        }
                        Some(Ok(line)) if line.trim().is_empty() => continue,
                        Some(Ok(line)) => client.parse_line(&line),
                    };
                    match event {
                        Ok(ChatEvent::Delta(text)) if text.is_empty() => continue,
                        Ok(ChatEvent::Delta(text)) => {
                            return Some((Ok(ChatEvent::Delta(text)), (lines, client, false)));
                        }
                        // Done and errors end the stream.
                        other => return Some((other, (lines, client, true))),
                    }
                }
            },
        );
        Ok(events.boxed())
    }

    async fn warm_up(&self) -> Result<(), LlmError> {
        self.load_model(&self.keep_alive).await
    }

    async fn unload(&self) -> Result<(), LlmError> {
        self.load_model(&Value::from(0)).await
    }

    async fn probe(&self) -> BackendHealth {
        let models = match self.list_models().await {
            Ok(models) => models,
            Err(error) => {
                return BackendHealth {
                    reachable: false,
                    model_available: false,
                    context_length: None,
                    error: Some(error.to_string()),
                };
            }
        };
        if !models.iter().any(|name| same_model(name, &self.model)) {
            let error = self.error(
                ErrorKind::ModelNotFound,
                format!(
                    "model {:?} is not among the server's models ({})",
                    self.model,
                    if models.is_empty() {
                        "none".to_owned()
                    } else {
                        models.join(", ")
                    }
                ),
            );
            return BackendHealth {
                reachable: true,
                model_available: false,
                context_length: None,
                error: Some(error.to_string()),
            };
        }
        match self.context_length().await {
            Ok(context_length) => BackendHealth {
                reachable: true,
                model_available: true,
                context_length,
                error: None,
            },
            Err(error) => BackendHealth {
                reachable: true,
                model_available: true,
                context_length: None,
                error: Some(error.to_string()),
            },
        }
    }
}

impl OllamaClient {
    /// `POST /api/chat` with no messages: Ollama loads the model and keeps it for
    /// `keep_alive` (0 unloads it at once).
    async fn load_model(&self, keep_alive: &Value) -> Result<(), LlmError> {
        let request =
            self.http
                .post(format!("{}/api/chat", self.base_url))
                .json(&serde_json::json!({
                    "model": self.model,
                    "messages": [],
                    "stream": false,
                    "keep_alive": keep_alive,
                }));
        http::send(self, request).await?;
        Ok(())
    }

    fn parse_line(&self, line: &str) -> Result<ChatEvent, LlmError> {
        let chunk: Chunk = serde_json::from_str(line)
            .map_err(|e| self.protocol_error(&format!("{e} in line {:?}", http::clip(line))))?;
        if let Some(error) = chunk.error {
            return Err(self.error(
                ErrorKind::StreamBroken,
                format!("error during the stream: {error}"),
            ));
        }
        if chunk.done {
            return Ok(ChatEvent::Done(Completion {
                finish_reason: match chunk.done_reason.as_deref() {
                    None | Some("stop") => FinishReason::Stop,
                    Some("length") => FinishReason::Length,
                    Some(other) => FinishReason::Other(other.to_owned()),
                },
                prompt_tokens: chunk.prompt_eval_count,
                completion_tokens: chunk.eval_count,
                upstream_total_ms: chunk.total_duration.map(|ns| ns / 1_000_000),
            }));
        }
        // A thinking model's reasoning arrives in `message.thinking` and is not part of the answer.
        Ok(ChatEvent::Delta(
            chunk.message.map(|m| m.content).unwrap_or_default(),
        ))
    }
}

/// Ollama names a model without a tag as `name:latest`.
fn same_model(listed: &str, wanted: &str) -> bool {
    listed == wanted || (!wanted.contains(':') && listed.strip_suffix(":latest") == Some(wanted))
}

/// `keep_alive` goes to Ollama as a number when it is one, else as the duration string.
fn keep_alive_value(configured: &str) -> Value {
    match configured.trim().parse::<i64>() {
        Ok(seconds) => Value::from(seconds),
        Err(_) => Value::from(configured.trim()),
    }
}

/// Ollama's error body: `{"error": "..."}`, or whatever text a proxy in front sent.
fn error_text(body: &[u8]) -> ErrorText {
    let text = String::from_utf8_lossy(body);
    let message = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => match map.get("error") {
            Some(Value::String(message)) => http::clip(message),
            Some(other) => other.to_string(),
            None => http::clip(&text),
        },
        _ => http::clip(text.trim()),
    };
    ErrorText {
        message,
        code: None,
    }
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    keep_alive: &'a Value,
    options: Options<'a>,
}

#[derive(Serialize)]
struct Options<'a> {
    num_ctx: u32,
    num_predict: u32,
    temperature: f32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkMessage {
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<TagModel>,
}

#[derive(Deserialize)]
struct TagModel {
    name: String,
}

#[derive(Deserialize)]
struct Show {
    model_info: Option<serde_json::Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn client() -> OllamaClient {
        OllamaClient::new(&BackendConfig::default()).unwrap()
    }

    #[test]
    fn a_token_line_is_a_delta() {
        let line = r#"{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hej"},"done":false}"#;
        assert_eq!(
            client().parse_line(line).unwrap(),
            ChatEvent::Delta("Hej".into())
        );
    }

    #[test]
    fn the_done_line_carries_counts_and_reason() {
        let line = r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":2500000000,"prompt_eval_count":12,"eval_count":7}"#;
        assert_eq!(
            client().parse_line(line).unwrap(),
            ChatEvent::Done(Completion {
                finish_reason: FinishReason::Length,
                prompt_tokens: Some(12),
                completion_tokens: Some(7),
                upstream_total_ms: Some(2500),
            })
        );
    }

    #[test]
    fn an_error_line_breaks_the_stream() {
        let err = client()
            .parse_line(r#"{"error":"out of memory"}"#)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::StreamBroken);
        assert!(err.detail.contains("out of memory"));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert_eq!(
            client().parse_line("<html>").unwrap_err().kind,
            ErrorKind::Protocol
        );
    }

    #[test]
    fn model_names_match_with_the_implicit_latest_tag() {
        assert!(same_model("llama3:latest", "llama3"));
        assert!(same_model("gpt-oss:20b", "gpt-oss:20b"));
        assert!(!same_model("gpt-oss:120b", "gpt-oss:20b"));
    }

    #[test]
    fn keep_alive_is_sent_as_number_or_duration() {
        assert_eq!(keep_alive_value("15m"), Value::from("15m"));
        assert_eq!(keep_alive_value("0"), Value::from(0));
        assert_eq!(keep_alive_value("-1"), Value::from(-1));
    }
}
