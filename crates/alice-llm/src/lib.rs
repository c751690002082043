//! Alice's LLM backends.
//!
//! A backend is anything that implements [`Provider`]: it takes a [`ChatRequest`] and returns a
//! stream of [`ChatEvent`]s (text deltas, the model's tool calls when it made any, then one
//! `Done`). Alice always streams from the
//! backend, also for non-streaming API calls, so time to first token is measured the same way
//! for both. Errors are one type, [`LlmError`], whose [`ErrorKind`] decides the HTTP status the
//! API answers with and which carries advice an operator can act on.
//!
//! - [`ollama`]: Ollama's native API (`/api/chat` NDJSON streaming, `/api/tags`, `/api/show`).
//! - [`openai`]: any OpenAI-compatible server (`/v1/chat/completions` SSE streaming,
//!   `/v1/models`), e.g. a hosted fallback.
//! - [`embedded`] (cargo feature `embedded`, on by default): a GGUF model run in-process
//!   through llama.cpp, for machines with no model server.

mod breaker;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
mod http;
mod limiter;
pub mod metrics;
pub mod ollama;
pub mod openai;
mod provider;
pub mod router;
mod tool_wire;
mod wire;

pub use alice_core::{ToolCall, ToolChoice, ToolSpec};
pub use breaker::{Breaker, BreakerState};
#[cfg(feature = "embedded")]
pub use embedded::EmbeddedClient;
pub use error::{ErrorKind, LlmError, QueuePlace};
pub use metrics::LlmMetrics;
pub use ollama::OllamaClient;
pub use openai::OpenAiClient;
pub use provider::{
    AnsweredBy, BackendHealth, ChatEvent, ChatRequest, ChatStream, Completion, FinishReason,
    Provider,
};
pub use router::{
    BackendStatus, EmergencyStop, LastResortStatus, LlmRouter, PROBE_PROMPT, ProbeReport,
    RoutedEvent, RoutedStream,
};
