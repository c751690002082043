//! `[last_resort]`: the embedded model as an automatic last backend, which answers only when
//! every configured backend has failed, is open or is full. A table of its own rather than a
//! key of `[[backends]]`, which is an array of tables and has no place for a setting about all
//! of them.

use super::backends::BackendConfig;
use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The last resort's settings. What it does not set (timeouts, sizes) is an embedded
/// backend's default ([`BackendConfig::embedded`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LastResortConfig {
    /// On unless the operator turns it off. It still needs a build with the `embedded`
    /// feature and the model file; without either it is absent, and `/ready` says why.
    pub enabled: bool,
    /// The GGUF file. Unset: where `scripts/fetch-model.sh` puts SmolLM2-135M-Instruct
    /// ([`super::DEFAULT_EMBEDDED_MODEL_PATH`], or under `$ALICE_DATA_DIR/models`).
    pub model_path: Option<PathBuf>,
    /// Answers it generates at once (computed together in one batch). Unset: 4.
    pub max_concurrent: Option<usize>,
    /// CPU threads of its engine. Unset: the cores.
    pub threads: Option<u32>,
    /// Requests that may wait for one of its slots; more get the configured backends' error.
    pub queue_depth: usize,
    /// Longest wait for one of its slots.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
}

impl Default for LastResortConfig {
    fn default() -> Self {
        let embedded = BackendConfig::embedded(None);
        Self {
            enabled: true,
            model_path: None,
            max_concurrent: None,
            threads: None,
            queue_depth: embedded.queue_depth,
            queue_timeout: embedded.queue_timeout,
        }
    }
}

impl LastResortConfig {
    /// The last resort as an embedded backend named "embedded", so its answers say
    /// `embedded:<model>`. No background probe or generation runs on it: it stays idle until
    /// it is needed.
    pub fn backend(&self) -> BackendConfig {
        let mut backend = BackendConfig::embedded(self.model_path.clone());
        if let Some(max_concurrent) = self.max_concurrent {
            backend.max_concurrent = max_concurrent;
        }
        backend.threads = self.threads;
        backend.queue_depth = self.queue_depth;
        backend.queue_timeout = self.queue_timeout;
        backend.probe_generation = false;
        backend.warm_up = false;
        backend
    }

    /// Every problem with the values, each named by its key (`last_resort.threads: ...`).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.model_path
                .as_ref()
                .is_none_or(|path| !path.as_os_str().is_empty()),
            "last_resort.model_path",
            "must name a GGUF file, e.g. \"data/models/SmolLM2-135M-Instruct.Q4_1.gguf\" (or \
             leave it out for that default)",
        );
        problems.check(
            self.max_concurrent.is_none_or(|n| (1..=64).contains(&n)),
            "last_resort.max_concurrent",
            "must be between 1 and 64 (or left out: the cores, at most 4)",
        );
        problems.check(
            self.threads.is_none_or(|t| (1..=1024).contains(&t)),
            "last_resort.threads",
            "must be between 1 and 1024 (or left out: the cores)",
        );
        problems.check(
            self.queue_depth <= 10_000,
            "last_resort.queue_depth",
            "must be at most 10000",
        );
        problems.check(
            !self.queue_timeout.is_zero(),
            "last_resort.queue_timeout",
            "must be longer than zero",
        );
        problems.into_list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_carries_the_settings_and_runs_nothing_in_the_background() {
        let config = LastResortConfig {
            model_path: Some(PathBuf::from("/models/tiny.gguf")),
            max_concurrent: Some(1),
            threads: Some(2),
            ..LastResortConfig::default()
        };
        let backend = config.backend();
        assert_eq!(backend.name, "embedded");
        assert_eq!(backend.model, "tiny");
        assert_eq!(backend.max_concurrent, 1);
        assert_eq!(backend.threads, Some(2));
        assert!(!backend.probe_generation && !backend.warm_up);
        assert!(config.validate().is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let config = LastResortConfig {
            max_concurrent: Some(0),
            queue_timeout: Duration::ZERO,
            ..LastResortConfig::default()
        };
        let problems = config.validate().join("\n");
        assert!(
            problems.contains("last_resort.max_concurrent"),
            "{problems}"
        );
        assert!(problems.contains("last_resort.queue_timeout"), "{problems}");
    }
}
