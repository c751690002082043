//! What the handlers share, as separate pieces: each handler and middleware names the pieces
//! it uses (`State<Store>`, `State<GuardianLink>`, …) and axum hands it that piece alone,
//! through the `FromRef` impls here. Every piece is cheap to clone.

use crate::http::authentication::Gatekeeper;
use crate::metrics::Metrics;
use crate::runtime::experiments::Experiments;
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
use tokio_util::sync::CancellationToken;

/// When this Alice started, for uptimes.
#[derive(Clone, Copy, Debug)]
pub struct StartedAt(pub Instant);

/// Cancelled when this Alice begins to shut down. A response that would otherwise never end
/// (the dashboard's `GET /api/events`) ends on it, so that it does not hold up the graceful
/// shutdown, which waits for every response in flight.
#[derive(Clone, Debug, Default)]
pub struct Stopping(pub CancellationToken);

/// This process's name on the dashboard: the host name and the port it serves, e.g.
/// `"alice-01:8000"`.
#[derive(Clone, Debug)]
pub struct Instance(pub Arc<str>);

/// The state of the whole router: the chat service, which holds every other piece, the
/// authentication layer's gatekeeper, the per-key limiter, the start time, the shutdown
/// signal and the instance's name.
///
/// Behind one `Arc`, because axum clones the state for every layer and handler a request
/// passes through (about fifty times per request with Alice's layers); the pieces themselves
/// are a dozen `Arc`s and four caches, which cost most of a proxied request's instructions to
/// clone and drop that often (measured with callgrind, docs/benchmarks.md).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// What [`AppState`] shares.
pub struct AppParts {
    pub chat: ChatService,
    pub gatekeeper: Gatekeeper,
    pub limiter: Limiter,
    pub started: StartedAt,
    pub stopping: Stopping,
    pub instance: Instance,
}

impl AppState {
    pub fn new(
        chat: ChatService,
        gatekeeper: Gatekeeper,
        limiter: Limiter,
        stopping: Stopping,
        instance: Instance,
    ) -> Self {
        Self(Arc::new(AppParts {
            chat,
            gatekeeper,
            limiter,
            started: StartedAt(Instant::now()),
            stopping,
            instance,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// `State<$piece>` for a handler: the state's `$field`.
macro_rules! piece_of_the_state {
    ($($piece:ty => $field:ident),* $(,)?) => {$(
        impl FromRef<AppState> for $piece {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

piece_of_the_state! {
    ChatService => chat,
    Gatekeeper => gatekeeper,
    Limiter => limiter,
    StartedAt => started,
    Stopping => stopping,
    Instance => instance,
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
    Experiments => experiments,
}
