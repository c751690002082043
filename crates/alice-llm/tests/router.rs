//! The router against the upstream simulator: retries, timeouts, breaker and failover, with
//! the attempts counted where they land (the simulator records every request).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::{BreakerConfig, RetryConfig};
use alice_core::{BackendConfig, ChatMessage, Role};
use alice_llm::{
    AnsweredBy, BreakerState, ChatRequest, Completion, ErrorKind, LlmError, LlmRouter, RoutedEvent,
};
use alice_upstream_sim::{Faults, SimHandle};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

async fn sim(faults: Faults) -> SimHandle {
    alice_upstream_sim::spawn_local(faults).await.unwrap()
}

fn backend(name: &str, url: &str) -> BackendConfig {
    BackendConfig {
        name: name.to_owned(),
        url: url.to_owned(),
        first_token_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        probe_interval: Duration::from_millis(50),
        ..BackendConfig::default()
    }
}

/// Short pauses so the retry loop's behaviour, not its seconds, is what the tests see.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        base_delay: Duration::from_millis(20),
        jitter: 0.0,
    }
}

fn breaker() -> BreakerConfig {
    BreakerConfig {
        open_for: Duration::from_millis(300),
        ..BreakerConfig::default()
    }
}

fn router(backends: &[BackendConfig]) -> LlmRouter {
    LlmRouter::new(backends, retry(), breaker(), Default::default()).unwrap()
}

fn request(deadline: Duration) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::new(Role::User, "Hur långt är det till månen?")],
        max_tokens: 64,
        temperature: 0.3,
        num_ctx: 4096,
        stop: Vec::new(),
        deadline: Some(Instant::now() + deadline),
        stream_deadline: None,
        model: None,
        client: None,
        priority: alice_core::Priority::Interactive,
        backend: None,
        tools: Vec::new(),
        tool_choice: None,
    }
}

/// A finished answer: who answered (the router says so before any text) and how it ended.
#[derive(Debug)]
struct Answered {
    by: AnsweredBy,
    #[allow(dead_code)]
    completion: Completion,
}

/// Deltas seen and how the answer ended.
async fn ask(router: &LlmRouter, request: ChatRequest) -> (usize, Result<Answered, LlmError>) {
    let mut stream = match router.chat_stream(request).await {
        Ok(stream) => stream,
        Err(error) => return (0, Err(error)),
    };
    let mut deltas = 0;
    let mut by = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(RoutedEvent::Started(started)) => {
                assert_eq!(deltas, 0, "Started comes before any text");
                by = Some(started);
            }
            Ok(RoutedEvent::Delta(_)) => deltas += 1,
            Ok(RoutedEvent::ToolCalls(calls)) => panic!("no tools were offered: {calls:?}"),
            Ok(RoutedEvent::Done(completion)) => {
                let by = by.expect("the router says who answers");
                return (deltas, Ok(Answered { by, completion }));
            }
            Err(error) => return (deltas, Err(error)),
        }
    }
    panic!("stream ended without Done or an error");
}

#[tokio::test]
async fn a_failing_backend_is_tried_once_plus_three_retries() {
    let upstream = sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let started = Instant::now();
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::Failed { status: 500 });
    assert_eq!(
        upstream.requests().len(),
        4,
        "one attempt and three retries"
    );
    // Pauses of 20, 40 and 80 ms between the rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn thirty_percent_500s_are_absorbed_by_retries() {
    let upstream = sim(Faults {
        error_rate: 0.3,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let mut answered = 0;
    let mut attempts = 0;
    for _ in 0..20 {
        let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
        let completion = result.unwrap();
        answered += 1;
        attempts += completion.by.attempts as usize;
    }
    assert_eq!(answered, 20);
    let seen = upstream.requests();
    let failed = seen.iter().filter(|r| r.outcome == "error:500").count();
    assert!(failed > 0, "the simulator did inject failures");
    assert_eq!(
        seen.len(),
        attempts,
        "every attempt reached the upstream once"
    );
    assert_eq!(
        seen.len(),
        20 + failed,
        "each failure cost exactly one retry"
    );
}

#[tokio::test]
async fn busy_503s_are_retried_and_then_reported_as_busy() {
    let upstream = sim(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    assert!(matches!(result.unwrap_err().kind, ErrorKind::Busy { .. }));
    assert_eq!(upstream.requests().len(), 4);
}

#[tokio::test]
async fn a_hanging_backend_costs_each_attempt_its_first_token_timeout_and_no_more_than_the_deadline()
 {
    let upstream = sim(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let started = Instant::now();
    let (_, result) = ask(&router, request(Duration::from_millis(800))).await;
    let elapsed = started.elapsed();
    assert_eq!(result.unwrap_err().kind, ErrorKind::TimedOut);
    assert!(
        elapsed < Duration::from_millis(950),
        "the deadline holds: {elapsed:?}"
    );
    // 300 ms per attempt + 20 ms, 300 ms + 40 ms, then the deadline cuts the third.
    assert_eq!(upstream.requests().len(), 3, "{:?}", upstream.requests());
}

#[tokio::test]
async fn a_slow_first_token_times_out_and_is_retried() {
    let upstream = sim(Faults {
        ttft_ms: 1000,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let started = Instant::now();
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::TimedOut);
    assert!(error.detail.contains("within 300 ms"), "{error}");
    assert_eq!(upstream.requests().len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(4 * 300));
    // Abandoned attempts do not keep running upstream.
    let deadline = Instant::now() + Duration::from_secs(2);
    while upstream.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(upstream.in_flight(), 0);
}

#[tokio::test]
async fn an_error_after_the_first_token_is_never_retried() {
    let upstream = sim(Faults {
        mid_stream_error_after: Some(3),
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let (deltas, result) = ask(&router, request(Duration::from_secs(10))).await;
    assert_eq!(deltas, 3);
    assert_eq!(result.unwrap_err().kind, ErrorKind::StreamBroken);
    assert_eq!(
        upstream.requests().len(),
        1,
        "no retry after text reached the caller"
    );
}

#[tokio::test]
async fn a_4xx_is_not_retried_on_that_backend_but_fails_over() {
    let primary = sim(Faults::default()).await;
    let fallback = sim(Faults::default()).await;
    let mut missing = backend("primary", &primary.base_url());
    missing.model = "saknas:1b".into();
    let router = router(&[missing, backend("fallback", &fallback.base_url())]);
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    let by = result.unwrap().by;
    assert_eq!(
        (by.backend.as_str(), by.failover, by.attempts),
        ("fallback", true, 2)
    );
    assert_eq!(primary.requests().len(), 1);
}

#[tokio::test]
async fn a_dead_primary_fails_over_and_once_open_is_skipped_at_once() {
    let primary = sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let fallback = sim(Faults::default()).await;
    let router = router(&[
        backend("primary", &primary.base_url()),
        backend("fallback", &fallback.base_url()),
    ]);
    for i in 0..10 {
        let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
        let by = result.unwrap().by;
        assert_eq!(by.backend, "fallback", "request {i}");
        assert!(by.failover);
        assert_eq!(by.model, "gpt-oss:20b");
    }
    // min_requests is 5: after five failures the breaker opens and the primary is skipped.
    assert_eq!(primary.requests().len(), 5);
    assert_eq!(router.status()[0].breaker, BreakerState::Open);
    assert_eq!(fallback.requests().len(), 10);
}

#[tokio::test]
async fn a_pinned_request_is_answered_by_its_backend_alone_and_never_fails_over() {
    let primary = sim(Faults::default()).await;
    let failing = sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let router = router(&[
        backend("primary", &primary.base_url()),
        backend("secondary", &failing.base_url()),
    ]);
    // Pinned to the healthy primary: an answer, and no failover mark.
    let mut pinned = request(Duration::from_secs(10));
    pinned.backend = Some("primary".into());
    let by = ask(&router, pinned).await.1.unwrap().by;
    assert_eq!(by.backend, "primary");
    assert!(!by.failover);

    // Pinned to the failing secondary: its own attempt and three retries, then the error;
    // the healthy primary is never asked.
    let asked_before = primary.requests().len();
    let mut pinned = request(Duration::from_secs(10));
    pinned.backend = Some("secondary".into());
    let (_, result) = ask(&router, pinned).await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::Failed { status: 500 });
    assert_eq!(failing.requests().len(), 4, "one attempt and three retries");
    assert_eq!(primary.requests().len(), asked_before, "no failover");

    // A healthy secondary answering a pinned request is not a failover either.
    let healthy = sim(Faults::default()).await;
    let router = self::router(&[
        backend("primary", &primary.base_url()),
        backend("secondary", &healthy.base_url()),
    ]);
    let mut pinned = request(Duration::from_secs(10));
    pinned.backend = Some("secondary".into());
    let by = ask(&router, pinned).await.1.unwrap().by;
    assert_eq!((by.backend.as_str(), by.failover), ("secondary", false));

    let mut unknown = request(Duration::from_secs(10));
    unknown.backend = Some("nowhere".into());
    let error = ask(&router, unknown).await.1.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Rejected { status: 400 });
    assert!(error.detail.contains("nowhere"), "{error}");
}

#[tokio::test]
async fn with_every_breaker_open_a_request_makes_one_attempt_and_no_retries() {
    let upstream = sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    // First request: 4 attempts; the second's first attempt is the fifth failure: open.
    ask(&router, request(Duration::from_secs(10)))
        .await
        .1
        .unwrap_err();
    ask(&router, request(Duration::from_secs(10)))
        .await
        .1
        .unwrap_err();
    assert_eq!(upstream.requests().len(), 5);
    assert_eq!(router.status()[0].breaker, BreakerState::Open);
    let started = Instant::now();
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    assert_eq!(result.unwrap_err().kind, ErrorKind::Failed { status: 500 });
    assert_eq!(
        upstream.requests().len(),
        6,
        "one attempt, so requests do not fail instantly forever"
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "no backoff rounds"
    );
}

#[tokio::test]
async fn an_open_breaker_closes_again_after_healthy_probes() {
    let primary = sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let fallback = sim(Faults::default()).await;
    let router = router(&[
        backend("primary", &primary.base_url()),
        backend("fallback", &fallback.base_url()),
    ]);
    for _ in 0..5 {
        ask(&router, request(Duration::from_secs(10)))
            .await
            .1
            .unwrap();
    }
    assert_eq!(router.status()[0].breaker, BreakerState::Open);
    primary.set_faults(Faults::default());
    let stop = CancellationToken::new();
    let probes = router.spawn_background_tasks(stop.clone());
    let deadline = Instant::now() + Duration::from_secs(5);
    while router.status()[0].breaker != BreakerState::Closed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        router.status()[0].breaker,
        BreakerState::Closed,
        "probes closed it (open 300 ms, 2 healthy probes)"
    );
    let (_, result) = ask(&router, request(Duration::from_secs(10))).await;
    let by = result.unwrap().by;
    assert_eq!((by.backend.as_str(), by.failover), ("primary", false));
    stop.cancel();
    for probe in probes {
        probe.await.unwrap();
    }
}

#[tokio::test]
async fn a_saturated_primary_sends_the_overflow_to_the_fallback() {
    let primary = sim(Faults {
        ttft_ms: 300,
        ..Faults::default()
    })
    .await;
    let fallback = sim(Faults::default()).await;
    let mut small = backend("primary", &primary.base_url());
    small.max_concurrent = 1;
    small.queue_depth = 0;
    small.first_token_timeout = Duration::from_secs(2);
    let router = std::sync::Arc::new(router(&[small, backend("fallback", &fallback.base_url())]));
    let first = {
        let router = router.clone();
        tokio::spawn(async move { ask(&router, request(Duration::from_secs(5))).await })
    };
    // Let the first request take the primary's only slot.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(router.status()[0].in_flight, 1);
    let (_, second) = ask(&router, request(Duration::from_secs(5))).await;
    let by = second.unwrap().by;
    assert_eq!(by.backend, "fallback");
    assert!(
        by.failover_ms < 50,
        "a full queue is skipped without waiting: {} ms",
        by.failover_ms
    );
    let (_, first) = first.await.unwrap();
    assert_eq!(first.unwrap().by.backend, "primary");
    assert_eq!(
        router.status()[0].breaker,
        BreakerState::Closed,
        "saturation is not a failure"
    );
}

#[tokio::test]
async fn every_backend_saturated_is_refused_at_once_as_busy() {
    let upstream = sim(Faults {
        ttft_ms: 400,
        ..Faults::default()
    })
    .await;
    let mut small = backend("ollama", &upstream.base_url());
    small.max_concurrent = 1;
    small.queue_depth = 0;
    small.first_token_timeout = Duration::from_secs(2);
    // The default retry pauses (1 s, 2 s, 4 s): saturation must not wait for them.
    let router = std::sync::Arc::new(
        LlmRouter::new(
            &[small],
            RetryConfig::default(),
            breaker(),
            Default::default(),
        )
        .unwrap(),
    );
    let first = {
        let router = router.clone();
        tokio::spawn(async move { ask(&router, request(Duration::from_secs(5))).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let (_, second) = ask(&router, request(Duration::from_secs(5))).await;
    assert!(matches!(
        second.unwrap_err().kind,
        ErrorKind::Busy {
            retry_after: Some(_),
            queue: Some(_)
        }
    ));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "refused at once, not after a wait"
    );
    assert!(first.await.unwrap().1.is_ok());
}

#[tokio::test]
async fn a_caller_that_goes_away_frees_the_slot_and_is_not_a_failure() {
    let upstream = sim(Faults {
        tokens_per_second: 20.0,
        ..Faults::default()
    })
    .await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    for _ in 0..8 {
        let mut stream = router
            .chat_stream(request(Duration::from_secs(10)))
            .await
            .unwrap();
        let started = stream.next().await.unwrap().unwrap();
        assert!(matches!(started, RoutedEvent::Started(_)));
        let first = stream.next().await.unwrap().unwrap();
        assert!(matches!(first, RoutedEvent::Delta(_)));
        assert_eq!(router.status()[0].in_flight, 1);
        drop(stream);
        assert_eq!(router.status()[0].in_flight, 0, "the slot is back at once");
    }
    assert_eq!(router.status()[0].breaker, BreakerState::Closed);
}

#[tokio::test]
async fn after_an_emergency_stop_no_generation_starts_until_the_router_resumes() {
    let upstream = sim(Faults::default()).await;
    let router = router(&[backend("ollama", &upstream.base_url())]);
    let stop = router.emergency_stop(Duration::ZERO).await;
    assert_eq!((stop.drained, stop.cut), (0, 0));
    assert!(router.halted());
    let asked_before = upstream.requests().len();

    let (_, refused) = ask(&router, request(Duration::from_secs(5))).await;
    let error = refused.unwrap_err();
    assert!(
        matches!(error.kind, ErrorKind::Stopped { .. }),
        "{error}: a request admitted before the emergency does not load the model again"
    );
    assert_eq!(
        upstream.requests().len(),
        asked_before,
        "the backend was not asked to generate"
    );

    router.resume();
    assert!(!router.halted());
    let (deltas, answered) = ask(&router, request(Duration::from_secs(5))).await;
    assert!(answered.is_ok() && deltas > 0, "answers again after resume");
}
