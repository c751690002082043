//! Alice's HTTP server.
//!
//! Map of the crate:
//! - [`routes`]: the route table;
//! - [`api_chat`] and [`chat`]: `POST /api/chat` and the chat service behind it;
//! - [`answers`]: where an answer comes from (cache, a request in flight, a backend);
//! - [`cache_api`]: the cache's admin endpoints (purge);
//! - [`api_openai`]: OpenAI's chat API (`/v1/chat/completions`, `/v1/models`), stateless;
//! - [`conversations`]: reading conversations back;
//! - [`db_api`]: `/api/db/…`, the database for the operator (health, stats, users, activity);
//! - [`memories_api`] and [`memory_commands`]: personal memories, by API and by chat
//!   ("kom ihåg att …", "glöm …");
//! - [`user_data_api`]: a user's GDPR export and erasure;
//! - [`housekeeping`]: retention of old messages and the Guardian's history in the database;
//! - [`paging`]: `?offset=&limit=` for the list endpoints;
//! - [`health`]: `/health` and `/ready`;
//! - [`backend_choice`]: which model answers when none is configured (Ollama, else embedded);
//! - [`metrics`]: the one metrics registry and `GET /metrics`;
//! - [`admission`]: the gate that sheds or refuses requests by the Guardian's state;
//! - [`guardian_api`]: `GET /api/guardian/status`;
//! - [`brain`]: the control API under `/api/brain/` (loopback only);
//! - [`guardian_daemon`] and [`guardian_remote`]: `alice guardian` and following it;
//! - [`request_context`]: request id, log span and deadline of every request;
//! - [`error`]: the one mapping from failures to HTTP responses;
//! - [`json_body`]: JSON bodies whose errors name the field;
//! - [`context_budget`]: fitting history into the context window.
//!
//! Layers, outermost first: CORS (only for `server.cors_allowed_origins`, so blocked and error
//! responses carry it too) → request context (id, span, deadline → 504) → admission gate (429 /
//! 503 by the Guardian's state) → panic catcher (→ 500 with the request id) → body limit →
//! routes.

pub mod admission;
pub mod answers;
pub mod api_chat;
pub mod api_openai;
pub mod backend_choice;
pub mod brain;
pub mod cache_api;
pub mod chat;
pub mod context_budget;
pub mod conversations;
pub mod db_api;
pub mod error;
pub mod guardian_api;
pub mod guardian_daemon;
pub mod guardian_remote;
pub mod health;
pub mod housekeeping;
pub mod json_body;
pub mod latency_windows;
pub mod memories_api;
pub mod memory_commands;
pub mod metrics;
pub mod paging;
pub mod request_context;
pub mod routes;
pub mod user_data_api;

use alice_core::Config;
use alice_guardian::{Guardian, GuardianState, Preset, ProcSampler, Sampler};
use alice_llm::LlmRouter;
use alice_store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use error::ApiError;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The body limit in force, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    config: Config,
    store: Store,
    router: Arc<LlmRouter>,
    /// The same router, as the `Provider` the handlers talk to.
    backend: Arc<LlmRouter>,
    /// The Guardian in this process; None when it is off or a daemon is followed instead.
    guardian: Option<Guardian>,
    /// The Guardian daemon followed (`guardian.remote_url`).
    remote: Option<guardian_remote::RemoteGuardian>,
    /// What an operator changed through the control API.
    brain: brain::BrainSettings,
    metrics: metrics::Metrics,
    /// The response cache; None when `cache.enabled` is false.
    cache: Option<Arc<alice_cache::ResponseCache>>,
    /// Shareable requests in flight, by cache key.
    flights: alice_cache::Coalescer<alice_cache::CacheKey, answers::FlightEvent>,
    started: Instant,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.0.config
    }
    pub fn store(&self) -> &Store {
        &self.0.store
    }
    pub fn backend(&self) -> &Arc<LlmRouter> {
        &self.0.backend
    }
    /// The router, for its per-backend status.
    pub fn router(&self) -> &LlmRouter {
        &self.0.router
    }
    pub fn guardian(&self) -> Option<&Guardian> {
        self.0.guardian.as_ref()
    }
    pub fn remote_guardian(&self) -> Option<&guardian_remote::RemoteGuardian> {
        self.0.remote.as_ref()
    }
    /// The Guardian's state now (NORMAL when it is off); never waits for a sample or the
    /// daemon.
    pub fn guardian_state(&self) -> GuardianState {
        match (&self.0.guardian, &self.0.remote) {
            (Some(local), _) => local.state(),
            (None, Some(remote)) => remote.view().state,
            (None, None) => GuardianState::Normal,
        }
    }
    /// The brownout preset requests are served with now.
    pub fn preset(&self) -> Preset {
        match (&self.0.guardian, &self.0.remote) {
            (Some(local), _) => local.preset(),
            (None, Some(remote)) => alice_guardian::brownout::preset(remote.view().level),
            (None, None) => alice_guardian::brownout::preset(alice_core::BrownoutLevel::None),
        }
    }
    /// The model a request asks for, when not the backend's own: the brownout preset's
    /// smaller model, else the model an operator switched to.
    pub fn model_for(&self, preset: &Preset) -> Option<String> {
        let chat = &self.0.config.chat;
        let switched = self.0.brain.model();
        match preset.model {
            alice_guardian::brownout::ModelChoice::Primary => switched,
            alice_guardian::brownout::ModelChoice::Smaller => {
                chat.smaller_model.clone().or(switched)
            }
            alice_guardian::brownout::ModelChoice::Smallest => chat
                .smallest_model
                .clone()
                .or_else(|| chat.smaller_model.clone())
                .or(switched),
        }
    }
    pub fn cache(&self) -> Option<&alice_cache::ResponseCache> {
        self.0.cache.as_deref()
    }
    pub fn flights(&self) -> &alice_cache::Coalescer<alice_cache::CacheKey, answers::FlightEvent> {
        &self.0.flights
    }
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }
    pub fn brain(&self) -> &brain::BrainSettings {
        &self.0.brain
    }
    pub fn started(&self) -> Instant {
        self.0.started
    }
    /// How answers name their source when the router did not say: the primary's
    /// "backend:model".
    pub fn model_label(&self) -> String {
        format!("{}:{}", self.0.backend.name(), self.0.backend.model())
    }
}

/// Why Alice could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen on {addr}: {source} (set server.bind / ALICE_SERVER__BIND to a free address)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] alice_store::StoreError),
    #[error("{0}")]
    Backend(#[from] alice_llm::LlmError),
    #[error("{0}")]
    Cache(#[from] alice_cache::CacheError),
}

/// Sets TCP_NODELAY on a client connection. A streamed answer goes out an event at a time, and
/// without it Nagle's algorithm holds each small write back until the previous one is
/// acknowledged: with delayed ACKs that added up to 40 ms between tokens (measured with
/// `bench/overhead.sh`, docs/benchmarks.md).
fn send_small_writes_at_once(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a client connection");
    }
}

/// The router with its layers, for a given state.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().server.body_limit_bytes;
    routes::routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::Extension(BodyLimit(body_limit)))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admission_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::request_context,
        ))
        .layer(cors(&state.config().server.cors_allowed_origins))
        .with_state(state)
}

/// Browser access for the configured origins only; none by default.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            request_context::REQUEST_ID_HEADER,
        ])
        .expose_headers([
            request_context::REQUEST_ID_HEADER,
            header::RETRY_AFTER,
            HeaderName::from_static("x-guardian-mode"),
            HeaderName::from_static("x-guardian-status"),
        ])
}

async fn not_found(request: Request) -> ApiError {
    ApiError::RouteNotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(evt = "handler_panicked", panic = %text);
    ApiError::Internal.into_response()
}

/// Runs the emergency action each time the Guardian asks for one. Intake is already stopped
/// by the admission gate (EMERGENCY refuses new requests); this drains or cuts the answers in
/// flight and unloads the models.
fn spawn_emergency_responder(
    guardian: &Guardian,
    llm: Arc<LlmRouter>,
    drain: std::time::Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut events = guardian.events();
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                event = events.recv() => event,
            };
            match event {
                Ok(alice_guardian::GuardianEvent::Kill { .. }) => {
                    llm.emergency_stop(drain).await;
                }
                Ok(alice_guardian::GuardianEvent::Transition(_)) => {}
                // Missed events: the next kill still arrives.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// The emergency action for an Alice that follows a Guardian daemon: when the daemon's state
/// rises into EMERGENCY, answers here are drained or cut and models unloaded, as a local
/// Guardian's kill would do.
fn spawn_remote_emergency_responder(
    remote: &guardian_remote::RemoteGuardian,
    llm: Arc<LlmRouter>,
    drain: std::time::Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut views = remote.subscribe();
    tokio::spawn(async move {
        let mut last = views.borrow().state;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                changed = views.changed() => if changed.is_err() { break },
            }
            let now = views.borrow().state;
            if now == GuardianState::Emergency && last < GuardianState::Emergency {
                llm.emergency_stop(drain).await;
            }
            last = now;
        }
    })
}

/// A running Alice: its address, and a way to stop it.
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    /// Backend probes and warm-ups, the emergency responder, the Guardian daemon poller.
    background: Vec<JoinHandle<()>>,
    store: Store,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The running Guardian, when it is on.
    pub fn guardian(&self) -> Option<&Guardian> {
        self.state.guardian()
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// `server.shutdown_grace`), then closes the database.
    pub async fn shutdown(self, grace: std::time::Duration) -> std::io::Result<()> {
        self.stop.cancel();
        let mut server = self.server;
        let result = match tokio::time::timeout(grace, &mut server).await {
            Ok(joined) => joined.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => {
                tracing::warn!(evt = "shutdown_forced", grace_ms = grace.as_millis() as u64);
                server.abort();
                Ok(())
            }
        };
        for task in self.background {
            let _ = task.await;
        }
        self.store.close().await;
        tracing::info!(evt = "stopped");
        result
    }
}

/// Binds `config.server.bind` (port 0 picks a free port; see [`RunningServer::addr`]), opens
/// the database, starts the backend probes and the Guardian (reading this machine, when
/// `guardian.enabled`) and serves HTTP. The port is taken first, so a second Alice on the same
/// port fails before it touches the database.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let local = config.guardian.enabled && config.guardian.remote_url.is_none();
    let guardian = local.then(|| {
        let sampler = ProcSampler::new(
            config.guardian.root.clone(),
            Some(config.guardian.data_dir.clone()),
        );
        Guardian::start(config.guardian.clone(), sampler)
    });
    launch(config, guardian).await
}

/// Like [`start`], with the Guardian reading `sampler` instead of this machine (tests script
/// the machine's load this way), whatever `guardian.enabled` says.
pub async fn start_with_sampler(
    config: Config,
    sampler: impl Sampler,
) -> Result<RunningServer, StartError> {
    let guardian = Guardian::start(config.guardian.clone(), sampler);
    launch(config, Some(guardian)).await
}

async fn launch(config: Config, guardian: Option<Guardian>) -> Result<RunningServer, StartError> {
    let listener = TcpListener::bind(config.server.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.server.bind,
        source,
    })?;
    let store = Store::open(&config.database).await?;
    let mut metrics = metrics::Metrics::new();
    let llm = Arc::new(
        LlmRouter::new(
            &config.backends,
            config.retry.clone(),
            config.breaker.clone(),
            config.adaptive_concurrency.clone(),
        )?
        .with_metrics(metrics.llm()),
    );
    let stop = CancellationToken::new();
    let mut background = llm.spawn_background_tasks(stop.clone());
    if let Some(guardian) = &guardian {
        background.push(spawn_emergency_responder(
            guardian,
            llm.clone(),
            config.guardian.drain_timeout,
            stop.clone(),
        ));
    }
    let remote = match &config.guardian.remote_url {
        Some(url) if guardian.is_none() => {
            let (remote, task) = guardian_remote::RemoteGuardian::start(
                url,
                config.guardian.remote_poll,
                config.guardian.remote_timeout,
                config.guardian.unknown_strikes,
                stop.clone(),
            );
            background.push(task);
            background.push(spawn_remote_emergency_responder(
                &remote,
                llm.clone(),
                config.guardian.drain_timeout,
                stop.clone(),
            ));
            Some(remote)
        }
        _ => None,
    };
    let guardian_source = match (&guardian, &remote) {
        (Some(local), _) => metrics::GuardianSource::Local(local.subscribe()),
        (None, Some(remote)) => metrics::GuardianSource::Remote(remote.subscribe()),
        (None, None) => metrics::GuardianSource::Off,
    };
    let cache = if config.cache.enabled {
        Some(Arc::new(alice_cache::ResponseCache::new(
            &config.cache,
            metrics.cache(),
        )?))
    } else {
        None
    };
    metrics.watch(llm.clone(), guardian_source, cache.clone(), store.clone());
    background.extend(housekeeping::spawn(
        &config.database,
        &store,
        guardian.as_ref(),
        &stop,
    ));
    let state = AppState(Arc::new(Shared {
        config,
        store: store.clone(),
        backend: llm.clone(),
        router: llm,
        guardian,
        remote,
        brain: brain::BrainSettings::default(),
        metrics,
        cache,
        flights: alice_cache::Coalescer::default(),
        started: Instant::now(),
    }));
    let app = router(state.clone());
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        // Peer addresses reach handlers, for the control API's loopback check.
        axum::serve(
            listener.tap_io(send_small_writes_at_once),
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    tracing::info!(evt = "listening", addr = %addr);
    Ok(RunningServer {
        addr,
        state,
        stop,
        server,
        background,
        store,
    })
}
