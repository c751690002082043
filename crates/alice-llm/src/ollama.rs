//! Ollama's native API, as a client.
//!
//! Alice uses `/api/chat` rather than Ollama's OpenAI-compatible endpoint because only the native
//! one takes `options.num_ctx` and `keep_alive`. The response is NDJSON, decoded by
//! [`alice_decode::ndjson`]: one JSON object per line, the last with `done: true`, and an error
//! during the stream arrives as an `{"error": "..."}` line.
//!
//! Tools go as `tools` in the shape OpenAI's API has too. Ollama's messages differ from
//! OpenAI's in two ways that are converted here: an assistant's call carries its arguments as
//! a JSON *object* (Alice keeps them as text), and a tool's result names the tool
//! (`tool_name`) rather than the call's id. Ollama has no `tool_choice`; the model decides.

use crate::http::{self, ErrorText, Remote};
use crate::provider::{BackendHealth, ChatRequest, ChatStream};
use crate::tool_wire::{WireTool, wire_tools};
use crate::wire::{body_bytes, chat_stream, stream_caps};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::BackendConfig;
use alice_core::ChatMessage;
use alice_decode::StreamCaps;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A client for one Ollama server and model.
#[derive(Clone, Debug)]
pub struct OllamaClient {
    name: String,
    http: reqwest::Client,
    base_url: String,
    /// `{base_url}/api/chat`, parsed once rather than for every request.
    chat_url: reqwest::Url,
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
        let chat_url = crate::http::endpoint(&config.name, &base_url, "/api/chat")?;
        Ok(Self {
            name: config.name.clone(),
            http,
            base_url,
            chat_url,
            model: config.model.clone(),
            keep_alive: keep_alive_value(&config.keep_alive),
            error_body_limit: config.max_error_body_bytes,
            stream_caps: stream_caps(config),
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
            messages: wire_messages(&request.messages),
            // Ollama has no `tool_choice`; a choice of none is kept by offering no tools.
            tools: if request.tool_choice == Some(alice_core::ToolChoice::None) {
                Vec::new()
            } else {
                wire_tools(&request.tools)
            },
            stream: true,
            keep_alive: &self.keep_alive,
            options: Options {
                num_ctx: request.num_ctx,
                num_predict: request.max_tokens,
                temperature: request.temperature,
                stop: &request.stop,
            },
        };
        let request = self.http.post(self.chat_url.clone()).json(&body);
        let response = http::send(self, request).await?;
        let caps = self.stream_caps;
        let events = alice_decode::ndjson::events(body_bytes(response, caps), caps);
        Ok(chat_stream(self.clone(), events))
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
        let request = self
            .http
            .post(self.chat_url.clone())
            .json(&serde_json::json!({
                "model": self.model,
                "messages": [],
                "stream": false,
                "keep_alive": keep_alive,
            }));
        http::send(self, request).await?;
        Ok(())
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
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
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

/// A message as `/api/chat` takes it.
#[derive(Debug, PartialEq, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    /// A tool result's tool, found by the call id among the assistant's calls before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
}

#[derive(Debug, PartialEq, Serialize)]
struct WireCall<'a> {
    function: WireFunctionCall<'a>,
}

#[derive(Debug, PartialEq, Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    /// An object, as Ollama wants it. Arguments that are not a JSON object (a model can write
    /// anything) go as `{}`: Ollama refuses the whole request otherwise.
    arguments: Value,
}

/// The conversation in Ollama's shape (see the module's doc).
fn wire_messages(messages: &[ChatMessage]) -> Vec<WireMessage<'_>> {
    messages
        .iter()
        .enumerate()
        .map(|(at, message)| WireMessage {
            role: message.role.as_str(),
            content: &message.content,
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireCall {
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: serde_json::from_str::<Value>(&call.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
                    },
                })
                .collect(),
            tool_name: message.tool_call_id.as_deref().and_then(|id| {
                messages[..at]
                    .iter()
                    .rev()
                    .flat_map(|earlier| &earlier.tool_calls)
                    .find(|call| call.id == id)
                    .map(|call| call.name.as_str())
            }),
        })
        .collect()
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

    #[test]
    fn tool_calls_and_results_go_in_ollamas_shape() {
        use alice_core::{Role, ToolCall};
        let messages = [
            ChatMessage::new(Role::User, "Vädret?"),
            ChatMessage::tool_calls(
                "",
                vec![
                    ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        arguments: r#"{"city":"Umeå"}"#.into(),
                    },
                    ToolCall {
                        id: "call_2".into(),
                        name: "clock".into(),
                        arguments: "not json".into(),
                    },
                ],
            ),
            ChatMessage::tool_result("call_1", "Snö"),
            ChatMessage::tool_result("call_9", "?"),
        ];
        assert_eq!(
            serde_json::to_value(wire_messages(&messages)).unwrap(),
            serde_json::json!([
                {"role": "user", "content": "Vädret?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "weather", "arguments": {"city": "Umeå"}}},
                    {"function": {"name": "clock", "arguments": {}}},
                ]},
                {"role": "tool", "content": "Snö", "tool_name": "weather"},
                {"role": "tool", "content": "?"},
            ])
        );
    }
}
