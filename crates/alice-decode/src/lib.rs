//! Backends' streamed answers, decoded from bytes to [`ChatEvent`]s.
//!
//! Both remote backends stream their answer as lines: Ollama as NDJSON ([`ndjson`]), an
//! OpenAI-compatible server as server-sent events ([`sse`]). Reading those lines within the
//! answer's size caps ([`lines`]) and making sense of them needs no HTTP client, so it lives
//! here, apart from `alice-llm`'s clients: the decoders are tested, and fuzzed (`fuzz/`), on
//! plain bytes split wherever the test likes, and this crate builds in seconds.
//!
//! A model that calls tools streams the calls in its protocol's way: OpenAI in fragments keyed
//! by `index` (id and name first, the arguments in pieces), Ollama whole, usually in one line
//! before the last. Either decoder hands them on the same way: gathered whole, as one
//! [`ChatEvent::ToolCalls`] right before `Done`, whose finish reason is then
//! [`FinishReason::ToolCalls`]. Gathering first costs nothing a caller could use (a call is
//! useless until its arguments are complete) and spares every caller the fragments. The
//! gathered calls are bounded like the text: their bytes by the answer cap, their number by
//! [`MAX_TOOL_CALLS`].
//!
//! A decoder's failure is a [`Failure`]: whether the backend broke its protocol or its stream,
//! and what happened. `alice-llm` turns it into an `LlmError` with the backend's name and
//! advice.

pub mod lines;
pub mod ndjson;
pub mod sse;
pub mod text;

pub use alice_core::ToolCall;
pub use lines::{Overrun, StreamCaps};

/// Most tool calls one answer may hold; a backend that sends more breaks the protocol (models
/// call a handful at most, and each call is work for the caller).
pub const MAX_TOOL_CALLS: usize = 64;

use serde::Serialize;

/// Why generation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model finished (or hit a stop sequence).
    Stop,
    /// `max_tokens` was reached: the answer is truncated.
    Length,
    /// The model called tools ([`ChatEvent::ToolCalls`]) and waits for their results.
    ToolCalls,
    /// Anything else the backend reported.
    Other(String),
}

impl FinishReason {
    /// The reason as Ollama and OpenAI name it; none named is a plain stop.
    pub fn from_wire(reason: Option<&str>) -> Self {
        match reason {
            None | Some("stop") => FinishReason::Stop,
            Some("length") => FinishReason::Length,
            Some("tool_calls") => FinishReason::ToolCalls,
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

/// What a backend's stream yields: text, then, when the model called tools, one `ToolCalls`,
/// then exactly one `Done` on success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    Delta(String),
    /// Every call of the answer, whole and in the model's order; never empty.
    ToolCalls(Vec<ToolCall>),
    Done(Completion),
}

/// The finish reason of an answer that ended with `reason` and made `calls`: a model that
/// called tools and then stopped stopped *for* them, whatever its server named it (Ollama
/// says "stop"). A cut answer stays cut.
pub(crate) fn finish_with_calls(reason: FinishReason, calls: &[ToolCall]) -> FinishReason {
    match reason {
        FinishReason::Stop if !calls.is_empty() => FinishReason::ToolCalls,
        other => other,
    }
}

/// The protocol failure of an answer with more than [`MAX_TOOL_CALLS`] calls.
pub(crate) fn too_many_calls() -> Failure {
    Failure::protocol(format!(
        "the answer holds more than {MAX_TOOL_CALLS} tool calls"
    ))
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
