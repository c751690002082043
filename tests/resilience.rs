//! Alice under faults and load, over HTTP: failover while the primary dies under a steady
//! load, and an overload of ten times the backend's limit. Traffic goes to 127.0.0.1 only,
//! is bounded in count and time, and stops by itself.
// The measured figures are printed for docs/benchmarks.md (run with --nocapture).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use alice_upstream_sim::Faults;
use common::{Alice, config, start_sim};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// One request's fate.
#[derive(Debug)]
struct Outcome {
    sent_at: Duration,
    status: u16,
    model: String,
    failover_ms: Option<u64>,
    took: Duration,
}

async fn chat(http: &reqwest::Client, base: &str, message: String) -> (u16, Value) {
    let response = http
        .post(format!("{base}/api/chat"))
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_primary_dies_under_steady_load_and_the_fallback_answers_every_request() {
    let primary = start_sim(Faults {
        tokens_per_second: 200.0,
        ..Faults::default()
    })
    .await;
    let fallback = start_sim(Faults {
        tokens_per_second: 200.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &primary.base_url());
    let mut second = settings.backends[0].clone();
    second.name = "fallback".into();
    second.url = fallback.base_url();
    settings.backends.push(second);
    let alice = Alice::start(settings).await;

    // 20 requests a second for 3 s, open loop: each is sent on schedule whatever the others do.
    let rate = 20;
    let total = 60;
    let start = Instant::now();
    let kill_at = Duration::from_millis(1000);
    let mut requests = Vec::new();
    for i in 0..total {
        let due = start + Duration::from_millis(1000 * i / rate);
        let (http, base) = (alice.http.clone(), alice.base.clone());
        requests.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let sent = Instant::now();
            let (status, body) = chat(&http, &base, format!("Fråga nummer {i}")).await;
            Outcome {
                sent_at: sent - start,
                status,
                model: body["model"].as_str().unwrap_or_default().to_owned(),
                failover_ms: body["failover_ms"].as_u64(),
                took: sent.elapsed(),
            }
        }));
    }
    tokio::time::sleep_until(start + kill_at).await;
    primary.shutdown().await;
    let killed = start.elapsed();

    let mut outcomes = Vec::new();
    for request in requests {
        outcomes.push(request.await.unwrap());
    }
    let conversations_answered = outcomes.iter().filter(|o| o.status == 200).count();
    assert_eq!(conversations_answered, total as usize, "{outcomes:#?}");

    let fallback_answers: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.model.starts_with("fallback:"))
        .collect();
    assert!(
        fallback_answers
            .iter()
            .all(|o| o.model.ends_with("(failover)"))
    );
    let before_kill: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_at + Duration::from_millis(100) < killed)
        .collect();
    assert!(
        !before_kill.is_empty(),
        "requests were answered before the kill"
    );
    assert!(
        before_kill.iter().all(|o| o.model.starts_with("ollama:")),
        "the primary answered while it was up"
    );
    // Once the breaker has opened, nothing more goes to the primary.
    let after_open: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.sent_at > killed + Duration::from_millis(500))
        .collect();
    assert!(!after_open.is_empty());
    assert!(
        after_open.iter().all(|o| o.model.starts_with("fallback:")),
        "{after_open:#?}"
    );

    assert!(fallback_answers.iter().all(|o| o.failover_ms.is_some()));
    let added = fallback_answers
        .iter()
        .filter_map(|o| o.failover_ms)
        .max()
        .unwrap();
    let slowest = fallback_answers.iter().map(|o| o.took).max().unwrap();
    let steady = after_open.iter().map(|o| o.took).max().unwrap();
    let (_, ready) = alice.get("/ready").await;
    assert_eq!(ready["backends"][0]["breaker"], "OPEN", "{ready}");
    println!(
        "failover: primary killed at {} ms; {} of {total} requests failed over; most time added by \
         the dead primary {added} ms; slowest failed-over request {} ms; slowest once the breaker \
         was open {} ms",
        killed.as_millis(),
        fallback_answers.len(),
        slowest.as_millis(),
        steady.as_millis()
    );
    alice.stop().await;
}

#[tokio::test]
async fn ten_times_the_limit_ends_every_request_within_its_deadline_and_bounds_the_queue() {
    // Each answer takes about a second; the backend takes 3 at once and queues 6.
    let upstream = start_sim(Faults {
        ttft_ms: 200,
        tokens_per_second: 15.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &upstream.base_url());
    settings.backends[0].max_concurrent = 3;
    settings.backends[0].queue_depth = 6;
    settings.backends[0].queue_timeout = Duration::from_secs(2);
    settings.deadlines.chat = Duration::from_secs(3);
    let deadline = settings.deadlines.chat;
    let alice = Alice::start(settings).await;

    // 30 requests at once: ten times the concurrency limit.
    let started = Instant::now();
    let requests: Vec<_> = (0..30)
        .map(|i| {
            let (http, base) = (alice.http.clone(), alice.base.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                let (status, _) = chat(&http, &base, format!("Överlast {i}")).await;
                (status, sent.elapsed())
            })
        })
        .collect();
    // Watch the limiter while the storm lasts.
    let mut most_in_flight = 0;
    let mut most_queued = 0;
    while started.elapsed() < deadline {
        let (_, ready) = alice.get("/ready").await;
        most_in_flight = most_in_flight.max(ready["backends"][0]["in_flight"].as_u64().unwrap());
        most_queued = most_queued.max(ready["backends"][0]["queued"].as_u64().unwrap());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut by_status = std::collections::BTreeMap::new();
    for request in requests {
        let (status, took) = request.await.unwrap();
        assert!(
            took <= deadline + Duration::from_millis(250),
            "a {status} took {took:?}, past the {deadline:?} deadline"
        );
        *by_status.entry(status).or_insert(0) += 1;
    }
    assert!(most_in_flight <= 3, "in flight {most_in_flight}");
    assert!(most_queued <= 6, "queued {most_queued}");
    assert!(
        upstream.stats().max_in_flight_seen <= 3,
        "the upstream never saw more than the limit"
    );
    assert!(
        by_status.keys().all(|s| [200, 503, 504].contains(s)),
        "{by_status:?}"
    );
    assert!(
        by_status.get(&200).copied().unwrap_or(0) >= 3,
        "{by_status:?}"
    );
    assert!(
        by_status.get(&503).copied().unwrap_or(0) >= 1,
        "the overflow was refused: {by_status:?}"
    );
    println!(
        "overload 30 requests on 3 slots + 6 queued: {by_status:?}, most in flight {most_in_flight}, most queued {most_queued}"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_streamed_openai_answer_names_the_fallback_in_every_chunk() {
    let primary = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let fallback = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &primary.base_url());
    let mut second = settings.backends[0].clone();
    second.name = "fallback".into();
    second.url = fallback.base_url();
    settings.backends.push(second);
    let alice = Alice::start(settings).await;
    let response = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({
            "model": "alice",
            "stream": true,
            "messages": [{ "role": "user", "content": "Vad heter Sveriges kung?" }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let chunks: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert!(chunks.len() > 3, "{body}");
    for chunk in &chunks {
        assert_eq!(chunk["model"], "fallback:gpt-oss:20b (failover)", "{chunk}");
    }
    assert_eq!(
        primary.requests().len(),
        1,
        "one failed attempt, then the fallback at once"
    );
    alice.stop().await;
}
