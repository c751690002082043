//! Reading the configuration: the built-in defaults, then the file, then `ALICE_*` variables
//! (figment with TOML). Behind alice-core's cargo feature `load` (on by default), because only
//! the binary reads a configuration, and the TOML stack is most of this crate's build: the fuzz
//! targets, which need the config types but never load one, leave it out.

use super::{BackendConfig, BackendKind, Config, ConfigError, DEFAULT_CONFIG_FILE};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::path::Path;

/// `ALICE_*` variables that are not configuration keys: the config file's path, the data
/// directory of `scripts/fetch-model.sh` (see [`super::DEFAULT_EMBEDDED_MODEL_PATH`]), every
/// `ALICE_TEST_*` variable, which belong to the test suite (service URLs, tool paths), and
/// `alice bench`'s own (`ALICE_BENCH_API_KEY`).
fn is_config_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config" && key != "data_dir" && !key.starts_with("test_") && !key.starts_with("bench_")
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
