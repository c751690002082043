//! The LLM router: every chat request to a model goes through here.
//!
//! Order of work for one request:
//! 1. Backends are tried in their configured order (a request pinned to one backend,
//!    [`ChatRequest::backend`](crate::ChatRequest::backend), tries only that one: it never
//!    fails over, but retries on it as below). One whose breaker is open is skipped at
//!    once, so a dead primary costs nothing once its breaker has opened; if every breaker is
//!    open, the first backend is tried anyway rather than failing instantly forever.
//! 2. Each backend's [`Limiter`] gives a slot, queues, or refuses at once (saturated); a refusal
//!    moves on to the next backend.
//! 3. The attempt must produce its first token within `first_token_timeout` (and the
//!    request's deadline). A failure before the first token moves on to the next backend at
//!    once (failover); when every backend has failed in a round, the one retry loop waits
//!    `base_delay` × 2^round (with jitter, at least the backend's Retry-After) and starts the
//!    next round, up to `max_retries` rounds, never past the deadline. 4xx answers and a missing
//!    model are not retried on that backend. When every breaker is open, or every backend
//!    refused for saturation, there are no further rounds: the request gets its 503 at once.
//! 4. After the first token nothing is retried or failed over: the client already has text.
//!    Silence longer than `idle_timeout` ends the stream with an error.
//! 5. Outcomes go to the backend's breaker when the stream ends; a client that goes away (the
//!    stream is dropped) is not counted as a backend failure. The slot is held until then.
//! 6. When the configured backends could not answer at all, the embedded model may still:
//!    the [`last_resort`], tried once after them, its answer marked as such.
//!
//! A background probe per backend feeds `/ready` and, while a breaker is half-open, decides
//! whether it closes.
//!
//! The router is not itself a [`Provider`]: its stream first says which backend took the
//! request ([`RoutedEvent::Started`]), which no backend can know. The pieces:
//! - [`attempts`]: the order of backends, the failover and retry loop, the backoff;
//! - [`backend`]: one backend with its limiter, breaker and probe, and its first token;
//! - [`answer`]: the stream handed on after the first token, and its events;
//! - [`last_resort`]: the embedded model after every configured backend.

mod answer;
mod attempts;
mod backend;
mod last_resort;

pub use answer::{RoutedEvent, RoutedStream};
pub use backend::{BackendStatus, PROBE_PROMPT, ProbeReport};
pub use last_resort::LastResortStatus;

#[cfg(not(feature = "embedded"))]
use crate::ErrorKind;
use crate::breaker::BreakerState;
use crate::metrics::LlmMetrics;
use crate::provider::BackendHealth;
use crate::{LlmError, OllamaClient, OpenAiClient, Provider};
use alice_core::ChatMessage;
use alice_core::config::{
    AdaptiveConcurrencyConfig, BackendConfig, BackendKind, BreakerConfig, RetryConfig,
};
use answer::EmergencyCut;
use backend::Backend;
use last_resort::LastResort;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a backend whose breaker is not closed is probed, at most.
const RECOVERY_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Routes chat requests over the configured backends; the rest of Alice talks to it as to
/// one backend that also says who answered.
pub struct LlmRouter {
    backends: Vec<Arc<Backend>>,
    /// Tried after all of `backends` ([`LlmRouter::with_last_resort`]).
    last_resort: LastResort,
    retry: RetryConfig,
    /// The breakers' settings, for a last resort added later.
    breaker: BreakerConfig,
    /// Cancelled to cut every answer in flight (an emergency); then replaced, so answers
    /// started afterwards are not affected.
    abort: Mutex<CancellationToken>,
    /// The Retry-After of an answer cut by an emergency stop.
    emergency_retry_after: Duration,
    /// Set by an emergency stop until [`LlmRouter::resume`]: no new generation starts (requests
    /// admitted before the emergency, still waiting for a slot, end with `Stopped`), so a drained
    /// and unloaded model is not loaded again while the machine is in danger.
    halted: AtomicBool,
    metrics: LlmMetrics,
}

/// Retry-After of an answer cut by an emergency stop, unless the router is told otherwise:
/// the default of `guardian.refuse_retry_after`, the time the Guardian refuses new requests.
const DEFAULT_EMERGENCY_RETRY_AFTER: Duration = Duration::from_secs(15);

/// What an emergency stop did.
#[derive(Clone, Debug, Serialize)]
pub struct EmergencyStop {
    /// Answers that finished within the drain time.
    pub drained: usize,
    /// Answers cut when the drain time was up.
    pub cut: usize,
    /// Backends whose model was unloaded.
    pub unloaded: Vec<String>,
}

impl LlmRouter {
    /// Builds a client for every configured backend.
    pub fn new(
        backends: &[BackendConfig],
        retry: RetryConfig,
        breaker: BreakerConfig,
        adaptive: AdaptiveConcurrencyConfig,
    ) -> Result<Self, LlmError> {
        let mut providers = Vec::with_capacity(backends.len());
        for config in backends {
            let provider: Arc<dyn Provider> = match config.kind {
                BackendKind::Ollama => Arc::new(OllamaClient::new(config)?),
                BackendKind::Openai => Arc::new(OpenAiClient::new(config)?),
                #[cfg(feature = "embedded")]
                BackendKind::Embedded => Arc::new(crate::EmbeddedClient::new(config)?),
                #[cfg(not(feature = "embedded"))]
                BackendKind::Embedded => return Err(embedded_not_built(config)),
            };
            providers.push((config.clone(), provider));
        }
        Ok(Self::with_providers(providers, retry, breaker, adaptive))
    }

    /// A router over given providers (tests use this to route over stand-ins).
    pub fn with_providers(
        providers: Vec<(BackendConfig, Arc<dyn Provider>)>,
        retry: RetryConfig,
        breaker: BreakerConfig,
        adaptive: AdaptiveConcurrencyConfig,
    ) -> Self {
        let backends = providers
            .into_iter()
            .map(|(config, provider)| Arc::new(Backend::new(config, provider, &breaker, &adaptive)))
            .collect();
        Self {
            backends,
            last_resort: LastResort::Absent("none was set up for this router".into()),
            retry,
            breaker,
            abort: Mutex::new(CancellationToken::new()),
            emergency_retry_after: DEFAULT_EMERGENCY_RETRY_AFTER,
            halted: AtomicBool::new(false),
            metrics: LlmMetrics::default(),
        }
    }

    /// Records into `metrics` (families registered in the server's registry) from now on.
    pub fn with_metrics(mut self, metrics: LlmMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Tells the clients of answers cut by [`LlmRouter::emergency_stop`] to retry after
    /// `retry_after` (a server passes `guardian.refuse_retry_after`).
    pub fn with_emergency_retry_after(mut self, retry_after: Duration) -> Self {
        self.emergency_retry_after = retry_after;
        self
    }

    /// The state of every backend, in order.
    pub fn status(&self) -> Vec<BackendStatus> {
        self.backends.iter().map(|b| b.status()).collect()
    }

    /// Starts the background work of every backend, until `stop` is cancelled: the probe (now,
    /// then every `probe_interval`, every second while its breaker is not closed) and, for
    /// Ollama backends with `warm_up`, loading the model now and keeping it loaded.
    pub fn spawn_background_tasks(&self, stop: CancellationToken) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        for backend in &self.backends {
            let (probed, stop_probe) = (Arc::clone(backend), stop.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop_probe.cancelled() => break,
                        () = probed.probe_once() => {}
                    }
                    let pause = if probed.breaker.state() == BreakerState::Closed {
                        probed.config.probe_interval
                    } else {
                        probed.config.probe_interval.min(RECOVERY_PROBE_INTERVAL)
                    };
                    tokio::select! {
                        () = stop_probe.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }));
            if backend.config.warm_up && backend.config.kind == BackendKind::Ollama {
                let (warmed, stop_warm) = (Arc::clone(backend), stop.clone());
                tasks.push(tokio::spawn(async move {
                    let mut every = tokio::time::interval(warmed.config.keep_alive_refresh);
                    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            () = stop_warm.cancelled() => break,
                            _ = every.tick() => {}
                        }
                        tokio::select! {
                            () = stop_warm.cancelled() => break,
                            () = warmed.warm_up() => {}
                        }
                    }
                }));
            }
        }
        tasks
    }

    /// The configured backends, then the last resort when there is one.
    fn every_backend(&self) -> impl Iterator<Item = &Arc<Backend>> {
        self.backends.iter().chain(self.last_resort.ready())
    }

    /// Answers being generated now, on all backends and the last resort.
    pub fn in_flight(&self) -> usize {
        self.every_backend().map(|b| b.limiter.in_flight()).sum()
    }

    /// How an emergency stop reaches an answer started now.
    fn emergency_cut(&self) -> EmergencyCut {
        EmergencyCut {
            token: self.abort.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            retry_after: self.emergency_retry_after,
        }
    }

    /// The Guardian's emergency action, once intake has stopped: lets answers in flight finish
    /// for up to `drain`, cuts the rest (their streams end with a Busy error), then asks every
    /// backend to unload its model (Ollama: `keep_alive: 0`; the embedded model is let go, and
    /// its contexts end with the cut generations). Draining comes before unloading so that
    /// answers close to done are not thrown away. From its first moment no new generation
    /// starts, until [`LlmRouter::resume`].
    pub async fn emergency_stop(&self, drain: Duration) -> EmergencyStop {
        self.halted.store(true, Ordering::SeqCst);
        let at_start = self.in_flight();
        let until = Instant::now() + drain;
        while self.in_flight() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cut = self.in_flight();
        if cut > 0 {
            let mut abort = self.abort.lock().unwrap_or_else(|p| p.into_inner());
            abort.cancel();
            *abort = CancellationToken::new();
        }
        let mut unloaded = Vec::new();
        for backend in self.every_backend() {
            match backend.provider.unload().await {
                Ok(()) => unloaded.push(backend.config.name.clone()),
                Err(error) => {
                    tracing::warn!(evt = "backend_unload_failed", backend = %backend.config.name, error = %error)
                }
            }
        }
        let stop = EmergencyStop {
            drained: at_start.saturating_sub(cut),
            cut,
            unloaded,
        };
        tracing::warn!(evt = "emergency_stop", drained = stop.drained, cut = stop.cut, unloaded = ?stop.unloaded);
        stop
    }

    /// Lets generations start again after an emergency stop (the Guardian left EMERGENCY).
    pub fn resume(&self) {
        if self.halted.swap(false, Ordering::SeqCst) {
            tracing::info!(evt = "llm_resumed");
        }
    }

    /// Whether an emergency stop holds new generations back.
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// The primary backend's name: "ollama".
    pub fn name(&self) -> &str {
        self.backends
            .first()
            .map_or("none", |b| b.config.name.as_str())
    }

    /// The model the primary backend asks for.
    pub fn model(&self) -> &str {
        self.backends
            .first()
            .map_or("none", |b| b.config.model.as_str())
    }

    /// The primary backend's address.
    pub fn url(&self) -> &str {
        self.backends.first().map_or("", |b| b.provider.url())
    }

    /// The primary's count: the prompt is fitted for the backend that should answer it.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Option<usize> {
        self.backends
            .first()?
            .provider
            .count_prompt_tokens(messages)
            .await
    }

    /// The primary backend's own probe.
    pub async fn probe(&self) -> BackendHealth {
        match self.backends.first() {
            Some(backend) => backend.provider.probe().await,
            None => BackendHealth {
                reachable: false,
                model_available: false,
                context_length: None,
                error: Some("no backend is configured".into()),
            },
        }
    }
}

/// A backend of kind "embedded" in a build without the `embedded` feature.
#[cfg(not(feature = "embedded"))]
fn embedded_not_built(config: &BackendConfig) -> LlmError {
    LlmError {
        backend: config.name.clone(),
        url: format!("embedded:{}", config.embedded_model_path().display()),
        kind: ErrorKind::Rejected { status: 400 },
        detail: "this build of Alice has no embedded backend (cargo feature `embedded` of \
                 alice-llm is off)"
            .into(),
        advice: "build with the default features (needs cmake and libclang-dev), or use an \
                 ollama or openai backend"
            .into(),
    }
}
