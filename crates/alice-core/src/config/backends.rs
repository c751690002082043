//! `[[backends]]`: the LLM backends in order of preference, what protocol each speaks, its
//! limits and timeouts, and where an embedded backend finds its model.

use super::checks::{Problems, is_http_url};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which protocol a backend speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Ollama's native API (`/api/chat`), which takes `num_ctx` and `keep_alive`.
    Ollama,
    /// Any OpenAI-compatible server (`/v1/chat/completions`).
    Openai,
    /// A GGUF model run inside Alice's own process through llama.cpp (cargo feature
    /// `embedded`, on by default). `url` is not used; `model_path` names the file.
    Embedded,
}

/// Where an embedded backend without `model_path` looks for its model, relative to the working
/// directory: where `scripts/fetch-model.sh` puts SmolLM2-135M-Instruct. When `ALICE_DATA_DIR`
/// is set (the script honours it too), `$ALICE_DATA_DIR/models/<file>` instead.
pub const DEFAULT_EMBEDDED_MODEL_PATH: &str = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// One LLM backend. Alice tries backends in the order listed: the first is the primary, the
/// others are fallbacks used when it is open, saturated or fails before its first token.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Short name used in logs, metrics and the answer's `model` field.
    pub name: String,
    pub kind: BackendKind,
    /// Base URL: "http://127.0.0.1:11434" for Ollama, "https://api.openai.com/v1" style
    /// (including the `/v1`) for OpenAI-compatible servers.
    pub url: String,
    /// The model to ask for; for Ollama it must have been pulled (`ollama pull MODEL`).
    pub model: String,
    /// Name of the environment variable that holds the API key (OpenAI-compatible servers).
    /// A missing variable is logged and the backend is tried without a key.
    pub api_key_env: Option<String>,
    /// Ollama only: how long the model stays loaded after a request: a duration such as
    /// "15m", seconds as a number, "0" to unload at once, "-1" to keep it loaded.
    pub keep_alive: String,
    /// Requests sent to this backend at once, at most.
    pub max_concurrent: usize,
    /// Requests that may wait for a free slot; more are refused at once with 503.
    pub queue_depth: usize,
    /// Longest wait for a free slot; a request that would wait longer (or past its deadline)
    /// is refused at once with 503.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// While other clients wait, the most of this backend's slots one client may hold, as a
    /// fraction of the limit (rounded up, at least one slot). Alone, a client may use them all.
    pub max_share_per_client: f64,
    /// Most bytes of a failed response's body that are read (for its error message); the rest
    /// is never downloaded.
    pub max_error_body_bytes: usize,
    /// Largest single event of a streamed answer, in bytes: one NDJSON line (Ollama), or one
    /// server-sent event with all its lines (OpenAI). A token is a few hundred bytes; a backend
    /// that sends more has failed, and reading stops there.
    pub max_event_bytes: usize,
    /// Most bytes of one streamed answer, all events together; reading stops there and the
    /// answer fails.
    pub max_answer_bytes: usize,
    /// Largest answer to a listing or description request (Ollama's `/api/tags` and
    /// `/api/show`, OpenAI's `/models`), in bytes; a larger one is not read and the probe fails.
    pub max_listing_bytes: usize,
    /// The Retry-After a client is given when this backend's slots and queue are full.
    #[serde(with = "humantime_serde")]
    pub busy_retry_after: Duration,
    /// Time allowed to open a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed from sending the request to the first token.
    #[serde(with = "humantime_serde")]
    pub first_token_timeout: Duration,
    /// Longest silence allowed between two tokens of a stream.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often Alice checks in the background that the backend answers and has the model.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
    /// The probe also asks for a 5-token answer to "Hej" (only when a slot is free, so it
    /// never adds to a busy backend's load).
    pub probe_generation: bool,
    /// That answer's first token must come within this for the backend to count as healthy.
    #[serde(with = "humantime_serde")]
    pub probe_first_token_max: Duration,
    /// Ollama only: load the model when Alice starts, and ask Ollama to keep it loaded every
    /// `keep_alive_refresh`, so the first user does not wait for the model to load.
    pub warm_up: bool,
    #[serde(with = "humantime_serde")]
    pub keep_alive_refresh: Duration,
    /// Embedded only: the GGUF file to load. Unset: [`DEFAULT_EMBEDDED_MODEL_PATH`].
    pub model_path: Option<PathBuf>,
    /// Embedded only: CPU threads of the engine that computes all of this backend's answers
    /// together (one batch per step). Unset: the machine's cores; more threads than cores make
    /// every answer slower, not faster.
    pub threads: Option<u32>,
    /// Embedded only: tokens of memory each answer has (prompt and answer together), at most
    /// the model's trained context. The engine holds `max_concurrent` × this.
    pub context_tokens: u32,
    /// Embedded only: the prompt cache. A finished answer's tokens stay in memory so that the
    /// next turn of its conversation reads only its new messages; 0 turns it off (every prompt
    /// is read whole).
    pub prompt_cache_mib: u32,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            name: "ollama".to_owned(),
            kind: BackendKind::Ollama,
            url: "http://127.0.0.1:11434".to_owned(),
            model: "gpt-oss:20b".to_owned(),
            api_key_env: None,
            keep_alive: "15m".to_owned(),
            max_concurrent: 3,
            queue_depth: 16,
            queue_timeout: Duration::from_secs(10),
            max_share_per_client: 0.5,
            max_error_body_bytes: 64 * 1024,
            max_event_bytes: 1024 * 1024,
            max_answer_bytes: 16 * 1024 * 1024,
            max_listing_bytes: 4 * 1024 * 1024,
            busy_retry_after: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(3),
            first_token_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(10),
            probe_interval: Duration::from_secs(30),
            probe_generation: true,
            probe_first_token_max: Duration::from_millis(1200),
            warm_up: true,
            keep_alive_refresh: Duration::from_secs(8 * 60),
            model_path: None,
            threads: None,
            context_tokens: 2048,
            prompt_cache_mib: 64,
        }
    }
}

impl BackendConfig {
    /// An embedded backend named "embedded" for the GGUF at `model_path` (default:
    /// [`DEFAULT_EMBEDDED_MODEL_PATH`]), its model named after the file, 4 answers at once
    /// (computed together in one batch), the other settings at their defaults.
    pub fn embedded(model_path: Option<PathBuf>) -> Self {
        let mut config = Self {
            name: "embedded".to_owned(),
            kind: BackendKind::Embedded,
            url: String::new(),
            model_path,
            max_concurrent: 4,
            ..Self::default()
        };
        config.model = config.embedded_model_name();
        config
    }

    /// Embedded only: the GGUF file this backend loads.
    pub fn embedded_model_path(&self) -> PathBuf {
        if let Some(path) = &self.model_path {
            return path.clone();
        }
        let default = Path::new(DEFAULT_EMBEDDED_MODEL_PATH);
        match (std::env::var_os("ALICE_DATA_DIR"), default.file_name()) {
            (Some(dir), Some(file)) if !dir.is_empty() => Path::new(&dir).join("models").join(file),
            _ => default.to_path_buf(),
        }
    }

    /// Embedded only: the model's name when none is configured: the GGUF file's stem.
    pub fn embedded_model_name(&self) -> String {
        self.embedded_model_path().file_stem().map_or_else(
            || "embedded".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    }
}

/// Every problem with the list of backends, each named by its key (`backends[0].url: ...`);
/// empty when the list is usable. Names are checked across the list: each must be unique.
pub(super) fn validate(backends: &[BackendConfig]) -> Vec<String> {
    let mut problems = Problems::default();
    problems.check(
        !backends.is_empty(),
        "backends",
        "list at least one backend, e.g. [[backends]] with kind = \"ollama\"",
    );
    for (i, backend) in backends.iter().enumerate() {
        let key = |field: &str| format!("backends[{i}].{field}");
        problems.check(
            !backend.name.trim().is_empty()
                && backends.iter().filter(|b| b.name == backend.name).count() == 1,
            &key("name"),
            "must be a non-empty name that no other backend has",
        );
        problems.check(
            backend.kind == BackendKind::Embedded || is_http_url(&backend.url),
            &key("url"),
            "must start with http:// or https:// and name a host, e.g. \"http://127.0.0.1:11434\"",
        );
        problems.check(
            backend
                .model_path
                .as_ref()
                .is_none_or(|path| !path.as_os_str().is_empty()),
            &key("model_path"),
            "must name a GGUF file, e.g. \"data/models/SmolLM2-135M-Instruct.Q4_1.gguf\" \
             (or leave it out for that default)",
        );
        problems.check(
            backend.threads.is_none_or(|t| (1..=1024).contains(&t)),
            &key("threads"),
            "must be between 1 and 1024 (or left out: the cores)",
        );
        problems.check(
            (16..=1024 * 1024).contains(&backend.context_tokens),
            &key("context_tokens"),
            "must be between 16 and 1048576 tokens (2048 by default)",
        );
        problems.check(
            backend.prompt_cache_mib <= 1024 * 1024,
            &key("prompt_cache_mib"),
            "must be at most 1048576 MiB (0 turns the prompt cache off)",
        );
        problems.check(
            !backend.model.trim().is_empty(),
            &key("model"),
            "must name a model, e.g. \"gpt-oss:20b\"",
        );
        problems.check(
            is_keep_alive(&backend.keep_alive),
            &key("keep_alive"),
            "must be a duration such as \"15m\", a number of seconds, \"0\" or \"-1\"",
        );
        problems.check(
            (256..=16 * 1024 * 1024).contains(&backend.max_error_body_bytes),
            &key("max_error_body_bytes"),
            "must be between 256 and 16777216 bytes",
        );
        problems.check(
            (1024..=64 * 1024 * 1024).contains(&backend.max_event_bytes),
            &key("max_event_bytes"),
            "must be between 1024 and 67108864 bytes",
        );
        problems.check(
            backend.max_answer_bytes >= backend.max_event_bytes,
            &key("max_answer_bytes"),
            "must be at least max_event_bytes",
        );
        problems.check(
            backend.max_listing_bytes >= 1024,
            &key("max_listing_bytes"),
            "must be at least 1024 bytes",
        );
        problems.check(
            (1..=1024).contains(&backend.max_concurrent),
            &key("max_concurrent"),
            "must be between 1 and 1024",
        );
        problems.check(
            backend.max_share_per_client > 0.0 && backend.max_share_per_client <= 1.0,
            &key("max_share_per_client"),
            "must be above 0 and at most 1 (a fraction of max_concurrent)",
        );
        for (field, value) in [
            ("queue_timeout", backend.queue_timeout),
            ("busy_retry_after", backend.busy_retry_after),
            ("connect_timeout", backend.connect_timeout),
            ("first_token_timeout", backend.first_token_timeout),
            ("idle_timeout", backend.idle_timeout),
            ("probe_interval", backend.probe_interval),
            ("probe_first_token_max", backend.probe_first_token_max),
            ("keep_alive_refresh", backend.keep_alive_refresh),
        ] {
            problems.check(!value.is_zero(), &key(field), "must be longer than zero");
        }
    }
    problems.into_list()
}

/// Ollama accepts a Go duration ("15m", "1h30m"), a number of seconds, 0 or a negative number.
fn is_keep_alive(value: &str) -> bool {
    let value = value.trim();
    if value.parse::<i64>().is_ok() {
        return true;
    }
    let body = value.strip_prefix('-').unwrap_or(value);
    !body.is_empty()
        && body.chars().next().is_some_and(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || "hms.".contains(c))
        && body.chars().last().is_some_and(|c| "hms".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_forms() {
        for ok in ["15m", "1h30m", "0", "-1", "300", "2.5h"] {
            assert!(is_keep_alive(ok), "{ok}");
        }
        for bad in ["", "soon", "m", "15x", "-"] {
            assert!(!is_keep_alive(bad), "{bad}");
        }
    }
}
