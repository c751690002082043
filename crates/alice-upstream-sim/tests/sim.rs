//! Drives the real simulator over HTTP on 127.0.0.1 with reqwest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use alice_upstream_sim::{
    Api, BUSY_MESSAGE, Faults, SimConfig, SimHandle, SimMessage, answer_for, spawn, tokenize,
};
use futures_util::StreamExt;
use serde_json::{Value, json};

async fn start_with(config: SimConfig) -> SimHandle {
    spawn(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

async fn start(faults: Faults) -> SimHandle {
    start_with(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn conversation() -> (Value, Vec<SimMessage>) {
    let messages = vec![
        SimMessage::new("system", "Du är Alice, en hjälpsam assistent."),
        SimMessage::new("user", "Hej!"),
        SimMessage::new("assistant", "Hej! Hur kan jag hjälpa dig?"),
        SimMessage::new("user", "Vad är huvudstaden i Sverige?"),
    ];
    (serde_json::to_value(&messages).unwrap(), messages)
}

fn ndjson(body: &str) -> Vec<Value> {
    assert!(body.ends_with('\n'), "NDJSON body must end with a newline");
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The JSON payloads of an SSE body, and whether it ended with `[DONE]`.
fn sse(body: &str) -> (Vec<Value>, bool) {
    let mut events = Vec::new();
    let mut done = false;
    for block in body.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block.strip_prefix("data: ").expect("every event is data");
        assert!(!done, "nothing may follow [DONE]");
        if data == "[DONE]" {
            done = true;
        } else {
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    (events, done)
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ollama_stream_concatenates_to_the_answer_and_ends_with_a_done_line() {
    let sim = start(Faults::default()).await;
    let (messages, sim_messages) = conversation();
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": messages }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = ndjson(&response.text().await.unwrap());
    let (last, tokens) = lines.split_last().unwrap();

    let expected = answer_for(&sim_messages);
    assert!(expected.contains("Jag ser 4 meddelanden"));
    assert_eq!(tokens.len(), tokenize(&expected).len());
    let mut text = String::new();
    for line in tokens {
        assert_eq!(line["model"], "gpt-oss:20b");
        assert_eq!(line["done"], false);
        assert_eq!(line["message"]["role"], "assistant");
        assert!(line["created_at"].as_str().unwrap().contains('T'));
        text.push_str(line["message"]["content"].as_str().unwrap());
    }
    assert_eq!(text, expected);

    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["message"]["content"], "");
    assert_eq!(last["eval_count"], tokens.len() as u64);
    assert_eq!(
        last["prompt_eval_count"],
        alice_upstream_sim::prompt_token_count(&sim_messages)
    );
    for field in [
        "total_duration",
        "load_duration",
        "prompt_eval_duration",
        "eval_duration",
    ] {
        assert!(last[field].is_u64(), "{field} missing");
    }
    assert_eq!(sim.requests()[0].outcome, "ok");
    assert_eq!(sim.in_flight(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn ollama_non_streaming_returns_one_object() {
    let sim = start(Faults::default()).await;
    let (messages, sim_messages) = conversation();
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "llama3.2:3b", "messages": messages, "stream": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"]["content"], answer_for(&sim_messages));
    assert_eq!(body["done"], true);
    assert_eq!(body["done_reason"], "stop");
    assert_eq!(body["model"], "llama3.2:3b");
    assert!(body["eval_count"].as_u64().unwrap() > 5);
    assert!(!sim.requests()[0].stream);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_model_is_404_in_both_shapes() {
    let sim = start(Faults::default()).await;
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "nope:1b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "model \"nope:1b\" not found, try pulling it first"})
    );

    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "nope:1b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], Value::Null);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope:1b")
    );

    let outcomes: Vec<_> = sim.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["model_not_found", "model_not_found"]);
    assert_eq!(sim.in_flight(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn error_rate_one_with_503_gives_ollamas_busy_message() {
    let sim = start(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Faults::default()
    })
    .await;
    for _ in 0..3 {
        let response = client()
            .post(format!("{}/api/chat", sim.base_url()))
            .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"],
            "server busy, please try again.  maximum pending requests exceeded"
        );
        assert_eq!(body["error"], BUSY_MESSAGE);
    }
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(body["error"]["message"], BUSY_MESSAGE);
    assert_eq!(sim.stats().by_outcome.get("error:503"), Some(&4));
    sim.shutdown().await;
}

#[tokio::test]
async fn error_rate_half_is_repeatable_for_a_seed() {
    async fn run(sim: &SimHandle) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let response = client()
                .post(format!("{}/api/chat", sim.base_url()))
                .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                               "messages": [{"role":"user","content":"hej"}] }))
                .send()
                .await
                .unwrap();
            statuses.push(response.status().as_u16());
        }
        statuses
    }
    let sim = start(Faults {
        error_rate: 0.5,
        ..Faults::default()
    })
    .await;
    let first = run(&sim).await;
    sim.reset();
    let second = run(&sim).await;
    assert_eq!(first, second, "same seed, same failures");
    assert!(first.contains(&200) && first.contains(&500), "{first:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn mid_stream_error_is_an_error_line_after_n_tokens_with_status_200() {
    let sim = start(Faults {
        mid_stream_error_after: Some(3),
        ..Faults::default()
    })
    .await;
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let lines = ndjson(&response.text().await.unwrap());
    assert_eq!(lines.len(), 4);
    for line in &lines[..3] {
        assert_eq!(line["done"], false);
    }
    assert_eq!(
        lines[3],
        json!({"error": "simulated failure after 3 tokens"})
    );
    assert!(lines.iter().all(|l| l["done"] != true), "no done line");

    // OpenAI: an error event, then the end without [DONE].
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "stream": true,
                       "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (events, done) = sse(&response.text().await.unwrap());
    assert!(!done);
    let error = events.last().unwrap();
    assert_eq!(
        error["error"]["message"],
        "simulated failure after 3 tokens"
    );
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(events.len(), 1 + 3 + 1, "role chunk, 3 tokens, error");

    // Not streaming: a 500 with the same message.
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                       "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);

    assert_eq!(sim.stats().by_outcome.get("mid_stream_error"), Some(&3));
    sim.shutdown().await;
}

#[tokio::test]
async fn hang_holds_until_the_client_gives_up_then_frees_the_request() {
    let sim = start(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let result = client
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await;
    let error = result.expect_err("a hanging server must not answer");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    wait_until("in_flight back to 0", || sim.in_flight() == 0).await;
    assert_eq!(sim.requests()[0].outcome, "hang");
    assert_eq!(sim.stats().max_in_flight_seen, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_cuts_hanging_requests() {
    let sim = start(Faults {
        hang: true,
        ..Faults::default()
    })
    .await;
    let url = format!("{}/api/chat", sim.base_url());
    let pending = tokio::spawn(async move {
        client()
            .post(url)
            .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                           "messages": [{"role":"user","content":"hej"}] }))
            .send()
            .await
    });
    wait_until("the request to arrive", || sim.in_flight() == 1).await;
    let started = Instant::now();
    sim.clone().shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown was slow"
    );
    let result = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .unwrap()
        .unwrap();
    // Either the connection is cut before the head, or the body fails.
    if let Ok(response) = result {
        assert!(response.text().await.is_err());
    }
    sim.wait().await;
}

#[tokio::test]
async fn full_queue_turns_exactly_one_request_away() {
    let sim = start(Faults {
        latency_ms: 300,
        max_concurrent: Some(1),
        max_queue: 1,
        ..Faults::default()
    })
    .await;
    let requests = (0..3).map(|i| {
        let url = format!("{}/api/chat", sim.base_url());
        async move {
            let response = client()
                .post(url)
                .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                               "messages": [{"role":"user","content":format!("fråga {i}")}] }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let started = Instant::now();
    let results = futures_util::future::join_all(requests).await;
    let busy: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(busy.len(), 1, "{results:?}");
    assert_eq!(ok, 2, "{results:?}");
    assert_eq!(busy[0].1["error"], BUSY_MESSAGE);
    // The queued one waited for the first: two latencies in a row.
    assert!(started.elapsed() >= Duration::from_millis(600));

    let stats = sim.stats();
    assert_eq!(stats.by_outcome.get("queue_full"), Some(&1));
    assert_eq!(stats.by_outcome.get("ok"), Some(&2));
    assert_eq!(stats.max_in_flight_seen, 2);
    assert_eq!(stats.in_flight, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn num_predict_truncates_with_done_reason_length() {
    let sim = start(Faults::default()).await;
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b",
                       "messages": [{"role":"user","content":"hej"}],
                       "options": {"num_predict": 4} }))
        .send()
        .await
        .unwrap();
    let lines = ndjson(&response.text().await.unwrap());
    assert_eq!(lines.len(), 5);
    let text: String = lines[..4]
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    let expected = answer_for(&[SimMessage::new("user", "hej")]);
    assert_eq!(text, tokenize(&expected)[..4].concat());
    assert_eq!(lines[4]["done_reason"], "length");
    assert_eq!(lines[4]["eval_count"], 4);

    // A stop sequence cuts before it, and is a normal stop.
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                       "messages": [{"role":"user","content":"hej"}],
                       "options": {"stop": ["Jag ser"]} }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"]["content"], "Hej! Du skrev: \"hej\". ");
    assert_eq!(body["done_reason"], "stop");
    sim.shutdown().await;
}

#[tokio::test]
async fn openai_stream_has_role_chunk_tokens_finish_usage_and_done() {
    let sim = start(Faults::default()).await;
    let (messages, sim_messages) = conversation();
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(
            &json!({ "model": "gpt-oss:20b", "messages": messages, "stream": true,
                       "stream_options": {"include_usage": true}, "user": "u1" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (events, done) = sse(&response.text().await.unwrap());
    assert!(done, "stream must end with [DONE]");
    let expected = answer_for(&sim_messages);
    let n = tokenize(&expected).len();
    assert_eq!(events.len(), 1 + n + 1 + 1);

    let id = events[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for event in &events[..n + 2] {
        assert_eq!(event["id"], id);
        assert_eq!(event["object"], "chat.completion.chunk");
        assert_eq!(event["model"], "gpt-oss:20b");
    }
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = events[1..=n]
        .iter()
        .map(|e| e["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, expected);
    assert!(events[1]["choices"][0]["finish_reason"].is_null());
    let finish = &events[n + 1];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &events[n + 2];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], n as u64);
    let prompt = alice_upstream_sim::prompt_token_count(&sim_messages);
    assert_eq!(usage["usage"]["prompt_tokens"], prompt);
    assert_eq!(usage["usage"]["total_tokens"], prompt + n as u64);
    sim.shutdown().await;
}

#[tokio::test]
async fn openai_non_streaming_with_max_tokens() {
    let sim = start(Faults::default()).await;
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(
            &json!({ "model": "llama3.2:3b", "max_tokens": 2, "temperature": 0.2,
                       "messages": [{"role":"user","content":"hej"}] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hej! Du");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    assert_eq!(body["usage"]["prompt_tokens"], 1);
    assert_eq!(body["usage"]["total_tokens"], 3);

    // Bad bodies get 400 in OpenAI's shape.
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    sim.shutdown().await;
}

#[tokio::test]
async fn openai_injected_500_has_openais_shape() {
    let sim = start(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["type"], "server_error");
    assert_eq!(error["code"], "server_error");
    assert!(error["param"].is_null());
    assert!(error["message"].as_str().unwrap().contains("simulated"));
    assert_eq!(sim.requests()[0].outcome, "error:500");
    sim.shutdown().await;
}

#[tokio::test]
async fn model_listings_tags_show_models_version_and_root() {
    let sim = start_with(SimConfig {
        context_length: 32768,
        ..SimConfig::default()
    })
    .await;
    let base = sim.base_url();
    let tags: Value = client()
        .get(format!("{base}/api/tags"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = tags["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["name"], "gpt-oss:20b");
    assert_eq!(models[0]["model"], "gpt-oss:20b");
    assert_eq!(models[0]["size"], 13_780_173_734_u64);
    assert_eq!(models[0]["details"]["parameter_size"], "20B");
    assert_eq!(models[0]["details"]["format"], "gguf");
    assert_eq!(models[1]["name"], "llama3.2:3b");

    let show: Value = client()
        .post(format!("{base}/api/show"))
        .json(&json!({"model": "llama3.2:3b"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["model_info"]["llama.context_length"], 32768);
    assert!(
        show["modelfile"]
            .as_str()
            .unwrap()
            .contains("FROM llama3.2:3b")
    );
    let legacy = client()
        .post(format!("{base}/api/show"))
        .json(&json!({"name": "gpt-oss:20b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    let missing = client()
        .post(format!("{base}/api/show"))
        .json(&json!({"model": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"error": "model 'nope' not found"})
    );

    let list: Value = client()
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], "gpt-oss:20b");
    assert_eq!(list["data"][0]["object"], "model");
    assert_eq!(list["data"][1]["owned_by"], "alice-sim");

    let version: Value = client()
        .get(format!("{base}/api/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], "0.0.0-alice-sim");
    let root = client().get(&base).send().await.unwrap();
    assert_eq!(root.text().await.unwrap(), "Ollama is running");
    assert!(sim.requests().is_empty(), "listings are not chat requests");
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_messages_load_and_keep_alive_zero_unloads() {
    let sim = start(Faults::default()).await;
    let base = sim.base_url();
    let ps = || async {
        client()
            .get(format!("{base}/api/ps"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(ps().await["models"], json!([]));

    let load: Value = client()
        .post(format!("{base}/api/chat"))
        .json(&json!({"model": "gpt-oss:20b", "messages": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(load["done_reason"], "load");
    assert_eq!(load["done"], true);
    assert_eq!(load["message"]["content"], "");
    let loaded = ps().await;
    assert_eq!(loaded["models"][0]["name"], "gpt-oss:20b");
    assert!(loaded["models"][0]["expires_at"].is_string());

    let unload: Value = client()
        .post(format!("{base}/api/chat"))
        .json(&json!({"model": "gpt-oss:20b", "messages": [], "keep_alive": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unload["done_reason"], "unload");
    assert_eq!(ps().await["models"], json!([]));

    let recorded = sim.requests();
    assert_eq!(recorded.len(), 2);
    assert!(recorded[0].messages.is_empty());
    assert_eq!(recorded[1].keep_alive, Some(json!(0)));
    assert!(recorded.iter().all(|r| r.outcome == "ok"));
    sim.shutdown().await;
}

#[tokio::test]
async fn control_api_changes_faults_and_reports() {
    let sim = start(Faults::default()).await;
    let base = sim.base_url();
    let faults: Value = client()
        .get(format!("{base}/sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["error_rate"], 0.0);

    let put = client()
        .put(format!("{base}/sim/faults"))
        .json(&json!({"error_rate": 1.0, "error_status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(sim.faults().error_status, 502);
    let response = client()
        .post(format!("{base}/api/chat"))
        .json(&json!({"model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "simulated error (HTTP 502)"})
    );

    for bad in [
        json!({"error_rate": 2.0}),
        json!({"latency": 5}),
        json!({"hang": "yes"}),
    ] {
        let response = client()
            .put(format!("{base}/sim/faults"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("invalid faults:"),
            "{body}"
        );
    }
    assert_eq!(sim.faults().error_status, 502, "bad bodies change nothing");

    let stats: Value = client()
        .get(format!("{base}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["received"], 1);
    assert_eq!(stats["in_flight"], 0);
    assert_eq!(stats["max_in_flight_seen"], 1);
    assert_eq!(stats["by_outcome"], json!({"error:502": 1}));

    let recorded: Value = client()
        .get(format!("{base}/sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded[0]["api"], "ollama");
    assert_eq!(recorded[0]["outcome"], "error:502");

    let deleted = client()
        .delete(format!("{base}/sim/requests"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert!(sim.requests().is_empty());
    assert_eq!(sim.stats().received, 0);

    client()
        .put(format!("{base}/sim/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let response = client()
        .post(format!("{base}/api/chat"))
        .json(&json!({"model": "gpt-oss:20b", "stream": false,
                      "messages": [{"role":"user","content":"hej"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "empty faults clear the error");
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_record_messages_options_and_keep_alive() {
    let sim = start(Faults::default()).await;
    let (messages, sim_messages) = conversation();
    client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(
            &json!({ "model": "gpt-oss:20b", "messages": messages, "stream": false,
                       "options": {"num_ctx": 8192, "temperature": 0.3, "stop": ["\n\n"]},
                       "keep_alive": "15m", "format": "json", "unknown": true }),
        )
        .send()
        .await
        .unwrap();
    client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(
            &json!({ "model": "llama3.2:3b", "messages": messages, "max_completion_tokens": 50,
                       "stop": "X" }),
        )
        .send()
        .await
        .unwrap();
    let recorded = sim.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].api, Api::Ollama);
    assert_eq!(recorded[0].model, "gpt-oss:20b");
    assert_eq!(recorded[0].messages, sim_messages);
    assert!(!recorded[0].stream);
    assert_eq!(
        recorded[0].options,
        json!({"num_ctx": 8192, "temperature": 0.3, "stop": ["\n\n"]})
    );
    assert_eq!(recorded[0].keep_alive, Some(json!("15m")));
    assert_eq!(recorded[1].api, Api::OpenAi);
    assert_eq!(recorded[1].messages, sim_messages);
    assert_eq!(recorded[1].options, json!({"max_tokens": 50, "stop": "X"}));
    assert_eq!(recorded[1].keep_alive, None);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropping_a_stream_cancels_it_and_frees_the_slot() {
    let sim = start(Faults {
        tokens_per_second: 20.0,
        max_concurrent: Some(1),
        ..Faults::default()
    })
    .await;
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"{"));
    assert_eq!(sim.in_flight(), 1);
    drop(body);
    wait_until("the stream to be cancelled", || sim.in_flight() == 0).await;
    assert_eq!(sim.requests()[0].outcome, "cancelled");

    // The slot is free again: the next request runs at once.
    sim.set_faults(Faults {
        max_concurrent: Some(1),
        ..Faults::default()
    });
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "stream": false,
                       "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_ttft_and_token_rate_slow_the_answer_down() {
    let sim = start(Faults {
        latency_ms: 100,
        ttft_ms: 100,
        tokens_per_second: 100.0,
        ..Faults::default()
    })
    .await;
    let started = Instant::now();
    let response = client()
        .post(format!("{}/api/chat", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    let head = started.elapsed();
    assert!(head >= Duration::from_millis(100), "headers after latency");
    let mut body = response.bytes_stream();
    let mut first_at = None;
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        first_at.get_or_insert_with(|| started.elapsed());
        text.extend_from_slice(&chunk.unwrap());
    }
    let total = started.elapsed();
    let first_at = first_at.unwrap();
    assert!(
        first_at >= Duration::from_millis(200),
        "first token after latency + ttft"
    );
    let tokens = tokenize(&answer_for(&[SimMessage::new("user", "hej")])).len();
    // (tokens - 1) gaps of 10 ms after the first token.
    let min_total = Duration::from_millis(200 + 10 * (tokens as u64 - 1));
    assert!(total >= min_total, "{total:?} < {min_total:?}");
    let lines = ndjson(std::str::from_utf8(&text).unwrap());
    let done = lines.last().unwrap();
    assert!(done["total_duration"].as_u64().unwrap() >= 200_000_000);
    assert!(done["prompt_eval_duration"].as_u64().unwrap() >= 100_000_000);
    assert!(done["load_duration"].as_u64().unwrap() >= 100_000_000);
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_ollama_bodies_get_400_with_an_error_field() {
    let sim = start(Faults::default()).await;
    for (body, needle) in [
        ("", "missing request body"),
        ("{\"model\":", "invalid request"),
        ("{\"messages\":[]}", "model is required"),
    ] {
        let response = client()
            .post(format!("{}/api/chat", sim.base_url()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let json: Value = response.json().await.unwrap();
        assert!(json["error"].as_str().unwrap().contains(needle), "{json}");
    }
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_running_answers_finish_and_stops_accepting() {
    let sim = start(Faults {
        tokens_per_second: 40.0,
        ..Faults::default()
    })
    .await;
    let base = sim.base_url();
    let response = client()
        .post(format!("{base}/api/chat"))
        .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut text = body.next().await.unwrap().unwrap().to_vec();
    let stopping = tokio::spawn(sim.clone().shutdown());
    while let Some(chunk) = body.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    let lines = ndjson(std::str::from_utf8(&text).unwrap());
    assert_eq!(lines.last().unwrap()["done"], true, "the answer completed");
    tokio::time::timeout(Duration::from_secs(2), stopping)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sim.requests()[0].outcome, "ok");
    let refused = client().get(format!("{base}/api/version")).send().await;
    assert!(refused.is_err(), "no longer listening");
}

#[tokio::test]
async fn shutdown_cuts_answers_that_outlast_the_grace_period() {
    let sim = start(Faults {
        tokens_per_second: 1.0,
        ..Faults::default()
    })
    .await;
    let response = client()
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .json(&json!({ "model": "gpt-oss:20b", "stream": true,
                       "messages": [{"role":"user","content":"hej"}] }))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    let started = Instant::now();
    sim.clone().shutdown().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "answers get a grace period");
    assert!(
        took < Duration::from_secs(5),
        "then they are cut ({took:?})"
    );
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            failed = true;
        }
    }
    assert!(failed, "the cut body ends in an error, not a clean end");
    assert_eq!(sim.requests()[0].outcome, "cancelled");
    assert_eq!(sim.in_flight(), 0);
}

#[tokio::test]
async fn a_queued_request_whose_client_leaves_gives_up_its_place() {
    let sim = start(Faults {
        hang: true,
        max_concurrent: Some(1),
        max_queue: 1,
        ..Faults::default()
    })
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = format!("{}/api/chat", sim.base_url());
    let body = json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] });
    // The first takes the only slot and hangs; the second waits in the queue.
    let holder = tokio::spawn({
        let (client, url, body) = (client(), url.clone(), body.clone());
        async move { client.post(url).json(&body).send().await }
    });
    wait_until("the slot to be taken", || sim.in_flight() == 1).await;
    let queued = impatient.post(&url).json(&body).send().await;
    assert!(queued.unwrap_err().is_timeout());
    wait_until("the queued request to leave", || sim.in_flight() == 1).await;
    let outcomes: Vec<_> = sim.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["hang", "cancelled"]);

    // Its place is free again: another request can queue instead of getting 503.
    let again = impatient.post(&url).json(&body).send().await;
    assert!(again.unwrap_err().is_timeout(), "queued, not turned away");
    assert_eq!(sim.stats().by_outcome.get("queue_full"), None);
    holder.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_errors_can_carry_a_huge_body() {
    let sim = start(Faults {
        error_rate: 1.0,
        error_body_bytes: 256 * 1024,
        ..Faults::default()
    })
    .await;
    for path in ["/api/chat", "/v1/chat/completions"] {
        let response = client()
            .post(format!("{}{path}", sim.base_url()))
            .json(&json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let body = response.text().await.unwrap();
        assert!(body.len() >= 256 * 1024, "{path}: {} bytes", body.len());
        assert!(body.contains("simulated internal server error"), "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_endless_event_goes_on_until_the_client_leaves() {
    let sim = start(Faults {
        endless_event: true,
        ..Faults::default()
    })
    .await;
    for (path, stream_field) in [("/api/chat", None), ("/v1/chat/completions", Some(true))] {
        let mut body =
            json!({ "model": "gpt-oss:20b", "messages": [{"role":"user","content":"hej"}] });
        if let Some(stream) = stream_field {
            body["stream"] = json!(stream);
        }
        let response = client()
            .post(format!("{}{path}", sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut bytes = response.bytes_stream();
        let mut read = Vec::new();
        while read.len() < 512 * 1024 {
            read.extend_from_slice(&bytes.next().await.unwrap().unwrap());
        }
        let text = String::from_utf8_lossy(&read);
        match path {
            "/api/chat" => assert!(!text.contains('\n'), "one line without an end"),
            _ => assert!(!text.contains("\n\n"), "one event without an end"),
        }
        drop(bytes);
        wait_until("in_flight back to 0", || sim.in_flight() == 0).await;
    }
    sim.shutdown().await;
}
