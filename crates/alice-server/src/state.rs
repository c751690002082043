//! What the handlers share, as separate pieces: each handler and middleware names the pieces
//! it uses (`State<Store>`, `State<GuardianLink>`, …) and axum hands it that piece alone,
//! through the `FromRef` impls here. Every piece is cheap to clone.

use crate::http::authentication::Gatekeeper;
use crate::metrics::Metrics;
use crate::runtime::guardian_link::GuardianLink;
use crate::service::ChatService;
use crate::service::answer_cache::AnswerCache;
use crate::service::brain_settings::BrainSettings;
use alice_core::Config;
use alice_identity::limits::Limiter;
use alice_llm::LlmRouter;
use alice_store::Store;
use axum::extract::FromRef;
use std::sync::Arc;
use tokio::time::Instant;

/// When this Alice started, for uptimes.
#[derive(Clone, Copy, Debug)]
pub struct StartedAt(pub Instant);

/// The state of the whole router: the chat service, which holds every other piece, the
/// authentication layer's gatekeeper, the per-key limiter, and the start time.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub chat: ChatService,
    pub gatekeeper: Gatekeeper,
    pub limiter: Limiter,
    pub started: StartedAt,
}

impl AppState {
    pub fn new(chat: ChatService, gatekeeper: Gatekeeper, limiter: Limiter) -> Self {
        Self {
            chat,
            gatekeeper,
            limiter,
            started: StartedAt(Instant::now()),
        }
    }
}

/// `State<$piece>` for a handler: the chat service's `$field`.
macro_rules! piece_of_the_chat_service {
    ($($piece:ty => $field:ident),* $(,)?) => {$(
        impl FromRef<AppState> for $piece {
            fn from_ref(state: &AppState) -> Self {
                state.chat.$field.clone()
            }
        }
    )*};
}

piece_of_the_chat_service! {
    Arc<Config> => config,
    Store => store,
    Arc<LlmRouter> => llm,
    GuardianLink => guardian,
    Arc<BrainSettings> => brain,
    Arc<Metrics> => metrics,
    AnswerCache => cache,
}
