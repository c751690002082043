//! Binding, routing and the lifetime of the server: [`spawn`] and [`SimHandle`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Faults, SimConfig};
use crate::record::RecordedRequest;
use crate::state::{SimState, SimStats, stop};
use crate::{control, ollama, openai};

/// How long [`SimHandle::shutdown`] lets running answers finish before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Largest request body accepted (long conversations in load tests).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/", get(ollama::root))
        .route("/api/version", get(ollama::version))
        .route("/api/tags", get(ollama::tags))
        .route("/api/show", post(ollama::show))
        .route("/api/ps", get(ollama::ps))
        .route("/api/chat", post(ollama::chat))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route(
            "/sim/requests",
            get(control::requests).delete(control::reset),
        )
        .route("/sim/faults", get(control::faults).put(control::set_faults))
        .route("/sim/stats", get(control::stats))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// A simulator with `faults` and the default models on a free 127.0.0.1 port: what tests and
/// benchmarks start.
pub async fn spawn_local(faults: Faults) -> std::io::Result<SimHandle> {
    spawn(
        SimConfig {
            faults,
            ..SimConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
}

/// Binds `addr` (port 0 picks a free port) and serves in a tokio task.
///
/// The server runs until [`SimHandle::shutdown`]; dropping every handle leaves it running.
pub async fn spawn(config: SimConfig, addr: SocketAddr) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(stop::RUNNING);
    let state = Arc::new(SimState::new(config, stop_rx));
    let app = router(Arc::clone(&state));
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let signal = Arc::clone(&state);
    let task = tokio::spawn(async move {
        // TCP_NODELAY, as Ollama and vLLM set it: without it each streamed token waits for the
        // previous one's ACK, and a gateway in front measures the simulator's Nagle delay.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.stopped(stop::GRACEFUL).await })
            .await;
        if let Err(e) = served {
            tracing::debug!(error = %e, "upstream simulator stopped with an error");
        }
        stopped_tx.send_replace(true);
    });
    tracing::debug!(%addr, "upstream simulator listening");
    Ok(SimHandle {
        inner: Arc::new(Inner {
            addr,
            state,
            stop: stop_tx,
            stopped: stopped_rx,
            task: Mutex::new(Some(task)),
        }),
    })
}

struct Inner {
    addr: SocketAddr,
    state: Arc<SimState>,
    stop: watch::Sender<u8>,
    stopped: watch::Receiver<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A running simulator. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash); an unspecified bind address
    /// (`0.0.0.0`, `::`) is shown as 127.0.0.1.
    pub fn base_url(&self) -> String {
        let mut addr = self.inner.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }

    /// Every chat request received since start or the last reset, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.state.requests()
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.inner.state.faults()
    }

    /// Replaces the faults; new requests see them (a new `max_concurrent` applies at once).
    pub fn set_faults(&self, faults: Faults) {
        self.inner.state.set_faults(faults);
    }

    /// Clears recorded requests and counters, and reseeds the random generator.
    pub fn reset(&self) {
        self.inner.state.reset();
    }

    /// Requests being answered now, queued ones included.
    pub fn in_flight(&self) -> usize {
        self.inner.state.in_flight()
    }

    /// The counters of `GET /sim/stats`.
    pub fn stats(&self) -> SimStats {
        self.inner.state.stats()
    }

    /// Stops serving and waits for the server task. Hanging requests are cut at
    /// once; answers under way get a few seconds to finish, then are cut too.
    pub async fn shutdown(self) {
        self.inner.stop.send_replace(stop::GRACEFUL);
        let mut stopped = self.inner.stopped.clone();
        let graceful = tokio::time::timeout(SHUTDOWN_GRACE, stopped.wait_for(|done| *done))
            .await
            .is_ok();
        if !graceful {
            tracing::debug!("upstream simulator cutting answers still under way");
            self.inner.stop.send_replace(stop::HARD);
            let _ =
                tokio::time::timeout(Duration::from_secs(1), stopped.wait_for(|done| *done)).await;
        }
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            if !task.is_finished() {
                task.abort();
            }
            let _ = task.await;
        }
    }

    /// Waits until the server stops (after [`SimHandle::shutdown`] on a clone, or an error).
    pub async fn wait(self) {
        let mut stopped = self.inner.stopped.clone();
        let _ = stopped.wait_for(|done| *done).await;
    }
}
