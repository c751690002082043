//! The one typed configuration of Alice.
//!
//! Values come, in rising precedence, from the built-in defaults, from `alice.toml` (or the file
//! named by `--config` / `ALICE_CONFIG`) and from `ALICE_*` environment variables, where a double
//! underscore separates a section from its key: `ALICE_SERVER__BIND=0.0.0.0:8000` sets
//! `server.bind`. Unknown keys are errors, not silently ignored, and every value is checked once
//! by [`Config::load`]: a program that holds a `Config` holds a valid one. Every setting and its
//! default is documented in `alice.example.toml` at the repository root.

mod adaptive_concurrency;
mod auth;
mod backends;
mod breaker;
mod cache;
mod chat;
mod checks;
mod database;
mod deadlines;
mod guardian;
mod log;
mod memory;
mod retry;
mod server;
#[cfg(test)]
mod tests;

pub use adaptive_concurrency::AdaptiveConcurrencyConfig;
pub use auth::{AuthConfig, AuthMode, Limits, RoleLimits};
pub use backends::{BackendConfig, BackendKind, DEFAULT_EMBEDDED_MODEL_PATH};
pub use breaker::BreakerConfig;
pub use cache::CacheConfig;
pub use chat::ChatConfig;
pub use database::{DatabaseConfig, Synchronous};
pub use deadlines::DeadlineConfig;
pub use guardian::GuardianConfig;
pub use log::LogConfig;
pub use memory::MemoryConfig;
pub use retry::RetryConfig;
pub use server::ServerConfig;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file read when no path is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "alice.toml";

/// `ALICE_*` variables that are not configuration keys: the config file's path, the data
/// directory of `scripts/fetch-model.sh` (see [`DEFAULT_EMBEDDED_MODEL_PATH`]), every
/// `ALICE_TEST_*` variable, which belong to the test suite (service URLs, tool paths), and
/// `alice bench`'s own (`ALICE_BENCH_API_KEY`).
fn is_config_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config" && key != "data_dir" && !key.starts_with("test_") && !key.starts_with("bench_")
}

/// Why a configuration could not be loaded. The message names the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (given by --config or ALICE_CONFIG)")]
    MissingFile(PathBuf),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub deadlines: DeadlineConfig,
    pub database: DatabaseConfig,
    /// LLM backends in order of preference. Written as `[[backends]]` tables in the file; from
    /// the environment as one inline TOML array:
    /// `ALICE_BACKENDS='[{name="ollama", kind="ollama", url="http://127.0.0.1:11434", model="gpt-oss:20b"}]'`.
    pub backends: Vec<BackendConfig>,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub adaptive_concurrency: AdaptiveConcurrencyConfig,
    pub guardian: GuardianConfig,
    pub chat: ChatConfig,
    pub cache: CacheConfig,
    pub memory: MemoryConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            deadlines: DeadlineConfig::default(),
            database: DatabaseConfig::default(),
            backends: vec![BackendConfig::default()],
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            adaptive_concurrency: AdaptiveConcurrencyConfig::default(),
            guardian: GuardianConfig::default(),
            chat: ChatConfig::default(),
            cache: CacheConfig::default(),
            memory: MemoryConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Config {
    /// Reads the configuration: defaults, then the file, then `ALICE_*` variables; then checks
    /// every value. `path` is the file named by `--config` or `ALICE_CONFIG`, which must exist;
    /// without it `alice.toml` is read when present.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let env = Env::prefixed("ALICE_")
            .filter(|key| is_config_variable(key.as_str()))
            .split("__");
        let mut config: Config = figment
            .merge(env)
            .extract()
            .map_err(|errors| ConfigError::Invalid(errors.into_iter().map(describe).collect()))?;
        // An embedded backend left with the default (Ollama) model name is named after its file.
        let default_model = BackendConfig::default().model;
        for backend in &mut config.backends {
            if backend.kind == BackendKind::Embedded && backend.model == default_model {
                backend.model = backend.embedded_model_name();
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Whether the configuration file or the environment names backends. When neither does,
    /// the built-in default (Ollama on this machine) is in force, and `alice serve` may choose
    /// the embedded model instead when Ollama does not answer.
    pub fn backends_configured(path: Option<&Path>) -> bool {
        let mut figment = Figment::new();
        match path {
            Some(path) => figment = figment.merge(Toml::file(path)),
            None => figment = figment.merge(Toml::file(DEFAULT_CONFIG_FILE)),
        }
        figment
            .merge(
                Env::prefixed("ALICE_")
                    .filter(|key| is_config_variable(key.as_str()))
                    .split("__"),
            )
            .contains("backends")
    }

    /// Checks what types alone cannot: ranges, formats and how settings relate. Each section
    /// checks its own values; the problems of all of them are reported together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems: Vec<String> = [
            self.server.validate(),
            self.auth.validate(),
            self.auth_fits_bind(),
            self.deadlines.validate(),
            self.database.validate(),
            self.memory.validate(),
            backends::validate(&self.backends),
            self.cache.validate(),
            self.retry.validate(),
            self.breaker.validate(),
            self.adaptive_concurrency.validate(),
            self.chat.validate(),
            self.log.validate(),
            self.guardian.validate(),
        ]
        .concat();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

impl Config {
    /// `auth.mode = "off"` hands every caller the admin's rights, so it is allowed only when
    /// nothing but this machine can reach the port.
    fn auth_fits_bind(&self) -> Vec<String> {
        let mut problems = checks::Problems::default();
        problems.check(
            self.auth.mode == AuthMode::On || self.server.bind.ip().is_loopback(),
            "auth.mode",
            "\"off\" is allowed only with a loopback server.bind (127.0.0.1 or [::1]); \
             create keys with `alice key create` instead",
        );
        problems.into_list()
    }
}

/// One figment error as "key: problem (from where)", naming the exact environment variable
/// when the value came from one.
fn describe(error: figment::Error) -> String {
    let key = error.path.join(".").to_ascii_lowercase();
    let origin = match &error.metadata {
        Some(meta) if meta.name.contains("environment") => format!(
            "environment variable ALICE_{}",
            error.path.join("__").to_ascii_uppercase()
        ),
        Some(meta) => match &meta.source {
            Some(source) => source.to_string(),
            None => meta.name.to_string(),
        },
        None => "configuration".to_owned(),
    };
    if key.is_empty() {
        format!("{} (from {origin})", error.kind)
    } else {
        format!("{key}: {} (from {origin})", error.kind)
    }
}
