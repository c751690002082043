//! The chat path end to end: Alice and the upstream simulator over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::{Faults, SimMessage, answer_for};
use common::{Alice, config, eventually, parse_sse, start_sim};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

const SYSTEM_PROMPT: &str =
    "Du är Alice, en hjälpsam svensk AI-assistent. Svara kort och vänligt på svenska.";

#[tokio::test]
async fn a_three_turn_swedish_conversation_carries_its_history_to_the_model() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    let questions = [
        "Hej! Jag planerar en resa till Göteborg i juni.",
        "Vilka museer borde jag besöka där?",
        "Och var kan jag äta god fisk på kvällen?",
    ];
    let (status, first) = alice
        .chat(json!({ "message": questions[0], "user": "anna" }))
        .await;
    assert_eq!(status, 200, "{first}");
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let mut answers = vec![first["response"].as_str().unwrap().to_owned()];
    for question in &questions[1..] {
        let (status, reply) = alice
            .chat(json!({ "message": question, "conversation_id": conversation, "user": "anna" }))
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["conversation_id"], conversation.as_str());
        answers.push(reply["response"].as_str().unwrap().to_owned());
    }

    // What the model received for the third turn: system prompt, both earlier turns, the question.
    let requests = sim.requests();
    assert_eq!(requests.len(), 3);
    let seen: Vec<(String, String)> = requests[2]
        .messages
        .iter()
        .map(|m| (m.role.clone(), m.content.clone()))
        .collect();
    let expected: Vec<(String, String)> = vec![
        ("system".into(), SYSTEM_PROMPT.into()),
        ("user".into(), questions[0].into()),
        ("assistant".into(), answers[0].clone()),
        ("user".into(), questions[1].into()),
        ("assistant".into(), answers[1].clone()),
        ("user".into(), questions[2].into()),
    ];
    assert_eq!(seen, expected);
    // The simulator's answer counts the messages it was given.
    assert!(
        answers[2].contains("Jag ser 6 meddelanden"),
        "{}",
        answers[2]
    );
    assert_eq!(
        answers[2],
        answer_for(
            &expected
                .iter()
                .map(|(r, c)| SimMessage::new(r.clone(), c.clone()))
                .collect::<Vec<_>>()
        )
    );

    // The conversation reads back whole, in order, with its title.
    let history = alice.history(&conversation).await;
    assert_eq!(
        history,
        expected[1..]
            .iter()
            .cloned()
            .chain([("assistant".into(), answers[2].clone())])
            .collect::<Vec<_>>()
    );
    let (status, meta) = alice
        .get(&format!("/api/conversations/{conversation}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(meta["message_count"], 6);
    assert_eq!(meta["username"], "anna");
    assert_eq!(
        meta["title"],
        questions[0].chars().take(50).collect::<String>()
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_ollama_request_carries_the_configured_options() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (status, reply) = alice.chat(json!({ "message": "Vad är klockan?" })).await;
    assert_eq!(status, 200, "{reply}");
    let request = &sim.requests()[0];
    assert_eq!(request.model, common::MODEL);
    assert_eq!(request.options["num_ctx"], 4096);
    assert_eq!(request.options["num_predict"], 2048);
    assert!((request.options["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(request.keep_alive, Some(json!("15m")));
    assert!(request.stream, "Alice always streams from Ollama");
    assert_eq!(reply["model"], "ollama:gpt-oss:20b");
    assert_eq!(reply["cached"], false);
    assert_eq!(reply["finish_reason"], "stop");
    for field in [
        "message_id",
        "timestamp",
        "ttft_ms",
        "total_ms",
        "request_id",
    ] {
        assert!(!reply[field].is_null(), "{field} missing in {reply}");
    }
    alice.stop().await;
}

#[tokio::test]
async fn ttft_and_total_time_are_measured_not_invented() {
    // 300 ms before the first token, then 10 tokens a second.
    let sim = start_sim(Faults {
        ttft_ms: 300,
        tokens_per_second: 10.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (status, reply) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 200, "{reply}");
    let ttft = reply["ttft_ms"].as_u64().unwrap();
    let total = reply["total_ms"].as_u64().unwrap();
    let tokens = reply["completion_tokens"].as_u64().unwrap();
    assert!(
        ttft >= 300,
        "ttft {ttft} ms cannot beat the upstream's 300 ms"
    );
    // The remaining tokens arrive 100 ms apart.
    assert!(
        total >= ttft + (tokens - 1) * 100,
        "total {total} ms, ttft {ttft} ms, {tokens} tokens"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_streamed_answer_arrives_as_deltas_then_done_and_is_stored() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Berätta om Vasaskeppet", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = parse_sse(&response.text().await.unwrap());
    let (deltas, rest) = events.split_at(events.len() - 1);
    assert!(deltas.len() > 3, "{events:?}");
    assert!(deltas.iter().all(|e| e.event == "delta"));
    let streamed: String = deltas
        .iter()
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    let done = &rest[0];
    assert_eq!(done.event, "done");
    assert_eq!(done.data["response"], streamed.as_str());
    let prompt: Vec<SimMessage> = sim.requests()[0].messages.clone();
    assert_eq!(streamed, answer_for(&prompt));
    let conversation = done.data["conversation_id"].as_str().unwrap();
    let history = alice.history(conversation).await;
    assert_eq!(history[1], ("assistant".to_owned(), streamed));
    alice.stop().await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_stops_generation_and_stores_nothing() {
    let sim = start_sim(Faults {
        tokens_per_second: 20.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (_, first) = alice.chat(json!({ "message": "Första frågan" })).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();

    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(
            &json!({ "message": "Andra frågan", "conversation_id": conversation, "stream": true }),
        )
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let chunk = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("delta"));
    assert_eq!(sim.in_flight(), 1);
    drop(body);
    assert!(
        eventually(Duration::from_secs(3), || sim.in_flight() == 0).await,
        "the upstream request should end when the client leaves"
    );
    // Give a wrongly continuing writer time to show itself.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        alice.history(&conversation).await.len(),
        2,
        "an abandoned turn is not stored"
    );
    alice.stop().await;
}

#[tokio::test]
async fn history_is_trimmed_to_the_context_budget() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    // 1024 - 512 = 512 tokens of prompt: a 1900-character message takes ~479, so it fits
    // alone but not beside its answer (~34) and the next question (~7).
    settings.chat.num_ctx = 1024;
    settings.chat.max_tokens = 512;
    settings.chat.system_prompt = String::new();
    let alice = Alice::start(settings).await;
    let long = "å".repeat(1900);
    let (_, first) = alice.chat(json!({ "message": long })).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let (status, _) = alice
        .chat(json!({ "message": "Kort fråga", "conversation_id": conversation }))
        .await;
    assert_eq!(status, 200);
    let sent = &sim.requests()[1].messages;
    // The long first question no longer fits beside the new one; its short answer does.
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].role, "assistant");
    assert_eq!(sent[1].content, "Kort fråga");
    alice.stop().await;
}

#[tokio::test]
async fn a_conversation_survives_a_restart_of_alice() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (_, first) = alice
        .chat(json!({ "message": "Jag heter Sven och bor i Luleå." }))
        .await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    alice.stop().await;

    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    assert_eq!(alice.history(&conversation).await.len(), 2);
    let (status, reply) = alice
        .chat(json!({ "message": "Vad heter jag?", "conversation_id": conversation }))
        .await;
    assert_eq!(status, 200, "{reply}");
    let sent = &sim.requests()[1].messages;
    assert_eq!(sent[1].content, "Jag heter Sven och bor i Luleå.");
    assert_eq!(alice.history(&conversation).await.len(), 4);
    alice.stop().await;
}

#[tokio::test]
async fn ready_reports_database_and_backend() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let mut body = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, current) = alice.get("/ready").await;
        assert_eq!(status, 200, "{current}");
        body = current;
        if body["backends"][0]["status"] == "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["backends"][0]["status"], "ok", "{body}");
    assert_eq!(
        body["backends"][0]["probe"]["health"]["context_length"],
        8192
    );
    let (status, health) = alice.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    alice.stop().await;
}

#[tokio::test]
async fn a_shutdown_lets_an_answer_in_flight_finish_and_be_stored() {
    let sim = start_sim(Faults {
        tokens_per_second: 25.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Hinner du svara innan du stängs?", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reading = tokio::spawn(response.text());
    let (http, base) = (alice.http.clone(), alice.base.clone());
    alice
        .server
        .shutdown(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        http.get(format!("{base}/health")).send().await.is_err(),
        "no new requests after shutdown"
    );

    let events = parse_sse(&reading.await.unwrap().unwrap());
    let done = events.last().unwrap();
    assert_eq!(done.event, "done", "{events:?}");
    let conversation = done.data["conversation_id"].as_str().unwrap().to_owned();

    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    assert_eq!(
        alice.history(&conversation).await.len(),
        2,
        "the answered turn was committed"
    );
    alice.stop().await;
}

/// Polls /ready until the first backend's probe has measured a first token.
async fn ready_after_generation_probe(alice: &Alice) -> serde_json::Value {
    for _ in 0..200 {
        let (_, ready) = alice.get("/ready").await;
        if ready["backends"][0]["probe"]["first_token_ms"].is_u64() {
            return ready;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no generation probe result within 4 s");
}

#[tokio::test]
async fn the_model_is_warmed_at_start_and_probed_with_a_short_answer() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.backends[0].warm_up = true;
    settings.backends[0].probe_generation = true;
    let alice = Alice::start(settings).await;
    let ready = ready_after_generation_probe(&alice).await;
    assert_eq!(ready["backends"][0]["status"], "ok", "{ready}");
    let requests = sim.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.messages.is_empty() && r.keep_alive == Some(json!("15m"))),
        "a warm-up loads the model with keep_alive: {requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.messages.len() == 1
            && r.messages[0].content == alice_llm::PROBE_PROMPT
            && r.options["num_predict"] == 5),
        "a 5-token probe: {requests:?}"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_model_slower_than_the_probe_allows_is_reported_degraded() {
    let sim = start_sim(Faults {
        ttft_ms: 400,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.backends[0].probe_generation = true;
    settings.backends[0].probe_first_token_max = Duration::from_millis(200);
    let alice = Alice::start(settings).await;
    let ready = ready_after_generation_probe(&alice).await;
    let backend = &ready["backends"][0];
    assert_eq!(backend["status"], "degraded", "{ready}");
    assert!(backend["probe"]["first_token_ms"].as_u64().unwrap() >= 200);
    let error = backend["probe"]["health"]["error"].as_str().unwrap();
    assert!(error.contains("probe_first_token_max"), "{error}");
    alice.stop().await;
}
