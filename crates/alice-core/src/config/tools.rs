//! `[tools]`: the integrations Alice's tools reach, each behind its own timeout and circuit
//! breaker. Today one kind works everywhere: `[[tools.webhooks]]`, a URL Alice POSTs JSON to.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;

/// The tools, and whether models may call them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Offer Alice's tools (the time, a calculator, timers, the user's memories, the webhooks)
    /// to the model on `/api/chat` as function calls, and carry out the calls it makes. Off by
    /// default: Ollama refuses a request with tools (HTTP 400) for a model that cannot call
    /// them, so turn it on for a model that can (llama3.1, qwen2.5, mistral-nemo, ...).
    pub offer_to_model: bool,
    /// Most rounds of tool calls in one answer; the round after the last is asked without
    /// tools, so the model answers in text.
    pub max_rounds: u32,
    /// HTTP webhooks, none by default. From the environment as one inline TOML array:
    /// `ALICE_TOOLS__WEBHOOKS='[{name="vader", url="http://127.0.0.1:9000/weather", integration="weather"}]'`.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            offer_to_model: false,
            max_rounds: 3,
            webhooks: Vec::new(),
        }
    }
}

/// One webhook: Alice POSTs `{"tool", "arguments", "user", "message", "language"}` as JSON to
/// `url` and says the `text` of the JSON answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// The tool's name: letters, digits, `_` and `-`, unique among the tools.
    pub name: String,
    pub url: String,
    /// What the tool does, for the operator (and for a model offered it).
    pub description: String,
    /// The integration the webhook stands for, if any: "weather", "music", "volume", "mail"
    /// or "calendar". Requests the intent layer files under it ("hur blir vädret i Malmö?")
    /// are answered by the webhook instead of "I am not connected to …".
    pub integration: Option<String>,
    /// The brownout class of the tool, which decides from which brownout level it is switched
    /// off: "code_interpreter" (from LIGHT), "file_search" or "web_search" (from MODERATE),
    /// "calendar" or "email" (from HEAVY), "other" (only in an emergency). By default the
    /// integration's: weather is "web_search", mail "email", calendar "calendar", the rest
    /// "other".
    pub brownout_class: Option<String>,
    /// Longest wait for the webhook's answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            description: String::new(),
            integration: None,
            brownout_class: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The integrations a webhook may stand for.
pub const INTEGRATIONS: [&str; 5] = ["weather", "music", "volume", "mail", "calendar"];
/// The brownout classes of tools.
pub const BROWNOUT_CLASSES: [&str; 6] = [
    "code_interpreter",
    "file_search",
    "web_search",
    "calendar",
    "email",
    "other",
];

impl ToolsConfig {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            (1..=10).contains(&self.max_rounds),
            "tools.max_rounds",
            "must be between 1 and 10",
        );
        let mut names = HashSet::new();
        let mut integrations = HashSet::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            let key = |field: &str| format!("tools.webhooks[{i}].{field}");
            let well_formed = !hook.name.is_empty()
                && hook.name.len() <= 64
                && hook
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            problems.check(
                well_formed,
                &key("name"),
                "must be 1 to 64 letters, digits, '_' or '-'",
            );
            problems.check(
                names.insert(hook.name.as_str()),
                &key("name"),
                "is taken by another webhook",
            );
            let http = hook.url.starts_with("http://") || hook.url.starts_with("https://");
            problems.check(http, &key("url"), "must be an http:// or https:// URL");
            if let Some(integration) = &hook.integration {
                problems.check(
                    INTEGRATIONS.contains(&integration.as_str()),
                    &key("integration"),
                    "must be one of weather, music, volume, mail, calendar",
                );
                problems.check(
                    integrations.insert(integration.as_str()),
                    &key("integration"),
                    "has a webhook already",
                );
            }
            if let Some(class) = &hook.brownout_class {
                problems.check(
                    BROWNOUT_CLASSES.contains(&class.as_str()),
                    &key("brownout_class"),
                    "must be one of code_interpreter, file_search, web_search, calendar, email, \
                     other",
                );
            }
            problems.check(
                hook.timeout >= Duration::from_millis(10)
                    && hook.timeout <= Duration::from_secs(120),
                &key("timeout"),
                "must be between 10ms and 120s",
            );
        }
        problems.into_list()
    }
}
