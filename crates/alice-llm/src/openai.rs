//! OpenAI's chat API, as a client for any OpenAI-compatible server.
//!
//! This is how Alice reaches a fallback when the local Ollama cannot answer: OpenAI itself, or
//! vLLM, llama.cpp's server, LM Studio, a hosted gateway. They share `POST /chat/completions`
//! streaming as server-sent events (SSE) and `GET /models`, so one client serves them all; the
//! configured URL is the base *including* `/v1`.
//!
//! The stream is decoded by the small SSE reader below over [`LinesCodec`] (as `ollama.rs` reads
//! NDJSON) rather than by an SSE crate: the only field that matters is `data:`, the codec already
//! bounds line length, drops the `\r` of CRLF and joins lines split across network chunks, and
//! that leaves about twenty lines of spec to follow. Like Ollama, a server that fails after the
//! status line keeps HTTP 200 and sends the error as an event (`data: {"error": {...}}`), so every
//! event is checked for one. The stream's end is `data: [DONE]`; a stream that stops without it
//! is broken, whatever came before.

use crate::provider::{
    BackendHealth, ChatEvent, ChatRequest, ChatStream, Completion, FinishReason,
};
use crate::wire::{Lines, body_bytes, describe_transport, line_error, lines};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::{BackendConfig, ChatMessage};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::env::VarError;
use std::time::Duration;

/// Most bytes read of a failed response's body; an error body is small, a proxy's HTML page
/// need not be.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Most characters of a body that is not OpenAI's error shape kept in an error's detail.
const MAX_RAW_DETAIL_CHARS: usize = 500;
/// Most model names listed in a probe's "model missing" error; OpenAI itself lists dozens.
const MAX_LISTED_MODELS: usize = 20;

/// A client for one OpenAI-compatible server and model.
///
/// The API key lives only in the HTTP client's default headers, marked sensitive, so neither
/// this struct's `Debug` nor reqwest's prints it.
#[derive(Clone, Debug)]
pub struct OpenAiClient {
    name: String,
    http: reqwest::Client,
    base_url: String,
    model: String,
    /// The variable the key is read from, named in advice on 401/403.
    api_key_env: Option<String>,
    /// Whether a key was found and is sent.
    has_key: bool,
}

impl OpenAiClient {
    /// Builds the client and reads the API key once. A missing key is logged, not an error: a
    /// fallback whose key is unset must not keep Alice from starting, and the server's 401 will
    /// say the rest.
    pub fn new(config: &BackendConfig) -> Result<Self, LlmError> {
        let base_url = config.url.trim_end_matches('/').to_owned();
        let key = config
            .api_key_env
            .as_deref()
            .and_then(|variable| read_key(&config.name, variable));
        let has_key = key.is_some();
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(header::AUTHORIZATION, key);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .default_headers(headers)
            .build()
            .map_err(|e| LlmError {
                backend: config.name.clone(),
                url: base_url.clone(),
                kind: ErrorKind::Protocol,
                detail: format!("cannot build an HTTP client: {}", describe_transport(&e)),
                advice: "check this backend's section of the configuration (backends[].url)".into(),
            })?;
        Ok(Self {
            name: config.name.clone(),
            http,
            base_url,
            model: config.model.clone(),
            api_key_env: config.api_key_env.clone(),
            has_key,
        })
    }

    /// The ids of the models the server offers (`GET /models`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let response = self
            .http
            .get(format!("{}/models", self.base_url))
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let response = self.check_status(response).await?;
        let models: ModelList = response.json().await.map_err(|e| {
            self.error(
                ErrorKind::Protocol,
                format!(
                    "unexpected answer to GET /models: {}",
                    describe_transport(&e)
                ),
            )
        })?;
        Ok(models.data.into_iter().map(|m| m.id).collect())
    }

    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        let advice = match &kind {
            ErrorKind::Unreachable => format!(
                "Check that {} is reachable from this machine (address, DNS, firewall, proxy) and \
                 that backends[].url is the server's base address including /v1; its key goes \
                 in the variable named by backends[].api_key_env",
                self.base_url
            ),
            ErrorKind::ModelNotFound => format!(
                "The server does not offer model {:?}: set backends[].model to one that GET \
                 {}/models lists (if every model gives this, check that backends[].url ends in \
                 /v1)",
                self.model, self.base_url
            ),
            ErrorKind::Busy { .. } => "The server is rate-limiting or overloaded: Alice waits \
                 and retries or uses the next backend; raise the account's rate limit or lower \
                 backends[].max_concurrent"
                .to_owned(),
            ErrorKind::Rejected { status: 401 | 403 } => self.key_advice(),
            ErrorKind::Rejected { .. } => "The server rejected the request; check \
                 backends[].model and the chat options (max_tokens, temperature, stop)"
                .to_owned(),
            ErrorKind::Failed { .. } | ErrorKind::StreamBroken => {
                "The server failed while answering; see its logs or status page and try again"
                    .to_owned()
            }
            ErrorKind::Protocol => "The server at backends[].url does not speak OpenAI's chat \
                 API; check the address (it includes /v1, e.g. \"https://api.openai.com/v1\")"
                .to_owned(),
            ErrorKind::TimedOut => "The server is too slow: a smaller model, or longer \
                 backends[].first_token_timeout / idle_timeout"
                .to_owned(),
        };
        LlmError {
            backend: self.name.clone(),
            url: self.base_url.clone(),
            kind,
            detail,
            advice,
        }
    }

    /// What to do about a refused key, depending on whether one is configured and found.
    fn key_advice(&self) -> String {
        match (&self.api_key_env, self.has_key) {
            (None, _) => "The server wants an API key: put it in an environment variable and \
                 name that variable in backends[].api_key_env"
                .to_owned(),
            (Some(variable), false) => format!(
                "The server wants an API key and the environment variable {variable} (named by \
                 backends[].api_key_env) is not set: set it to a valid key and restart Alice"
            ),
            (Some(variable), true) => format!(
                "The server refused the API key in the environment variable {variable} (named by \
                 backends[].api_key_env): set it to a valid key with access to model {:?} and \
                 restart Alice",
                self.model
            ),
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> LlmError {
        let kind = if error.is_connect() || error.is_timeout() {
            ErrorKind::Unreachable
        } else {
            ErrorKind::StreamBroken
        };
        self.error(kind, describe_transport(error))
    }

    /// Passes a successful response through; turns any other into the matching error.
    async fn check_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, LlmError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = read_error_body(response).await;
        let kind = status_kind(status.as_u16(), body.code.as_deref(), retry_after);
        Err(self.error(kind, format!("HTTP {}: {body}", status.as_u16())))
    }
}

#[async_trait]
impl Provider for OpenAiClient {
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
        // `num_ctx` has no OpenAI counterpart (the server decides the context), and the
        // deadline is the router's to enforce.
        let body = ChatBody {
            model: request.model.as_deref().unwrap_or(&self.model),
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            stop: &request.stop,
        };
        let response = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .header(header::ACCEPT, "text/event-stream")
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let response = self.check_status(response).await?;
        // A server that ignores `stream: true` answers with one JSON object; reading it as SSE
        // would only end in a puzzling "no [DONE]".
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let body = read_error_body(response).await;
            return Err(self.error(
                ErrorKind::Protocol,
                format!("expected an event stream for stream=true but got JSON: {body}"),
            ));
        }
        let bytes = body_bytes(response);
        Ok(chat_events(self.clone(), bytes))
    }

    async fn probe(&self) -> BackendHealth {
        let models = match self.list_models().await {
            Ok(models) => models,
            Err(error) => {
                return BackendHealth {
                    // Any HTTP answer, even a 401, means the server is there.
                    reachable: error.kind != ErrorKind::Unreachable,
                    model_available: false,
                    context_length: None,
                    error: Some(error.to_string()),
                };
            }
        };
        if models.contains(&self.model) {
            return BackendHealth {
                reachable: true,
                model_available: true,
                context_length: None,
                error: None,
            };
        }
        let listed = if models.is_empty() {
            "none".to_owned()
        } else if models.len() > MAX_LISTED_MODELS {
            format!(
                "{} and {} more",
                models[..MAX_LISTED_MODELS].join(", "),
                models.len() - MAX_LISTED_MODELS
            )
        } else {
            models.join(", ")
        };
        let error = self.error(
            ErrorKind::ModelNotFound,
            format!(
                "model {:?} is not among the server's models ({listed})",
                self.model
            ),
        );
        BackendHealth {
            reachable: true,
            model_available: false,
            context_length: None,
            error: Some(error.to_string()),
        }
    }
}

/// Reads the API key from `variable` and makes it a sensitive `Authorization` value. A missing,
/// empty or unusable key is logged (never the key itself) and the backend goes on without one.
fn read_key(backend: &str, variable: &str) -> Option<HeaderValue> {
    let key = match std::env::var(variable) {
        Ok(key) if !key.trim().is_empty() => key,
        Ok(_) | Err(VarError::NotPresent) => {
            tracing::warn!(
                evt = "backend_key_missing",
                backend = %backend,
                variable = %variable,
                "the API key variable is not set; the backend is tried without a key"
            );
            return None;
        }
        Err(VarError::NotUnicode(_)) => {
            tracing::warn!(
                evt = "backend_key_invalid",
                backend = %backend,
                variable = %variable,
                "the API key variable is not valid UTF-8; the backend is tried without a key"
            );
            return None;
        }
    };
    // Keys pasted from files often carry a trailing newline, which no header can.
    match HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Some(value)
        }
        Err(_) => {
            tracing::warn!(
                evt = "backend_key_invalid",
                backend = %backend,
                variable = %variable,
                "the API key holds characters an HTTP header cannot carry; the backend is tried \
                 without a key"
            );
            None
        }
    }
}

/// The error kind for a failed status. OpenAI-compatible servers answer an unknown model with
/// 404, or with 400 and `code: "model_not_found"`.
fn status_kind(status: u16, code: Option<&str>, retry_after: Option<Duration>) -> ErrorKind {
    if status == 404 || code == Some("model_not_found") {
        return ErrorKind::ModelNotFound;
    }
    match status {
        429 | 503 => ErrorKind::Busy { retry_after },
        code @ 400..=499 => ErrorKind::Rejected { status: code },
        code => ErrorKind::Failed { status: code },
    }
}

/// `Retry-After` in seconds (fractions accepted; the HTTP-date form is rare from APIs and is
/// ignored, which leaves the router's own backoff).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    if seconds.is_finite() && seconds >= 0.0 {
        Duration::try_from_secs_f64(seconds).ok()
    } else {
        None
    }
}

/// Turns an SSE body into chat events: deltas, then one `Done` or one error, then nothing.
fn chat_events<S>(client: OpenAiClient, bytes: S) -> ChatStream
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
{
    let lines = lines(bytes);
    let state = Decoding {
        lines,
        sse: SseDecoder::default(),
        chunks: ChunkParser::default(),
        client,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            let data = match state.lines.next().await {
                Some(Ok(line)) => match state.sse.line(&line) {
                    Some(data) => data,
                    None => continue,
                },
                Some(Err(e)) => {
                    let error = state.client.error(ErrorKind::StreamBroken, line_error(&e));
                    return Some((Err(error), None));
                }
                // Some servers close right after `data: [DONE]` without the blank line; an
                // event left open at the end is still read, and if it was not [DONE] the next
                // turn ends the stream as broken.
                None => match state.sse.finish() {
                    Some(data) => data,
                    None => {
                        let error = state.client.error(
                            ErrorKind::StreamBroken,
                            "the stream ended before data: [DONE]".into(),
                        );
                        return Some((Err(error), None));
                    }
                },
            };
            match state.chunks.data(&state.client, &data) {
                Ok(Step::Nothing) => continue,
                Ok(Step::Delta(text)) => return Some((Ok(ChatEvent::Delta(text)), Some(state))),
                // Done and errors end the stream.
                Ok(Step::Done(completion)) => return Some((Ok(ChatEvent::Done(completion)), None)),
                Err(error) => return Some((Err(error), None)),
            }
        }
    })
    .boxed()
}

/// Everything a running stream carries from one event to the next.
struct Decoding<S> {
    lines: Lines<S>,
    sse: SseDecoder,
    chunks: ChunkParser,
    client: OpenAiClient,
}

/// Gathers the `data:` fields of one server-sent event until the blank line that ends it.
/// Comment lines (`: keep-alive`) and the fields OpenAI does not use (`event`, `id`, `retry`)
/// are skipped.
#[derive(Debug, Default)]
struct SseDecoder {
    data: Option<String>,
}

impl SseDecoder {
    /// Takes one line without its line ending; returns the event's data when the line ends one.
    fn line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        if line.starts_with(':') {
            return None;
        }
        // "data:x" and "data: x" are the same field; only one space is dropped.
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        None
    }

    /// The data of an event still open when the body ended.
    fn finish(&mut self) -> Option<String> {
        self.data.take()
    }
}

/// What one event's data meant.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Nothing,
    Delta(String),
    Done(Completion),
}

/// Reads chunk after chunk, keeping what only the end reports: the finish reason arrives in the
/// last chunk with choices, the token counts in a usage chunk with `choices: []` after it, and
/// the end itself is `[DONE]`.
#[derive(Debug, Default)]
struct ChunkParser {
    finish_reason: Option<String>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl ChunkParser {
    fn data(&mut self, client: &OpenAiClient, data: &str) -> Result<Step, LlmError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Step::Nothing);
        }
        if data == "[DONE]" {
            return Ok(Step::Done(Completion {
                finish_reason: match self.finish_reason.as_deref() {
                    // A server that never said why it stopped has simply finished.
                    None | Some("stop") => FinishReason::Stop,
                    Some("length") => FinishReason::Length,
                    Some(other) => FinishReason::Other(other.to_owned()),
                },
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.completion_tokens,
                upstream_total_ms: None,
            }));
        }
        let chunk: StreamChunk = serde_json::from_str(data).map_err(|e| {
            client.error(
                ErrorKind::Protocol,
                format!("unexpected stream event: {e} in {}", clip(data)),
            )
        })?;
        if let Some(error) = chunk.error {
            return Err(client.error(
                ErrorKind::StreamBroken,
                format!("error during the stream: {}", ErrorText::from_value(&error)),
            ));
        }
        if let Some(usage) = chunk.usage {
            self.prompt_tokens = usage.prompt_tokens.or(self.prompt_tokens);
            self.completion_tokens = usage.completion_tokens.or(self.completion_tokens);
        }
        // Alice asks for one choice; a server that sends more gets its first one read.
        let Some(choice) = chunk.choices.into_iter().min_by_key(|choice| choice.index) else {
            return Ok(Step::Nothing);
        };
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(reason);
        }
        // Reasoning models put their thinking in other delta fields (`reasoning_content`);
        // only `content` is the answer.
        match choice.delta.and_then(|delta| delta.content) {
            Some(text) if !text.is_empty() => Ok(Step::Delta(text)),
            _ => Ok(Step::Nothing),
        }
    }
}

/// An error body in OpenAI's shape (`{"error": {"message", "type", "code"}}`), or what the
/// server sent instead.
#[derive(Debug, PartialEq, Eq)]
struct ErrorText {
    message: String,
    code: Option<String>,
}

impl ErrorText {
    fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => match map.get("error") {
                Some(error) => Self::from_value(error),
                // Some compatible servers put the message at the top level.
                None => match map.get("message").and_then(Value::as_str) {
                    Some(message) => Self {
                        message: message.to_owned(),
                        code: None,
                    },
                    None => Self::raw(&text),
                },
            },
            _ => Self::raw(&text),
        }
    }

    /// The value of an `error` field: OpenAI's object, or a bare string some servers send.
    fn from_value(error: &Value) -> Self {
        match error {
            Value::String(message) => Self {
                message: message.clone(),
                code: None,
            },
            Value::Object(fields) => Self {
                message: fields
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_owned),
                // `code` is a string at OpenAI, a number at some others.
                code: fields.get("code").and_then(|code| match code {
                    Value::String(code) => Some(code.clone()),
                    Value::Number(code) => Some(code.to_string()),
                    _ => None,
                }),
            },
            other => Self {
                message: other.to_string(),
                code: None,
            },
        }
    }

    fn raw(text: &str) -> Self {
        let text = text.trim();
        Self {
            message: if text.is_empty() {
                "(empty body)".to_owned()
            } else {
                clip(text)
            },
            code: None,
        }
    }
}

impl std::fmt::Display for ErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// At most [`MAX_RAW_DETAIL_CHARS`] characters of a text, marked when cut.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_RAW_DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Reads at most [`MAX_ERROR_BODY_BYTES`] of a body and makes sense of it.
async fn read_error_body(mut response: reqwest::Response) -> ErrorText {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_ERROR_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_ERROR_BODY_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) if body.is_empty() => {
                return ErrorText {
                    message: format!("(no readable body: {})", describe_transport(&e)),
                    code: None,
                };
            }
            // Keep what arrived before the body broke.
            Err(_) => break,
        }
    }
    ErrorText::parse(&body)
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
    temperature: f32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<ChunkUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    delta: Option<ChunkDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alice_core::BackendKind;

    fn client() -> OpenAiClient {
        OpenAiClient::new(&BackendConfig {
            name: "cloud".into(),
            kind: BackendKind::Openai,
            url: "http://127.0.0.1:9/v1/".into(),
            model: "gpt-4o-mini".into(),
            ..BackendConfig::default()
        })
        .unwrap()
    }

    /// Runs raw body chunks through the same decoding the client uses.
    async fn decode(chunks: &[&'static [u8]]) -> Vec<Result<ChatEvent, LlmError>> {
        let bytes = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        );
        chat_events(client(), bytes).collect().await
    }

    const DELTA: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hej"},"finish_reason":null}]}"#;
    const FINISH: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#;
    const USAGE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#;

    #[test]
    fn the_base_url_loses_its_trailing_slash() {
        assert_eq!(client().url(), "http://127.0.0.1:9/v1");
    }

    #[test]
    fn a_delta_chunk_is_text_and_the_role_chunk_is_nothing() {
        let mut parser = ChunkParser::default();
        assert_eq!(
            parser.data(&client(), DELTA).unwrap(),
            Step::Delta("Hej".into())
        );
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(parser.data(&client(), role).unwrap(), Step::Nothing);
        let null_content =
            r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"hmm"}}]}"#;
        assert_eq!(parser.data(&client(), null_content).unwrap(), Step::Nothing);
    }

    #[test]
    fn finish_and_usage_chunks_make_the_done_at_done() {
        let client = client();
        let mut parser = ChunkParser::default();
        assert_eq!(parser.data(&client, FINISH).unwrap(), Step::Nothing);
        assert_eq!(parser.data(&client, USAGE).unwrap(), Step::Nothing);
        assert_eq!(
            parser.data(&client, "[DONE]").unwrap(),
            Step::Done(Completion {
                finish_reason: FinishReason::Length,
                prompt_tokens: Some(12),
                completion_tokens: Some(7),
                upstream_total_ms: None,
            })
        );
    }

    #[test]
    fn done_without_reason_or_usage_is_a_plain_stop() {
        let Step::Done(done) = ChunkParser::default().data(&client(), "[DONE]").unwrap() else {
            panic!("expected Done")
        };
        assert_eq!(done.finish_reason, FinishReason::Stop);
        assert_eq!((done.prompt_tokens, done.completion_tokens), (None, None));
        let mut parser = ChunkParser::default();
        parser
            .data(
                &client(),
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}"#,
            )
            .unwrap();
        let Step::Done(done) = parser.data(&client(), "[DONE]").unwrap() else {
            panic!("expected Done")
        };
        assert_eq!(
            done.finish_reason,
            FinishReason::Other("content_filter".into())
        );
    }

    #[test]
    fn an_error_event_breaks_the_stream() {
        let err = ChunkParser::default()
            .data(
                &client(),
                r#"{"error":{"message":"simulated failure after 2 tokens","type":"server_error"}}"#,
            )
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::StreamBroken);
        assert!(
            err.detail.contains("simulated failure after 2 tokens"),
            "{err}"
        );
    }

    #[test]
    fn garbage_data_is_a_protocol_error() {
        let err = ChunkParser::default()
            .data(&client(), "<html>")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
    }

    #[test]
    fn sse_lines_follow_the_spec() {
        let mut sse = SseDecoder::default();
        assert_eq!(sse.line(": keep-alive"), None);
        assert_eq!(
            sse.line(""),
            None,
            "a blank line with no data dispatches nothing"
        );
        assert_eq!(sse.line("event: message"), None);
        assert_eq!(sse.line("id: 7"), None);
        assert_eq!(sse.line("data:first"), None);
        assert_eq!(sse.line("data:  second"), None);
        assert_eq!(sse.line("").as_deref(), Some("first\n second"));
        assert_eq!(sse.line("data"), None);
        assert_eq!(sse.line("").as_deref(), Some(""));
        assert_eq!(sse.finish(), None);
    }

    #[tokio::test]
    async fn a_whole_stream_decodes_to_deltas_and_done() {
        let events = decode(&[
            b": OPENROUTER PROCESSING\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" d\xc3\xa5\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            b"data: [DONE]\n\n",
        ])
        .await;
        let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            [
                ChatEvent::Delta("Hej".into()),
                ChatEvent::Delta(" då".into()),
                ChatEvent::Done(Completion {
                    finish_reason: FinishReason::Stop,
                    prompt_tokens: Some(3),
                    completion_tokens: Some(2),
                    upstream_total_ms: None,
                }),
            ]
        );
    }

    #[tokio::test]
    async fn crlf_line_endings_are_read() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\r\n\r\n",
            b": ping\r\n\r\ndata: [DONE]\r\n\r\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("Hej".into()));
        assert!(matches!(events[1], Ok(ChatEvent::Done(_))));
    }

    #[tokio::test]
    async fn an_event_split_across_chunks_is_joined() {
        // Split inside "data", inside the JSON, inside the two bytes of "ä", and between the
        // line ending and the blank line.
        let events = decode(&[
            b"da",
            b"ta: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xc3",
            b"\xa4lv\"}}]}\r",
            b"\n",
            b"\r\ndata: [DO",
            b"NE]\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("älv".into()));
        assert!(matches!(events[1], Ok(ChatEvent::Done(_))));
    }

    #[tokio::test]
    async fn done_without_the_final_blank_line_still_ends_well() {
        let events = decode(&[b"data: [DONE]\n"]).await;
        assert!(matches!(events[..], [Ok(ChatEvent::Done(_))]), "{events:?}");
    }

    #[tokio::test]
    async fn an_open_event_at_the_end_is_read_and_then_the_stream_is_broken() {
        let events =
            decode(&[b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n"])
                .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("Hej".into()));
        assert_eq!(
            events[1].as_ref().unwrap_err().kind,
            ErrorKind::StreamBroken
        );
    }

    #[tokio::test]
    async fn a_stream_without_done_is_broken() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        let err = events[1].as_ref().unwrap_err();
        assert_eq!(err.kind, ErrorKind::StreamBroken);
        assert!(err.detail.contains("[DONE]"), "{err}");
    }

    #[tokio::test]
    async fn an_error_event_mid_stream_ends_it() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"never read\"}}]}\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "nothing after the error: {events:?}");
        assert_eq!(
            events[1].as_ref().unwrap_err().kind,
            ErrorKind::StreamBroken
        );
    }

    #[test]
    fn statuses_and_codes_become_kinds() {
        let secs = Some(Duration::from_secs(2));
        assert_eq!(status_kind(404, None, None), ErrorKind::ModelNotFound);
        assert_eq!(
            status_kind(400, Some("model_not_found"), None),
            ErrorKind::ModelNotFound
        );
        assert_eq!(
            status_kind(429, None, secs),
            ErrorKind::Busy { retry_after: secs }
        );
        assert_eq!(
            status_kind(503, None, None),
            ErrorKind::Busy { retry_after: None }
        );
        assert_eq!(
            status_kind(401, None, None),
            ErrorKind::Rejected { status: 401 }
        );
        assert_eq!(
            status_kind(422, None, None),
            ErrorKind::Rejected { status: 422 }
        );
        assert_eq!(
            status_kind(502, None, None),
            ErrorKind::Failed { status: 502 }
        );
    }

    #[test]
    fn retry_after_is_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn error_bodies_are_read_in_their_several_shapes() {
        let openai = ErrorText::parse(
            br#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        );
        assert_eq!(openai.message, "The model `x` does not exist");
        assert_eq!(openai.code.as_deref(), Some("model_not_found"));
        assert_eq!(
            openai.to_string(),
            "The model `x` does not exist (code model_not_found)"
        );
        assert_eq!(
            ErrorText::parse(br#"{"error":"bad key"}"#).message,
            "bad key"
        );
        assert_eq!(
            ErrorText::parse(br#"{"message":"no such route","code":404}"#).message,
            "no such route"
        );
        assert_eq!(
            ErrorText::parse(b"  <html>502 Bad Gateway</html>\n").message,
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(ErrorText::parse(b"").message, "(empty body)");
        let long = "x".repeat(MAX_RAW_DETAIL_CHARS * 2);
        assert_eq!(
            ErrorText::parse(long.as_bytes()).message.chars().count(),
            MAX_RAW_DETAIL_CHARS + 1
        );
    }

    #[test]
    fn the_request_body_is_openais() {
        let messages = [ChatMessage::new(alice_core::Role::User, "Hej")];
        let body = ChatBody {
            model: "m",
            messages: &messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 5,
            temperature: 0.5,
            stop: &[],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "Hej"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 5,
                "temperature": 0.5,
            })
        );
    }

    #[test]
    fn key_advice_says_which_variable() {
        let mut client = client();
        assert!(client.key_advice().contains("backends[].api_key_env"));
        client.api_key_env = Some("CLOUD_KEY".into());
        assert!(client.key_advice().contains("CLOUD_KEY"));
        assert!(client.key_advice().contains("not set"));
        client.has_key = true;
        assert!(client.key_advice().contains("refused"));
    }
}
