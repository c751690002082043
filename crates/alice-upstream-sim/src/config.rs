//! Settings of the simulator: which models it serves and which faults it injects.
//!
//! Faults come only from here (or from `PUT /sim/faults` / [`crate::SimHandle::set_faults`]),
//! never from the content of a request, so a test decides exactly what goes wrong.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Queue length used when [`Faults::max_queue`] is 0 (Ollama's `OLLAMA_MAX_QUEUE` default).
pub const DEFAULT_MAX_QUEUE: usize = 512;

/// Status used when [`Faults::error_status`] is 0.
pub const DEFAULT_ERROR_STATUS: u16 = 500;

/// How the simulator is set up when it starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Model names it serves; any other name gets Ollama's 404.
    pub models: Vec<String>,
    /// Reported by `/api/show` as `model_info["llama.context_length"]`.
    pub context_length: u64,
    /// Faults in force at start (changeable at run time).
    pub faults: Faults,
    /// Seeds the random generator used for jitter and the error rate, so runs repeat.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            models: vec!["gpt-oss:20b".to_owned(), "llama3.2:3b".to_owned()],
            context_length: 8192,
            faults: Faults::default(),
            seed: 42,
        }
    }
}

/// What goes wrong, and how slowly things go right.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay before the response starts (before headers).
    pub latency_ms: u64,
    /// Extra uniform random delay `0..=jitter_ms` added to `latency_ms`.
    pub jitter_ms: u64,
    /// After the headers, delay before the first token (added to the whole time when not streaming).
    pub ttft_ms: u64,
    /// 0 = as fast as possible; otherwise a delay of `1/tokens_per_second` between tokens.
    pub tokens_per_second: f64,
    /// Probability (0.0..=1.0) that a request fails with `error_status`.
    pub error_rate: f64,
    /// Status of injected failures; 0 means 500. 503 and 404 get Ollama's own messages.
    pub error_status: u16,
    /// In a streamed answer, fail after this many tokens (HTTP 200 already sent).
    /// A non-streamed answer fails with 500 and the same message instead.
    pub mid_stream_error_after: Option<usize>,
    /// Accept the request and never answer.
    pub hang: bool,
    /// Injected failures' error text is padded to about this many bytes (a proxy's error page,
    /// a backend dumping its state); 0 keeps Ollama's short messages.
    pub error_body_bytes: usize,
    /// A streamed answer is one event that never ends: OpenAI's API sends `data:` lines with
    /// no blank line after them, Ollama's one NDJSON line with no line end, until the client
    /// goes away or the simulator stops.
    pub endless_event: bool,
    /// At most this many requests generate at once (like `OLLAMA_NUM_PARALLEL`); others queue.
    pub max_concurrent: Option<usize>,
    /// Queue length beyond `max_concurrent` (like `OLLAMA_MAX_QUEUE`); 0 means 512.
    pub max_queue: usize,
    /// 0 = the short canned answer; otherwise every answer is padded with filler words to this
    /// many tokens (before `max_tokens` cuts it), like a model that talks at length, so a
    /// smaller token limit shows in the answer's length.
    pub answer_tokens: usize,
    /// How a request that offers tools is answered: with a call, or with text (see
    /// [`ToolCalling`]). Not a fault, but set with them, so a test steers it the same way.
    pub tool_calls: ToolCalling,
}

/// Whether the "model" calls a tool when a request offers tools and the conversation has no
/// tool result after its last user message (once there is one, it answers with text quoting
/// the result). A request whose `tool_choice` is `"none"` is always answered with text.
///
/// In JSON: `"first_offered"`, `"never"`, or `{"rules": [{"tool": "weather", "arguments":
/// {"city": "Umeå"}}]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolCalling {
    /// Calls the first offered tool with `{}`: like a model that uses what it is given, and
    /// a test needs nothing set up to see a call. The default.
    #[default]
    FirstOffered,
    /// Answers with text, tools or not.
    Never,
    /// Calls the tool of the first rule whose tool is offered, with its arguments; answers
    /// with text when no rule's tool is offered.
    Rules(Vec<ToolRule>),
}

/// "Call `tool` with `arguments` when it is offered."
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    pub tool: String,
    /// The call's arguments, sent as OpenAI's JSON text or Ollama's object; `{}` if left out.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl Faults {
    /// The status injected failures get.
    pub fn effective_error_status(&self) -> u16 {
        if self.error_status == 0 {
            DEFAULT_ERROR_STATUS
        } else {
            self.error_status
        }
    }

    /// How many requests may wait for a generation slot.
    pub fn effective_max_queue(&self) -> usize {
        if self.max_queue == 0 {
            DEFAULT_MAX_QUEUE
        } else {
            self.max_queue
        }
    }

    /// The error rate clamped to `0.0..=1.0` (NaN counts as 0).
    pub(crate) fn clamped_error_rate(&self) -> f64 {
        if self.error_rate.is_nan() {
            0.0
        } else {
            self.error_rate.clamp(0.0, 1.0)
        }
    }

    /// Delay between two tokens, `None` when tokens come as fast as possible.
    pub(crate) fn token_interval(&self) -> Option<Duration> {
        if !(self.tokens_per_second.is_finite() && self.tokens_per_second > 0.0) {
            return None;
        }
        let max = Duration::from_secs(24 * 60 * 60);
        Some(Duration::try_from_secs_f64(1.0 / self.tokens_per_second).map_or(max, |d| d.min(max)))
    }

    /// Checks the values a caller can get wrong; used by `PUT /sim/faults`.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be between 0.0 and 1.0, got {}",
                self.error_rate
            ));
        }
        if !self.tokens_per_second.is_finite() || self.tokens_per_second < 0.0 {
            return Err(format!(
                "tokens_per_second must be 0 or a positive number, got {}",
                self.tokens_per_second
            ));
        }
        if self.error_status != 0 && !(100..=999).contains(&self.error_status) {
            return Err(format!(
                "error_status must be an HTTP status (100..=999) or 0, got {}",
                self.error_status
            ));
        }
        if self.max_concurrent == Some(0) {
            return Err("max_concurrent must be at least 1 (or null for no limit)".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let config = SimConfig::default();
        assert_eq!(config.models, ["gpt-oss:20b", "llama3.2:3b"]);
        assert_eq!(config.context_length, 8192);
        assert_eq!(config.seed, 42);
        assert_eq!(config.faults, Faults::default());
        assert_eq!(config.faults.effective_error_status(), 500);
        assert_eq!(config.faults.effective_max_queue(), 512);
        assert_eq!(config.faults.token_interval(), None);
    }

    #[test]
    fn partial_json_fills_in_defaults_and_rejects_unknown_fields() {
        let config: SimConfig = serde_json::from_str(r#"{"faults":{"hang":true}}"#).unwrap();
        assert!(config.faults.hang);
        assert_eq!(config.context_length, 8192);
        assert!(serde_json::from_str::<Faults>(r#"{"latency":5}"#).is_err());
        let rules: Faults = serde_json::from_str(
            r#"{"tool_calls":{"rules":[{"tool":"weather","arguments":{"city":"Umeå"}},{"tool":"clock"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            rules.tool_calls,
            ToolCalling::Rules(vec![
                ToolRule {
                    tool: "weather".into(),
                    arguments: serde_json::json!({"city": "Umeå"}),
                },
                ToolRule {
                    tool: "clock".into(),
                    arguments: serde_json::json!({}),
                },
            ])
        );
        let never: Faults = serde_json::from_str(r#"{"tool_calls":"never"}"#).unwrap();
        assert_eq!(never.tool_calls, ToolCalling::Never);
        assert_eq!(Faults::default().tool_calls, ToolCalling::FirstOffered);
    }

    #[test]
    fn validation_catches_out_of_range_values() {
        let ok = Faults {
            error_rate: 0.5,
            tokens_per_second: 20.0,
            ..Faults::default()
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.token_interval(), Some(Duration::from_millis(50)));
        let bad_rate = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(bad_rate.validate().unwrap_err().contains("error_rate"));
        let bad_status = Faults {
            error_status: 42,
            ..Faults::default()
        };
        assert!(bad_status.validate().unwrap_err().contains("error_status"));
        let zero_slots = Faults {
            max_concurrent: Some(0),
            ..Faults::default()
        };
        assert!(zero_slots.validate().is_err());
    }
}
