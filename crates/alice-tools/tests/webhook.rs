//! The webhook tool against a test server on 127.0.0.1: what it sends and says, a timeout, an
//! answer that is not what it should be, and a failing server that opens the tool's breaker
//! (after which the server is not called at all).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::{BreakerConfig, WebhookConfig};
use alice_tools::webhook::WebhookTool;
use alice_tools::{Tool, ToolCall, ToolError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test server does with each call; it keeps every body it got.
#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    Fail,
    Slow,
    NotJson,
}

#[derive(Clone)]
struct Server {
    behaviour: Behaviour,
    received: Arc<Mutex<Vec<Value>>>,
}

async fn handle(State(server): State<Server>, Json(body): Json<Value>) -> (StatusCode, String) {
    server.received.lock().unwrap().push(body);
    match server.behaviour {
        Behaviour::Answer => (
            StatusCode::OK,
            json!({"text": "Sol och 20 grader i Göteborg.", "temp_c": 20}).to_string(),
        ),
        Behaviour::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "trasig".into()),
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            (StatusCode::OK, json!({"text": "för sent"}).to_string())
        }
        Behaviour::NotJson => (StatusCode::OK, "<html>hej</html>".into()),
    }
}

/// A test server and a webhook tool pointing at it.
async fn webhook(behaviour: Behaviour) -> (WebhookTool, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/hook", post(handle))
        .with_state(Server {
            behaviour,
            received: Arc::clone(&received),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = WebhookConfig {
        name: "vader".into(),
        url: format!("http://{addr}/hook"),
        integration: Some("weather".into()),
        timeout: Duration::from_millis(100),
        ..WebhookConfig::default()
    };
    let breaker = BreakerConfig {
        min_requests: 3,
        failure_rate: 0.5,
        open_for: Duration::from_secs(60),
        ..BreakerConfig::default()
    };
    (
        WebhookTool::new(&config, &breaker, reqwest::Client::new()),
        received,
    )
}

fn call() -> ToolCall<'static> {
    ToolCall {
        arguments: json!({"place": "Göteborg"}),
        user: Some("anna"),
        message: "Hur blir vädret i Göteborg?",
        language: "sv",
    }
}

#[tokio::test]
async fn it_posts_the_call_and_says_the_answers_text() {
    let (tool, received) = webhook(Behaviour::Answer).await;
    let answer = tool.call(call()).await.unwrap();
    assert_eq!(answer.text, "Sol och 20 grader i Göteborg.");
    assert_eq!(answer.data["temp_c"], 20);
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        json!({
            "tool": "vader",
            "arguments": {"place": "Göteborg"},
            "user": "anna",
            "message": "Hur blir vädret i Göteborg?",
            "language": "sv",
        })
    );
    assert_eq!(tool.class(), alice_tools::ToolClass::WebSearch);
}

#[tokio::test]
async fn a_slow_webhook_times_out_and_a_wrong_answer_is_said_to_be_wrong() {
    let (slow, _) = webhook(Behaviour::Slow).await;
    let error = slow.call(call()).await.unwrap_err();
    assert!(matches!(error, ToolError::Timeout { .. }), "{error}");
    let (wrong, _) = webhook(Behaviour::NotJson).await;
    let error = wrong.call(call()).await.unwrap_err();
    assert!(matches!(error, ToolError::BadAnswer { .. }), "{error}");
    assert!(error.to_string().contains("vader"), "{error}");
}

#[tokio::test]
async fn a_failing_webhook_opens_its_breaker_and_is_then_not_called() {
    let (tool, received) = webhook(Behaviour::Fail).await;
    for _ in 0..3 {
        let error = tool.call(call()).await.unwrap_err();
        assert!(
            matches!(error, ToolError::Status { status: 500, .. }),
            "{error}"
        );
    }
    assert_eq!(tool.breaker_state(), alice_llm::BreakerState::Open);
    for _ in 0..5 {
        let error = tool.call(call()).await.unwrap_err();
        assert!(matches!(error, ToolError::Open { .. }), "{error}");
    }
    assert_eq!(
        received.lock().unwrap().len(),
        3,
        "open: the server is left alone"
    );
}
