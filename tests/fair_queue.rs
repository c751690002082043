//! The backend's queue takes turns between users: one user who sends forty requests at once
//! does not make another user's single request wait behind all forty. Over real HTTP, with the
//! simulator as a backend of three slots, each answer held for 300 ms. The test counts how
//! many of the first user's answers finish before the second user's one; with a first-come
//! queue it would be at least thirty-seven (thirteen rounds of slots), in turn it is about one
//! round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::{KeyRequest, Role};
use alice_store::KeyLimits;
use alice_upstream_sim::Faults;
use common::{Alice, MODEL, client_with_key, config, create_key, create_key_with, start_sim};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A key without limits of its own, so one user can have many requests in flight (a user's
/// default is four).
fn unlimited() -> KeyRequest {
    KeyRequest {
        limits: KeyLimits {
            requests_per_minute: Some(0),
            tokens_per_minute: Some(0),
            max_in_flight: Some(0),
        },
        ..KeyRequest::default()
    }
}

async fn ask(http: &reqwest::Client, alice: &Alice, question: String) {
    let response = http
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": question}]}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_single_request_is_served_in_turn_not_behind_another_users_forty() {
    let sim = start_sim(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.backends[0].max_concurrent = 3;
    config.backends[0].queue_depth = 64;
    config.backends[0].queue_timeout = Duration::from_secs(60);
    config.deadlines.chat = Duration::from_secs(60);
    let alice = Arc::new(Alice::start(config.clone()).await);
    // Ada's key lets her have forty requests in flight (a user's default is four).
    let ada = client_with_key(&create_key_with(&config, "ada", Role::User, unlimited()).await);
    let bo = client_with_key(&create_key(&config, "bo", Role::User).await);

    let finished = Arc::new(AtomicUsize::new(0));
    let flood: Vec<_> = (0..40)
        .map(|n| {
            let (alice, ada, finished) = (alice.clone(), ada.clone(), finished.clone());
            tokio::spawn(async move {
                ask(&ada, &alice, format!("Ada frågar nummer {n}")).await;
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Bo asks once Ada's forty are in: three answering, thirty-seven waiting.
    assert!(
        common::eventually(Duration::from_secs(10), || sim.requests().len() >= 3).await,
        "ada's first three never reached the backend"
    );
    ask(&bo, &alice, "Bo frågar en gång".into()).await;
    let before_bo = finished.load(Ordering::SeqCst);
    for task in flood {
        task.await.unwrap();
    }
    assert!(
        before_bo <= 6,
        "{before_bo} of ada's answers finished before bo's one: bo waited behind her queue"
    );
    Arc::into_inner(alice).unwrap().stop().await;
}

#[tokio::test]
async fn a_refusal_says_where_the_request_stood_in_the_queue_and_what_wait_that_meant() {
    let sim = start_sim(Faults {
        latency_ms: 400,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.backends[0].max_concurrent = 1;
    config.backends[0].queue_depth = 2;
    config.backends[0].queue_timeout = Duration::from_secs(60);
    config.deadlines.chat = Duration::from_secs(60);
    config.retry.max_retries = 0;
    let alice = Arc::new(Alice::start(config.clone()).await);
    let ada = client_with_key(&create_key_with(&config, "ada", Role::User, unlimited()).await);
    let bo = client_with_key(&create_key(&config, "bo", Role::User).await);
    // One answer first, so the limiter knows how long a slot is held (about 400 ms).
    ask(&ada, &alice, "Ada värmer upp".into()).await;
    // Ada takes the slot and both queue places.
    let flood: Vec<_> = (0..3)
        .map(|n| {
            let (alice, ada) = (alice.clone(), ada.clone());
            tokio::spawn(async move { ask(&ada, &alice, format!("Ada frågar {n}")).await })
        })
        .collect();
    assert!(
        common::eventually(Duration::from_secs(10), || sim.requests().len() >= 2).await,
        "ada's answer never reached the backend"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = bo
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "Bo frågar"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "backend_busy", "{body}");
    // Bo would have gone after one of Ada's two waiting requests, not after both.
    assert_eq!(body["queue"]["position"], 2, "{body}");
    let expected = body["queue"]["expected_wait_ms"].as_u64().unwrap();
    assert!(
        (400..=4_000).contains(&expected),
        "two rounds of a ~400 ms slot: {expected} ms"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("number 2 in the queue"),
        "{body}"
    );
    assert!(
        retry_after >= 1,
        "Retry-After is the expected wait, at least 1 s"
    );
    for task in flood {
        task.await.unwrap();
    }
    Arc::into_inner(alice).unwrap().stop().await;
}

#[tokio::test]
async fn an_interactive_key_goes_before_every_batch_key_waiting() {
    let sim = start_sim(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.backends[0].max_concurrent = 1;
    config.backends[0].queue_depth = 16;
    config.backends[0].queue_timeout = Duration::from_secs(60);
    config.deadlines.chat = Duration::from_secs(60);
    let alice = Arc::new(Alice::start(config.clone()).await);
    // Five batch jobs, each its own user (so taking turns alone would put a sixth user after
    // all five), and a person with an ordinary, interactive key.
    let mut jobs = Vec::new();
    for n in 0..5 {
        let batch = KeyRequest {
            priority: alice_core::Priority::Batch,
            ..KeyRequest::default()
        };
        let key = create_key_with(&config, &format!("jobb{n}"), Role::User, batch).await;
        jobs.push(client_with_key(&key));
    }
    let person = client_with_key(&create_key(&config, "bo", Role::User).await);

    let finished = Arc::new(AtomicUsize::new(0));
    let batch: Vec<_> = jobs
        .into_iter()
        .enumerate()
        .map(|(n, job)| {
            let (alice, finished) = (alice.clone(), finished.clone());
            tokio::spawn(async move {
                ask(&job, &alice, format!("Sammanfatta rapport {n}")).await;
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    assert!(
        common::eventually(Duration::from_secs(10), || !sim.requests().is_empty()).await,
        "no batch job reached the backend"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    ask(&person, &alice, "Bo frågar en gång".into()).await;
    let before_bo = finished.load(Ordering::SeqCst);
    for task in batch {
        task.await.unwrap();
    }
    assert!(
        before_bo <= 1,
        "{before_bo} batch answers finished before the person's: only the one holding the slot may"
    );
    Arc::into_inner(alice).unwrap().stop().await;
}
