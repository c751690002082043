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
mod experiments;
mod guardian;
mod intents;
mod last_resort;
// Reading the file and the environment (figment, TOML): cargo feature `load`, on by default.
#[cfg(feature = "load")]
mod load;
mod log;
mod memory;
mod retry;
mod server;
#[cfg(all(test, feature = "load"))]
mod tests;
mod tools;

pub use adaptive_concurrency::AdaptiveConcurrencyConfig;
pub use auth::{AuthConfig, AuthMode, Limits, RoleLimits};
pub use backends::{BackendConfig, BackendKind, DEFAULT_EMBEDDED_MODEL_PATH};
pub use breaker::BreakerConfig;
pub use cache::CacheConfig;
pub use chat::ChatConfig;
pub use database::{DatabaseConfig, Synchronous};
pub use deadlines::DeadlineConfig;
pub use experiments::{
    ExperimentConfig, ExperimentGuard, ExperimentRoutes, MAX_EXPERIMENT_NAME_CHARS, VariantConfig,
    is_valid_experiment_name,
};
pub use guardian::{GuardianConfig, Signals};
pub use intents::{IntentsConfig, TimersConfig};
pub use last_resort::LastResortConfig;
pub use log::LogConfig;
pub use memory::MemoryConfig;
pub use retry::RetryConfig;
pub use server::ServerConfig;
pub use tools::{BROWNOUT_CLASSES, INTEGRATIONS, McpConfig, ToolsConfig, WebhookConfig};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The file read when no path is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "alice.toml";

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
    /// The embedded model as an automatic last backend, after every one of `backends`.
    pub last_resort: LastResortConfig,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub adaptive_concurrency: AdaptiveConcurrencyConfig,
    pub guardian: GuardianConfig,
    pub chat: ChatConfig,
    pub cache: CacheConfig,
    pub memory: MemoryConfig,
    pub intents: IntentsConfig,
    pub timers: TimersConfig,
    pub tools: ToolsConfig,
    pub log: LogConfig,
    /// A/B experiments, written as `[[experiments]]` tables (each with its
    /// `[[experiments.variants]]`); none by default. From the environment as one inline TOML
    /// array, like the backends: `ALICE_EXPERIMENTS='[{name="fast", variants=[{name="control"},
    /// {name="small", model="llama3.2:3b"}]}]'`.
    pub experiments: Vec<ExperimentConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            deadlines: DeadlineConfig::default(),
            database: DatabaseConfig::default(),
            backends: vec![BackendConfig::default()],
            last_resort: LastResortConfig::default(),
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            adaptive_concurrency: AdaptiveConcurrencyConfig::default(),
            guardian: GuardianConfig::default(),
            chat: ChatConfig::default(),
            cache: CacheConfig::default(),
            memory: MemoryConfig::default(),
            intents: IntentsConfig::default(),
            timers: TimersConfig::default(),
            tools: ToolsConfig::default(),
            log: LogConfig::default(),
            experiments: Vec::new(),
        }
    }
}

impl Config {
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
            self.intents.validate(),
            self.timers.validate(),
            self.tools.validate(),
            backends::validate(&self.backends),
            self.last_resort.validate(),
            self.cache.validate(),
            self.retry.validate(),
            self.breaker.validate(),
            self.adaptive_concurrency.validate(),
            self.chat.validate(),
            self.log.validate(),
            self.guardian.validate(),
            experiments::validate(&self.experiments, &self.backends),
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
