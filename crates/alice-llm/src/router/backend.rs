//! One backend as the router holds it: the provider, its limiter and circuit breaker, its
//! latest probe, and how it fails (saturated, timed out, cut, ended early), with advice.

use crate::breaker::{Breaker, BreakerState};
use crate::limiter::{Limiter, Refusal};
use crate::provider::{BackendHealth, ChatEvent, ChatRequest, ChatStream};
use crate::{ErrorKind, LlmError, Provider, QueuePlace};
use alice_core::Priority;
use alice_core::config::{AdaptiveConcurrencyConfig, BackendConfig, BackendKind, BreakerConfig};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The question of the generation probe; a real model answers it in a token or two.
pub const PROBE_PROMPT: &str = "Hej";
/// Tokens the generation probe asks for.
const PROBE_TOKENS: u32 = 5;

/// One backend with its limiter, breaker and latest probe.
pub(super) struct Backend {
    pub(super) config: BackendConfig,
    pub(super) provider: Arc<dyn Provider>,
    pub(super) limiter: Arc<Limiter>,
    pub(super) breaker: Breaker,
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

impl Backend {
    pub(super) fn new(
        config: BackendConfig,
        provider: Arc<dyn Provider>,
        breaker: &BreakerConfig,
        adaptive: &AdaptiveConcurrencyConfig,
    ) -> Self {
        Self {
            limiter: Limiter::new(
                config.max_concurrent,
                config.queue_depth,
                config.queue_timeout,
                config.max_share_per_client,
                adaptive.enabled.then(|| adaptive.clone()),
            ),
            breaker: Breaker::new(breaker.clone()),
            probe: Mutex::new(ProbeReport::default()),
            config,
            provider,
        }
    }

    /// What `/ready` and the status endpoints show of this backend.
    pub(super) fn status(&self) -> BackendStatus {
        BackendStatus {
            name: self.config.name.clone(),
            kind: self.config.kind,
            url: self.provider.url().to_owned(),
            model: self.config.model.clone(),
            breaker: self.breaker.state(),
            in_flight: self.limiter.in_flight(),
            queued: self.limiter.queued(),
            concurrency_limit: self.limiter.limit(),
            probe: self.probe_report(),
        }
    }

    fn probe_report(&self) -> ProbeReport {
        self.probe.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One probe: the model is listed, then (when enabled and a slot is free) a 5-token answer
    /// whose first token comes within `probe_first_token_max`. Stores the result, logs a
    /// change, and lets it decide a half-open breaker.
    pub(super) async fn probe_once(&self) {
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
        // Its own turn in the queue: no user's name can have parentheses.
        let Ok(_slot) = self
            .limiter
            .acquire("(probe)", Priority::Batch, Some(Instant::now()))
            .await
        else {
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
            stream_deadline: None,
            model: None,
            client: None,
            priority: alice_core::Priority::Interactive,
            backend: None,
            tools: Vec::new(),
            tool_choice: None,
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
    pub(super) async fn warm_up(&self) {
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

    pub(super) fn saturated(&self, refusal: Refusal) -> LlmError {
        let (detail, queue) = match refusal {
            Refusal::QueueFull { place, expected } => (
                format!(
                    "all {} slots are busy and {} requests already wait",
                    self.limiter.limit(),
                    self.config.queue_depth
                ),
                Some(Box::new(QueuePlace {
                    position: place,
                    expected_wait: expected,
                })),
            ),
            Refusal::WaitTooLong { place, expected } => (
                format!(
                    "all {} slots are busy and the expected wait of {} ms would pass the deadline",
                    self.limiter.limit(),
                    expected.as_millis()
                ),
                Some(Box::new(QueuePlace {
                    position: place,
                    expected_wait: Some(expected),
                })),
            ),
            Refusal::TimedOut => (
                format!(
                    "no slot came free within the queue timeout of {} ms",
                    self.config.queue_timeout.as_millis()
                ),
                None,
            ),
        };
        // The expected wait is a better hint than a fixed pause, when there is one.
        let retry_after = queue
            .as_ref()
            .and_then(|q| q.expected_wait)
            .map(|wait| wait.max(Duration::from_secs(1)))
            .unwrap_or(self.config.busy_retry_after);
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::Busy {
                retry_after: Some(retry_after),
                queue,
            },
            detail,
            advice: "Alice is at its limit for this backend; retry shortly, or raise \
                     backends[].max_concurrent / queue_depth if the model server has room"
                .into(),
        }
    }

    pub(super) fn timed_out(&self, detail: String) -> LlmError {
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
    pub(super) async fn first_token(
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

    pub(super) fn cut_by_emergency(&self, retry_after: Duration) -> LlmError {
        LlmError {
            backend: self.config.name.clone(),
            url: self.provider.url().to_owned(),
            kind: ErrorKind::Stopped { retry_after },
            detail: "the answer was cut: the Guardian stopped generation to protect the machine"
                .into(),
            advice: crate::error::STOPPED_ADVICE.into(),
        }
    }

    pub(super) fn ended_early(&self) -> LlmError {
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
