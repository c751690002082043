#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::provider::{BackendHealth, ChatRequest, FinishReason};
use crate::{BreakerState, ErrorKind, Provider};
use alice_core::config::{AdaptiveConcurrencyConfig, BackendConfig, BreakerConfig};
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::mpsc;

/// A backend the answer stream is never asked to call: it only names errors.
struct Unused;

#[async_trait]
impl Provider for Unused {
    fn name(&self) -> &str {
        "stand-in"
    }
    fn model(&self) -> &str {
        "m"
    }
    fn url(&self) -> &str {
        "http://stand-in"
    }
    async fn chat_stream(&self, _: ChatRequest) -> Result<ChatStream, LlmError> {
        unreachable!("the answer stream only reads the stream it is given")
    }
    async fn probe(&self) -> BackendHealth {
        unreachable!("not probed here")
    }
}

const IDLE: Duration = Duration::from_secs(5);

fn backend() -> Arc<Backend> {
    let config = BackendConfig {
        idle_timeout: IDLE,
        max_concurrent: 1,
        ..BackendConfig::default()
    };
    // One failure in the window opens the breaker, so a test sees it counted.
    let breaker = BreakerConfig {
        min_requests: 1,
        failure_rate: 0.5,
        ..BreakerConfig::default()
    };
    Arc::new(Backend::new(
        config,
        Arc::new(Unused),
        &breaker,
        &AdaptiveConcurrencyConfig::default(),
    ))
}

fn by() -> AnsweredBy {
    AnsweredBy {
        backend: "stand-in".into(),
        model: "m".into(),
        failover: true,
        attempts: 2,
        failover_ms: 30,
        queue_wait_ms: 0,
        last_resort: false,
    }
}

fn done() -> Completion {
    Completion {
        finish_reason: FinishReason::Stop,
        prompt_tokens: Some(3),
        completion_tokens: Some(2),
        upstream_total_ms: None,
    }
}

/// The backend's stream after its first event, fed by hand.
fn rest() -> (
    mpsc::UnboundedSender<Result<ChatEvent, LlmError>>,
    ChatStream,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    (tx, stream.boxed())
}

async fn start(
    backend: &Arc<Backend>,
    abort: &CancellationToken,
) -> (
    mpsc::UnboundedSender<Result<ChatEvent, LlmError>>,
    RoutedStream,
) {
    let slot = backend
        .limiter
        .acquire("anna", alice_core::Priority::Interactive, None)
        .await
        .unwrap();
    let (tx, rest) = rest();
    let stream = answer_stream(
        Arc::clone(backend),
        slot,
        ChatEvent::Delta("Hej".into()),
        rest,
        by(),
        EmergencyCut {
            token: abort.clone(),
            retry_after: Duration::from_secs(9),
        },
    );
    (tx, stream)
}

#[tokio::test]
async fn started_comes_first_then_the_peeked_event_then_the_rest() {
    let backend = backend();
    let (tx, stream) = start(&backend, &CancellationToken::new()).await;
    tx.send(Ok(ChatEvent::Delta(" då".into()))).unwrap();
    tx.send(Ok(ChatEvent::Done(done()))).unwrap();
    let events: Vec<RoutedEvent> = stream.map(Result::unwrap).collect().await;
    assert_eq!(
        events,
        [
            RoutedEvent::Started(by()),
            RoutedEvent::Delta("Hej".into()),
            RoutedEvent::Delta(" då".into()),
            RoutedEvent::Done(done()),
        ]
    );
}

#[tokio::test]
async fn the_slot_is_held_until_done_and_success_keeps_the_breaker_closed() {
    let backend = backend();
    let (tx, mut stream) = start(&backend, &CancellationToken::new()).await;
    assert!(matches!(
        stream.next().await,
        Some(Ok(RoutedEvent::Started(_)))
    ));
    assert!(matches!(
        stream.next().await,
        Some(Ok(RoutedEvent::Delta(_)))
    ));
    assert_eq!(backend.limiter.in_flight(), 1, "held while the answer runs");
    tx.send(Ok(ChatEvent::Done(done()))).unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(RoutedEvent::Done(_)))
    ));
    assert_eq!(backend.limiter.in_flight(), 0, "given back at Done");
    assert!(stream.next().await.is_none(), "nothing after Done");
    assert_eq!(backend.breaker.state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_backend_error_mid_answer_ends_the_stream_and_counts_against_it() {
    let backend = backend();
    let (tx, stream) = start(&backend, &CancellationToken::new()).await;
    tx.send(Err(backend.ended_early())).unwrap();
    let events: Vec<_> = stream.collect().await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[2].as_ref().unwrap_err().kind,
        ErrorKind::StreamBroken
    );
    assert_eq!(backend.limiter.in_flight(), 0);
    assert_eq!(backend.breaker.state(), BreakerState::Open);
}

#[tokio::test]
async fn a_backend_stream_that_just_stops_is_broken() {
    let backend = backend();
    let (tx, stream) = start(&backend, &CancellationToken::new()).await;
    drop(tx);
    let events: Vec<_> = stream.collect().await;
    let error = events.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::StreamBroken);
    assert!(error.detail.contains("ended before"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn silence_past_the_idle_timeout_ends_the_answer() {
    let backend = backend();
    let (_tx, mut stream) = start(&backend, &CancellationToken::new()).await;
    stream.next().await;
    stream.next().await;
    let before = tokio::time::Instant::now();
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind, ErrorKind::TimedOut);
    assert_eq!(before.elapsed(), IDLE);
    assert_eq!(backend.limiter.in_flight(), 0);
}

#[tokio::test]
async fn an_emergency_cut_frees_the_slot_without_blaming_the_backend() {
    let backend = backend();
    let abort = CancellationToken::new();
    let (_tx, mut stream) = start(&backend, &abort).await;
    stream.next().await;
    stream.next().await;
    abort.cancel();
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::Stopped {
            retry_after: Duration::from_secs(9)
        },
        "the client is told the Retry-After the router was given"
    );
    assert_eq!(backend.limiter.in_flight(), 0);
    assert_eq!(backend.breaker.state(), BreakerState::Closed);
    assert!(stream.next().await.is_none(), "nothing after the cut");
}
