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
//! - [`local_answers`]: what Alice answers herself, without a model (the time, a timer, a
//!   sum, a memory command), recognised by `alice-intents`; [`memory_commands`] and
//!   [`timers`] carry out the memory commands and the timers;
//! - [`tool_rounds`]: the model calls Alice's tools (`tools.offer_to_model`), round by round;
//! - [`usernames`]: the one check of a user name;
//! - [`brain_settings`]: what an operator changed while Alice runs;
//! - [`dashboard`]: the operator dashboard's snapshot of this Alice.

pub mod answer_cache;
pub mod answers;
pub mod brain_settings;
pub mod dashboard;
pub use alice_request::context_budget;
pub mod generation;
pub mod local_answers;
pub mod memory_commands;
pub mod timers;
pub mod tool_rounds;
pub mod turn;
pub mod usernames;
pub mod wall_clock;

use crate::metrics::Metrics;
use crate::runtime::experiments::{Assigned, Experiments};
use crate::runtime::guardian_link::GuardianLink;
use crate::runtime::timers::TimerBell;
use alice_core::Config;
use alice_guardian::Preset;
use alice_guardian::brownout::ModelChoice;
use alice_llm::LlmRouter;
use alice_store::Store;
use alice_tools::Toolbox;
use answer_cache::AnswerCache;
use brain_settings::BrainSettings;
use std::sync::Arc;
use wall_clock::WallClock;

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
    /// The A/B experiments requests take part in.
    pub experiments: Experiments,
    /// Where fired timers are announced to the `/api/events` streams.
    pub timers: TimerBell,
    /// The configured tools (`[tools]`).
    pub tools: Toolbox,
    /// The time Alice's own answers tell (the system's, except in tests).
    pub clock: WallClock,
}

impl ChatService {
    /// The brownout preset requests are served with now.
    pub fn preset(&self) -> Preset {
        self.guardian.preset()
    }

    /// The preset a request of `assigned`'s variant is served with: a variant's brownout is a
    /// floor, like a manual brownout (the heavier of it and the Guardian's level wins).
    pub fn preset_for(&self, assigned: Option<&Assigned>) -> Preset {
        let preset = self.preset();
        match assigned.and_then(|a| a.variant.brownout) {
            Some(floor) if floor > preset.level => alice_guardian::brownout::preset(floor),
            _ => preset,
        }
    }

    /// The model a request of `assigned`'s variant asks for: at the preset's primary model,
    /// the variant's model wins over an operator's switch; when a brownout asks for a smaller
    /// model that is configured, the brownout wins (it protects the machine).
    pub fn model_for_variant(
        &self,
        preset: &Preset,
        assigned: Option<&Assigned>,
    ) -> Option<String> {
        let variant = assigned.and_then(|a| a.variant.model.clone());
        match preset.model {
            ModelChoice::Primary => variant.or_else(|| self.model_for(preset)),
            ModelChoice::Smaller | ModelChoice::Smallest => {
                let chat = &self.config.chat;
                let smaller = match preset.model {
                    ModelChoice::Smallest => chat
                        .smallest_model
                        .clone()
                        .or_else(|| chat.smaller_model.clone()),
                    _ => chat.smaller_model.clone(),
                };
                smaller.or(variant).or_else(|| self.brain.model())
            }
        }
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
