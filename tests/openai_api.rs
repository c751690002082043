//! The OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`) over real HTTP, against the
//! upstream simulator: answers, streams, limits passed on, and every error in OpenAI's shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::{Faults, SimMessage, answer_for, prompt_token_count, tokenize};
use common::{Alice, MODEL, config, start_sim};
use serde_json::{Value, json};
use std::time::Duration;

type Setup = (Alice, alice_upstream_sim::SimHandle, tempfile::TempDir);

async fn alice_with(faults: Faults) -> Setup {
    alice_configured(faults, |_| {}).await
}

async fn alice_configured(faults: Faults, tweak: impl FnOnce(&mut alice_core::Config)) -> Setup {
    let sim = start_sim(faults).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    tweak(&mut settings);
    let alice = Alice::start(settings).await;
    (alice, sim, dir)
}

const QUESTION: &str = "Vad är Sveriges huvudstad?";

fn ask(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [{ "role": "user", "content": QUESTION }],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

/// POSTs to /v1/chat/completions: status, headers and raw body.
async fn post(alice: &Alice, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    let response = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn complete(alice: &Alice, body: &Value) -> (u16, Value) {
    let (status, _, text) = post(alice, body).await;
    (status, serde_json::from_str(&text).unwrap())
}

/// The `data:` payloads of an SSE body, in order (keep-alive comments skipped).
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

/// A streamed answer: its JSON chunks, and whether it ended with `[DONE]`.
async fn stream(alice: &Alice, body: &Value) -> (Vec<Value>, bool) {
    let (status, headers, text) = post(alice, body).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut lines = data_lines(&text);
    let done = lines.last().is_some_and(|last| last == "[DONE]");
    if done {
        lines.pop();
    }
    assert!(
        !lines.iter().any(|l| l == "[DONE]"),
        "[DONE] only at the end"
    );
    let chunks = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (chunks, done)
}

fn joined_content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// The messages the simulator received in its only (or last) request.
fn received(sim: &alice_upstream_sim::SimHandle) -> (Vec<SimMessage>, Value) {
    let last = sim.requests().pop().expect("the simulator got a request");
    (last.messages, last.options)
}

/// An error in OpenAI's shape: `{"error": {message, type, param, code}}` and nothing else.
fn assert_openai_error(body: &Value, kind: &str, param: Option<&str>, code: &str) {
    let error = &body["error"];
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["type"], kind, "{body}");
    assert_eq!(
        error["param"],
        param.map_or(Value::Null, |p| json!(p)),
        "{body}"
    );
    assert_eq!(error["code"], code, "{body}");
}

#[tokio::test]
async fn a_plain_answer_is_the_models_answer_with_its_usage() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let body = json!({
        "model": "whatever-the-client-likes",
        "messages": [
            { "role": "system", "content": "Du är en testbot." },
            { "role": "user", "content": "Hej!" },
            { "role": "assistant", "content": "Hej hej." },
            { "role": "user", "content": [{ "type": "text", "text": QUESTION }] },
        ],
        "user": "anna",
        "top_p": 0.9, "seed": 7, "presence_penalty": 0, "response_format": { "type": "text" },
        "some_future_field": { "x": 1 },
    });
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (status, reply) = complete(&alice, &body).await;
    assert_eq!(status, 200, "{reply}");

    let (messages, _) = received(&sim);
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(
        messages[0].content, "Du är en testbot.",
        "the client's system prompt wins"
    );
    let expected = answer_for(&messages);
    assert!(expected.contains(QUESTION));

    assert!(
        reply["id"].as_str().unwrap().starts_with("chatcmpl-"),
        "{reply}"
    );
    assert_eq!(reply["object"], "chat.completion");
    assert!((started..=started + 5).contains(&reply["created"].as_i64().unwrap()));
    assert_eq!(reply["model"], format!("ollama:{MODEL}"));
    let choice = &reply["choices"][0];
    assert_eq!(reply["choices"].as_array().unwrap().len(), 1);
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], expected.as_str());
    assert_eq!(choice["finish_reason"], "stop");
    let prompt_tokens = prompt_token_count(&messages);
    let completion_tokens = tokenize(&expected).len() as u64;
    assert_eq!(
        reply["usage"],
        json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        })
    );
    alice.stop().await;
}

#[tokio::test]
async fn without_a_system_message_alice_answers_as_alice_and_nothing_is_remembered() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let system_prompt = alice_core::config::ChatConfig::default().system_prompt;
    for _ in 0..2 {
        let (status, reply) = complete(&alice, &ask(json!({}))).await;
        assert_eq!(status, 200, "{reply}");
        let (messages, _) = received(&sim);
        // Stateless: the second request reaches the model exactly like the first, no history.
        assert_eq!(
            messages,
            [
                SimMessage::new("system", system_prompt.as_str()),
                SimMessage::new("user", QUESTION),
            ]
        );
        assert_eq!(
            reply["choices"][0]["message"]["content"],
            answer_for(&messages).as_str()
        );
    }
    alice.stop().await;
}

#[tokio::test]
async fn a_stream_joins_to_the_same_answer_and_ends_with_done() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let (_, plain) = complete(&alice, &ask(json!({}))).await;
    let (chunks, done) = stream(&alice, &ask(json!({ "stream": true }))).await;
    assert!(done, "{chunks:?}");
    assert!(
        sim.requests().iter().all(|r| r.stream),
        "Alice always streams from the backend"
    );

    let first = &chunks[0];
    assert_eq!(
        first["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "" })
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], first["id"]);
        assert_eq!(chunk["created"], first["created"]);
        assert_eq!(chunk["model"], format!("ollama:{MODEL}"));
        assert!(
            chunk.get("usage").is_none(),
            "no usage unless asked: {chunk}"
        );
    }
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
    }
    let text = joined_content(&chunks);
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // One chunk per token from the backend, plus the role and finish chunks.
    assert_eq!(chunks.len(), tokenize(&text).len() + 2);
    alice.stop().await;
}

#[tokio::test]
async fn include_usage_adds_one_usage_chunk_before_done() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let (_, plain) = complete(&alice, &ask(json!({}))).await;
    let body = ask(json!({ "stream": true, "stream_options": { "include_usage": true } }));
    let (chunks, done) = stream(&alice, &body).await;
    assert!(done);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]), "{usage}");
    assert_eq!(usage["usage"], plain["usage"]);
    assert_eq!(usage["object"], "chat.completion.chunk");
    // As from OpenAI: the other chunks carry "usage": null.
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["usage"], Value::Null, "{chunk}");
        assert!(chunk.get("usage").is_some());
    }
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );

    let off = ask(json!({ "stream": true, "stream_options": { "include_usage": false } }));
    let (chunks, _) = stream(&alice, &off).await;
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    alice.stop().await;
}

#[tokio::test]
async fn max_tokens_reaches_the_backend_and_ends_with_length() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let (status, reply) = complete(&alice, &ask(json!({ "max_tokens": 3 }))).await;
    assert_eq!(status, 200, "{reply}");
    let (messages, options) = received(&sim);
    assert_eq!(options["num_predict"], 3, "{options}");
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "length");
    let expected: String = tokenize(&answer_for(&messages))[..3].concat();
    assert_eq!(choice["message"]["content"], expected.as_str());
    assert_eq!(reply["usage"]["completion_tokens"], 3);

    let (chunks, done) = stream(
        &alice,
        &ask(json!({ "max_completion_tokens": 3, "stream": true })),
    )
    .await;
    assert!(done);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    assert_eq!(joined_content(&chunks), expected);
    assert_eq!(received(&sim).1["num_predict"], 3);

    // Above chat.max_tokens it is lowered, not refused; left out, the config's value is used.
    let (status, _) = complete(&alice, &ask(json!({ "max_tokens": 1_000_000 }))).await;
    assert_eq!(status, 200);
    assert_eq!(received(&sim).1["num_predict"], 2048);
    complete(&alice, &ask(json!({}))).await;
    let (_, options) = received(&sim);
    assert_eq!(options["num_predict"], 2048);
    assert_eq!(options["temperature"].as_f64().unwrap() as f32, 0.3);
    alice.stop().await;
}

#[tokio::test]
async fn stop_and_temperature_pass_through() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let (status, reply) =
        complete(&alice, &ask(json!({ "stop": "skrev", "temperature": 1.5 }))).await;
    assert_eq!(status, 200, "{reply}");
    let (_, options) = received(&sim);
    assert_eq!(options["stop"], json!(["skrev"]));
    assert_eq!(options["temperature"], 1.5);
    assert_eq!(reply["choices"][0]["message"]["content"], "Hej! Du ");
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");

    let (status, reply) = complete(&alice, &ask(json!({ "stop": ["Jag", "Du"] }))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(received(&sim).1["stop"], json!(["Jag", "Du"]));
    assert_eq!(reply["choices"][0]["message"]["content"], "Hej! ");
    alice.stop().await;
}

#[tokio::test]
async fn invalid_requests_get_400_in_openais_shape_and_never_reach_the_model() {
    let (alice, sim, _dir) = alice_with(Faults::default()).await;
    let user = json!([{ "role": "user", "content": "Hej" }]);
    let invalid = "invalid_request_error";
    let cases = [
        (json!({ "model": "m" }), Some("messages"), "invalid_input"),
        (json!({ "messages": user }), Some("model"), "invalid_input"),
        (
            json!({ "model": "m", "messages": [] }),
            Some("messages"),
            "invalid_input",
        ),
        (
            json!({ "model": "m", "messages": "Hej" }),
            Some("messages"),
            "invalid_input",
        ),
        (ask(json!({ "n": 2 })), Some("n"), "unsupported_value"),
        (
            ask(json!({ "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "Vad ser du?" },
                { "type": "image_url", "image_url": { "url": "https://example.com/a.png" } },
            ] }] })),
            Some("messages[0].content"),
            "unsupported_value",
        ),
        (
            ask(json!({ "functions": [{ "name": "f" }] })),
            Some("functions"),
            "unsupported_parameter",
        ),
        (
            ask(json!({ "tool_choice": "required" })),
            Some("tool_choice"),
            "invalid_input",
        ),
        (
            ask(json!({ "tools": [{ "type": "function" }] })),
            Some("tools[0]"),
            "invalid_input",
        ),
        (
            ask(json!({ "temperature": 3 })),
            Some("temperature"),
            "invalid_input",
        ),
        (
            ask(json!({ "temperature": "varm" })),
            Some("temperature"),
            "invalid_input",
        ),
        (
            ask(json!({ "max_tokens": 0 })),
            Some("max_tokens"),
            "invalid_input",
        ),
        (
            ask(json!({ "max_tokens": -5 })),
            Some("max_tokens"),
            "invalid_input",
        ),
        (
            ask(json!({ "stop": ["a", "b", "c", "d", "e"] })),
            Some("stop"),
            "invalid_input",
        ),
        (
            ask(json!({ "stream": "ja" })),
            Some("stream"),
            "invalid_input",
        ),
        (
            ask(
                json!({ "messages": [{ "role": "user", "content": "a" }, { "role": "assistant", "content": "b" }] }),
            ),
            Some("messages[1].role"),
            "invalid_input",
        ),
        (
            ask(
                json!({ "messages": [{ "role": "tool", "tool_call_id": "c", "content": "42" }, { "role": "user", "content": "b" }] }),
            ),
            Some("messages[0].role"),
            "invalid_input",
        ),
        (
            ask(json!({ "messages": [{ "role": "user", "content": "ord ".repeat(2500) }] })),
            Some("messages"),
            "context_length_exceeded",
        ),
        (
            ask(json!({ "messages": [{ "role": "user", "content": "x".repeat(32_001) }] })),
            Some("messages"),
            "invalid_input",
        ),
    ];
    for (body, param, code) in cases {
        let (status, headers, text) = post(&alice, &body).await;
        assert_eq!(status, 400, "{body} -> {text}");
        assert_eq!(headers["content-type"], "application/json");
        assert!(headers.contains_key("x-request-id"));
        let reply: Value = serde_json::from_str(&text).unwrap();
        assert_openai_error(&reply, invalid, param, code);
    }
    let (_, reply) = complete(&alice, &ask(json!({ "functions": [{ "name": "f" }] }))).await;
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("send the functions as tools"), "{message}");

    for raw in ["{\"model\": ", "not json", "", "[1, 2]"] {
        let response = alice
            .http
            .post(alice.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{raw:?}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["error"]["type"], invalid, "{raw:?} -> {reply}");
        assert_eq!(
            reply["error"]["code"], "invalid_input",
            "{raw:?} -> {reply}"
        );
    }
    assert!(
        sim.requests().is_empty(),
        "bad input never reaches the model"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_in_openais_shape() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let huge =
        ask(json!({ "messages": [{ "role": "user", "content": "a".repeat(1024 * 1024 + 10) }] }));
    let (status, reply) = complete(&alice, &huge).await;
    assert_eq!(status, 413);
    assert_openai_error(&reply, "invalid_request_error", None, "payload_too_large");
    alice.stop().await;
}

#[tokio::test]
async fn a_busy_backend_gives_503_with_retry_after_also_for_streams() {
    let busy = Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    };
    // The breaker stays shut, so both requests reach the backend and see it busy.
    let (alice, _sim, _dir) = alice_configured(busy, |c| c.breaker.min_requests = 1000).await;
    for body in [ask(json!({})), ask(json!({ "stream": true }))] {
        let (status, headers, text) = post(&alice, &body).await;
        assert_eq!(status, 503, "{text}");
        assert!(headers.contains_key("retry-after"), "{headers:?}");
        assert_eq!(headers["content-type"], "application/json");
        let reply: Value = serde_json::from_str(&text).unwrap();
        assert_openai_error(&reply, "server_error", None, "backend_busy");
    }
    alice.stop().await;
}

#[tokio::test]
async fn a_missing_model_gives_502() {
    let (alice, _sim, _dir) = alice_configured(Faults::default(), |c| {
        c.backends[0].model = "mistral:7b".into()
    })
    .await;
    let (status, reply) = complete(&alice, &ask(json!({}))).await;
    assert_eq!(status, 502, "{reply}");
    assert_openai_error(&reply, "server_error", None, "model_not_found");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("ask for another model"), "{message}");
    assert!(!message.contains("ollama pull"), "{message}");
    alice.stop().await;
}

#[tokio::test]
async fn a_stream_that_breaks_after_tokens_ends_with_an_error_chunk_and_no_done() {
    let (alice, _sim, _dir) = alice_with(Faults {
        mid_stream_error_after: Some(3),
        ..Faults::default()
    })
    .await;
    let (chunks, done) = stream(&alice, &ask(json!({ "stream": true }))).await;
    assert!(!done, "a broken answer must not look complete: {chunks:?}");
    assert_eq!(chunks.len(), 1 + 3 + 1, "{chunks:?}");
    assert_eq!(joined_content(&chunks[..4]).split_whitespace().count(), 3);
    assert_openai_error(
        chunks.last().unwrap(),
        "server_error",
        None,
        "backend_stream_broken",
    );

    // Not streamed, the same failure is a plain 502.
    let (status, reply) = complete(&alice, &ask(json!({}))).await;
    assert_eq!(status, 502);
    assert_openai_error(&reply, "server_error", None, "backend_stream_broken");
    alice.stop().await;
}

#[tokio::test]
async fn a_slow_stream_is_cut_at_stream_max_with_an_error_chunk() {
    let slow = Faults {
        tokens_per_second: 4.0,
        ..Faults::default()
    };
    let (alice, sim, _dir) = alice_configured(slow, |c| {
        c.deadlines.chat = Duration::from_millis(1200);
        c.deadlines.stream_max = Duration::from_millis(1500);
    })
    .await;
    let (chunks, done) = stream(&alice, &ask(json!({ "stream": true }))).await;
    assert!(!done);
    assert!(chunks.len() > 2, "some tokens came: {chunks:?}");
    assert_openai_error(
        chunks.last().unwrap(),
        "server_error",
        None,
        "stream_too_long",
    );
    assert!(common::eventually(Duration::from_secs(3), || sim.in_flight() == 0).await);
    alice.stop().await;
}

#[tokio::test]
async fn models_lists_the_configured_model_and_the_alias() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let (status, body) = alice.get("/v1/models").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [MODEL, "alice"]);
    for model in body["data"].as_array().unwrap() {
        assert_eq!(model["object"], "model");
        assert_eq!(model["owned_by"], "alice");
        assert!(model["created"].as_i64().unwrap() > 1_700_000_000);
    }
    alice.stop().await;
}

#[tokio::test]
async fn unknown_v1_paths_and_methods_answer_in_openais_shape() {
    let (alice, _sim, _dir) = alice_with(Faults::default()).await;
    let (status, body) = alice.get("/v1/embeddings").await;
    assert_eq!(status, 404);
    assert_openai_error(&body, "invalid_request_error", None, "route_not_found");
    let (status, body) = alice.get("/v1/chat/completions").await;
    assert_eq!(status, 405);
    assert_openai_error(&body, "invalid_request_error", None, "method_not_allowed");
    // Alice's own API keeps its own shape.
    let (status, body) = alice.get("/api/nothing").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route_not_found");
    alice.stop().await;
}
