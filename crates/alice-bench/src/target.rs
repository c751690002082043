//! The two ways of talking to a server under test: Alice's native `/api/chat` and any
//! OpenAI-compatible `/v1/chat/completions`.
//!
//! Both are measured the same way (one HTTP request per turn, timing taken here, streaming or
//! not), so Alice and a peer behind the OpenAI API can be compared like for like. Multi-turn
//! conversations differ: Alice keeps the history server-side and hands back a
//! `conversation_id`; an OpenAI endpoint is stateless, so the whole history is sent each turn.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::sse;

/// Longest wait for a TCP connection to the target, however long `--timeout` is: a local
/// server that has not accepted within this is not going to.
const CONNECT_TIMEOUT_CAP: Duration = Duration::from_secs(10);
/// Longest wait for the one connection made before the run to check the target is there.
const REACHABLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Characters of a body kept in an error message: enough to say what went wrong.
const EXCERPT_CHARS: usize = 200;

/// Which API the target speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Alice's native `POST /api/chat`.
    Alice,
    /// `POST /v1/chat/completions` of any OpenAI-compatible server (Alice has one too).
    Openai,
}

/// Where a conversation stands between turns.
#[derive(Clone, Debug)]
pub enum History {
    /// Alice remembers the conversation; the id of the first reply continues it.
    Alice { conversation_id: Option<String> },
    /// The client keeps the messages and resends them.
    Openai { messages: Vec<Value> },
}

impl History {
    pub fn new(api: Api) -> Self {
        match api {
            Api::Alice => Self::Alice {
                conversation_id: None,
            },
            Api::Openai => Self::Openai {
                messages: Vec::new(),
            },
        }
    }

    /// The history after `question` got `answer`.
    pub fn after(self, question: &str, answer: &Answer) -> Result<Self, Failure> {
        match self {
            Self::Alice { .. } => match &answer.conversation_id {
                Some(id) => Ok(Self::Alice {
                    conversation_id: Some(id.clone()),
                }),
                None => Err(Failure::BadResponse(
                    "the reply has no conversation_id, so the conversation cannot go on".into(),
                )),
            },
            Self::Openai { mut messages } => {
                messages.push(json!({"role": "user", "content": question}));
                messages.push(json!({"role": "assistant", "content": answer.text}));
                Ok(Self::Openai { messages })
            }
        }
    }
}

/// A successful answer and when its tokens came.
#[derive(Debug, Default)]
pub struct Answer {
    pub text: String,
    pub conversation_id: Option<String>,
    /// How Alice made the answer (`route.kind` of `/api/chat`'s reply: "intent", "tool" or
    /// "model"); None from the OpenAI API, which does not say.
    pub route: Option<String>,
    /// When the first non-empty piece of text arrived (streaming only).
    pub first_token_at: Option<Instant>,
    /// Gaps between consecutive non-empty pieces of text (streaming only).
    pub token_gaps: Vec<Duration>,
}

impl Answer {
    /// Notes a piece of streamed text arriving now.
    fn delta(&mut self, text: &str, last: &mut Option<Instant>) {
        if text.is_empty() {
            return;
        }
        let now = Instant::now();
        match *last {
            Some(previous) => self
                .token_gaps
                .push(now.saturating_duration_since(previous)),
            None => self.first_token_at = Some(now),
        }
        *last = Some(now);
        self.text.push_str(text);
    }
}

/// Why a request failed; [`Failure::kind`] is the key errors are counted under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made.
    Connect(String),
    /// No complete answer within `--timeout`.
    Timeout,
    /// A non-2xx status, with the start of the body.
    Status(u16, String),
    /// The stream broke off or carried an error event.
    Stream(String),
    /// A 2xx answer that could not be understood.
    BadResponse(String),
    /// Anything else the HTTP client reported.
    Request(String),
}

impl Failure {
    pub fn kind(&self) -> String {
        match self {
            Self::Connect(_) => "connect".to_owned(),
            Self::Timeout => "timeout".to_owned(),
            Self::Status(status, _) => format!("http_{status}"),
            Self::Stream(_) => "stream_error".to_owned(),
            Self::BadResponse(_) => "bad_response".to_owned(),
            Self::Request(_) => "request".to_owned(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::Timeout => "no complete answer within --timeout".to_owned(),
            Self::Status(status, body) => format!("HTTP {status}: {body}"),
            Self::Connect(m) | Self::Stream(m) | Self::BadResponse(m) | Self::Request(m) => {
                m.clone()
            }
        }
    }

    fn from_reqwest(error: &reqwest::Error) -> Self {
        // The chain holds the useful part ("connection refused", "broken pipe").
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        if error.is_connect() {
            Self::Connect(message)
        } else if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Request(message)
        }
    }
}

/// How to reach the server under test.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub base: String,
    pub api: Api,
    pub model: Option<String>,
    pub user: Option<String>,
    /// Sent as `Authorization: Bearer …` with every request.
    pub api_key: Option<String>,
    pub max_tokens: Option<u32>,
    pub stream: bool,
    pub allow_remote: bool,
}

/// The `Authorization` header of a bearer key, marked sensitive (kept out of debug output).
pub fn bearer_headers(api_key: Option<&str>) -> anyhow::Result<reqwest::header::HeaderMap> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = api_key {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .context("--api-key holds characters a header cannot carry")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// A configured client for one target.
#[derive(Clone, Debug)]
pub struct Target {
    client: reqwest::Client,
    spec: TargetSpec,
    endpoint: Url,
}

impl Target {
    /// Checks the target (loopback unless allowed, a model for OpenAI) and builds a client
    /// whose pool can hold `connections` idle connections, so a steady load reuses them.
    pub fn new(spec: TargetSpec, connections: usize, timeout: Duration) -> anyhow::Result<Self> {
        let endpoint = endpoint(&spec.base, spec.api)?;
        check_loopback(&endpoint, spec.allow_remote)?;
        if spec.api == Api::Openai && spec.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
            bail!(
                "--api openai needs --model NAME: the model the endpoint serves (e.g. \
                 llama3.2:3b; GET /v1/models lists them)"
            );
        }
        let client = reqwest::Client::builder()
            .default_headers(bearer_headers(spec.api_key.as_deref())?)
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .connect_timeout(timeout.min(CONNECT_TIMEOUT_CAP))
            .user_agent(concat!("alice-bench/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            client,
            spec,
            endpoint,
        })
    }

    pub fn api(&self) -> Api {
        self.spec.api
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Opens (and closes) one TCP connection, so an unreachable target is reported before the
    /// run rather than as thousands of connect errors.
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        let host = bare_host(&self.endpoint);
        let port = self.endpoint.port_or_known_default().unwrap_or(80);
        let hint = match self.spec.api {
            Api::Alice => "is `alice serve` running there?",
            Api::Openai => "is the server running and listening there?",
        };
        let connect = tokio::net::TcpStream::connect((host, port));
        match tokio::time::timeout(REACHABLE_TIMEOUT, connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => bail!("cannot reach {}: {error}; {hint}", self.spec.base),
            Err(_) => bail!(
                "cannot reach {}: no answer to a connection within {}; {hint}",
                self.spec.base,
                humantime::format_duration(REACHABLE_TIMEOUT)
            ),
        }
    }

    /// Sends one turn: `message` after `history`.
    pub async fn send(&self, history: &History, message: &str) -> Result<Answer, Failure> {
        let body = self.body(history, message);
        let response = self
            .client
            .post(self.endpoint.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(Failure::Status(status.as_u16(), excerpt(&text)));
        }
        if self.spec.stream {
            self.read_stream(response).await
        } else {
            let text = response
                .text()
                .await
                .map_err(|e| Failure::from_reqwest(&e))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| Failure::BadResponse(format!("not JSON ({e}): {}", excerpt(&text))))?;
            self.whole_answer(&value)
        }
    }

    fn body(&self, history: &History, message: &str) -> Value {
        match history {
            History::Alice { conversation_id } => {
                let mut body = json!({"message": message, "stream": self.spec.stream});
                if let Some(id) = conversation_id {
                    body["conversation_id"] = json!(id);
                }
                if let Some(user) = &self.spec.user {
                    body["user"] = json!(user);
                }
                body
            }
            History::Openai { messages } => {
                let mut all = messages.clone();
                all.push(json!({"role": "user", "content": message}));
                let mut body = json!({
                    "model": self.spec.model.as_deref().unwrap_or_default(),
                    "messages": all,
                    "stream": self.spec.stream,
                });
                if let Some(max) = self.spec.max_tokens {
                    body["max_tokens"] = json!(max);
                }
                body
            }
        }
    }

    fn whole_answer(&self, value: &Value) -> Result<Answer, Failure> {
        let text = match self.spec.api {
            Api::Alice => value.get("response"),
            Api::Openai => value.pointer("/choices/0/message/content"),
        }
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Failure::BadResponse(format!("no answer text in {}", excerpt(&value.to_string())))
        })?;
        Ok(Answer {
            text: text.to_owned(),
            conversation_id: conversation_id(value),
            route: route(value),
            ..Answer::default()
        })
    }

    async fn read_stream(&self, response: reqwest::Response) -> Result<Answer, Failure> {
        let mut answer = Answer::default();
        let mut last = None;
        let mut parser = sse::Parser::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Failure::Stream(Failure::from_reqwest(&e).message()))?;
            for event in parser.push(&chunk) {
                if self.stream_event(&event, &mut answer, &mut last)? {
                    return Ok(answer);
                }
            }
        }
        if let Some(event) = parser.finish()
            && self.stream_event(&event, &mut answer, &mut last)?
        {
            return Ok(answer);
        }
        Err(Failure::Stream(
            "the stream ended before its final event".to_owned(),
        ))
    }

    /// Handles one event; `true` when it ended the answer.
    fn stream_event(
        &self,
        event: &sse::Event,
        answer: &mut Answer,
        last: &mut Option<Instant>,
    ) -> Result<bool, Failure> {
        match self.spec.api {
            Api::Alice => match event.name.as_str() {
                "delta" => {
                    let value = parse_event(&event.data)?;
                    let text = value.get("delta").and_then(Value::as_str).unwrap_or("");
                    answer.delta(text, last);
                    Ok(false)
                }
                "done" => {
                    let value = parse_event(&event.data)?;
                    answer.conversation_id = conversation_id(&value);
                    answer.route = route(&value);
                    Ok(true)
                }
                "error" => Err(Failure::Stream(error_message(&event.data))),
                _ => Ok(false),
            },
            Api::Openai => {
                if event.data.trim() == "[DONE]" {
                    return Ok(true);
                }
                let value = parse_event(&event.data)?;
                if value.get("error").is_some() {
                    return Err(Failure::Stream(error_message(&event.data)));
                }
                let text = value
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                answer.delta(text, last);
                Ok(false)
            }
        }
    }
}

fn parse_event(data: &str) -> Result<Value, Failure> {
    serde_json::from_str(data)
        .map_err(|e| Failure::BadResponse(format!("an event is not JSON ({e}): {}", excerpt(data))))
}

fn conversation_id(value: &Value) -> Option<String> {
    value
        .get("conversation_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn route(value: &Value) -> Option<String> {
    value
        .pointer("/route/kind")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The message of an error body in either API's shape, or the body itself.
fn error_message(data: &str) -> String {
    let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    ["/error/message", "/message", "/error"]
        .iter()
        .find_map(|p| value.pointer(p).and_then(Value::as_str))
        .map_or_else(|| excerpt(data), str::to_owned)
}

/// The first [`EXCERPT_CHARS`] characters of a body, on one line.
fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = flat.chars().take(EXCERPT_CHARS).collect();
    if flat.chars().count() > EXCERPT_CHARS {
        short.push('…');
    }
    short
}

/// The URL to post to: the base with the API's path, unless the base already ends with it
/// (`http://host/v1` is the usual way to name an OpenAI-compatible server).
fn endpoint(base: &str, api: Api) -> anyhow::Result<Url> {
    let url = Url::parse(base).with_context(|| {
        format!("--target {base:?} is not a URL; write it like http://127.0.0.1:8000")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--target must be an http:// or https:// URL, got {base:?}");
    }
    let trimmed = url.as_str().trim_end_matches('/');
    let full = match api {
        Api::Alice if trimmed.ends_with("/api/chat") => trimmed.to_owned(),
        Api::Alice => format!("{trimmed}/api/chat"),
        Api::Openai if trimmed.ends_with("/chat/completions") => trimmed.to_owned(),
        Api::Openai if trimmed.ends_with("/v1") => format!("{trimmed}/chat/completions"),
        Api::Openai => format!("{trimmed}/v1/chat/completions"),
    };
    Url::parse(&full).with_context(|| format!("cannot build the endpoint URL from {base:?}"))
}

/// The URL's host without the brackets of an IPv6 address: what `IpAddr` and a socket take.
fn bare_host(url: &Url) -> &str {
    let host = url.host_str().unwrap_or_default();
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Refuses targets off this machine unless `--allow-remote` was given.
fn check_loopback(url: &Url, allow_remote: bool) -> anyhow::Result<()> {
    if allow_remote {
        return Ok(());
    }
    let bare = bare_host(url);
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = bare.to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if loopback {
        Ok(())
    } else {
        bail!(
            "refusing to send load to {bare}: `alice bench` is a load generator, so it only \
             targets this machine (127.0.0.1, ::1, localhost) unless you pass --allow-remote. \
             Load-test only servers you run or may test."
        )
    }
}

#[cfg(test)]
mod tests;
