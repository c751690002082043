//! Deadlines that fit streaming: `deadlines.chat` bounds the wait for the first token and a
//! whole non-streamed answer, while a stream whose tokens keep coming runs on to
//! `deadlines.stream_max` (the cut at stream_max is in tests/errors.rs and tests/openai_api.rs).
//! Against the upstream simulator with slow tokens (about 3 s for the
//! whole answer) and a chat deadline of 1.5 s. Traffic goes to 127.0.0.1 only, one request at
//! a time, each bounded by its deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::{Faults, SimHandle};
use common::{Alice, config, parse_sse, start_sim};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

const CHAT_DEADLINE: Duration = Duration::from_millis(1500);
/// About 20 words quoted back, plus the simulator's own ten: some 30 tokens.
const QUESTION: &str = "Berätta en lång saga om en katt som bor i Göteborg och tycker om fisk";

/// Alice over a simulator that sends 8 tokens a second, with the given `stream_max`.
async fn alice_with_slow_tokens(stream_max: Duration) -> (Alice, SimHandle, tempfile::TempDir) {
    let upstream = start_sim(Faults {
        tokens_per_second: 8.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &upstream.base_url());
    settings.deadlines.chat = CHAT_DEADLINE;
    settings.deadlines.stream_max = stream_max;
    (Alice::start(settings).await, upstream, dir)
}

async fn stream_chat(alice: &Alice) -> (u16, Vec<common::Sse>, Duration) {
    let started = Instant::now();
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": QUESTION, "stream": true }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let events = parse_sse(&response.text().await.unwrap());
    (status, events, started.elapsed())
}

#[tokio::test]
async fn a_stream_with_tokens_flowing_runs_past_the_chat_deadline_to_its_end() {
    let (alice, _upstream, _dir) = alice_with_slow_tokens(Duration::from_secs(20)).await;

    let (status, events, took) = stream_chat(&alice).await;
    assert_eq!(status, 200);
    assert!(
        took > CHAT_DEADLINE,
        "the answer is slower than the chat deadline by design ({took:?})"
    );
    let last = events.last().unwrap();
    assert_eq!(last.event, "done", "{:?}", last.data);
    let deltas = events.iter().filter(|e| e.event == "delta").count();
    assert!(deltas >= 20, "the whole answer came: {deltas} deltas");
    assert!(events.iter().all(|e| e.event != "error"));

    // The OpenAI-compatible stream is held to the same rules.
    let response = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({
            "model": "alice",
            "stream": true,
            "messages": [{ "role": "user", "content": QUESTION }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(!body.contains("deadline_exceeded"), "{body}");
    assert!(body.contains("\"finish_reason\":\"stop\""), "{body}");
    alice.stop().await;
}

#[tokio::test]
async fn a_whole_answer_slower_than_the_chat_deadline_gets_504() {
    let (alice, _upstream, _dir) = alice_with_slow_tokens(Duration::from_secs(20)).await;

    let started = Instant::now();
    let (status, body): (u16, Value) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["code"], "deadline_exceeded");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut at the chat deadline, not at stream_max"
    );
    alice.stop().await;
}
