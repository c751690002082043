//! Every error path of the chat API: status, body and what is (not) stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::{Alice, config, parse_sse, start_sim};
use serde_json::{Value, json};
use std::time::Duration;

type Setup = (Alice, alice_upstream_sim::SimHandle, tempfile::TempDir);

async fn alice_with(faults: Faults) -> Setup {
    alice_configured(faults, |_| {}).await
}

/// Alice in front of a simulator with these faults, its config adjusted by `tweak`.
async fn alice_configured(faults: Faults, tweak: impl FnOnce(&mut alice_core::Config)) -> Setup {
    let sim = start_sim(faults).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    tweak(&mut settings);
    let alice = Alice::start(settings).await;
    (alice, sim, dir)
}

fn assert_error_body(body: &Value, code: &str) {
    assert_eq!(body["code"], code, "{body}");
    for field in ["error", "detail", "request_id"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {body}"
        );
    }
}

#[tokio::test]
async fn bad_bodies_get_422_naming_the_field() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let cases = [
        (json!({ "message": "" }), "message"),
        (json!({ "message": "   \n " }), "message"),
        (json!({ "message": "x".repeat(8001) }), "message"),
        (json!({ "message": 42 }), "message"),
        (json!({}), "message"),
        (
            json!({ "message": "Hej", "conversation_id": "inte-ett-id" }),
            "conversation_id",
        ),
        (json!({ "message": "Hej", "user": "två ord" }), "user"),
        (json!({ "message": "Hej", "stream": "ja" }), "stream"),
        (json!({ "message": "Hej", "mesage": "typo" }), "mesage"),
    ];
    for (body, field) in cases {
        let (status, reply) = alice.chat(body.clone()).await;
        assert_eq!(status, 422, "{body} -> {reply}");
        assert_error_body(&reply, "invalid_input");
        assert_eq!(reply["field"], field, "{body} -> {reply}");
    }
    for raw in ["{\"message\": ", "not json", ""] {
        let response = alice
            .http
            .post(alice.url("/api/chat"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{raw:?}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["field"], "body", "{raw:?} -> {reply}");
    }
    assert!(
        sim.requests().is_empty(),
        "bad input never reaches the model"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let huge = json!({ "message": "a".repeat(1024 * 1024 + 10) });
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_error_body(&body, "payload_too_large");
    assert!(
        body["detail"].as_str().unwrap().contains("1048576"),
        "{body}"
    );
    alice.stop().await;
}

#[tokio::test]
async fn unknown_conversations_get_404_and_bad_ids_422() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let missing = "01930000-0000-7000-8000-000000000000";
    let (status, body) = alice
        .chat(json!({ "message": "Hej", "conversation_id": missing }))
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, "conversation_not_found");
    let (status, _) = alice.get(&format!("/api/conversations/{missing}")).await;
    assert_eq!(status, 404);
    let (status, _) = alice
        .get(&format!("/api/conversations/{missing}/messages"))
        .await;
    assert_eq!(status, 404);
    let (status, body) = alice.get("/api/conversations/nope").await;
    assert_eq!(status, 422);
    assert_eq!(body["field"], "conversation_id");
    let (status, body) = alice
        .get(&format!("/api/conversations/{missing}/messages?limit=0"))
        .await;
    assert_eq!(status, 422, "{body}");

    // Another user's conversation is not found either.
    let (_, first) = alice
        .chat(json!({ "message": "Hej", "user": "anna" }))
        .await;
    let (status, _) = alice
        .chat(json!({ "message": "Hej", "user": "bertil", "conversation_id": first["conversation_id"] }))
        .await;
    assert_eq!(status, 404);
    alice.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let (status, body) = alice.get("/api/nothing-here").await;
    assert_eq!(status, 404);
    assert_error_body(&body, "route_not_found");
    let (status, body) = alice.get("/api/chat").await;
    assert_eq!(status, 405);
    assert_error_body(&body, "method_not_allowed");
    alice.stop().await;
}

#[tokio::test]
async fn no_backend_listening_gives_503_with_advice() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &url)).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Hej" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_error_body(&body, "backend_unreachable");
    // The client is told what to do; the backend's address and the operator's advice are in
    // the log and in /ready, not in the body.
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("retry after"), "says what to do: {detail}");
    assert!(!body.to_string().contains(&url), "{body}");
    assert!(body.get("backend_url").is_none(), "{body}");

    // /ready stays 200 (the database works, a backend is configured) but says which backend
    // is unavailable and why.
    let mut ready = Value::Null;
    for _ in 0..100 {
        ready = alice.get("/ready").await.1;
        if ready["backends"][0]["status"] != "unknown" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ready["backends"][0]["status"], "unavailable", "{ready}");
    let error = ready["backends"][0]["probe"]["health"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("ollama serve"), "{error}");
    alice.stop().await;
}

#[tokio::test]
async fn a_missing_model_gives_502_with_pull_advice() {
    let (alice, _sim, _dir) = alice_configured(Faults::default(), |c| {
        c.backends[0].model = "mistral:7b".into()
    })
    .await;
    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 502);
    assert_error_body(&body, "model_not_found");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("ask for another model"), "{body}");
    assert!(
        !detail.contains("mistral"),
        "the backend's setup stays in the log: {body}"
    );
    alice.stop().await;
}

#[tokio::test]
async fn upstream_failures_map_to_502_and_503_and_store_nothing() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let (_, first) = alice.chat(json!({ "message": "Hej" })).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let cases = [
        (
            Faults {
                error_rate: 1.0,
                error_status: 500,
                ..Faults::default()
            },
            502,
            "backend_failed",
        ),
        (
            Faults {
                error_rate: 1.0,
                error_status: 503,
                ..Faults::default()
            },
            503,
            "backend_busy",
        ),
        (
            Faults {
                mid_stream_error_after: Some(3),
                ..Faults::default()
            },
            502,
            "backend_stream_broken",
        ),
    ];
    for (faults, status, code) in cases {
        sim.set_faults(faults);
        let (got, body) = alice
            .chat(json!({ "message": "Igen", "conversation_id": conversation }))
            .await;
        assert_eq!(got, status, "{body}");
        assert_error_body(&body, code);
    }
    assert_eq!(
        alice.history(&conversation).await.len(),
        2,
        "failed turns are not stored"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_stream_that_breaks_after_tokens_ends_with_an_error_event() {
    let (alice, _sim, _dir) = alice_with(Faults {
        mid_stream_error_after: Some(3),
        ..Faults::default()
    })
    .await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .header("x-request-id", "trasig-strom-1")
        .json(&json!({ "message": "Berätta en saga", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "tokens were already on their way");
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.iter().filter(|e| e.event == "delta").count(), 3);
    let last = events.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["status"], 502);
    assert_eq!(last.data["code"], "backend_stream_broken");
    assert_eq!(last.data["request_id"], "trasig-strom-1");
    alice.stop().await;
}

#[tokio::test]
async fn a_stream_failing_before_its_first_token_gets_an_http_error() {
    let (alice, _sim, _dir) = alice_with(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Hej", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/json");
    alice.stop().await;
}

#[tokio::test]
async fn a_hanging_backend_hits_the_deadline_with_504() {
    let hang = Faults {
        hang: true,
        ..Faults::default()
    };
    let (alice, sim, _dir) =
        alice_configured(hang, |c| c.deadlines.chat = Duration::from_millis(700)).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .header("x-request-id", "hanger-1")
        .json(&json!({ "message": "Hej" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["x-request-id"], "hanger-1");
    let body: Value = response.json().await.unwrap();
    assert_error_body(&body, "deadline_exceeded");
    assert_eq!(body["path"], "/api/chat");
    assert_eq!(body["timeout_ms"], 700);
    assert_eq!(body["request_id"], "hanger-1");
    // The abandoned upstream request is cancelled, not left running.
    assert!(common::eventually(Duration::from_secs(3), || sim.in_flight() == 0).await);
    alice.stop().await;
}

#[tokio::test]
async fn a_slow_stream_is_cut_at_stream_max_with_an_error_event() {
    let slow = Faults {
        tokens_per_second: 2.0,
        ..Faults::default()
    };
    let (alice, sim, _dir) = alice_configured(slow, |c| {
        c.deadlines.chat = Duration::from_millis(1200);
        c.deadlines.stream_max = Duration::from_millis(1500);
    })
    .await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Hej", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    assert!(events.iter().any(|e| e.event == "delta"));
    let last = events.last().unwrap();
    assert_eq!(last.event, "error", "{events:?}");
    assert_eq!(last.data["status"], 504);
    assert_eq!(last.data["code"], "stream_too_long");
    assert_eq!(last.data["timeout_ms"], 1500);
    let detail = last.data["detail"].as_str().unwrap();
    assert!(detail.contains("deadlines.stream_max"), "{detail}");
    assert!(common::eventually(Duration::from_secs(3), || sim.in_flight() == 0).await);
    alice.stop().await;
}

#[tokio::test]
async fn request_ids_are_honoured_or_made_and_always_returned() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .header("x-request-id", "min-egen-id-42")
        .json(&json!({ "message": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "min-egen-id-42");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "min-egen-id-42");

    let response = alice.http.get(alice.url("/health")).send().await.unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(made.len(), 32, "a fresh id: {made}");

    let response = alice
        .http
        .get(alice.url("/health"))
        .header("x-request-id", "has space")
        .send()
        .await
        .unwrap();
    assert_ne!(
        response.headers()["x-request-id"],
        "has space",
        "unsafe ids are replaced"
    );
    alice.stop().await;
}
