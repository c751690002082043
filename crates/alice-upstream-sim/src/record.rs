//! What the simulator remembers about each chat request it received.

use serde::{Deserialize, Serialize};

use crate::answer::SimMessage;

/// Which API a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /api/chat`
    Ollama,
    /// `POST /v1/chat/completions`
    OpenAi,
}

/// One chat request as received, and how it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub api: Api,
    pub model: String,
    pub messages: Vec<SimMessage>,
    pub stream: bool,
    /// Ollama: the `options` object as received; OpenAI: `{max_tokens, temperature, stop}`
    /// as received (`max_completion_tokens` is stored as `max_tokens`); `null` if absent.
    pub options: serde_json::Value,
    /// Ollama only: `keep_alive` as received.
    pub keep_alive: Option<serde_json::Value>,
    /// `tools` as received; empty when none were offered.
    #[serde(default)]
    pub tools: Vec<serde_json::Value>,
    /// OpenAI only: `tool_choice` as received.
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    /// `"pending"` while being answered, then one of `"ok"`, `"error:<status>"`,
    /// `"mid_stream_error"`, `"hang"`, `"queue_full"`, `"cancelled"`, `"model_not_found"`.
    pub outcome: String,
}

/// Outcome names, kept in one place.
pub(crate) mod outcome {
    pub const PENDING: &str = "pending";
    pub const OK: &str = "ok";
    pub const MID_STREAM_ERROR: &str = "mid_stream_error";
    pub const HANG: &str = "hang";
    pub const QUEUE_FULL: &str = "queue_full";
    pub const CANCELLED: &str = "cancelled";
    pub const MODEL_NOT_FOUND: &str = "model_not_found";

    pub fn error(status: u16) -> String {
        format!("error:{status}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_lowercase() {
        assert_eq!(serde_json::to_string(&Api::Ollama).unwrap(), "\"ollama\"");
        assert_eq!(serde_json::to_string(&Api::OpenAi).unwrap(), "\"openai\"");
        let back: Api = serde_json::from_str("\"openai\"").unwrap();
        assert_eq!(back, Api::OpenAi);
    }
}
