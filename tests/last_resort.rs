//! The embedded model as the last resort (`[last_resort]`), end to end over real HTTP: Alice's
//! only configured backend is the upstream simulator, the test kills it, and chat still
//! answers, from SmolLM2-135M run in-process, marked as the last resort on both APIs, counted
//! at `/metrics` and shown by `/ready` and the dashboard's snapshot. Turned off, the usual
//! backend error comes back instead.
//!
//! The tests that need the model read `ALICE_TEST_EMBEDDED_MODEL` (the GGUF file
//! `scripts/fetch-model.sh` installs) and print that they were skipped when it is unset (or
//! the build has no `embedded` feature):
//!
//! ```sh
//! ALICE_TEST_EMBEDDED_MODEL=$PWD/data/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!   cargo test --test last_resort -- --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use alice_core::Config;
use alice_upstream_sim::Faults;
use common::{Alice, parse_sse};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MODEL_ENV: &str = "ALICE_TEST_EMBEDDED_MODEL";
/// What the answers name when the last resort gave them.
const LAST_RESORT: &str = "embedded:SmolLM2-135M-Instruct.Q4_1 (last resort)";
/// The longest any one request may take, however busy the machine.
const GENEROUS: Duration = Duration::from_secs(60);

fn model(test: &str) -> Option<PathBuf> {
    if !cfg!(feature = "embedded") {
        println!("skipped {test}: this build has no embedded model (feature `embedded` is off)");
        return None;
    }
    match std::env::var_os(MODEL_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            println!("skipped {test}: {MODEL_ENV} is not set");
            None
        }
    }
}

/// The harness's config with its one backend at `backend_url`, and the last resort on the
/// model at `path`: one answer at a time on one thread, short answers, greedy.
fn config(dir: &Path, backend_url: &str, path: PathBuf) -> Config {
    let mut config = common::config(dir, backend_url);
    config.last_resort.enabled = true;
    config.last_resort.model_path = Some(path);
    config.last_resort.max_concurrent = Some(1);
    config.last_resort.threads = Some(1);
    config.chat.max_tokens = 16;
    config.chat.temperature = 0.0;
    config.validate().unwrap();
    config
}

/// POSTs `body` to `path` within [`GENEROUS`]; the status and the raw body.
async fn post(alice: &Alice, path: &str, body: &Value) -> (u16, String) {
    let request = async {
        let response = alice
            .http
            .post(alice.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };
    tokio::time::timeout(GENEROUS, request)
        .await
        .unwrap_or_else(|_| panic!("POST {path} took over {GENEROUS:?}"))
}

fn openai(stream: bool) -> Value {
    json!({
        "model": "alice",
        "messages": [{ "role": "user", "content": "What is the capital of France?" }],
        "max_tokens": 16,
        "stream": stream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_backend_killed_chat_answers_from_the_embedded_model_marked_last_resort() {
    let Some(path) =
        model("with_every_backend_killed_chat_answers_from_the_embedded_model_marked_last_resort")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sim = common::start_sim(Faults::default()).await;
    let alice = Alice::start(config(dir.path(), &sim.base_url(), path)).await;

    // While the simulator answers, it does, and nothing is marked.
    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], format!("ollama:{}", common::MODEL));
    assert_eq!(body["degraded"], false);

    sim.shutdown().await;

    // Alice's own API, whole and streamed.
    let (status, body) = post(&alice, "/api/chat", &json!({ "message": "Hi there" })).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model"], LAST_RESORT, "{body}");
    assert_eq!(body["degraded"], true, "{body}");
    assert!(
        !body["response"].as_str().unwrap().trim().is_empty(),
        "{body}"
    );
    let (status, raw) = post(
        &alice,
        "/api/chat",
        &json!({ "message": "Hi there", "stream": true }),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let events = parse_sse(&raw);
    let done = events
        .iter()
        .find(|e| e.event == "done")
        .unwrap_or_else(|| panic!("no done event: {raw}"));
    assert_eq!(done.data["model"], LAST_RESORT, "{raw}");
    assert_eq!(done.data["degraded"], true, "{raw}");
    assert!(events.iter().any(|e| e.event == "delta"), "{raw}");

    // The OpenAI API names the model that answered, whole and in every chunk.
    let (status, body) = post(&alice, "/v1/chat/completions", &openai(false)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model"], LAST_RESORT, "{body}");
    let (status, raw) = post(&alice, "/v1/chat/completions", &openai(true)).await;
    assert_eq!(status, 200, "{raw}");
    let chunks: Vec<Value> = raw
        .split("\n\n")
        .filter_map(|block| block.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert!(!chunks.is_empty(), "{raw}");
    assert!(
        chunks.iter().all(|chunk| chunk["model"] == LAST_RESORT),
        "{raw}"
    );

    // Counted for Prometheus, and shown to the operator.
    let scrape = alice.scrape().await;
    assert_eq!(scrape.value("alice_last_resort_answers_total", &[]), 4.0);
    let (status, ready) = alice.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["last_resort"]["available"], true, "{ready}");
    assert_eq!(ready["last_resort"]["answers"], 4, "{ready}");
    assert_eq!(ready["last_resort"]["concurrency_limit"], 1, "{ready}");
    let snapshot = first_snapshot(&alice).await;
    assert_eq!(snapshot["last_resort"]["answers"], 4, "{snapshot}");
    alice.stop().await;
}

/// The first snapshot of the dashboard's feed.
async fn first_snapshot(alice: &Alice) -> Value {
    use futures_util::StreamExt;
    let response = alice
        .http
        .get(alice.url("/api/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if let Some(event) = parse_sse(&text).into_iter().find(|e| e.event == "snapshot") {
                return event.data;
            }
        }
        panic!("the feed ended before its first snapshot: {text}");
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a snapshot within 10 s")
}

#[tokio::test]
async fn turned_off_the_usual_backend_error_comes_back() {
    // The model file makes this a real test of the switch; without it the last resort is
    // absent for the same reason, which the test still checks.
    let path = std::env::var_os(MODEL_ENV)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("data/models/none.gguf"), PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), "http://127.0.0.1:9", path);
    config.last_resort.enabled = false;
    let alice = Alice::start(config).await;

    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "backend_unreachable", "{body}");
    let (status, raw) = post(&alice, "/v1/chat/completions", &openai(false)).await;
    assert_eq!(status, 503, "{raw}");

    let (_, ready) = alice.get("/ready").await;
    assert_eq!(ready["last_resort"]["available"], false, "{ready}");
    let reason = ready["last_resort"]["reason"].as_str().unwrap();
    assert!(reason.contains("last_resort.enabled = false"), "{reason}");
    let scrape = alice.scrape().await;
    assert_eq!(scrape.value("alice_last_resort_answers_total", &[]), 0.0);
    alice.stop().await;
}

#[tokio::test]
async fn without_its_model_file_it_is_absent_and_ready_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("models/missing.gguf");
    let alice = Alice::start(config(dir.path(), "http://127.0.0.1:9", missing.clone())).await;

    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 503, "{body}");

    let (_, ready) = alice.get("/ready").await;
    assert_eq!(ready["last_resort"]["available"], false, "{ready}");
    let reason = ready["last_resort"]["reason"].as_str().unwrap();
    if cfg!(feature = "embedded") {
        assert!(
            reason.contains(&missing.display().to_string()) && reason.contains("model fetch"),
            "{reason}"
        );
    } else {
        assert!(reason.contains("feature `embedded` is off"), "{reason}");
    }
    alice.stop().await;
}
