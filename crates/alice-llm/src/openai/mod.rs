//! OpenAI's chat API, as a client for any OpenAI-compatible server.
//!
//! This is how Alice reaches a fallback when the local Ollama cannot answer: OpenAI itself, or
//! vLLM, llama.cpp's server, LM Studio, a hosted gateway. They share `POST /chat/completions`
//! streaming as server-sent events (SSE) and `GET /models`, so one client serves them all; the
//! configured URL is the base *including* `/v1`.
//!
//! The stream is server-sent events, decoded by [`alice_decode::sse`]. Like Ollama, a server
//! that fails after the status line keeps HTTP 200 and sends the error as an event
//! (`data: {"error": {...}}`); the stream's end is `data: [DONE]`, and a stream that stops
//! without it is broken, whatever came before.
//!
//! Tools, `tool_choice`, assistant messages with `tool_calls` and `tool` results go in
//! OpenAI's own shape, which Alice's types follow; the streamed calls' fragments are gathered
//! by the decoder.

mod key;
mod wire;

use crate::http::{self, ErrorText, Remote, describe_transport};
use crate::provider::{BackendHealth, ChatRequest, ChatStream};
use crate::tool_wire::wire_tools;
use crate::wire::{body_bytes, chat_stream, stream_caps};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::BackendConfig;
use alice_decode::StreamCaps;
use async_trait::async_trait;
use reqwest::header::{self, HeaderMap};
use std::time::Duration;
use wire::{ChatBody, ModelList, StreamOptions};

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
    /// `{base_url}/chat/completions`, parsed once: parsing it again for every request cost
    /// more than the rest of building the request.
    chat_url: reqwest::Url,
    model: String,
    /// The variable the key is read from, named in advice on 401/403.
    api_key_env: Option<String>,
    /// Whether a key was found and is sent.
    has_key: bool,
    /// `max_error_body_bytes`.
    error_body_limit: usize,
    /// `max_event_bytes` and `max_answer_bytes`.
    stream_caps: StreamCaps,
    /// `max_listing_bytes`.
    listing_limit: usize,
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
            .and_then(|variable| key::read_key(&config.name, variable));
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
        let chat_url = crate::http::endpoint(&config.name, &base_url, "/chat/completions")?;
        Ok(Self {
            name: config.name.clone(),
            http,
            base_url,
            chat_url,
            model: config.model.clone(),
            api_key_env: config.api_key_env.clone(),
            has_key,
            error_body_limit: config.max_error_body_bytes,
            stream_caps: stream_caps(config),
            listing_limit: config.max_listing_bytes,
        })
    }

    /// The ids of the models the server offers (`GET /models`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let request = self.http.get(format!("{}/models", self.base_url));
        let response = http::send(self, request).await?;
        let models: ModelList =
            http::read_listing(self, response, self.listing_limit, "GET /models").await?;
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
            ErrorKind::Stopped { .. } => crate::error::STOPPED_ADVICE.to_owned(),
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
}

impl Remote for OpenAiClient {
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        OpenAiClient::error(self, kind, detail)
    }

    fn error_text(&self, body: &[u8]) -> ErrorText {
        wire::error_text(body)
    }

    fn error_body_limit(&self) -> usize {
        self.error_body_limit
    }

    fn refusal_kind(
        &self,
        status: u16,
        text: &ErrorText,
        retry_after: Option<Duration>,
    ) -> ErrorKind {
        status_kind(status, text.code.as_deref(), retry_after)
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
            messages: wire::wire_messages(&request.messages),
            tools: wire_tools(&request.tools),
            tool_choice: wire::tool_choice(&request.tools, request.tool_choice.as_ref()),
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            stop: &request.stop,
        };
        let request = self
            .http
            .post(self.chat_url.clone())
            .header(header::ACCEPT, "text/event-stream")
            .json(&body);
        let response = http::send(self, request).await?;
        // A server that ignores `stream: true` answers with one JSON object; reading it as SSE
        // would only end in a puzzling "no [DONE]".
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let body = match http::read_body_prefix(response, self.error_body_limit).await {
                Ok(body) => wire::error_text(&body).to_string(),
                Err(unreadable) => format!("(no readable body: {unreadable})"),
            };
            return Err(self.error(
                ErrorKind::Protocol,
                format!("expected an event stream for stream=true but got JSON: {body}"),
            ));
        }
        let caps = self.stream_caps;
        let events = alice_decode::sse::events(body_bytes(response, caps), caps);
        Ok(chat_stream(self.clone(), events))
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

/// The error kind for a failed status. OpenAI-compatible servers answer an unknown model with
/// 404, or with 400 and `code: "model_not_found"`.
fn status_kind(status: u16, code: Option<&str>, retry_after: Option<Duration>) -> ErrorKind {
    if status == 404 || code == Some("model_not_found") {
        return ErrorKind::ModelNotFound;
    }
    http::status_kind(status, retry_after)
}

#[cfg(test)]
mod tests;
