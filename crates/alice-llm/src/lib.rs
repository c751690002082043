//! Alice's LLM backends.
//!
//! A backend is anything that implements [`Provider`]: it takes a [`ChatRequest`] and returns a
//! stream of [`ChatEvent`]s (text deltas, then one `Done`). Alice always streams from the
//! backend, also for non-streaming API calls, so time to first token is measured the same way
//! for both. Errors are one type, [`LlmError`], whose [`ErrorKind`] decides the HTTP status the
//! API answers with and which carries advice an operator can act on.
//!
//! - [`ollama`]: Ollama's native API (`/api/chat` NDJSON streaming, `/api/tags`, `/api/show`).

mod error;
pub mod ollama;
mod provider;

pub use error::{ErrorKind, LlmError};
pub use ollama::OllamaClient;
pub use provider::{
    BackendHealth, ChatEvent, ChatRequest, ChatStream, Completion, FinishReason, Provider,
};
