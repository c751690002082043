//! The embedded model as the router's last resort (`[last_resort]`): one more backend, outside
//! the configured order, tried once after every configured backend has failed, was open or was
//! full, so that Alice still answers (a tiny model's answer, marked as such) when every model
//! server is down.
//!
//! It is not a failover member: the retry rounds over the configured backends run first, and
//! it is tried only when they ended in a failure that says "nothing could answer" (not a
//! rejected request, and not the Guardian's emergency stop). A request pinned to one backend
//! (an A/B variant) never reaches it: its figures must stay that backend's. It keeps its own
//! limiter, so the embedded engine's slots and queue bound it like any backend; it has no
//! background probe, so it costs nothing (the model is not even loaded) until it is needed.
//!
//! It is absent, and [`LastResortStatus`] says why, when it is turned off, when the build has
//! no `embedded` feature, when the model file is missing at start, or when a configured
//! backend already is the embedded model on the same file.

use super::LlmRouter;
use super::answer::{RoutedStream, answer_stream};
use super::backend::Backend;
use crate::provider::{AnsweredBy, ChatRequest};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::config::{
    AdaptiveConcurrencyConfig, BackendConfig, BackendKind, BreakerConfig, LastResortConfig,
};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use tokio::time::Instant;

/// The router's last resort: ready to be tried, or absent for a reason.
pub(super) enum LastResort {
    Ready(Arc<Backend>),
    Absent(String),
}

/// What `/ready` and the dashboard show of the last resort.
#[derive(Clone, Debug, Serialize)]
pub struct LastResortStatus {
    /// It is tried when every configured backend has failed, is open or is full.
    pub available: bool,
    /// Why it is absent, when it is.
    pub reason: Option<String>,
    /// Its model and file ("embedded:<path>"), when it is there.
    pub model: Option<String>,
    pub url: Option<String>,
    pub in_flight: usize,
    pub queued: usize,
    /// Its slots: answers it generates at once.
    pub concurrency_limit: usize,
    /// Answers it has given since start.
    pub answers: u64,
}

/// Why there is no last resort for `config` next to `backends`, or None when there is one.
/// `built`: the build has the `embedded` feature; `exists`: whether a model file is there.
pub(super) fn absence(
    config: &LastResortConfig,
    backends: &[BackendConfig],
    built: bool,
    exists: impl Fn(&Path) -> bool,
) -> Option<String> {
    let path = config.backend().embedded_model_path();
    if !config.enabled {
        return Some("turned off (last_resort.enabled = false)".into());
    }
    if let Some(backend) = backends
        .iter()
        .find(|b| b.kind == BackendKind::Embedded && same_file(&b.embedded_model_path(), &path))
    {
        return Some(format!(
            "backend {:?} already is the embedded model on {}",
            backend.name,
            path.display()
        ));
    }
    if !built {
        return Some(
            "this build of Alice has no embedded model (cargo feature `embedded` is off)".into(),
        );
    }
    if !exists(&path) {
        return Some(format!(
            "no model file at {} when Alice started: run `alice model fetch` (or \
             scripts/fetch-model.sh), or set last_resort.model_path",
            path.display()
        ));
    }
    None
}

/// Whether the configured backends' failure `error` calls for the last resort: they could not
/// answer (down, open, full, too slow, without the model), and the request may go to any
/// backend. A request they rejected would fail there too; an emergency stop must not start a
/// model on the machine it protects.
pub(super) fn worth_trying(error: &LlmError, pinned: bool) -> bool {
    !pinned
        && match error.kind {
            ErrorKind::Unreachable
            | ErrorKind::Busy { .. }
            | ErrorKind::Failed { .. }
            | ErrorKind::TimedOut
            | ErrorKind::StreamBroken
            | ErrorKind::Protocol
            | ErrorKind::ModelNotFound => true,
            ErrorKind::Rejected { .. } | ErrorKind::Stopped { .. } => false,
        }
}

/// Two names of one file: equal, or equal once resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

impl LastResort {
    pub(super) fn new(
        config: BackendConfig,
        provider: Arc<dyn Provider>,
        breaker: &BreakerConfig,
    ) -> Self {
        // Its slots are the embedded engine's own: no adaptive limit moves them.
        let fixed = AdaptiveConcurrencyConfig {
            enabled: false,
            ..AdaptiveConcurrencyConfig::default()
        };
        LastResort::Ready(Arc::new(Backend::new(config, provider, breaker, &fixed)))
    }

    pub(super) fn ready(&self) -> Option<&Arc<Backend>> {
        match self {
            LastResort::Ready(backend) => Some(backend),
            LastResort::Absent(_) => None,
        }
    }
}

impl LlmRouter {
    /// Sets up the last resort from `config`: the embedded model on its file, unless
    /// [`absence`] finds a reason it cannot be (logged, and shown in
    /// [`LlmRouter::last_resort_status`]).
    pub fn with_last_resort(self, config: &LastResortConfig) -> Result<Self, LlmError> {
        let configured: Vec<BackendConfig> =
            self.backends.iter().map(|b| b.config.clone()).collect();
        if let Some(reason) = absence(config, &configured, cfg!(feature = "embedded"), |path| {
            path.is_file()
        }) {
            tracing::info!(evt = "last_resort_absent", reason = %reason);
            return Ok(Self {
                last_resort: LastResort::Absent(reason),
                ..self
            });
        }
        let backend = config.backend();
        tracing::info!(
            evt = "last_resort_ready",
            model = %backend.model,
            path = %backend.embedded_model_path().display(),
            max_concurrent = backend.max_concurrent,
        );
        Ok(self.with_last_resort_provider(backend.clone(), embedded_provider(&backend)?))
    }

    /// The last resort answered by `provider` (tests use a stand-in).
    pub fn with_last_resort_provider(
        self,
        config: BackendConfig,
        provider: Arc<dyn Provider>,
    ) -> Self {
        let last_resort = LastResort::new(config, provider, &self.breaker);
        Self {
            last_resort,
            ..self
        }
    }

    /// The last resort: there and how loaded, or why it is absent.
    pub fn last_resort_status(&self) -> LastResortStatus {
        let answers = self.metrics.last_resort_answers();
        match &self.last_resort {
            LastResort::Ready(backend) => LastResortStatus {
                available: true,
                reason: None,
                model: Some(backend.config.model.clone()),
                url: Some(backend.provider.url().to_owned()),
                in_flight: backend.limiter.in_flight(),
                queued: backend.limiter.queued(),
                concurrency_limit: backend.limiter.limit(),
                answers,
            },
            LastResort::Absent(reason) => LastResortStatus {
                available: false,
                reason: Some(reason.clone()),
                model: None,
                url: None,
                in_flight: 0,
                queued: 0,
                concurrency_limit: 0,
                answers,
            },
        }
    }

    /// After the configured backends ended in `error`: one attempt on the last resort, when
    /// there is one and [`worth_trying`] says so. Its answer is marked
    /// [`AnsweredBy::last_resort`]; when it cannot answer either, the configured backends'
    /// `error` is what the client gets (the operator's problem is there), and the last
    /// resort's own failure is logged.
    pub(super) async fn last_resort_answer(
        &self,
        request: &ChatRequest,
        error: LlmError,
        pinned: bool,
        attempts: u32,
        started: Instant,
    ) -> Result<RoutedStream, LlmError> {
        let Some(backend) = self.last_resort.ready() else {
            return Err(error);
        };
        if !worth_trying(&error, pinned) || request.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(error);
        }
        let name = backend.config.name.as_str();
        let asked_for_slot = Instant::now();
        let (slot, queued) = match backend
            .limiter
            .acquire(request.queue_client(), request.priority, request.deadline)
            .await
        {
            Ok(slot) => {
                let queued = asked_for_slot.elapsed();
                self.metrics.queue_wait(name, queued);
                (slot, queued)
            }
            Err(refusal) => {
                self.metrics.saturated(name);
                tracing::warn!(evt = "last_resort_saturated", refusal = ?refusal, after = %error);
                return Err(error);
            }
        };
        let attempt_started = Instant::now();
        let outcome = backend.first_token(request).await;
        self.metrics
            .attempt(name, outcome.as_ref().map(|_| ()).map_err(|e| &e.kind));
        match outcome {
            Ok((first, rest)) => {
                self.metrics.first_token(name, attempt_started.elapsed());
                self.metrics.last_resort_answer();
                let answered_by = AnsweredBy {
                    backend: backend.config.name.clone(),
                    model: backend.config.model.clone(),
                    failover: true,
                    attempts: attempts + 1,
                    failover_ms: attempt_started.duration_since(started).as_millis() as u64,
                    // Its own wait for a slot; the configured backends' waits came before.
                    queue_wait_ms: u64::try_from(queued.as_millis()).unwrap_or(u64::MAX),
                    last_resort: true,
                };
                tracing::warn!(
                    evt = "llm_last_resort",
                    model = %answered_by.model,
                    attempts = answered_by.attempts,
                    failover_ms = answered_by.failover_ms,
                    after = %error,
                );
                Ok(answer_stream(
                    Arc::clone(backend),
                    slot,
                    first,
                    rest,
                    answered_by,
                    self.emergency_cut(),
                ))
            }
            Err(failure) => {
                tracing::warn!(evt = "last_resort_failed", kind = ?failure.kind, error = %failure, after = %error);
                Err(error)
            }
        }
    }
}

#[cfg(feature = "embedded")]
fn embedded_provider(config: &BackendConfig) -> Result<Arc<dyn Provider>, LlmError> {
    Ok(Arc::new(crate::EmbeddedClient::new(config)?))
}

/// Never called: without the feature [`absence`] always finds a reason first.
#[cfg(not(feature = "embedded"))]
fn embedded_provider(config: &BackendConfig) -> Result<Arc<dyn Provider>, LlmError> {
    Err(super::embedded_not_built(config))
}

#[cfg(test)]
mod tests;
