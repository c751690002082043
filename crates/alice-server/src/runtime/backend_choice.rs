//! Which model answers when nobody configured one: Ollama if it answers at its default address,
//! else the embedded model if its file is installed, else Ollama all the same, with a log line
//! that says how to get either. Only `alice serve` asks this, and only when neither the
//! configuration file nor the environment names backends.

use alice_core::{BackendConfig, Config};
use alice_llm::{OllamaClient, Provider};

/// What [`choose`] settled on, for the start-up log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Ollama answered at the default address.
    Ollama,
    /// Ollama did not answer; the embedded model's file is there.
    Embedded,
    /// Neither: Alice starts with Ollama and answers 503 until it is reachable.
    Nothing,
}

/// Replaces the default backend with the embedded model when Ollama does not answer and the
/// model is installed; leaves `config` as it is otherwise.
pub async fn choose(config: &mut Config) -> Choice {
    let mut ollama = config.backends.first().cloned().unwrap_or_default();
    // A reachability check only: no generation, no model load.
    ollama.probe_generation = false;
    let reachable = match OllamaClient::new(&ollama) {
        Ok(client) => client.probe().await.reachable,
        Err(_) => false,
    };
    let embedded = BackendConfig::embedded(None);
    let model_path = embedded.embedded_model_path();
    let choice = if reachable {
        Choice::Ollama
    } else if cfg!(feature = "embedded") && model_path.is_file() {
        config.backends = vec![embedded];
        Choice::Embedded
    } else {
        Choice::Nothing
    };
    match choice {
        Choice::Ollama => tracing::info!(
            evt = "backend_chosen",
            backend = "ollama",
            url = %ollama.url,
            "no backend configured: Ollama answers at its default address"
        ),
        Choice::Embedded => tracing::info!(
            evt = "backend_chosen",
            backend = "embedded",
            model = %model_path.display(),
            "no backend configured and no Ollama at {}: answering with the embedded model \
             (small; its Swedish is poor, a real model behind Ollama is better)",
            ollama.url
        ),
        Choice::Nothing => tracing::warn!(
            evt = "no_model",
            ollama = %ollama.url,
            embedded_model = %model_path.display(),
            "no backend configured, no Ollama answers at {} and no embedded model at {}: run \
             `alice model fetch` for the embedded model, or start Ollama (`ollama serve`, then \
             `ollama pull {}`); chat answers 503 until one is there",
            ollama.url,
            model_path.display(),
            ollama.model
        ),
    }
    choice
}
