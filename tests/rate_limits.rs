//! Limits per key over real HTTP: a burst over a key's requests per minute gets 429 with
//! Retry-After and OpenAI's `x-ratelimit-*` headers (in OpenAI's error shape under /v1), tokens
//! an answer used are charged to the key's token budget, and a key's requests in flight are
//! capped. Each key has its own budget; an admin's key is not limited by default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::{KeyRequest, Role};
use alice_store::KeyLimits;
use alice_upstream_sim::Faults;
use common::{Alice, client_with_key, config, create_key_with, start_sim};
use serde_json::{Value, json};
use std::time::Duration;

fn limited(requests: Option<u32>, tokens: Option<u32>, in_flight: Option<u32>) -> KeyRequest {
    KeyRequest {
        limits: KeyLimits {
            requests_per_minute: requests,
            tokens_per_minute: tokens,
            max_in_flight: in_flight,
        },
        ..KeyRequest::default()
    }
}

#[tokio::test]
async fn a_burst_over_the_keys_requests_per_minute_gets_429_with_openais_headers() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(
        &create_key_with(
            &settings,
            "anna",
            Role::User,
            limited(Some(3), Some(0), Some(0)),
        )
        .await,
    );
    let bertil = client_with_key(
        &create_key_with(
            &settings,
            "bertil",
            Role::User,
            limited(Some(3), Some(0), Some(0)),
        )
        .await,
    );
    let alice = Alice::start(settings).await;
    let chat = alice.url("/api/chat");

    for left in [2, 1, 0] {
        let response = anna
            .post(&chat)
            .json(&json!({"message": "Hej"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-limit-requests"], "3");
        assert_eq!(
            response.headers()["x-ratelimit-remaining-requests"],
            left.to_string().as_str()
        );
        assert!(
            response
                .headers()
                .contains_key("x-ratelimit-reset-requests")
        );
    }
    let refused = anna
        .post(&chat)
        .json(&json!({"message": "Hej"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["retry-after"],
        "20",
        "one request in 60/3 s"
    );
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limit_exceeded");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("3 requests per minute"),
        "{body}"
    );
    // Under /v1 the same refusal in OpenAI's shape, which the SDKs raise as RateLimitError.
    let v1 = anna
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({"model": "alice", "messages": [{"role": "user", "content": "Hej"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 429);
    let body: Value = v1.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");

    // Bertil's key has its own budget, and the admin's is not limited.
    let response = bertil
        .post(&chat)
        .json(&json!({"message": "Hej"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for _ in 0..5 {
        let (status, _) = alice.chat(json!({"message": "Hej"})).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        sim.requests().len(),
        3 + 1 + 5,
        "refused requests never reached the model"
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_tokens_an_answer_used_are_charged_to_the_keys_budget() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    // A budget smaller than one answer: the first answer spends it all.
    let key = create_key_with(
        &settings,
        "anna",
        Role::User,
        limited(Some(0), Some(5), Some(0)),
    )
    .await;
    let anna = client_with_key(&key);
    let alice = Alice::start(settings).await;
    let chat = alice.url("/api/chat");

    let first = anna
        .post(&chat)
        .json(&json!({"message": "Berätta om Stockholm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-tokens"], "5");
    let reply: Value = first.json().await.unwrap();
    let used = reply["prompt_tokens"].as_u64().unwrap_or(0)
        + reply["completion_tokens"].as_u64().unwrap_or(0);
    assert!(
        used > 5,
        "the simulator's answer uses more than 5 tokens: {reply}"
    );
    // The charge is made when the answer's body ends; the next request sees it.
    let refused = common::until(Duration::from_secs(5), || async {
        anna.post(&chat)
            .json(&json!({"message": "Och Göteborg?"}))
            .send()
            .await
            .unwrap()
            .status()
            == 429
    })
    .await;
    assert!(refused, "the token budget was spent by the first answer");
    alice.stop().await;
}

#[tokio::test]
async fn a_keys_requests_in_flight_are_capped() {
    let sim = start_sim(Faults {
        latency_ms: 400,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.auth.in_flight_retry_after = Duration::from_secs(3);
    let anna = client_with_key(
        &create_key_with(
            &settings,
            "anna",
            Role::User,
            limited(Some(0), Some(0), Some(1)),
        )
        .await,
    );
    let alice = Alice::start(settings).await;
    let chat = alice.url("/api/chat");

    let slow = tokio::spawn({
        let anna = anna.clone();
        let chat = chat.clone();
        async move {
            anna.post(&chat)
                .json(&json!({"message": "Hej"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    // Once the first is at the model, a second is refused at once.
    let at_the_model = common::until(Duration::from_secs(5), || async {
        sim.requests().len() == 1
    })
    .await;
    assert!(at_the_model, "the first request reached the simulator");
    let second = anna
        .post(&chat)
        .json(&json!({"message": "Hej igen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.status(),
        429,
        "a second request while one is in flight"
    );
    assert_eq!(
        second.headers()["retry-after"],
        "3",
        "auth.in_flight_retry_after"
    );
    let body: Value = second.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("1 requests in flight"),
        "{body}"
    );
    assert_eq!(slow.await.unwrap(), 200);
    // The slot is given back when the answer is done.
    let after = anna
        .post(&chat)
        .json(&json!({"message": "Nu då?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    alice.stop().await;
}
