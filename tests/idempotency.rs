//! Idempotent retries over real HTTP, with the upstream simulator: the `Idempotency-Key` header
//! on `POST /api/chat` and `POST /v1/chat/completions` (see `http::idempotency`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use alice_upstream_sim::Faults;
use common::{Alice, client_with_key, config, create_key, start_sim};
use reqwest::Response;
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";

/// POSTs `body` (as these exact bytes) to `path` with an `Idempotency-Key`.
async fn send(
    client: &reqwest::Client,
    alice: &Alice,
    path: &str,
    key: &str,
    body: &str,
) -> Response {
    client
        .post(alice.url(path))
        .header(KEY, key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Status, whether the answer is a replay, and the body's bytes.
async fn read(response: Response) -> (u16, bool, String) {
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get(REPLAYED)
        .map(|value| value.to_str().unwrap() == "true")
        .unwrap_or(false);
    (status, replayed, response.text().await.unwrap())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// How many conversations `user` has, as the admin API lists them.
async fn conversations_of(alice: &Alice, user: &str) -> usize {
    let (status, body) = alice
        .get(&format!("/api/db/users/{user}/conversations"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["conversations"].as_array().unwrap().len()
}

async fn idempotency_count(alice: &Alice, outcome: &str) -> f64 {
    alice
        .scrape()
        .await
        .value("alice_idempotency_total", &[("outcome", outcome)])
}

#[tokio::test]
async fn a_retry_gets_the_stored_answer_and_stores_no_second_turn() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let alice = Alice::start(settings).await;

    let body = r#"{"message": "Vad är huvudstaden i Norge?"}"#;
    let (status, replayed, first) = read(send(&anna, &alice, "/api/chat", "k-1", body).await).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    // The same request, written with other spacing and key order, is the same request.
    let respaced = "{\n  \"message\" :\"Vad är huvudstaden i Norge?\"\n}";
    let response = send(&anna, &alice, "/api/chat", "k-1", respaced).await;
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let (status, replayed, second) = read(response).await;
    assert_eq!(status, 200, "{second}");
    assert!(replayed, "the second answer says it is a replay");
    assert_eq!(second, first, "byte for byte the first answer");

    assert_eq!(sim.requests().len(), 1, "the model answered once");
    let conversation = json_of(&first)["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = alice.history(&conversation).await;
    assert_eq!(history.len(), 2, "one turn: {history:?}");
    assert_eq!(conversations_of(&alice, "anna").await, 1);
    assert_eq!(idempotency_count(&alice, "stored").await, 1.0);
    assert_eq!(idempotency_count(&alice, "replayed").await, 1.0);

    // Without the header, the same body is a new request, as always.
    let (status, reply) = alice
        .post(
            "/api/chat",
            json!({ "message": "Vad är huvudstaden i Norge?", "user": "anna" }),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(sim.requests().len(), 2);
    assert_eq!(conversations_of(&alice, "anna").await, 2);
    alice.stop().await;
}

#[tokio::test]
async fn a_key_used_for_another_request_is_refused_with_422() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let body = r#"{"message": "Hej"}"#;
    let (status, _, first) = read(send(&alice.http, &alice, "/api/chat", "k-2", body).await).await;
    assert_eq!(status, 200, "{first}");

    let other = r#"{"message": "Hej då"}"#;
    let (status, replayed, refusal) =
        read(send(&alice.http, &alice, "/api/chat", "k-2", other).await).await;
    assert_eq!(status, 422, "{refusal}");
    assert!(!replayed);
    let refusal = json_of(&refusal);
    assert_eq!(refusal["code"], "idempotency_key_reused");
    assert!(
        refusal["error"].as_str().unwrap().contains("ny nyckel"),
        "{refusal}"
    );
    assert!(
        refusal["detail"].as_str().unwrap().contains("new key"),
        "{refusal}"
    );

    // The other route under the same key is another request too, refused in OpenAI's shape.
    let completion = r#"{"model": "alice", "messages": [{"role": "user", "content": "Hej"}]}"#;
    let (status, _, refusal) = read(
        send(
            &alice.http,
            &alice,
            "/v1/chat/completions",
            "k-2",
            completion,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{refusal}");
    assert_eq!(json_of(&refusal)["error"]["code"], "idempotency_key_reused");

    assert_eq!(sim.requests().len(), 1, "neither refusal reached the model");
    assert_eq!(idempotency_count(&alice, "mismatch").await, 2.0);
    // The key still replays its own request.
    let (status, replayed, again) =
        read(send(&alice.http, &alice, "/api/chat", "k-2", body).await).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, first);
    alice.stop().await;
}

#[tokio::test]
async fn two_users_with_the_same_key_are_independent() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let bertil = client_with_key(&create_key(&settings, "bertil", Role::User).await);
    let alice = Alice::start(settings).await;

    let (status, replayed, annas) = read(
        send(
            &anna,
            &alice,
            "/api/chat",
            "shared",
            r#"{"message": "Hej från Anna"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((status, replayed), (200, false), "{annas}");
    // Bertil's key of the same name is his own: a different body is no conflict...
    let (status, replayed, bertils) = read(
        send(
            &bertil,
            &alice,
            "/api/chat",
            "shared",
            r#"{"message": "Hej från Bertil"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((status, replayed), (200, false), "{bertils}");
    // ...and the same body as Anna's is no replay of her answer.
    let (status, replayed, copy) = read(
        send(
            &bertil,
            &alice,
            "/api/chat",
            "same-body",
            r#"{"message": "Hej från Anna"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((status, replayed), (200, false), "{copy}");
    let (status, replayed, _) = read(
        send(
            &anna,
            &alice,
            "/api/chat",
            "same-body",
            r#"{"message": "Hej från Anna"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((status, replayed), (200, false));
    assert_ne!(
        json_of(&bertils)["conversation_id"],
        json_of(&annas)["conversation_id"]
    );
    assert_eq!(conversations_of(&alice, "anna").await, 2);
    assert_eq!(conversations_of(&alice, "bertil").await, 2);
    assert_eq!(sim.requests().len(), 4);
    alice.stop().await;
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_gets_409_with_retry_after() {
    let sim = start_sim(Faults {
        latency_ms: 1500,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let body = r#"{"message": "Berätta om Vasaskeppet"}"#;
    let first = {
        let (client, url) = (alice.http.clone(), alice.url("/api/chat"));
        tokio::spawn(async move {
            client
                .post(url)
                .header(KEY, "slow")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        })
    };
    assert!(
        common::eventually(Duration::from_secs(5), || sim.in_flight() == 1).await,
        "the first request reached the model"
    );
    let response = send(&alice.http, &alice, "/api/chat", "slow", body).await;
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["retry-after"], "1");
    let refusal = json_of(&response.text().await.unwrap());
    assert_eq!(refusal["code"], "idempotent_request_running");
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .contains("besvaras fortfarande"),
        "{refusal}"
    );

    let (status, replayed, answer) = read(first.await.unwrap()).await;
    assert_eq!((status, replayed), (200, false), "{answer}");
    let (status, replayed, again) =
        read(send(&alice.http, &alice, "/api/chat", "slow", body).await).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, answer);
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(idempotency_count(&alice, "conflict").await, 1.0);
    alice.stop().await;
}

#[tokio::test]
async fn a_streamed_answer_is_replayed_byte_for_byte() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    for (path, body) in [
        (
            "/api/chat",
            r#"{"message": "Vad heter Sveriges kung?", "stream": true}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model": "alice", "stream": true, "messages": [{"role": "user", "content": "Vad heter Sveriges kung?"}]}"#,
        ),
    ] {
        let response = send(&alice.http, &alice, path, path, body).await;
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let (status, replayed, first) = read(response).await;
        assert_eq!((status, replayed), (200, false), "{first}");
        assert!(first.contains("data:"), "{first}");
        // Right after the stream ended, the answer is kept: a replay, not a 409.
        let response = send(&alice.http, &alice, path, path, body).await;
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let (status, replayed, second) = read(response).await;
        assert_eq!((status, replayed), (200, true), "{path}");
        assert_eq!(second, first, "{path}");
    }
    assert_eq!(sim.requests().len(), 2, "one model call per route");
    let (status, conversations) = alice.get("/api/db/users/admin/conversations").await;
    assert_eq!(status, 200);
    assert_eq!(conversations["conversations"].as_array().unwrap().len(), 1);
    alice.stop().await;
}

#[tokio::test]
async fn a_failed_answer_is_not_kept_and_a_retry_runs_again() {
    let sim = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    // The breaker would refuse the retry for a while; this test is about the key.
    settings.breaker.min_requests = 1000;
    let alice = Alice::start(settings).await;
    let body = r#"{"message": "Hur långt är det till månen?"}"#;
    let (status, _, failure) =
        read(send(&alice.http, &alice, "/api/chat", "k-5", body).await).await;
    assert!(status >= 500, "{status} {failure}");
    let calls = sim.requests().len();
    assert!(calls >= 1);

    sim.set_faults(Faults::default());
    let (status, replayed, answer) =
        read(send(&alice.http, &alice, "/api/chat", "k-5", body).await).await;
    assert_eq!((status, replayed), (200, false), "{answer}");
    assert_eq!(
        sim.requests().len(),
        calls + 1,
        "the retry reached the model"
    );
    assert!(idempotency_count(&alice, "released").await >= 1.0);

    // A stream that fails after its 200 head ends with an error event; it is not kept either.
    sim.set_faults(Faults {
        mid_stream_error_after: Some(2),
        ..Faults::default()
    });
    let streamed = r#"{"message": "Berätta en lång saga", "stream": true}"#;
    let (status, replayed, broken) =
        read(send(&alice.http, &alice, "/api/chat", "k-6", streamed).await).await;
    assert_eq!((status, replayed), (200, false));
    assert!(broken.contains("event: error"), "{broken}");
    sim.set_faults(Faults::default());
    let (status, replayed, whole) =
        read(send(&alice.http, &alice, "/api/chat", "k-6", streamed).await).await;
    assert_eq!((status, replayed), (200, false));
    assert!(whole.contains("event: done"), "{whole}");
    alice.stop().await;
}

#[tokio::test]
async fn after_the_ttl_a_retry_runs_again() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.chat.idempotency_ttl = Duration::from_millis(300);
    let alice = Alice::start(settings).await;
    let body = r#"{"message": "Vilken dag är det?"}"#;
    let (status, replayed, _) =
        read(send(&alice.http, &alice, "/api/chat", "k-7", body).await).await;
    assert_eq!((status, replayed), (200, false));
    let (_, replayed, _) = read(send(&alice.http, &alice, "/api/chat", "k-7", body).await).await;
    assert!(replayed, "within the ttl");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, replayed, _) =
        read(send(&alice.http, &alice, "/api/chat", "k-7", body).await).await;
    assert_eq!((status, replayed), (200, false), "past the ttl");
    // After the ttl the key is free for any request.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let other = r#"{"message": "Vilket år är det?"}"#;
    let (status, replayed, _) =
        read(send(&alice.http, &alice, "/api/chat", "k-7", other).await).await;
    assert_eq!((status, replayed), (200, false));
    assert_eq!(sim.requests().len(), 3);
    alice.stop().await;
}

#[tokio::test]
async fn a_bad_key_is_refused_with_400_saying_what_a_key_may_be() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let body = r#"{"message": "Hej"}"#;
    let long = "k".repeat(256);
    for key in ["", "two words", long.as_str()] {
        let (status, _, refusal) =
            read(send(&alice.http, &alice, "/api/chat", key, body).await).await;
        assert_eq!(status, 400, "{key:?}: {refusal}");
        let refusal = json_of(&refusal);
        assert_eq!(refusal["code"], "invalid_idempotency_key");
        assert!(
            refusal["detail"]
                .as_str()
                .unwrap()
                .contains("1 to 255 visible ASCII characters"),
            "{refusal}"
        );
    }
    let completion = r#"{"model": "alice", "messages": [{"role": "user", "content": "Hej"}]}"#;
    let (status, _, refusal) = read(
        send(
            &alice.http,
            &alice,
            "/v1/chat/completions",
            "two words",
            completion,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        json_of(&refusal)["error"]["code"],
        "invalid_idempotency_key"
    );
    // A key of 255 characters is fine.
    let longest = "k".repeat(255);
    let (status, _, _) = read(send(&alice.http, &alice, "/api/chat", &longest, body).await).await;
    assert_eq!(status, 200);
    assert_eq!(sim.requests().len(), 1);
    alice.stop().await;
}

#[tokio::test]
async fn a_request_that_fails_its_own_checks_is_not_kept() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    // Refused by the handler (422): the key is released, and the same bytes are refused again
    // by the handler, not replayed.
    let broken = r#"{"mesage": "Hej"}"#;
    for _ in 0..2 {
        let (status, replayed, refusal) =
            read(send(&alice.http, &alice, "/api/chat", "k-9", broken).await).await;
        assert_eq!((status, replayed), (422, false), "{refusal}");
        assert_eq!(json_of(&refusal)["field"], "mesage");
    }
    assert!(sim.requests().is_empty());
    alice.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_as_without_a_key() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.server.body_limit_bytes = 1024;
    let alice = Alice::start(settings).await;
    let large = json!({ "message": "ö".repeat(1024) }).to_string();
    for key in [Some("k-10"), None] {
        let mut request = alice
            .http
            .post(alice.url("/api/chat"))
            .header("content-type", "application/json")
            .body(large.clone());
        if let Some(key) = key {
            request = request.header(KEY, key);
        }
        let (status, _, refusal) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 413, "{key:?}: {refusal}");
        assert_eq!(json_of(&refusal)["code"], "payload_too_large");
    }
    // Refused before the key was claimed: it is free for a request that fits.
    let (status, replayed, _) = read(
        send(
            &alice.http,
            &alice,
            "/api/chat",
            "k-10",
            r#"{"message": "Hej"}"#,
        )
        .await,
    )
    .await;
    assert_eq!((status, replayed), (200, false));
    alice.stop().await;
}
