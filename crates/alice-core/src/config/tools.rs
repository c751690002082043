//! `[tools]`: the integrations Alice's tools reach, each behind its own timeout and circuit
//! breaker: `[[tools.webhooks]]`, a URL Alice POSTs JSON to, and `[[tools.mcp]]`, an MCP server
//! (Streamable HTTP or a local command on stdio) whose tools Alice lists and calls.

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
    /// MCP servers, none by default. From the environment as one inline TOML array:
    /// `ALICE_TOOLS__MCP='[{name="files", command="mcp-server-files", args=["/srv/delat"]}]'`.
    pub mcp: Vec<McpConfig>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        Self {
            offer_to_model: false,
            max_rounds: 3,
            webhooks: Vec::new(),
            mcp: Vec::new(),
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

/// One MCP server: Alice connects at start-up, lists its tools and offers each as
/// `{name}__{tool}`. Reached over Streamable HTTP (`url`) or started as a child process that
/// speaks MCP on its standard input and output (`command` and `args`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// The source's name: letters, digits, `_` and `-`, unique among the tools (webhooks too).
    pub name: String,
    /// The server's Streamable HTTP endpoint, e.g. "http://127.0.0.1:8931/mcp".
    pub url: Option<String>,
    /// Or the program to start (found on PATH unless a path); of Alice's environment it gets
    /// only HOME, LOGNAME, PATH, SHELL, TERM, USER, LANG and TMPDIR ...
    pub command: Option<String>,
    /// ... with these arguments.
    pub args: Vec<String>,
    /// The brownout class of all its tools (see the webhooks'): "other" by default.
    pub brownout_class: String,
    /// Longest wait for one tool call's answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Longest wait to connect: to start the command or reach the URL, the MCP handshake and
    /// the listing of its tools.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: None,
            command: None,
            args: Vec::new(),
            brownout_class: "other".to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
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
            problems.check(
                well_formed(&hook.name, 64),
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
        for (i, source) in self.mcp.iter().enumerate() {
            let key = |field: &str| format!("tools.mcp[{i}].{field}");
            // Its tools are offered as `{name}__{tool}`, at most 64 characters in all.
            problems.check(
                well_formed(&source.name, 32),
                &key("name"),
                "must be 1 to 32 letters, digits, '_' or '-'",
            );
            problems.check(
                names.insert(source.name.as_str()),
                &key("name"),
                "is taken by a webhook or another MCP server",
            );
            match (&source.url, &source.command) {
                (Some(url), None) => {
                    let http = url.starts_with("http://") || url.starts_with("https://");
                    problems.check(http, &key("url"), "must be an http:// or https:// URL");
                    problems.check(
                        source.args.is_empty(),
                        &key("args"),
                        "is for a command; a url takes none",
                    );
                }
                (None, Some(command)) => problems.check(
                    !command.trim().is_empty(),
                    &key("command"),
                    "must name a program",
                ),
                (Some(_), Some(_)) => problems.push(format!(
                    "tools.mcp[{i}]: set url (Streamable HTTP) or command (stdio), not both"
                )),
                (None, None) => problems.push(format!(
                    "tools.mcp[{i}]: set url (Streamable HTTP) or command (stdio)"
                )),
            }
            problems.check(
                BROWNOUT_CLASSES.contains(&source.brownout_class.as_str()),
                &key("brownout_class"),
                "must be one of code_interpreter, file_search, web_search, calendar, email, \
                 other",
            );
            for (field, value) in [
                ("timeout", source.timeout),
                ("connect_timeout", source.connect_timeout),
            ] {
                problems.check(
                    value >= Duration::from_millis(10) && value <= Duration::from_secs(120),
                    &key(field),
                    "must be between 10ms and 120s",
                );
            }
        }
        problems.into_list()
    }
}

/// Whether `name` is 1 to `max` letters, digits, `_` or `-` (a tool name models accept).
fn well_formed(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
