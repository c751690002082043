//! The router's attempt loop: which backends a round tries and in what order, failover to the
//! next at once, retry rounds after a growing pause, and the deadline over all of it.

use super::LlmRouter;
use super::answer::{RoutedStream, answer_stream};
use crate::provider::{AnsweredBy, ChatRequest};
use crate::{ErrorKind, LlmError};
use alice_core::config::RetryConfig;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

impl LlmRouter {
    /// Answers `request` from the first backend that can, else from the last resort: see the
    /// [module](super) for the order of work. The stream starts with
    /// [`RoutedEvent::Started`], then the backend's events.
    pub async fn chat_stream(&self, request: ChatRequest) -> Result<RoutedStream, LlmError> {
        let started = Instant::now();
        let deadline = request.deadline;
        // A request pinned to one backend (an experiment's variant) may use only that one:
        // the others count as given up from the start, so there is no failover.
        let pinned = match &request.backend {
            Some(name) => Some(self.pinned(name)?),
            None => None,
        };
        let in_pool = |index: usize| pinned.is_none_or(|p| p == index);
        let first_choice = pinned.unwrap_or(0);
        let mut given_up: Vec<bool> = (0..self.backends.len()).map(|i| !in_pool(i)).collect();
        let mut attempts = 0;
        let mut queued = Duration::ZERO;
        let mut last_error: Option<LlmError> = None;
        for round in 0..=self.retry.max_retries {
            if round > 0 {
                if self
                    .backends
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| in_pool(*index))
                    .all(|(_, b)| !b.breaker.allows_requests())
                {
                    // Every breaker is open: the one attempt made anyway was enough; pausing
                    // and retrying would only delay the refusal.
                    break;
                }
                let asked = last_error.as_ref().and_then(|e| match e.kind {
                    ErrorKind::Busy { retry_after, .. } => retry_after,
                    _ => None,
                });
                let pause = backoff(&self.retry, round, asked, &mut rand::rng());
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
            let allowed: Vec<bool> = self
                .backends
                .iter()
                .map(|b| b.breaker.allows_requests())
                .collect();
            for index in candidates(&allowed, &given_up) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let backend = &self.backends[index];
                let name = backend.config.name.as_str();
                let asked_for_slot = Instant::now();
                let slot = match backend
                    .limiter
                    .acquire(request.queue_client(), request.priority, deadline)
                    .await
                {
                    Ok(slot) => {
                        self.metrics.queue_wait(name, asked_for_slot.elapsed());
                        queued += asked_for_slot.elapsed();
                        slot
                    }
                    Err(refusal) => {
                        queued += asked_for_slot.elapsed();
                        self.metrics.saturated(name);
                        tracing::warn!(evt = "llm_backend_saturated", backend = %backend.config.name, refusal = ?refusal);
                        last_error = Some(backend.saturated(refusal));
                        continue;
                    }
                };
                if self.halted() {
                    // An emergency stop began while this request waited for its slot.
                    drop(slot);
                    return Err(backend.cut_by_emergency(self.emergency_retry_after));
                }
                attempts += 1;
                attempted = true;
                let attempt_started = Instant::now();
                let outcome = backend.first_token(&request).await;
                self.metrics
                    .attempt(name, outcome.as_ref().map(|_| ()).map_err(|e| &e.kind));
                match outcome {
                    Ok((first, rest)) => {
                        self.metrics.first_token(name, attempt_started.elapsed());
                        let failover = index != first_choice;
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
                            queue_wait_ms: u64::try_from(queued.as_millis()).unwrap_or(u64::MAX),
                            last_resort: false,
                        };
                        if failover {
                            self.metrics.failover(name);
                            tracing::warn!(evt = "llm_failover", backend = %answered_by.backend, attempts, failover_ms = answered_by.failover_ms);
                        }
                        return Ok(answer_stream(
                            Arc::clone(backend),
                            slot,
                            first,
                            rest,
                            answered_by,
                            self.emergency_cut(),
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
        let error = last_error.unwrap_or_else(|| self.deadline_error(started));
        self.last_resort_answer(&request, error, pinned.is_some(), attempts, started)
            .await
    }

    /// The index of the backend named `name`, which a request is pinned to.
    fn pinned(&self, name: &str) -> Result<usize, LlmError> {
        self.backends
            .iter()
            .position(|b| b.config.name == name)
            .ok_or_else(|| LlmError {
                backend: name.to_owned(),
                url: String::new(),
                kind: ErrorKind::Rejected { status: 400 },
                detail: format!(
                    "the request is pinned to backend {name:?}, which is not configured"
                ),
                advice: "name one of backends[].name (an experiment's variant.backend is checked \
                         against them when the config is loaded)"
                    .into(),
            })
    }

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

/// The backends a round may try, in order: those whose breaker allows requests (`allowed`) and
/// that have not refused this request for good (`given_up`); if every breaker is open, the
/// first of those not given up, so that a request is never refused without one attempt.
fn candidates(allowed: &[bool], given_up: &[bool]) -> Vec<usize> {
    let open: Vec<usize> = (0..given_up.len()).filter(|&i| !given_up[i]).collect();
    let usable: Vec<usize> = open.iter().copied().filter(|&i| allowed[i]).collect();
    if usable.is_empty() {
        open.into_iter().take(1).collect()
    } else {
        usable
    }
}

/// The pause before retry round `round` (1-based): base × 2^(round-1), ± jitter, at least
/// what the backend asked for with Retry-After.
fn backoff(
    retry: &RetryConfig,
    round: u32,
    asked: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let base = retry.base_delay.as_secs_f64() * 2f64.powi(round as i32 - 1);
    let spread = retry.jitter * base;
    let jittered = if spread > 0.0 {
        base + rng.random_range(-spread..=spread)
    } else {
        base
    };
    let pause = Duration::from_secs_f64(jittered.max(0.0));
    asked.map_or(pause, |asked| pause.max(asked))
}

#[cfg(test)]
mod tests;
