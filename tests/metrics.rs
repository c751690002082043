//! `GET /metrics` over real HTTP: a known sequence of requests moves exactly the series it
//! should, latency histograms see the backend's time, and the overhead header is Alice's own
//! share of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::{Alice, config, start_sim};
use serde_json::json;
use std::time::Duration;

const CHAT: &[(&str, &str)] = &[
    ("route", "/api/chat"),
    ("method", "POST"),
    ("status", "200"),
];

#[tokio::test]
async fn a_known_sequence_of_requests_moves_the_right_series() {
    let sim = start_sim(Faults {
        latency_ms: 150,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    let before = alice.scrape().await;
    assert_eq!(before.value("alice_http_requests_total", CHAT), 0.0);

    // Two answers as JSON, one streamed, one through the OpenAI API, one bad body, one
    // unknown path.
    for question in ["Vad är Sveriges huvudstad?", "Förklara fotosyntes"] {
        let response = alice
            .http
            .post(alice.url("/api/chat"))
            .json(&json!({ "message": question }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let overhead: f64 = response.headers()["x-alice-overhead-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        let total = body["total_ms"].as_f64().unwrap();
        assert!(
            // Below the simulator's 150 ms however busy the machine: the wait is not in it.
            total >= 150.0 && overhead < 100.0,
            "the simulator's 150 ms are not Alice's overhead: overhead {overhead} ms of {total} ms"
        );
    }
    let streamed = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Hej!", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    assert!(streamed.text().await.unwrap().contains("event: done"));
    let openai = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "Hej" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 200);
    assert_eq!(alice.chat(json!({ "message": 5 })).await.0, 422);
    assert_eq!(alice.get("/no/such/path").await.0, 404);

    // A stream is counted when its body has ended, which the server sees just after the client.
    let mut after = alice.scrape().await;
    for _ in 0..100 {
        if after.value("alice_http_requests_total", CHAT) >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = alice.scrape().await;
    }

    assert_eq!(after.value("alice_http_requests_total", CHAT), 3.0);
    assert_eq!(
        after.value(
            "alice_http_requests_total",
            &[
                ("route", "/v1/chat/completions"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "alice_http_requests_total",
            &[("route", "/api/chat"), ("status", "422")]
        ),
        1.0
    );
    assert_eq!(
        after.value(
            "alice_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        after.value("alice_http_request_duration_seconds_count", CHAT),
        3.0
    );
    // Every answer waited at least the simulator's 150 ms, and the histogram's sum shows it.
    assert!(after.value("alice_http_request_duration_seconds_sum", CHAT) >= 0.45);
    assert_eq!(
        after.value("alice_chat_first_token_seconds_count", &[("api", "native")]),
        3.0
    );
    assert_eq!(
        after.value("alice_chat_first_token_seconds_count", &[("api", "openai")]),
        1.0
    );
    // Three native turns were stored (the OpenAI API stores nothing).
    assert_eq!(
        after.value(
            "alice_store_write_seconds_count",
            &[("operation", "turn"), ("outcome", "ok")]
        ),
        3.0
    );
    // The batcher committed them: one turn each here (the requests came one after another).
    assert_eq!(after.value("alice_store_turns_written_total", &[]), 3.0);
    assert_eq!(after.value("alice_store_batches_total", &[]), 3.0);
    assert_eq!(after.value("alice_store_turns_failed_total", &[]), 0.0);
    assert_eq!(after.value("alice_store_queued_turns", &[]), 0.0);
    assert!(after.value("alice_chat_upstream_seconds_sum", &[("api", "native")]) >= 0.45);
    // Alice's own share is far below the backend's.
    let overhead_sum = after.value(
        "alice_gateway_overhead_seconds_sum",
        &[("route", "/api/chat")],
    );
    assert_eq!(
        after.value(
            "alice_gateway_overhead_seconds_count",
            &[("route", "/api/chat")]
        ),
        4.0,
        "three answers and the 422"
    );
    assert!(overhead_sum < 0.3, "overhead sum {overhead_sum} s");
    assert_eq!(
        after.value(
            "alice_llm_attempts_total",
            &[("backend", "ollama"), ("outcome", "ok")]
        ),
        4.0
    );
    assert_eq!(
        after.value(
            "alice_llm_breaker_state",
            &[("backend", "ollama"), ("state", "closed")]
        ),
        1.0
    );
    assert!(after.value("alice_process_resident_memory_bytes", &[]) > 1e6);
    assert!(after.value("alice_process_open_fds", &[]) > 3.0);
    assert!(
        !after.has("alice_guardian_state"),
        "no Guardian runs in this test, so none is reported"
    );
    alice.stop().await;
}

#[tokio::test]
async fn failed_attempts_retries_and_failovers_are_counted() {
    let healthy = start_sim(Faults::default()).await;
    let failing = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &failing.base_url());
    let mut second = settings.backends[0].clone();
    second.name = "reserve".into();
    second.url = healthy.base_url();
    settings.backends.push(second);
    let alice = Alice::start(settings).await;

    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 200, "{body}");
    let scrape = alice.scrape().await;
    assert_eq!(
        scrape.value(
            "alice_llm_attempts_total",
            &[("backend", "ollama"), ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        scrape.value(
            "alice_llm_attempts_total",
            &[("backend", "reserve"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        scrape.value("alice_llm_failovers_total", &[("backend", "reserve")]),
        1.0
    );
    assert_eq!(
        scrape.value(
            "alice_llm_queue_wait_seconds_count",
            &[("backend", "reserve")]
        ),
        1.0
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_summary_reports_the_last_minutes_per_route() {
    let sim = start_sim(Faults {
        latency_ms: 120,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    for _ in 0..10 {
        let (status, _) = alice.get("/health").await;
        assert_eq!(status, 200);
    }
    for question in ["Vad är Sveriges huvudstad?", "Förklara fotosyntes"] {
        let (status, reply) = alice.chat(json!({ "message": question })).await;
        assert_eq!(status, 200, "{reply}");
    }

    let (status, summary) = alice.get("/api/metrics/summary").await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary["uptime_s"].as_f64().unwrap() > 0.0);
    for window in ["1m", "5m", "15m"] {
        let window = &summary["windows"][window];
        assert_eq!(window["routes"]["/health"]["requests"], 10, "{window}");
        assert_eq!(window["routes"]["/api/chat"]["requests"], 2, "{window}");
        assert_eq!(window["errors"], 0);
        // Everything so far: the health checks, the chats (the summary call itself is
        // counted once it is answered).
        assert_eq!(window["requests"], 12, "{window}");
        assert!(window["rate_per_s"].as_f64().unwrap() > 0.0);

        let chat = &window["routes"]["/api/chat"]["latency_ms"];
        let at = |q: &str| chat[q].as_f64().unwrap();
        // Each chat waited on the simulator's 120 ms, and the percentiles are ordered.
        assert!(at("p50") >= 118.0, "{chat}");
        assert!(at("p50") <= at("p95") && at("p95") <= at("p99"), "{chat}");
        assert!(
            at("p99") <= at("p99_9") && at("p99_9") <= at("max"),
            "{chat}"
        );
        // Alice's own share is far below the backend's.
        assert!(
            window["overhead_ms"]["p50"].as_f64().unwrap() < 50.0,
            "{window}"
        );
    }
    alice.stop().await;
}
