//! Starting and stopping an Alice: bind the port, open the database, build the router of
//! backends, the Guardian (its own or a daemon's), the cache, the metrics and the A/B
//! experiments, start the background work, and serve HTTP (the accept loop is in `server/connections.rs`) until
//! [`RunningServer::shutdown`].

use crate::app::{app, route_access};
use crate::http::authentication::Gatekeeper;
use crate::metrics::{GuardianSource, Metrics};
use crate::runtime::experiments::Experiments;
use crate::runtime::guardian_link::GuardianLink;
use crate::runtime::guardian_remote::RemoteGuardian;
use crate::runtime::latency_brownout::LatencyBrownout;
use crate::runtime::timers::TimerBell;
use crate::runtime::{emergency, housekeeping, timers};
use crate::service::ChatService;
use crate::service::answer_cache::AnswerCache;
use crate::service::dashboard;
use crate::service::wall_clock::WallClock;
use crate::state::{AppState, Instance, Stopping};
use alice_core::Config;
use alice_core::config::AuthMode;
use alice_guardian::{Guardian, ProcSampler, Sampler};
use alice_identity::Directory;
use alice_identity::first_start::{FirstStartError, create_first_admin};
use alice_identity::limits::{Limiter, RedisBudgets};
use alice_llm::LlmRouter;
use alice_store::Store;
use alice_tools::Toolbox;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod connections;

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
    #[error("{0}")]
    FirstAdmin(#[from] FirstStartError),
    #[error("cannot set up the rate limiter's Redis (cache.redis_url): {0}")]
    Limiter(String),
}

/// The per-key limiter: budgets in Redis when `cache.redis_url` is set (shared by every
/// instance), else in this process.
fn open_limiter(config: &Config) -> Result<Limiter, StartError> {
    let redis = match &config.cache.redis_url {
        Some(url) => Some(
            RedisBudgets::new(
                url,
                &config.auth.redis_key_prefix,
                config.cache.redis_timeout,
            )
            .map_err(|error| StartError::Limiter(error.to_string()))?,
        ),
        None => None,
    };
    Ok(Limiter::new(redis))
}

/// The directory of users and keys over the store, with the first admin created when the
/// database has none, and the authentication layer's state around it.
async fn open_gatekeeper(config: &Config, store: &Store) -> Result<Gatekeeper, StartError> {
    let directory = Directory::new(store.identity(), &config.auth);
    match config.auth.mode {
        AuthMode::On => {
            if let Some(path) = create_first_admin(&directory, &config.auth.admin_key_file).await? {
                tracing::warn!(
                    evt = "first_admin_created",
                    key_file = %path.display(),
                    "no users yet: created user admin; its API key is in the key file (send it as \
                     Authorization: Bearer <key>)"
                );
            }
        }
        AuthMode::Off => tracing::warn!(
            evt = "auth_off",
            "auth.mode is \"off\": every client that reaches the port acts as the admin"
        ),
    }
    Ok(Gatekeeper::new(directory, &config.auth, route_access()))
}

/// A running Alice: its address, and a way to stop it.
pub struct RunningServer {
    addr: SocketAddr,
    guardian: GuardianLink,
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
        self.guardian.in_process()
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
        )
        .counting_as_own(&config.guardian.own_processes);
        Guardian::start(config.guardian.clone(), sampler)
    });
    launch(config, guardian, WallClock::system()).await
}

/// Like [`start`] (without a Guardian of its own), with Alice's own answers reading the time
/// from `clock`: tests set the clock to a daylight-saving change and ask "Vad är klockan?".
pub async fn start_with_clock(
    config: Config,
    clock: WallClock,
) -> Result<RunningServer, StartError> {
    launch(config, None, clock).await
}

/// Like [`start`], with the Guardian reading `sampler` instead of this machine (tests script
/// the machine's load this way), whatever `guardian.enabled` says.
pub async fn start_with_sampler(
    config: Config,
    sampler: impl Sampler,
) -> Result<RunningServer, StartError> {
    let guardian = Guardian::start(config.guardian.clone(), sampler);
    launch(config, Some(guardian), WallClock::system()).await
}

async fn launch(
    config: Config,
    guardian: Option<Guardian>,
    clock: WallClock,
) -> Result<RunningServer, StartError> {
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
    let gatekeeper = open_gatekeeper(&config, &store).await?;
    let mut metrics = Metrics::new();
    let llm = Arc::new(
        LlmRouter::new(
            &config.backends,
            config.retry.clone(),
            config.breaker.clone(),
            config.adaptive_concurrency.clone(),
        )?
        .with_metrics(metrics.llm())
        .with_last_resort(&config.last_resort)?
        .with_emergency_retry_after(config.guardian.refuse_retry_after),
    );
    let stop = CancellationToken::new();
    let mut background = llm.spawn_background_tasks(stop.clone());
    if let Some(guardian) = &guardian {
        background.push(emergency::respond_to_local(
            guardian,
            llm.clone(),
            config.guardian.drain_timeout,
            stop.clone(),
        ));
    }
    let remote = match &config.guardian.remote_url {
        Some(url) if guardian.is_none() => {
            let (remote, task) = RemoteGuardian::start(
                url,
                config.guardian.remote_poll,
                config.guardian.remote_timeout,
                config.guardian.unknown_strikes,
                stop.clone(),
            );
            background.push(task);
            background.push(emergency::respond_to_remote(
                &remote,
                llm.clone(),
                config.guardian.drain_timeout,
                stop.clone(),
            ));
            Some(remote)
        }
        _ => None,
    };
    // The latency brownout runs beside whichever Guardian this process obeys.
    let latency = (config.guardian.latency_brownout && (guardian.is_some() || remote.is_some()))
        .then(|| {
            let (latency, task) = LatencyBrownout::start(&config.guardian, stop.clone());
            background.push(task);
            latency
        });
    let guardian_source = match (&guardian, &remote) {
        (Some(local), _) => GuardianSource::Local(local.subscribe()),
        (None, Some(remote)) => GuardianSource::Remote(remote.subscribe()),
        (None, None) => GuardianSource::Off,
    };
    let cache = if config.cache.enabled {
        Some(Arc::new(alice_cache::ResponseCache::new(
            &config.cache,
            metrics.cache(),
        )?))
    } else {
        None
    };
    metrics.watch(
        llm.clone(),
        guardian_source,
        latency.as_ref().map(LatencyBrownout::subscribe),
        cache.clone(),
        store.clone(),
    );
    background.extend(housekeeping::spawn(
        &config.database,
        &store,
        guardian.as_ref(),
        &stop,
    ));
    let guardian = match (guardian, remote) {
        (Some(local), _) => GuardianLink::local(local),
        (None, Some(remote)) => GuardianLink::remote(remote),
        (None, None) => GuardianLink::off(),
    };
    let guardian = match latency {
        Some(latency) => guardian.with_latency(latency),
        None => guardian,
    };
    let limits = connections::ConnectionLimits::from(&config.server);
    let limiter = open_limiter(&config)?;
    let metrics = Arc::new(metrics);
    let experiments = Experiments::new(
        config.experiments.clone(),
        store.clone(),
        Arc::clone(&metrics),
        config.auth.mode == AuthMode::Off,
    );
    if experiments.any() {
        // Before the first request: an experiment stopped while this Alice was down stays so.
        experiments.refresh_states().await?;
        background.extend(experiments.spawn(&stop));
    }
    // MCP servers are connected now; one that cannot be reached is tried again later.
    let tools = Toolbox::connect(&config.tools, &config.breaker, reqwest::Client::new()).await;
    let instance = dashboard::instance_name(addr);
    let bell = TimerBell::default();
    background.push(timers::spawn(
        &config.timers,
        store.clone(),
        bell.clone(),
        instance.clone().into(),
        stop.clone(),
    ));
    let state = AppState::new(
        ChatService {
            config: Arc::new(config),
            store: store.clone(),
            llm,
            guardian: guardian.clone(),
            brain: Arc::default(),
            metrics,
            cache: AnswerCache::new(cache),
            experiments,
            timers: bell,
            tools,
            clock,
        },
        gatekeeper,
        limiter,
        Stopping(stop.clone()),
        Instance(instance.into()),
    );
    let app = app(state);
    let server = tokio::spawn(connections::serve(listener, app, limits, stop.clone()));
    tracing::info!(evt = "listening", addr = %addr);
    Ok(RunningServer {
        addr,
        guardian,
        stop,
        server,
        background,
        store,
    })
}
