//! The chat turn both chat APIs share: from a user's message (or a client's conversation) to
//! an answer from the cache, a request in flight or a backend, and, for `/api/chat`, a stored
//! turn. [`ChatService`] holds what a turn needs; the APIs in [`crate::api`] only translate
//! their wire formats to and from it.
//!
//! - [`turn`]: prepare (check, load history and memories, fit the prompt) and finish (store,
//!   reply) a native chat turn;
//! - [`answers`]: where an answer comes from (cache, a flight, a backend), and
//!   [`answer_cache`] the cache and flights it draws on;
//! - [`generation`]: the answer as it streams, and how a backend failure becomes an error;
//! - [`context_budget`]: fitting history into the context window;
//! - [`memory_commands`]: "kom ihåg att …", "glöm …", answered by Alice herself;
//! - [`usernames`]: the one check of a user name;
//! - [`brain_settings`]: what an operator changed while Alice runs;
//! - [`dashboard`]: the operator dashboard's snapshot of this Alice.

pub mod answer_cache;
pub mod answers;
pub mod brain_settings;
pub mod dashboard;
pub use alice_request::context_budget;
pub mod generation;
pub mod memory_commands;
pub mod turn;
pub mod usernames;

use crate::metrics::Metrics;
use crate::runtime::guardian_link::GuardianLink;
use alice_core::Config;
use alice_guardian::Preset;
use alice_guardian::brownout::ModelChoice;
use alice_llm::LlmRouter;
use alice_store::Store;
use answer_cache::AnswerCache;
use brain_settings::BrainSettings;
use std::sync::Arc;

/// What a chat turn needs. Cheap to clone; the chat handlers take it as their state.
#[derive(Clone)]
pub struct ChatService {
    pub config: Arc<Config>,
    pub store: Store,
    /// The backends, behind one router (limits, retries, breakers, failover).
    pub llm: Arc<LlmRouter>,
    pub guardian: GuardianLink,
    pub brain: Arc<BrainSettings>,
    pub metrics: Arc<Metrics>,
    pub cache: AnswerCache,
}

impl ChatService {
    /// The brownout preset requests are served with now.
    pub fn preset(&self) -> Preset {
        self.guardian.preset()
    }

    /// The model a request asks for, when not the backend's own: the brownout preset's
    /// smaller model, else the model an operator switched to.
    pub fn model_for(&self, preset: &Preset) -> Option<String> {
        let chat = &self.config.chat;
        let switched = self.brain.model();
        match preset.model {
            ModelChoice::Primary => switched,
            ModelChoice::Smaller => chat.smaller_model.clone().or(switched),
            ModelChoice::Smallest => chat
                .smallest_model
                .clone()
                .or_else(|| chat.smaller_model.clone())
                .or(switched),
        }
    }

    /// How answers name their source when the router did not say: the primary's
    /// "backend:model".
    pub fn model_label(&self) -> String {
        format!("{}:{}", self.llm.name(), self.llm.model())
    }
}
