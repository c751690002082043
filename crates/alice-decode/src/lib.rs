//! Backends' streamed answers, decoded from bytes to [`ChatEvent`]s.
//!
//! Both remote backends stream their answer as lines: Ollama as NDJSON ([`ndjson`]), an
//! OpenAI-compatible server as server-sent events ([`sse`]). Reading those lines within the
//! answer's size caps ([`lines`]) and making sense of them needs no HTTP client, so it lives
//! here, apart from `alice-llm`'s clients: the decoders are tested, and fuzzed (`fuzz/`), on
//! plain bytes split wherever the test likes, and this crate builds in seconds.
//!
//! A decoder's failure is a [`Failure`]: whether the backend broke its protocol or its stream,
//! and what happened. `alice-llm` turns it into an `LlmError` with the backend's name and
//! advice.

pub mod lines;
pub mod ndjson;
pub mod sse;
pub mod text;

pub use lines::{Overrun, StreamCaps};

use serde::Serialize;

/// Why generation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished (or hit a stop sequence).
    Stop,
    /// `max_tokens` was reached: the answer is truncated.
    Length,
    /// Anything else the backend reported.
    Other(String),
}

impl FinishReason {
    /// The reason as Ollama and OpenAI name it; none named is a plain stop.
    pub fn from_wire(reason: Option<&str>) -> Self {
        match reason {
            None | Some("stop") => FinishReason::Stop,
            Some("length") => FinishReason::Length,
            Some(other) => FinishReason::Other(other.to_owned()),
        }
    }
}

/// The end of a successful generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub finish_reason: FinishReason,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The backend's own measure of the whole request, when it reports one.
    pub upstream_total_ms: Option<u64>,
}

/// What a backend's stream yields: text, then exactly one `Done` on success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    Delta(String),
    Done(Completion),
}

/// How a stream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The backend sent something that is not its protocol, or broke a size cap.
    Protocol,
    /// The stream broke off, or the backend reported an error in it.
    StreamBroken,
}

/// A stream that could not be decoded to its end. It is the stream's last item.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Failure {
    pub kind: FailureKind,
    pub detail: String,
}

impl Failure {
    pub fn protocol(detail: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Protocol,
            detail: detail.into(),
        }
    }

    pub fn broken(detail: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::StreamBroken,
            detail: detail.into(),
        }
    }
}
