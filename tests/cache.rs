//! The response cache and the de-duplication of requests in flight, end to end: Alice with the
//! cache on, the upstream simulator counting every call that reaches it, and (where
//! `ALICE_TEST_REDIS_URL` is set) the real Redis server as the shared second tier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::{Faults, SimHandle, SimMessage, answer_for};
use common::{Alice, config, eventually, parse_sse, start_sim, until};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;

const QUESTION: &str = "Vad är Sveriges huvudstad?";
const SYSTEM_PROMPT: &str =
    "Du är Alice, en hjälpsam svensk AI-assistent. Svara kort och vänligt på svenska.";

/// Alice with the response cache on (the shared test config turns it off), in front of `sim`.
async fn alice_with_cache(
    sim: &SimHandle,
    tweak: impl FnOnce(&mut alice_core::Config),
) -> (Alice, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.cache.enabled = true;
    tweak(&mut settings);
    settings.validate().unwrap();
    (Alice::start(settings).await, dir)
}

/// What the simulator answers to `question` asked with Alice's system prompt and no history.
fn expected_answer(question: &str) -> String {
    answer_for(&[
        SimMessage::new("system", SYSTEM_PROMPT),
        SimMessage::new("user", question),
    ])
}

async fn openai(alice: &Alice, body: &Value) -> (u16, Value) {
    alice.post("/v1/chat/completions", body.clone()).await
}

fn openai_question(question: &str, extra: Value) -> Value {
    let mut body = json!({
        "model": "alice",
        "messages": [{ "role": "user", "content": question }],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn a_repeated_question_is_answered_from_the_cache_and_kept_as_a_turn() {
    let sim = start_sim(Faults::default()).await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;

    let (status, first) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cached"], false);
    assert_eq!(first["response"], expected_answer(QUESTION).as_str());

    // Another person, another conversation, the same question: no second model call.
    let (status, second) = alice
        .chat(json!({ "message": QUESTION, "user": "bertil" }))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(sim.requests().len(), 1, "the repeat reached the model");
    assert_eq!(second["cached"], true);
    assert_eq!(second["response"], first["response"]);
    assert_ne!(second["conversation_id"], first["conversation_id"]);
    assert!(
        second["model"].as_str().unwrap().ends_with("(cache)"),
        "{second}"
    );

    // The hit is a turn like any other: stored, and marked.
    let conversation = second["conversation_id"].as_str().unwrap();
    let (status, page) = alice
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200);
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{page}");
    assert_eq!(messages[0]["content"], QUESTION);
    assert_eq!(messages[1]["content"], first["response"]);
    assert_eq!(messages[1]["cached"], true);

    // A streaming client gets the kept answer as a stream.
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": QUESTION, "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    let (deltas, rest) = events.split_at(events.len() - 1);
    assert!(deltas.len() > 3, "the answer comes in pieces: {events:?}");
    let streamed: String = deltas
        .iter()
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, first["response"].as_str().unwrap());
    assert_eq!(rest[0].event, "done");
    assert_eq!(rest[0].data["cached"], true);
    assert_eq!(sim.requests().len(), 1);

    let scrape = alice.scrape().await;
    assert_eq!(
        scrape.value("alice_cache_lookups_total", &[("result", "miss")]),
        1.0
    );
    assert_eq!(
        scrape.value("alice_cache_lookups_total", &[("result", "local")]),
        2.0
    );
    assert_eq!(scrape.value("alice_cache_stored_total", &[]), 1.0);
    assert_eq!(scrape.value("alice_cache_entries", &[]), 1.0);
    assert!(scrape.value("alice_cache_bytes", &[]) > 0.0);
    alice.stop().await;
}

#[tokio::test]
async fn every_part_of_the_key_decides_between_hit_and_miss() {
    let sim = start_sim(Faults::default()).await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    let calls = || sim.requests().len();

    let ask = |question: &str, extra: Value| openai_question(question, extra);
    let (status, reply) = openai(&alice, &ask(QUESTION, json!({ "temperature": 0.2 }))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(calls(), 1);

    // Case, spacing and the final punctuation are not part of the question.
    for same in [
        "vad är sveriges huvudstad",
        "  VAD  är Sveriges huvudstad?! ",
    ] {
        let (status, again) = openai(&alice, &ask(same, json!({ "temperature": 0.2 }))).await;
        assert_eq!(status, 200);
        assert_eq!(
            again["choices"][0]["message"]["content"],
            reply["choices"][0]["message"]["content"]
        );
    }
    assert_eq!(calls(), 1, "normalised repeats are hits");

    // Swedish letters are kept: "Vad ar" is another question.
    openai(
        &alice,
        &ask("Vad ar Sveriges huvudstad?", json!({ "temperature": 0.2 })),
    )
    .await;
    assert_eq!(calls(), 2, "å/ä/ö are not folded away");

    // Sampling options are part of the key.
    openai(&alice, &ask(QUESTION, json!({ "temperature": 0.7 }))).await;
    assert_eq!(calls(), 3, "another temperature misses");
    openai(
        &alice,
        &ask(QUESTION, json!({ "temperature": 0.2, "max_tokens": 500 })),
    )
    .await;
    assert_eq!(calls(), 4, "another token limit misses");
    openai(
        &alice,
        &ask(QUESTION, json!({ "temperature": 0.2, "stop": ["."] })),
    )
    .await;
    assert_eq!(calls(), 5, "other stop words miss");

    // So is the system prompt.
    let with_system = json!({
        "model": "alice",
        "temperature": 0.2,
        "messages": [
            { "role": "system", "content": "Svara på engelska." },
            { "role": "user", "content": QUESTION }
        ],
    });
    openai(&alice, &with_system).await;
    assert_eq!(calls(), 6, "another system prompt misses");
    openai(&alice, &with_system).await;
    assert_eq!(calls(), 6, "and then hits");

    // And the model: after an operator's switch the same question is asked anew.
    let (status, _) = alice
        .post("/api/brain/model/switch", json!({ "model": "llama3.2:3b" }))
        .await;
    assert_eq!(status, 200);
    openai(&alice, &ask(QUESTION, json!({ "temperature": 0.2 }))).await;
    assert_eq!(calls(), 7, "another model misses");
    assert_eq!(sim.requests().last().unwrap().model, "llama3.2:3b");

    // Questions whose answer depends on the clock, the asker or a tool are never shared.
    for question in [
        "Vad är klockan just nu?",
        "Vad heter min hund?",
        "Hur blir vädret i Malmö?",
    ] {
        openai(&alice, &ask(question, json!({}))).await;
        openai(&alice, &ask(question, json!({}))).await;
    }
    assert_eq!(
        calls(),
        13,
        "each uncacheable question went to the model twice"
    );
    let scrape = alice.scrape().await;
    for reason in ["time", "personal", "tool"] {
        assert_eq!(
            scrape.value("alice_cache_uncacheable_total", &[("reason", reason)]),
            2.0,
            "{reason}"
        );
    }
    alice.stop().await;
}

#[tokio::test]
async fn a_follow_up_in_a_conversation_is_never_served_from_the_cache() {
    let sim = start_sim(Faults::default()).await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    let (_, first) = alice.chat(json!({ "message": QUESTION })).await;
    let conversation = first["conversation_id"].as_str().unwrap();
    // The same words, but inside a conversation: its meaning may lean on the earlier turns.
    let (status, again) = alice
        .chat(json!({ "message": QUESTION, "conversation_id": conversation }))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["cached"], false);
    assert_eq!(sim.requests().len(), 2);
    // The OpenAI API carries its history in the request: a question after earlier turns.
    let body = json!({
        "model": "alice",
        "messages": [
            { "role": "user", "content": "Berätta om Norge." },
            { "role": "assistant", "content": "Norge är ett land i Norden." },
            { "role": "user", "content": QUESTION }
        ],
    });
    openai(&alice, &body).await;
    openai(&alice, &body).await;
    assert_eq!(sim.requests().len(), 4);
    let scrape = alice.scrape().await;
    assert_eq!(
        scrape.value("alice_cache_uncacheable_total", &[("reason", "history")]),
        3.0
    );
    alice.stop().await;
}

#[tokio::test]
async fn errors_and_cut_answers_are_never_cached() {
    let sim = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let (alice, _dir) = alice_with_cache(&sim, |settings| {
        settings.retry.max_retries = 0;
    })
    .await;
    let (status, failed) = alice.chat(json!({ "message": QUESTION })).await;
    assert!(status >= 500, "{status} {failed}");

    // An answer broken off mid-stream is not kept either.
    sim.set_faults(Faults {
        mid_stream_error_after: Some(2),
        ..Faults::default()
    });
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": QUESTION, "stream": true }))
        .send()
        .await
        .unwrap();
    let events = parse_sse(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().event, "error", "{events:?}");

    // A healthy model now: the question goes to it, as nothing was kept.
    sim.set_faults(Faults::default());
    let before = sim.requests().len();
    let (status, reply) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["cached"], false);
    assert_eq!(sim.requests().len(), before + 1);

    // An answer cut by the token limit is not whole, so it is not kept.
    let short = openai_question("Förklara fotosyntes.", json!({ "max_tokens": 3 }));
    let (status, cut) = openai(&alice, &short).await;
    assert_eq!(status, 200, "{cut}");
    assert_eq!(cut["choices"][0]["finish_reason"], "length");
    let before = sim.requests().len();
    openai(&alice, &short).await;
    assert_eq!(sim.requests().len(), before + 1, "a cut answer was kept");
    alice.stop().await;
}

#[tokio::test]
async fn fifty_identical_requests_in_flight_share_one_model_call() {
    // A slow first token keeps the first call in flight while the other 49 arrive.
    let sim = start_sim(Faults {
        ttft_ms: 400,
        ..Faults::default()
    })
    .await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    let expected = expected_answer(QUESTION);

    let asks = (0..50).map(|i| {
        let http = alice.http.clone();
        let url = alice.url("/api/chat");
        async move {
            // Every third client streams; the rest wait for the whole answer.
            let streaming = i % 3 == 0;
            let response = http
                .post(url)
                .json(&json!({ "message": QUESTION, "stream": streaming }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let text = response.text().await.unwrap();
            if streaming {
                parse_sse(&text)
                    .iter()
                    .filter(|e| e.event == "delta")
                    .map(|e| e.data["delta"].as_str().unwrap().to_owned())
                    .collect::<String>()
            } else {
                let reply: Value = serde_json::from_str(&text).unwrap();
                reply["response"].as_str().unwrap().to_owned()
            }
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    assert_eq!(answers.len(), 50);
    for answer in &answers {
        assert_eq!(answer, &expected);
    }
    assert_eq!(sim.requests().len(), 1, "one model call for all fifty");

    let scrape = alice.scrape().await;
    let coalesced = scrape.value("alice_cache_coalesced_total", &[]);
    let hits = scrape.value("alice_cache_lookups_total", &[("result", "local")]);
    assert_eq!(coalesced + hits, 49.0, "coalesced {coalesced}, hits {hits}");
    assert!(coalesced >= 40.0, "most joined the flight: {coalesced}");
    alice.stop().await;
}

#[tokio::test]
async fn when_the_first_client_leaves_the_call_goes_on_for_the_others() {
    // Slow tokens: the answer takes about two seconds to generate.
    let sim = start_sim(Faults {
        tokens_per_second: 15.0,
        ..Faults::default()
    })
    .await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;

    let leader = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": QUESTION, "stream": true }))
        .send()
        .await
        .unwrap();
    let mut leader_body = leader.bytes_stream();
    let first = leader_body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("delta"));

    // A follower joins, then the leader hangs up.
    let follower = tokio::spawn({
        let http = alice.http.clone();
        let url = alice.url("/api/chat");
        async move {
            let response = http
                .post(url)
                .json(&json!({ "message": QUESTION, "stream": true }))
                .send()
                .await
                .unwrap();
            response.text().await.unwrap()
        }
    });
    assert!(
        until(Duration::from_secs(2), || async {
            alice
                .scrape()
                .await
                .value("alice_cache_coalesced_total", &[])
                == 1.0
        })
        .await,
        "the second request joined the flight"
    );
    drop(leader_body);

    let events = parse_sse(&follower.await.unwrap());
    let streamed: String = events
        .iter()
        .filter(|e| e.event == "delta")
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(
        streamed,
        expected_answer(QUESTION),
        "the follower got the whole answer from the start"
    );
    assert_eq!(events.last().unwrap().event, "done");
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.requests()[0].outcome, "ok", "{:?}", sim.requests()[0]);

    // The answer finished for the follower was kept.
    let (_, again) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(again["cached"], true);
    assert_eq!(sim.requests().len(), 1);
    alice.stop().await;
}

#[tokio::test]
async fn a_lone_client_that_leaves_stops_the_call_and_nothing_is_kept() {
    let sim = start_sim(Faults {
        tokens_per_second: 15.0,
        ..Faults::default()
    })
    .await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": QUESTION, "stream": true }))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(sim.in_flight(), 1);
    drop(body);
    assert!(
        eventually(Duration::from_secs(3), || sim.in_flight() == 0).await,
        "nobody reads the answer, so the model call ends"
    );
    sim.set_faults(Faults::default());
    let (_, reply) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(reply["cached"], false, "a half answer was kept");
    assert_eq!(sim.requests().len(), 2);
    alice.stop().await;
}

#[tokio::test]
async fn different_questions_at_the_same_time_each_reach_the_model() {
    let sim = start_sim(Faults {
        ttft_ms: 100,
        ..Faults::default()
    })
    .await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    // Twelve: within the backend's 3 slots and queue of 16, so none is turned away.
    let questions: Vec<String> = (1..=12)
        .map(|n| format!("Vad är {n} gånger {n}?"))
        .collect();
    let asks = questions
        .iter()
        .map(|q| alice.chat(json!({ "message": q })));
    let replies = futures_util::future::join_all(asks).await;
    for ((status, reply), question) in replies.iter().zip(&questions) {
        assert_eq!(*status, 200, "{reply}");
        assert_eq!(reply["response"], expected_answer(question).as_str());
        assert_eq!(reply["cached"], false);
    }
    assert_eq!(sim.requests().len(), 12);
    let scrape = alice.scrape().await;
    assert_eq!(scrape.value("alice_cache_coalesced_total", &[]), 0.0);
    assert_eq!(
        scrape.value("alice_cache_lookups_total", &[("result", "miss")]),
        12.0
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_cache_can_be_read_and_purged_by_the_operator() {
    let sim = start_sim(Faults::default()).await;
    let (alice, _dir) = alice_with_cache(&sim, |_| {}).await;
    alice.chat(json!({ "message": QUESTION })).await;
    alice
        .chat(json!({ "message": "Förklara fotosyntes." }))
        .await;
    let (status, stats) = alice.get("/api/brain/cache").await;
    assert_eq!(status, 200);
    assert_eq!(stats["enabled"], true);
    assert_eq!(stats["entries"], 2, "{stats}");
    assert_eq!(stats["max_entries"], 500);
    assert_eq!(stats["ttl_s"], 900);

    let (status, purged) = alice.post("/api/brain/cache/purge", json!({})).await;
    assert_eq!(status, 200, "{purged}");
    assert_eq!(purged["purged"]["local"], 2, "{purged}");
    let (_, stats) = alice.get("/api/brain/cache").await;
    assert_eq!(stats["entries"], 0);
    let (_, reply) = alice.chat(json!({ "message": QUESTION })).await;
    assert_eq!(reply["cached"], false);
    assert_eq!(sim.requests().len(), 3);
    alice.stop().await;
}

#[tokio::test]
async fn a_redis_that_cannot_be_reached_never_fails_a_request() {
    let sim = start_sim(Faults::default()).await;
    // Port 1 on loopback: nothing listens, so every connection is refused at once.
    let (alice, _dir) = alice_with_cache(&sim, |settings| {
        settings.cache.redis_url = Some("redis://127.0.0.1:1".to_owned());
    })
    .await;
    for _ in 0..3 {
        let (status, reply) = alice.chat(json!({ "message": QUESTION })).await;
        assert_eq!(status, 200, "{reply}");
    }
    assert_eq!(sim.requests().len(), 1, "the local tier still answers");
    let scrape = alice.scrape().await;
    assert!(scrape.value("alice_cache_redis_errors_total", &[]) >= 1.0);
    assert_eq!(
        scrape.value("alice_cache_lookups_total", &[("result", "local")]),
        2.0
    );
    alice.stop().await;
}

/// The Redis server of `ALICE_TEST_REDIS_URL`, checked to answer; `None` (and a line saying
/// the test was skipped) when the variable is unset.
async fn test_redis(test: &str) -> Option<String> {
    let Ok(url) = std::env::var("ALICE_TEST_REDIS_URL") else {
        eprintln!("skipped {test}: ALICE_TEST_REDIS_URL is not set");
        return None;
    };
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .unwrap_or_else(|e| panic!("ALICE_TEST_REDIS_URL={url} is set but unreachable: {e}"));
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"PING\r\n").await.unwrap();
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        &reply, b"+PONG\r\n",
        "ALICE_TEST_REDIS_URL={url} is not Redis"
    );
    Some(url)
}

#[tokio::test]
async fn two_alices_share_answers_through_redis() {
    let Some(redis_url) = test_redis("two_alices_share_answers_through_redis").await else {
        return;
    };
    // A prefix of this run's own, so runs and tests never see each other's keys.
    let prefix = format!(
        "alice-test:{}:{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let sim = start_sim(Faults::default()).await;
    let shared = |settings: &mut alice_core::Config| {
        settings.cache.redis_url = Some(redis_url.clone());
        settings.cache.redis_key_prefix = prefix.clone();
    };
    let (first, _dir_a) = alice_with_cache(&sim, shared).await;
    let (second, _dir_b) = alice_with_cache(&sim, shared).await;

    let (status, asked) = first.chat(json!({ "message": QUESTION })).await;
    assert_eq!(status, 200, "{asked}");
    assert_eq!(asked["cached"], false);
    // Storing in Redis follows the answer; the counter moves once it is there.
    assert!(
        until(Duration::from_secs(2), || async {
            first.scrape().await.value("alice_cache_stored_total", &[]) == 1.0
        })
        .await,
        "the answer reached Redis"
    );

    let (status, shared_answer) = second.chat(json!({ "message": QUESTION })).await;
    assert_eq!(status, 200, "{shared_answer}");
    assert_eq!(shared_answer["cached"], true, "{shared_answer}");
    assert_eq!(shared_answer["response"], asked["response"]);
    assert_eq!(sim.requests().len(), 1, "one model call for both instances");
    let scrape = second.scrape().await;
    assert_eq!(
        scrape.value("alice_cache_lookups_total", &[("result", "redis")]),
        1.0
    );

    // Purging on both forgets the answer everywhere, Redis included.
    let (status, purged) = first.post("/api/brain/cache/purge", json!({})).await;
    assert_eq!(status, 200);
    assert!(purged["purged"]["redis"].as_u64().unwrap() >= 1, "{purged}");
    second.post("/api/brain/cache/purge", json!({})).await;
    let (_, fresh) = second.chat(json!({ "message": QUESTION })).await;
    assert_eq!(fresh["cached"], false);
    assert_eq!(sim.requests().len(), 2);

    first.post("/api/brain/cache/purge", json!({})).await;
    first.stop().await;
    second.stop().await;
}
