//! The LLM router: every chat request to a model goes through here.
//!
//! Order of work for one request:
//! 1. Backends are tried in their configured order. One whose breaker is open is skipped at
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
//!
//! A background probe per backend feeds `/ready` and, while a breaker is half-open, decides
//! whether it closes.

use crate::breaker::{Breaker, BreakerState};
use crate::limiter::{Limiter, Refusal, Slot};
use crate::metrics::LlmMetrics;
use crate::provider::{AnsweredBy, BackendHealth, ChatEvent, ChatRequest, ChatStream};
use crate::{ErrorKind, LlmError, OllamaClient, OpenAiClient, Provider};
use alice_core::ChatMessage;
use alice_core::config::{
    AdaptiveConcurrencyConfig, BackendConfig, BackendKind, BreakerConfig, RetryConfig,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rand::Rng;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a backend whose breaker is not closed is probed, at most.
const RECOVERY_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// The question of the generation probe; a real model answers it in a token or two.
pub const PROBE_PROMPT: &str = "Hej";
/// Tokens the generation probe asks for.
const PROBE_TOKENS: u32 = 5;

/// One backend with its limiter, breaker and latest probe.
struct Backend {
    config: BackendConfig,
    provider: Arc<dyn Provider>,
    limiter: Arc<Limiter>,
    breaker: Breaker,
    probe: Mutex<ProbeReport>,
}

/// The latest probe result of a backend.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProbeReport {
    /// None until the first probe has finished.
    pub health: Option<BackendHealth>,
    /// Time to the first token of the generation probe, when one ran.
    pub first_token_ms: Option<u64>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// What `/ready` and the status endpoints show of a backend.
#[derive(Clone, Debug, Serialize)]
pub struct BackendStatus {
    pub name: String,
    pub kind: BackendKind,
    pub url: String,
    pub model: String,
    pub breaker: BreakerState,
    pub in_flight: usize,
    pub queued: usize,
    /// `max_concurrent`, or the adaptive limit in force.
    pub concurrency_limit: usize,
    pub probe: ProbeReport,
}

/// Routes chat requests over the configured backends. Implements [`Provider`] itself, so the
/// rest of Alice talks to it like to one backend.
pub struct LlmRouter {
    backends: Vec<Arc<Backend>>,
    retry: RetryConfig,
    /// Cancelled to cut every answer in flight (an emergency); then replaced, so answers
    /// started afterwards are not affected.
    abort: Mutex<CancellationToken>,
    metrics: LlmMetrics,
}

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
            .map(|(config, provider)| {
                Arc::new(Backend {
                    limiter: Limiter::new(
                        config.max_concurrent,
                        config.queue_depth,
                        config.queue_timeout,
                        adaptive.enabled.then(|| adaptive.clone()),
                    ),
                    breaker: Breaker::new(breaker.clone()),
                    probe: Mutex::new(ProbeReport::default()),
                    config,
                    provider,
                })
            })
            .collect();
        Self {
            backends,
            retry,
            abort: Mutex::new(CancellationToken::new()),
            metrics: LlmMetrics::default(),
        }
    }

    /// Records into `metrics` (families registered in the server's registry) from now on.
    pub fn with_metrics(mut self, metrics: LlmMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The state of every backend, in order.
    pub fn status(&self) -> Vec<BackendStatus> {
        self.backends
            .iter()
            .map(|b| BackendStatus {
                name: b.config.name.clone(),
                kind: b.config.kind,
                url: b.provider.url().to_owned(),
                model: b.config.model.clone(),
                breaker: b.breaker.state(),
                in_flight: b.limiter.in_flight(),
                queued: b.limiter.queued(),
                concurrency_limit: b.limiter.limit(),
                probe: b.probe_report(),
            })
            .collect()
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

    /// Answers being generated now, on all backends.
    pub fn in_flight(&self) -> usize {
        self.backends.iter().map(|b| b.limiter.in_flight()).sum()
    }

    /// The Guardian's emergency action, once intake has stopped: lets answers in flight finish
    /// for up to `drain`, cuts the rest (their streams end with a Busy error), then asks every
    /// backend to unload its model (Ollama: `keep_alive: 0`). Draining comes before unloading so
    /// that answers close to done are not thrown away.
    pub async fn emergency_stop(&self, drain: Duration) -> EmergencyStop {
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
        for backend in &self.backends {
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

    /// The backends a round may try, in order: those whose breaker allows requests and that
    /// have not refused this request for good; if every breaker is open, the first of them.
    fn candidates(&self, given_up: &[bool]) -> Vec<usize> {
        let open: Vec<usize> = (0..self.backends.len()).filter(|&i| !given_up[i]).collect();
        let allowed: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| self.backends[i].breaker.allows_requests())
            .collect();
        if allowed.is_empty() {
            open.into_iter().take(1).collect()
        } else {
            allowed
        }
    }

    /// The pause before retry round `round` (1-based): base × 2^(round-1), ± jitter, at least
    /// what the backend asked for with Retry-After.
    fn backoff(&self, round: u32, asked: Option<Duration>) -> Duration {
        let base = self.retry.base_delay.as_secs_f64() * 2f64.powi(round as i32 - 1);
        let spread = self.retry.jitter * base;
        let jittered = if spread > 0.0 {
            base + rand::rng().random_range(-spread..=spread)
        } else {
            base
        };
        let pause = Duration::from_secs_f64(jittered.max(0.0));
        asked.map_or(pause, |asked| pause.max(asked))
    }
}

#[async_trait]
impl Provider for LlmRouter {
    fn name(&self) -> &str {
        self.backends
            .first()
            .map_or("none", |b| b.config.name.as_str())
    }

    fn model(&self) -> &str {
        self.backends
            .first()
            .map_or("none", |b| b.config.model.as_str())
    }

    fn url(&self) -> &str {
        self.backends.first().map_or("", |b| b.provider.url())
    }

    /// The primary's count: the prompt is fitted for the backend that should answer it.
    async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Option<usize> {
        self.backends
            .first()?
            .provider
            .count_prompt_tokens(messages)
            .await
    }

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let started = Instant::now();
        let deadline = request.deadline;
        let mut given_up = vec![false; self.backends.len()];
        let mut attempts = 0;
        let mut last_error: Option<LlmError> = None;
        for round in 0..=self.retry.max_retries {
            if round > 0 {
                if self.backends.iter().all(|b| !b.breaker.allows_requests()) {
                    // Every breaker is open: the one attempt made anyway was enough; pausing
                    // and retrying would only delay the refusal.
                    break;
                }
                let asked = last_error.as_ref().and_then(|e| match e.kind {
                    ErrorKind::Busy { retry_after } => retry_after,
                    _ => None,
                });
                let pause = self.backoff(round, asked);
                if deadline.is_some_and(|d| Instant::now() + pause >= d) {
                    break;
                }
                tracing::info!(
                    evt = "llm_retry_wait",
                    round,
                    pause_ms = pause.as_millis() as u64
                );
                self.metrics.retry_round();
                tokio::time::sleep(pause).await;
            }
            let mut attempted = false;
            for index in self.candidates(&given_up) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let backend = &self.backends[index];
                let name = backend.config.name.as_str();
                let asked_for_slot = Instant::now();
                let slot = match backend.limiter.acquire(deadline).await {
                    Ok(slot) => {
                        self.metrics.queue_wait(name, asked_for_slot.elapsed());
                        slot
                    }
                    Err(refusal) => {
                        self.metrics.saturated(name);
                        tracing::warn!(evt = "llm_backend_saturated", backend = %backend.config.name, refusal = ?refusal);
                        last_error = Some(backend.saturated(refusal));
                        continue;
                    }
                };
                attempts += 1;
                attempted = true;
                let attempt_started = Instant::now();
                let outcome = backend.first_token(&request).await;
                self.metrics
                    .attempt(name, outcome.as_ref().map(|_| ()).map_err(|e| &e.kind));
                match outcome {
                    Ok((first, rest)) => {
                        self.metrics.first_token(name, attempt_started.elapsed());
                        let failover = index > 0;
                        let answered_by = AnsweredBy {
                            backend: backend.config.name.clone(),
                            model: request
                                .model
                                .clone()
                                .unwrap_or_else(|| backend.config.model.clone()),
                            failover,
                            attempts,
                            failover_ms: if failover {
                                attempt_started.duration_since(started).as_millis() as u64
                            } else {
                                0
                            },
                        };
                        if failover {
                            self.metrics.failover(name);
                            tracing::warn!(evt = "llm_failover", backend = %answered_by.backend, attempts, failover_ms = answered_by.failover_ms);
                        }
                        let abort = self.abort.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        return Ok(answer_stream(
                            Arc::clone(backend),
                            slot,
                            first,
                            rest,
                            answered_by,
                            abort,
                        ));
                    }
                    Err(error) => {
                        drop(slot);
                        if error.counts_against_backend() {
                            backend.breaker.record(true);
                        }
                        if !error.is_retryable() {
                            given_up[index] = true;
                        }
                        tracing::warn!(evt = "llm_attempt_failed", backend = %backend.config.name, attempt = attempts, kind = ?error.kind, error = %error);
                        last_error = Some(error);
                    }
                }
            }
            // Retry rounds are for backends that failed. When none could even be tried (all
            // saturated), waiting and asking again would only hold the client and add load:
            // the refusal goes out at once.
            if !attempted || given_up.iter().all(|&g| g) {
                break;
            }
        }
        Err(last_error.unwrap_or_else(|| self.deadline_error(started)))
    }

    async fn probe(&self) -> BackendHealth {
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

impl LlmRouter {
    fn deadline_error(&self, started: Instant) -> LlmError {
        LlmError {
            backend: self.name().to_owned(),
            url: self.url().to_owned(),
            kind: ErrorKind::TimedOut,
            detail: format!(
                "the request's deadline passed after {} ms before any backend could be tried",
                started.elapsed().as_millis()
            ),
            advice: "raise deadlines.chat, or add capacity (backends[].max_concurrent or \
                     another backend)"
                .into(),
        }
    }
}

impl Backend {
    fn probe_report(&self) -> ProbeReport {
        self.probe.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One probe: the model is listed, then (when enabled and a slot is free) a 5-token answer
    /// whose first token comes within `probe_first_token_max`. Stores the result, logs a
    /// change, and lets it decide a half-open breaker.
    async fn probe_once(&self) {
        let mut health = self.provider.probe().await;
        let mut first_token_ms = None;
        if health.reachable && health.model_available && self.config.probe_generation {
            match self.generation_probe().await {
                GenerationProbe::Skipped => {}
                GenerationProbe::FirstToken(took) => {
                    first_token_ms = Some(took.as_millis() as u64);
                    if took > self.config.probe_first_token_max {
                        health.error = Some(format!(
                            "the first token of a 5-token answer took {} ms, more than \
                             backends[].probe_first_token_max ({} ms): the model is overloaded \
                             or still loading",
                            took.as_millis(),
                            self.config.probe_first_token_max.as_millis()
                        ));
                    }
                }
                GenerationProbe::Failed(error) => {
                    health.error = Some(format!("a 5-token test answer failed: {error}"));
                }
            }
        }
        let healthy = health.reachable && health.model_available && health.error.is_none();
        {
            let mut report = self.probe.lock().unwrap_or_else(|p| p.into_inner());
            if report.health.as_ref() != Some(&health) {
                log_probe_change(&self.config, self.provider.url(), &health);
            }
            *report = ProbeReport {
                health: Some(health),
                first_token_ms,
                checked_at: Some(Utc::now()),
            };
        }
        if self.breaker.state() == BreakerState::HalfOpen {
            self.breaker.record_probe(healthy);
            tracing::info!(evt = "breaker_probe", backend = %self.config.name, healthy, state = ?self.breaker.state());
        }
    }

    /// Asks for a short answer, only if a slot is free at once, and times its first token
    /// (giving up at twice the allowed time).
    async fn generation_probe(&self) -> GenerationProbe {
        let Ok(_slot) = self.limiter.acquire(Some(Instant::now())).await else {
            return GenerationProbe::Skipped;
        };
        let started = Instant::now();
        let request = ChatRequest {
            messages: vec![alice_core::ChatMessage::new(
                alice_core::Role::User,
                PROBE_PROMPT,
            )],
            max_tokens: PROBE_TOKENS,
            temperature: 0.0,
            num_ctx: 512,
            stop: Vec::new(),
            deadline: None,
            model: None,
        };
        let first = async {
            let mut stream = self.provider.chat_stream(request).await?;
            match stream.next().await {
                Some(Ok(_)) => Ok(started.elapsed()),
                Some(Err(error)) => Err(error),
                None => Err(self.ended_early()),
            }
        };
        match tokio::time::timeout(self.config.probe_first_token_max * 2, first).await {
            Ok(Ok(took)) => GenerationProbe::FirstToken(took),
            Ok(Err(error)) => GenerationProbe::Failed(error.to_string()),
            Err(_) => GenerationProbe::FirstToken(started.elapsed()),
        }
    }

    /// Loads the model and restarts its keep-alive timer; logs the outcome.
    async fn warm_up(&self) {
        let started = Instant::now();
        match self.provider.warm_up().await {
            Ok(()) => tracing::info!(
                evt = "backend_warmed",
                backend = %self.config.name,
                model = %self.config.model,
                took_ms = started.elapsed().as_millis() as u64,
            ),
            Err(error) => tracing::warn!(
                evt = "backend_warm_up_failed",
                backend = %self.config.name,
                error = %error,
            ),
        }
    }

    fn saturated(&self, refusal: Refusal) -> LlmError {
        let detail = match refusal {
            Refusal::QueueFull => format!(
                "all {} slots are busy and {} requests already wait",
                self.limiter.limit(),
                self.config.queue_depth
            ),
            Refusal::WaitTooLong { expected } => format!(
                "all {} slots are busy and the expected wait of {} ms would pass the deadline",
                self.limiter.limit(),
                expected.as_millis()
            ),
            Refusal::TimedOut => format!(
                "no slot came free within the queue timeout of {} ms",
                self.config.queue_timeout.as_millis()
            ),
        };
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::Busy {
                retry_after: Some(Duration::from_secs(1)),
            },
            detail,
            advice: "Alice is at its limit for this backend; retry shortly, or raise \
                     backends[].max_concurrent / queue_depth if the model server has room"
                .into(),
        }
    }

    fn timed_out(&self, detail: String) -> LlmError {
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::TimedOut,
            detail,
            advice: "the model server is overloaded or stuck; check it, or raise \
                     backends[].first_token_timeout / idle_timeout"
                .into(),
        }
    }

    /// Starts a generation and waits for its first event, within `first_token_timeout` and
    /// the deadline.
    async fn first_token(
        &self,
        request: &ChatRequest,
    ) -> Result<(ChatEvent, ChatStream), LlmError> {
        let started = Instant::now();
        let mut limit = started + self.config.first_token_timeout;
        if let Some(deadline) = request.deadline {
            limit = limit.min(deadline);
        }
        let attempt = async {
            let mut stream = self.provider.chat_stream(request.clone()).await?;
            match stream.next().await {
                Some(Ok(event)) => Ok((event, stream)),
                Some(Err(error)) => Err(error),
                None => Err(self.ended_early()),
            }
        };
        match tokio::time::timeout_at(limit, attempt).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(format!(
                "no first token within {} ms",
                limit.duration_since(started).as_millis()
            ))),
        }
    }

    fn cut_by_emergency(&self) -> LlmError {
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::Busy {
                retry_after: Some(Duration::from_secs(15)),
            },
            detail: "the answer was cut: the Guardian stopped generation to protect the machine"
                .into(),
            advice: "see GET /api/guardian/status; Alice answers again when the machine has \
                     recovered"
                .into(),
        }
    }

    fn ended_early(&self) -> LlmError {
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::StreamBroken,
            detail: "the answer ended before the backend said it was done".into(),
            advice: "try again; if it repeats, see the backend's log".into(),
        }
    }
}

fn log_probe_change(config: &BackendConfig, url: &str, health: &BackendHealth) {
    let usable = health.reachable && health.model_available;
    if usable {
        tracing::info!(
            evt = "backend_ready",
            backend = %config.name,
            url,
            model = %config.model,
            context_length = health.context_length,
            note = health.error.as_deref(),
        );
    } else {
        tracing::warn!(
            evt = "backend_unavailable",
            backend = %config.name,
            url,
            model = %config.model,
            reachable = health.reachable,
            error = health.error.as_deref().unwrap_or("unknown"),
        );
    }
}

enum GenerationProbe {
    /// No slot was free: the backend is busy answering, which says enough.
    Skipped,
    FirstToken(Duration),
    Failed(String),
}

/// What the router hands on after the first token: who answers, then the backend's stream,
/// with the idle timeout, the breaker's bookkeeping at the end, and the slot held until then.
struct Answer {
    backend: Arc<Backend>,
    slot: Option<Slot>,
    /// Events to hand on before reading more: `Started`, then the first one read.
    pending: Vec<ChatEvent>,
    rest: ChatStream,
    abort: CancellationToken,
}

fn answer_stream(
    backend: Arc<Backend>,
    slot: Slot,
    first: ChatEvent,
    rest: ChatStream,
    answered_by: AnsweredBy,
    abort: CancellationToken,
) -> ChatStream {
    let answer = Answer {
        backend,
        slot: Some(slot),
        pending: vec![first, ChatEvent::Started(answered_by)],
        rest,
        abort,
    };
    futures_util::stream::unfold(answer, |mut answer| async move {
        answer.slot.as_ref()?;
        let event = match answer.pending.pop() {
            Some(event) => Ok(event),
            None => {
                let idle = answer.backend.config.idle_timeout;
                tokio::select! {
                    () = answer.abort.cancelled() => {
                        // Not the backend's fault: nothing for its breaker.
                        answer.slot = None;
                        return Some((Err(answer.backend.cut_by_emergency()), answer));
                    }
                    next = tokio::time::timeout(idle, answer.rest.next()) => match next {
                        Ok(Some(event)) => event,
                        Ok(None) => Err(answer.backend.ended_early()),
                        Err(_) => Err(answer.backend.timed_out(format!(
                            "no token for {} ms in the middle of the answer",
                            idle.as_millis()
                        ))),
                    },
                }
            }
        };
        let event = match event {
            Ok(ChatEvent::Done(completion)) => {
                answer.backend.breaker.record(false);
                if let Some(slot) = answer.slot.take() {
                    slot.completed();
                }
                Ok(ChatEvent::Done(completion))
            }
            Ok(other) => Ok(other),
            Err(error) => {
                if error.counts_against_backend() {
                    answer.backend.breaker.record(true);
                }
                answer.slot = None;
                Err(error)
            }
        };
        Some((event, answer))
    })
    .boxed()
}
