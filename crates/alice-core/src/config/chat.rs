//! `[chat]`: how a chat request becomes a model request: context window, answer length,
//! temperature, history, the system prompt and the smaller models brownout falls back to; and
//! how retries of a chat request with an `Idempotency-Key` are answered.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a chat request becomes a model request.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Context window asked of the model (Ollama `num_ctx`), in tokens. History is trimmed so
    /// that the prompt plus `max_tokens` fits in it.
    pub num_ctx: u32,
    /// Most tokens the model may generate for one answer (Ollama `num_predict`).
    pub max_tokens: u32,
    pub temperature: f32,
    /// Earlier messages of the conversation sent with a new one, at most.
    pub history_messages: usize,
    /// Longest user message accepted, in characters.
    pub max_message_chars: usize,
    /// The system prompt put before every conversation.
    pub system_prompt: String,
    /// The model asked for under MODERATE and HEAVY brownout (on the same backend); not set:
    /// the configured model serves, with the preset's other cuts.
    pub smaller_model: Option<String>,
    /// The model asked for under EMERGENCY; not set: `smaller_model`, or the configured one.
    pub smallest_model: Option<String>,
    /// Longest `Idempotency-Key` accepted, in characters (visible ASCII).
    pub idempotency_key_max_chars: usize,
    /// Largest answer kept for replay, in bytes; a larger one is answered but not kept, so a
    /// retry runs again.
    pub idempotency_max_answer_bytes: usize,
    /// How long a kept answer is replayed to a retry with the same key.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Retry-After of a retry that arrives while the first request is still being answered.
    #[serde(with = "humantime_serde")]
    pub idempotency_retry_after: Duration,
    /// A request holding a key counts as abandoned (its instance died) when it has neither
    /// answered nor streamed anything for `deadlines.chat` plus this; a retry may then run it.
    #[serde(with = "humantime_serde")]
    pub idempotency_abandon_margin: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            num_ctx: 4096,
            max_tokens: 2048,
            temperature: 0.3,
            history_messages: 8,
            max_message_chars: 8000,
            system_prompt:
                "Du är Alice, en hjälpsam svensk AI-assistent. Svara kort och vänligt på svenska."
                    .to_owned(),
            smaller_model: None,
            smallest_model: None,
            idempotency_key_max_chars: 255,
            idempotency_max_answer_bytes: 1024 * 1024,
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            idempotency_retry_after: Duration::from_secs(1),
            idempotency_abandon_margin: Duration::from_secs(30),
        }
    }
}

impl ChatConfig {
    /// Every problem with the values, each named by its key (`chat.num_ctx: ...`); empty when
    /// the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            (256..=1_048_576).contains(&self.num_ctx),
            "chat.num_ctx",
            "must be between 256 and 1048576 tokens",
        );
        problems.check(
            self.max_tokens >= 1 && self.max_tokens < self.num_ctx,
            "chat.max_tokens",
            "must be at least 1 and smaller than chat.num_ctx, so the prompt has room",
        );
        problems.check(
            (0.0..=2.0).contains(&self.temperature),
            "chat.temperature",
            "must be between 0.0 and 2.0",
        );
        problems.check(
            self.max_message_chars >= 1,
            "chat.max_message_chars",
            "must be at least 1",
        );
        problems.check(
            self.history_messages <= 1000,
            "chat.history_messages",
            "must be at most 1000",
        );
        problems.check(
            (1..=4096).contains(&self.idempotency_key_max_chars),
            "chat.idempotency_key_max_chars",
            "must be between 1 and 4096 characters",
        );
        problems.check(
            self.idempotency_max_answer_bytes >= 1,
            "chat.idempotency_max_answer_bytes",
            "must be at least 1 byte",
        );
        problems.check(
            !self.idempotency_ttl.is_zero(),
            "chat.idempotency_ttl",
            "must be longer than 0s",
        );
        problems.check(
            self.idempotency_retry_after >= Duration::from_secs(1),
            "chat.idempotency_retry_after",
            "must be at least 1s (Retry-After counts whole seconds)",
        );
        problems.into_list()
    }
}
