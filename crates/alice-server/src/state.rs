//! What the handlers share, as separate pieces: each handler and middleware names the pieces
//! it uses (`State<Store>`, `State<GuardianLink>`, …) and axum hands it that piece alone,
//! through the `FromRef` impls derived here. Every piece is cheap to clone.

use crate::metrics::Metrics;
use crate::runtime::guardian_link::GuardianLink;
use crate::service::ChatService;
use crate::service::answers::AnswerCache;
use crate::service::brain_settings::BrainSettings;
use alice_core::Config;
use alice_llm::LlmRouter;
use alice_store::Store;
use axum::extract::FromRef;
use std::sync::Arc;
use tokio::time::Instant;

/// When this Alice started, for uptimes.
#[derive(Clone, Copy, Debug)]
pub struct StartedAt(pub Instant);

/// The state of the whole router. The chat service holds clones of the same pieces.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub llm: Arc<LlmRouter>,
    pub guardian: GuardianLink,
    pub brain: Arc<BrainSettings>,
    pub metrics: Arc<Metrics>,
    pub answers: AnswerCache,
    pub chat: ChatService,
    pub started: StartedAt,
}

impl AppState {
    /// The state for one set of parts; the chat service is built from the same ones.
    pub fn new(chat: ChatService) -> Self {
        Self {
            config: chat.config.clone(),
            store: chat.store.clone(),
            llm: chat.llm.clone(),
            guardian: chat.guardian.clone(),
            brain: chat.brain.clone(),
            metrics: chat.metrics.clone(),
            answers: chat.cache.clone(),
            chat,
            started: StartedAt(Instant::now()),
        }
    }
}
