#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::provider::{BackendHealth, ChatEvent, ChatStream, Completion, FinishReason};
use crate::router::RoutedEvent;
use alice_core::config::RetryConfig;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const FILE: &str = "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

fn config() -> LastResortConfig {
    LastResortConfig {
        model_path: Some(PathBuf::from(FILE)),
        ..LastResortConfig::default()
    }
}

fn embedded_on(path: &str) -> BackendConfig {
    BackendConfig::embedded(Some(PathBuf::from(path)))
}

fn error(kind: ErrorKind) -> LlmError {
    LlmError {
        backend: "ollama".into(),
        url: "http://127.0.0.1:9".into(),
        kind,
        detail: "test".into(),
        advice: "test".into(),
    }
}

#[test]
fn it_is_there_when_on_built_and_its_file_exists() {
    let remote = [BackendConfig::default(), embedded_on("/models/other.gguf")];
    assert_eq!(absence(&config(), &remote, true, |_| true), None);
}

#[test]
fn each_reason_for_its_absence_is_named() {
    let off = LastResortConfig {
        enabled: false,
        ..config()
    };
    let remote = [BackendConfig::default()];
    let reason = |config: &LastResortConfig, backends: &[BackendConfig], built, exists: bool| {
        absence(config, backends, built, |_| exists).unwrap_or_default()
    };
    assert!(reason(&off, &remote, true, true).contains("last_resort.enabled = false"));
    assert!(reason(&config(), &remote, false, true).contains("feature `embedded`"));
    let missing = reason(&config(), &remote, true, false);
    assert!(
        missing.contains(FILE) && missing.contains("alice model fetch"),
        "{missing}"
    );
}

#[test]
fn a_configured_embedded_backend_on_the_same_file_is_already_there() {
    let backends = [BackendConfig::default(), embedded_on(FILE)];
    let reason = absence(&config(), &backends, true, |_| true).unwrap_or_default();
    assert!(reason.contains("already is the embedded model"), "{reason}");
}

#[test]
fn it_is_tried_when_nothing_could_answer_and_the_request_may_go_anywhere() {
    for kind in [
        ErrorKind::Unreachable,
        ErrorKind::Busy {
            retry_after: None,
            queue: None,
        },
        ErrorKind::Failed { status: 500 },
        ErrorKind::TimedOut,
        ErrorKind::StreamBroken,
        ErrorKind::Protocol,
        ErrorKind::ModelNotFound,
    ] {
        assert!(worth_trying(&error(kind.clone()), false), "{kind:?}");
        assert!(
            !worth_trying(&error(kind.clone()), true),
            "pinned: {kind:?}"
        );
    }
    assert!(!worth_trying(
        &error(ErrorKind::Rejected { status: 400 }),
        false
    ));
    assert!(!worth_trying(
        &error(ErrorKind::Stopped {
            retry_after: std::time::Duration::from_secs(15)
        }),
        false
    ));
}

/// A backend that answers "ok", or fails every time as unreachable; counts its calls.
struct StandIn {
    name: &'static str,
    answers: bool,
    calls: AtomicUsize,
}

impl StandIn {
    fn new(name: &'static str, answers: bool) -> Arc<Self> {
        Arc::new(Self {
            name,
            answers,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl Provider for StandIn {
    fn name(&self) -> &str {
        self.name
    }
    fn model(&self) -> &str {
        "m"
    }
    fn url(&self) -> &str {
        "test:"
    }
    async fn chat_stream(&self, _request: ChatRequest) -> Result<ChatStream, LlmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.answers {
            return Err(error(ErrorKind::Unreachable));
        }
        let events = [
            ChatEvent::Delta("ok".into()),
            ChatEvent::Done(Completion {
                finish_reason: FinishReason::Stop,
                prompt_tokens: None,
                completion_tokens: None,
                upstream_total_ms: None,
            }),
        ];
        Ok(futures_util::stream::iter(events.map(Ok)).boxed())
    }
    async fn probe(&self) -> BackendHealth {
        BackendHealth {
            reachable: self.answers,
            model_available: self.answers,
            context_length: None,
            error: None,
        }
    }
}

/// A router over one configured backend (answering or not) with a stand-in last resort.
fn router(primary: Arc<StandIn>, last: Arc<StandIn>) -> LlmRouter {
    let retry = RetryConfig {
        max_retries: 1,
        base_delay: std::time::Duration::from_millis(1),
        jitter: 0.0,
    };
    let primary_config = BackendConfig {
        name: "ollama".into(),
        ..BackendConfig::default()
    };
    LlmRouter::with_providers(
        vec![(primary_config, primary)],
        retry,
        BreakerConfig::default(),
        AdaptiveConcurrencyConfig::default(),
    )
    .with_last_resort_provider(embedded_on(FILE), last)
}

fn request(backend: Option<&str>) -> ChatRequest {
    ChatRequest {
        messages: vec![alice_core::ChatMessage::new(alice_core::Role::User, "Hej")],
        max_tokens: 8,
        temperature: 0.0,
        num_ctx: 512,
        stop: Vec::new(),
        deadline: None,
        stream_deadline: None,
        model: None,
        client: None,
        priority: alice_core::Priority::Interactive,
        backend: backend.map(str::to_owned),
        tools: Vec::new(),
        tool_choice: None,
    }
}

#[tokio::test]
async fn it_answers_only_after_the_configured_backends_failed_every_round() {
    let (primary, last) = (
        StandIn::new("ollama", false),
        StandIn::new("embedded", true),
    );
    let router = router(primary.clone(), last.clone());
    let mut stream = router.chat_stream(request(None)).await.unwrap();
    let Some(Ok(RoutedEvent::Started(by))) = stream.next().await else {
        panic!("the answer starts by naming who answers");
    };
    assert!(by.last_resort && by.failover);
    assert_eq!(
        by.label(),
        "embedded:SmolLM2-135M-Instruct.Q4_1 (last resort)"
    );
    assert_eq!(
        by.attempts, 3,
        "two rounds on the primary, then the last resort"
    );
    assert_eq!(primary.calls.load(Ordering::SeqCst), 2);
    assert_eq!(last.calls.load(Ordering::SeqCst), 1);
    assert_eq!(router.last_resort_status().answers, 1);
}

#[tokio::test]
async fn it_is_not_asked_while_a_configured_backend_answers() {
    let (primary, last) = (StandIn::new("ollama", true), StandIn::new("embedded", true));
    let router = router(primary.clone(), last.clone());
    let mut stream = router.chat_stream(request(None)).await.unwrap();
    let Some(Ok(RoutedEvent::Started(by))) = stream.next().await else {
        panic!("the answer starts by naming who answers");
    };
    assert!(!by.last_resort);
    assert_eq!(by.label(), "ollama:gpt-oss:20b");
    assert_eq!(last.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_request_pinned_to_a_backend_gets_its_error() {
    let (primary, last) = (
        StandIn::new("ollama", false),
        StandIn::new("embedded", true),
    );
    let router = router(primary, last.clone());
    let Err(error) = router.chat_stream(request(Some("ollama"))).await else {
        panic!("a pinned request does not reach the last resort");
    };
    assert_eq!(error.kind, ErrorKind::Unreachable);
    assert_eq!(last.calls.load(Ordering::SeqCst), 0);
    assert_eq!(router.last_resort_status().answers, 0);
}
