//! The contract every backend fulfils.

use crate::LlmError;
use alice_core::{ChatMessage, ToolChoice, ToolSpec};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::Serialize;

/// One chat request as Alice asks it of a backend.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    pub temperature: f32,
    /// Context window to ask for (backends that take one).
    pub num_ctx: u32,
    /// Sequences that end generation.
    pub stop: Vec<String>,
    /// When the whole answer must be complete. Retries and queueing never go past it.
    pub deadline: Option<tokio::time::Instant>,
    /// For a streamed answer, when generation must end (`deadlines.stream_max` after the
    /// request came in): a stream that keeps producing tokens is not cut at `deadline`, which
    /// then bounds only the wait for the first token. None: `deadline` ends generation too.
    pub stream_deadline: Option<tokio::time::Instant>,
    /// Ask for this model instead of the backend's configured one (a brownout's smaller
    /// model, or an operator's switch through the control API).
    pub model: Option<String>,
    /// Who the request is for (the authenticated user): a backend's queue takes turns between
    /// clients ([`crate::limiter`]). Requests without one share one turn.
    pub client: Option<String>,
    /// Its class at the backends' queues: interactive before batch (the caller's key says).
    pub priority: alice_core::Priority,
    /// Only this backend (a `backends[].name`) may answer: no failover to the others (an A/B
    /// experiment's variant pins its backend, so its figures are that backend's). Retries on
    /// it still run. None: the configured order, with failover.
    pub backend: Option<String>,
    /// Tools the model may call; empty offers none. A model that calls one answers with a
    /// [`ChatEvent::ToolCalls`] before `Done`. The embedded model is offered none (see
    /// `embedded`): it answers with text.
    pub tools: Vec<ToolSpec>,
    /// Whether and which tool the model must call, where the backend's protocol can say so
    /// (OpenAI's; Ollama has no such setting and leaves it to the model). None: the backend's
    /// default ("auto" when tools are offered).
    pub tool_choice: Option<ToolChoice>,
}

impl ChatRequest {
    /// When generation must have ended: the stream's deadline, else the request's.
    pub fn generation_deadline(&self) -> Option<tokio::time::Instant> {
        self.stream_deadline.or(self.deadline)
    }

    /// The client whose turn this request waits in.
    pub fn queue_client(&self) -> &str {
        self.client.as_deref().unwrap_or("")
    }
}

// The events a backend's stream yields are decoded in alice-decode, which owns their types.
pub use alice_decode::{ChatEvent, Completion, FinishReason};

/// Which backend and model produced an answer, and how the router got there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnsweredBy {
    pub backend: String,
    pub model: String,
    /// An earlier backend in the list was skipped or failed before answering.
    pub failover: bool,
    /// Attempts made in all, across retries and backends.
    pub attempts: u32,
    /// Milliseconds spent on backends that did not answer before this one took the request.
    pub failover_ms: u64,
    /// Milliseconds the request waited for backend slots, over all its attempts.
    pub queue_wait_ms: u64,
    /// The embedded model answered as the last resort: every configured backend had failed,
    /// was open or was full. The answer is degraded (a tiny model).
    pub last_resort: bool,
}

impl AnsweredBy {
    /// How answers name their source: "backend:model", marked when it was the last resort or
    /// a failover.
    pub fn label(&self) -> String {
        if self.last_resort {
            format!("{}:{} (last resort)", self.backend, self.model)
        } else if self.failover {
            format!("{}:{} (failover)", self.backend, self.model)
        } else {
            format!("{}:{}", self.backend, self.model)
        }
    }
}

pub type ChatStream = BoxStream<'static, Result<ChatEvent, LlmError>>;

/// What a background probe found out about a backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackendHealth {
    pub reachable: bool,
    pub model_available: bool,
    /// The model's own context length, when the backend reports it.
    pub context_length: Option<u64>,
    /// What went wrong, and what to do, when something did.
    pub error: Option<String>,
}

/// An LLM backend.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Short name used in logs, errors and the `model` field: "ollama".
    fn name(&self) -> &str;
    /// The model this backend asks for.
    fn model(&self) -> &str;
    /// The backend's base address.
    fn url(&self) -> &str;
    /// Starts a generation. Returns once the backend has accepted the request (status line and
    /// headers read); the text follows on the stream.
    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError>;
    /// Checks that the backend answers and has the model. Never panics; failures are in the
    /// result.
    async fn probe(&self) -> BackendHealth;
    /// Loads the model and asks the backend to keep it loaded, where the backend has such a
    /// thing (Ollama); others need nothing.
    async fn warm_up(&self) -> Result<(), LlmError> {
        Ok(())
    }
    /// How many tokens of its context a prompt of these messages takes, chat template
    /// included, counted with the model's own tokenizer, where the backend can count
    /// (the embedded model); None where it cannot, and the caller estimates.
    async fn count_prompt_tokens(&self, _messages: &[ChatMessage]) -> Option<usize> {
        None
    }

    /// Frees the model's memory now, where the backend holds one loaded (Ollama); others need
    /// nothing.
    async fn unload(&self) -> Result<(), LlmError> {
        Ok(())
    }
}
