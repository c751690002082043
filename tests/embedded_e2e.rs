//! Alice end to end with a real model: its only backend is the embedded one, SmolLM2-135M-Instruct
//! run in-process through llama.cpp, and every request goes over real HTTP. Runs when
//! `ALICE_TEST_EMBEDDED_MODEL` names the GGUF file (`scripts/fetch-model.sh` puts it at
//! data/models/SmolLM2-135M-Instruct.Q4_1.gguf); otherwise every test prints that it was skipped.
//!
//! ```sh
//! ALICE_TEST_EMBEDDED_MODEL=$PWD/data/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!   cargo test --test embedded_e2e -- --nocapture
//! ```
//!
//! Answers are greedy (temperature 0) with an English system prompt (the tiny model's Swedish is
//! poor), so they are the same on every run. The tests run one at a time (they share the
//! machine's cores), each generation uses one CPU thread (so a busy machine slows it down rather
//! than stalling llama.cpp's threads on each other), and every wait is bounded with a wide margin.
//!
//! Whether a generation has really stopped is read from the process itself: Alice runs inside
//! the test process, and its embedded engine counts the answers it computes
//! ([`alice_llm::embedded::running_answers`]).
#![cfg(feature = "embedded")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use alice_core::{BackendConfig, Config};
use common::{Alice, Sse, parse_sse, until};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

const MODEL_ENV: &str = "ALICE_TEST_EMBEDDED_MODEL";
/// English: the tiny model's Swedish is poor. Its answers are sensitive to the wording: with
/// "You are Alice, a helpful assistant." greedy SmolLM2 answers the capital question with French
/// nonsense; with this one, "The capital of France is Paris."
const SYSTEM_PROMPT: &str = "You are a helpful AI assistant named Alice.";
const CAPITAL: &str = "What is the capital of France?";
/// A question whose greedy answer runs for hundreds of tokens.
const LONG: &str = "Write a long story about a dragon.";
/// The longest any one request of these tests may take, however busy the machine.
const GENEROUS: Duration = Duration::from_secs(60);

/// One test at a time: each runs a model on the machine's cores, and the generation-thread
/// count is per process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn model(test: &str) -> Option<PathBuf> {
    match std::env::var_os(MODEL_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            println!("skipped {test}: {MODEL_ENV} is not set");
            None
        }
    }
}

/// A config whose only backend is the embedded model at `path`, with `max_concurrent`
/// generations at once and answers of at most `max_tokens`, greedy.
fn embedded_config(dir: &Path, path: PathBuf, max_concurrent: usize, max_tokens: u32) -> Config {
    // The harness's config (free port, database in `dir`, Guardian and cache off, quick
    // retries), then the embedded backend in place of its Ollama one.
    let mut config = common::config(dir, "http://127.0.0.1:9");
    config.backends = vec![BackendConfig {
        max_concurrent,
        // One CPU thread: on a busy machine llama.cpp's threads would wait on each other at
        // every step.
        threads: Some(1),
        // No background generations: the tests count generations and in-flight requests.
        probe_generation: false,
        first_token_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        ..BackendConfig::embedded(Some(path))
    }];
    config.chat.max_tokens = max_tokens;
    config.chat.temperature = 0.0;
    config.chat.system_prompt = SYSTEM_PROMPT.to_owned();
    config.validate().unwrap();
    config
}

/// The `model` Alice reports: backend name and the model, named after the GGUF file.
fn model_label(path: &Path) -> String {
    format!(
        "embedded:{}",
        path.file_stem().unwrap().to_string_lossy().into_owned()
    )
}

/// Waits (at most 10 s) until no answer is computing.
async fn generations_stop() -> bool {
    until(Duration::from_secs(10), || async {
        alice_llm::embedded::running_answers() == 0
    })
    .await
}

async fn in_flight(alice: &Alice) -> f64 {
    alice
        .scrape()
        .await
        .value("alice_llm_in_flight", &[("backend", "embedded")])
}

/// POSTs `body` to `path`, bounded by [`GENEROUS`]; status and raw body.
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

/// An OpenAI request for `question`, answered in at most `max_tokens`.
fn openai(question: &str, max_tokens: u32) -> Value {
    json!({
        "model": "smollm2",
        "messages": [{ "role": "user", "content": question }],
        "max_tokens": max_tokens,
    })
}

/// The `data:` payloads of an OpenAI stream, in order.
fn data_lines(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|block| {
            let lines: Vec<&str> = block
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        })
        .collect()
}

fn deltas_text(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_streamed_answer_over_api_chat_is_stored() {
    let Some(path) = model("a_streamed_answer_over_api_chat_is_stored") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(embedded_config(dir.path(), path.clone(), 1, 32)).await;

    let (status, body) = post(
        &alice,
        "/api/chat",
        &json!({ "message": CAPITAL, "stream": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = parse_sse(&body);
    let (done, deltas) = events.split_last().unwrap();
    assert_eq!(done.event, "done", "{events:?}");
    assert!(
        deltas.len() >= 3 && deltas.iter().all(|e| e.event == "delta"),
        "several deltas before done: {events:?}"
    );
    let streamed = deltas_text(deltas);
    println!("/api/chat streamed: {streamed:?}");
    assert_eq!(done.data["response"], streamed.as_str());
    assert!(
        streamed.contains("Paris"),
        "greedy SmolLM2 answers Paris: {streamed:?}"
    );
    assert_eq!(done.data["model"], model_label(&path).as_str());
    let tokens = done.data["completion_tokens"].as_u64().unwrap();
    assert!((1..=32).contains(&tokens), "{tokens} completion tokens");
    assert!(
        ["stop", "length"].contains(&done.data["finish_reason"].as_str().unwrap()),
        "{}",
        done.data
    );

    let conversation = done.data["conversation_id"].as_str().unwrap();
    assert_eq!(
        alice.history(conversation).await,
        vec![
            ("user".to_owned(), CAPITAL.to_owned()),
            ("assistant".to_owned(), streamed)
        ]
    );
    alice.stop().await;
    assert!(generations_stop().await);
}

#[tokio::test]
async fn openai_answers_streamed_and_not_are_the_same_greedy_answer() {
    let Some(path) = model("openai_answers_streamed_and_not_are_the_same_greedy_answer") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(embedded_config(dir.path(), path.clone(), 1, 64)).await;
    let label = model_label(&path);

    let mut streamed_body = openai(CAPITAL, 24);
    streamed_body["stream"] = json!(true);
    streamed_body["stream_options"] = json!({ "include_usage": true });
    let (status, body) = post(&alice, "/v1/chat/completions", &streamed_body).await;
    assert_eq!(status, 200, "{body}");
    let mut lines = data_lines(&body);
    assert_eq!(lines.pop().as_deref(), Some("[DONE]"), "{body}");
    let chunks: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(chunks.len() >= 4, "{chunks:?}");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(chunk["model"], label.as_str(), "{chunk}");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    // The usage chunk comes last, after the chunk that carries the finish reason.
    let (usage, answer_chunks) = chunks.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]), "{usage}");
    let finish = answer_chunks.last().unwrap()["choices"][0]["finish_reason"].clone();
    assert!(finish == "stop" || finish == "length", "{finish}");
    let streamed: String = answer_chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    println!("/v1 streamed: {streamed:?} ({finish})");
    assert!(!streamed.trim().is_empty());
    assert!(
        answer_chunks
            .iter()
            .filter(|c| c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty()))
            .count()
            >= 2,
        "the answer came in pieces: {chunks:?}"
    );
    let completion_tokens = usage["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=24).contains(&completion_tokens), "{usage}");

    // The same question not streamed: greedy, so the very same answer.
    let (status, body) = post(&alice, "/v1/chat/completions", &openai(CAPITAL, 24)).await;
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["model"], label.as_str());
    let choice = &reply["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], streamed.as_str());
    assert_eq!(choice["finish_reason"], finish);
    assert_eq!(reply["usage"], usage["usage"]);
    assert!(reply["usage"]["prompt_tokens"].as_u64().unwrap() > 5);

    // max_tokens ends a longer answer with "length", at exactly that many tokens.
    let (status, body) = post(&alice, "/v1/chat/completions", &openai(LONG, 5)).await;
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["choices"][0]["finish_reason"], "length", "{reply}");
    assert_eq!(reply["usage"]["completion_tokens"], 5, "{reply}");
    alice.stop().await;
    assert!(generations_stop().await);
}

#[tokio::test]
async fn a_client_leaving_mid_stream_stops_generation_and_frees_the_slot() {
    let Some(path) = model("a_client_leaving_mid_stream_stops_generation_and_frees_the_slot")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // One slot, and long answers allowed: the next request can only be answered once the
    // abandoned generation has stopped.
    let mut settings = embedded_config(dir.path(), path, 1, 400);
    settings.backends[0].queue_timeout = Duration::from_secs(5);
    let alice = Alice::start(settings).await;

    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": LONG, "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let read_two = async {
        while seen.matches("event: delta").count() < 2 {
            let chunk = body.next().await.expect("the stream ended early").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(GENEROUS, read_two)
        .await
        .expect("two deltas in time");
    assert!(!seen.contains("event: done"), "{seen}");
    assert_eq!(in_flight(&alice).await, 1.0);
    assert!(
        alice_llm::embedded::running_answers() >= 1,
        "the generation is running"
    );

    drop(body);
    let left = Instant::now();
    assert!(
        until(Duration::from_secs(10), || async {
            in_flight(&alice).await == 0.0
        })
        .await,
        "the slot is freed when the client leaves"
    );
    assert!(
        generations_stop().await,
        "the generation still runs {:?} after the client left",
        left.elapsed()
    );
    println!(
        "generation stopped {:?} after the client left",
        left.elapsed()
    );

    // The one slot serves the next request.
    let (status, body) = post(&alice, "/v1/chat/completions", &openai(CAPITAL, 8)).await;
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert!(
        !reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .trim()
            .is_empty(),
        "{reply}"
    );
    assert_eq!(in_flight(&alice).await, 0.0);
    alice.stop().await;
}

#[tokio::test]
async fn a_whole_answer_is_fitted_to_the_deadline_and_a_stream_runs_to_stream_max() {
    let Some(path) =
        model("a_whole_answer_is_fitted_to_the_deadline_and_a_stream_runs_to_stream_max")
    else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // A short chat deadline and answers allowed far longer than it: the long answer cannot
    // finish in time, a short one easily does.
    let deadline = Duration::from_secs(2);
    let stream_max = Duration::from_secs(3);
    let mut settings = embedded_config(dir.path(), path, 1, 2000);
    settings.deadlines.chat = deadline;
    settings.deadlines.stream_max = stream_max;
    let alice = Alice::start(settings).await;
    let short = || openai(CAPITAL, 8);

    // A short answer fits in the deadline (and the model is loaded).
    let (status, body) = post(&alice, "/v1/chat/completions", &short()).await;
    assert_eq!(status, 200, "{body}");

    // Not streamed, the long answer is ended early enough to arrive whole within the deadline.
    let started = Instant::now();
    let (status, body) = post(&alice, "/v1/chat/completions", &openai(LONG, 2000)).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["choices"][0]["finish_reason"], "length", "{reply}");
    let tokens = reply["usage"]["completion_tokens"].as_u64().unwrap();
    assert!(tokens > 0 && tokens < 2000, "{reply}");
    assert!(took < deadline, "answered after {took:?}");
    println!("fitted to the {deadline:?} deadline: {tokens} tokens in {took:?}");
    assert_eq!(in_flight(&alice).await, 0.0);

    // Streamed, the long answer is not cut at the chat deadline: it runs on to stream_max.
    let started = Instant::now();
    let (status, body) = post(
        &alice,
        "/api/chat",
        &json!({ "message": LONG, "stream": true }),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    let events = parse_sse(&body);
    assert!(events.iter().any(|e| e.event == "delta"), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(last.event, "error", "{events:?}");
    assert_eq!(last.data["code"], "stream_too_long", "{}", last.data);
    assert!(
        took >= stream_max,
        "cut after {took:?}, before deadlines.stream_max"
    );
    assert!(generations_stop().await);

    // The one slot is free: a short answer is answered again, streamed or not.
    let (status, body) = post(&alice, "/v1/chat/completions", &short()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &alice,
        "/api/chat",
        &json!({ "message": CAPITAL, "stream": true }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().event, "done", "{events:?}");
    alice.stop().await;
}
