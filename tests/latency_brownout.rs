//! The latency brownout over HTTP: the simulator's time to first token goes from 200 ms to 3 s
//! mid-run, and Alice's own p95 over its answers raises the brownout level (answers get shorter,
//! counted in tokens); when the simulator is fast again the level steps back to NONE. The
//! machine's load is scripted calm, so only latency moves the level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::scripted_load::ScriptedLoad;
use common::{Alice, config, start_sim};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Requests sent at once in each round.
const CLIENTS: usize = 4;
/// Tokens the simulator's answers have before any limit.
const ANSWER_TOKENS: usize = 1500;

/// One answer as the test saw it.
#[derive(Debug)]
struct Answered {
    level: String,
    tokens: u64,
    ttft_ms: u64,
}

/// Sends `CLIENTS` questions at once and waits for all the answers.
async fn round(alice: &Alice, n: &mut usize) -> Vec<Answered> {
    let questions: Vec<String> = (0..CLIENTS)
        .map(|_| {
            *n += 1;
            format!("Fråga nummer {n}")
        })
        .collect();
    let replies = join_all(
        questions
            .iter()
            .map(|q| alice.chat(json!({ "message": q }))),
    )
    .await;
    replies
        .into_iter()
        .map(|(status, reply)| {
            assert_eq!(status, 200, "{reply}");
            Answered {
                level: reply["brownout_level"].as_str().unwrap().to_owned(),
                tokens: reply["completion_tokens"].as_u64().unwrap(),
                ttft_ms: reply["ttft_ms"].as_u64().unwrap(),
            }
        })
        .collect()
}

async fn latency_status(alice: &Alice) -> Value {
    let (status, body) = alice.get("/api/guardian/status").await;
    assert_eq!(status, 200);
    body
}

fn summary(answers: &[Answered]) -> String {
    let tokens: Vec<u64> = answers.iter().map(|a| a.tokens).collect();
    let ttft: Vec<u64> = answers.iter().map(|a| a.ttft_ms).collect();
    format!(
        "level {} tokens {tokens:?} ttft_ms {ttft:?}",
        answers[0].level
    )
}

#[tokio::test]
async fn slow_first_tokens_raise_the_level_and_shorten_answers_until_it_is_fast_again() {
    let fast = Faults {
        ttft_ms: 200,
        answer_tokens: ANSWER_TOKENS,
        ..Faults::default()
    };
    let sim = start_sim(fast.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.enabled = true;
    settings.guardian.interval = Duration::from_millis(100);
    settings.guardian.latency_window = Duration::from_secs(6);
    settings.guardian.latency_dwell = Duration::from_secs(1);
    settings.guardian.latency_min_answers = 3;
    // Room for every client at once: the test is about time to first token, not the queue.
    settings.backends[0].max_concurrent = 8;
    settings.validate().unwrap();
    let load = ScriptedLoad::new(0.30, 0.20);
    let server = alice_server::start_with_sampler(settings, load)
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    let started = Instant::now();
    let at = || started.elapsed().as_secs_f64();
    let mut n = 0;

    // Fast: full answers at NONE.
    let mut fast_answers = Vec::new();
    for _ in 0..3 {
        let answers = round(&alice, &mut n).await;
        eprintln!("{:5.1} s  fast  {}", at(), summary(&answers));
        fast_answers.extend(answers);
    }
    assert!(fast_answers.iter().all(|a| a.level == "NONE"));
    assert!(
        fast_answers
            .iter()
            .all(|a| a.tokens == ANSWER_TOKENS as u64)
    );
    let status = latency_status(&alice).await;
    assert_eq!(status["latency_brownout"]["enabled"], true, "{status}");
    assert_eq!(status["latency_brownout"]["level"], "NONE");

    // Slow: 3 s to the first token.
    sim.set_faults(Faults {
        ttft_ms: 3000,
        ..fast.clone()
    });
    let slowed = Instant::now();
    let mut first_rise = None;
    let mut slow_answers = Vec::new();
    while slowed.elapsed() < Duration::from_secs(40) {
        let answers = round(&alice, &mut n).await;
        eprintln!("{:5.1} s  slow  {}", at(), summary(&answers));
        // Two evaluations, so that the next round is served at the level these answers ask
        // for.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let status = latency_status(&alice).await;
        if first_rise.is_none() && status["latency_brownout"]["level"] != "NONE" {
            first_rise = Some(slowed.elapsed());
            eprintln!(
                "{:5.1} s  rose: {}",
                at(),
                status["latency_brownout"]["reason"]
            );
        }
        let heavy = answers.iter().all(|a| a.level == "HEAVY");
        slow_answers.extend(answers);
        if heavy {
            let status = latency_status(&alice).await;
            assert_eq!(status["brownout"]["level"], "HEAVY", "{status}");
            assert_eq!(status["brownout"]["source"], "latency");
            assert!(
                status["latency_brownout"]["reason"]
                    .as_str()
                    .unwrap()
                    .starts_with("ttft p95 3."),
                "{status}"
            );
            let scrape = alice.scrape().await;
            assert_eq!(
                scrape.value("alice_guardian_latency_brownout_level", &[]),
                3.0
            );
            assert_eq!(scrape.value("alice_guardian_brownout_level", &[]), 3.0);
            break;
        }
    }
    let rose_after = first_rise.expect("the level rose");
    assert!(
        rose_after < Duration::from_secs(6),
        "the level rose within the 6 s window: {rose_after:?}"
    );
    let tokens_at = |level: &str| -> Vec<u64> {
        slow_answers
            .iter()
            .filter(|a| a.level == level)
            .map(|a| a.tokens)
            .collect()
    };
    // The presets' token limits: LIGHT 2048 (above the answer), MODERATE 1024, HEAVY 512.
    assert!(tokens_at("MODERATE").iter().all(|&t| t == 1024));
    let heavy = tokens_at("HEAVY");
    assert!(!heavy.is_empty(), "answers were served at HEAVY");
    assert!(heavy.iter().all(|&t| t == 512), "{heavy:?}");

    // Fast again: the level steps down to NONE and the answers are whole again.
    sim.set_faults(fast);
    let recovering = Instant::now();
    let mut back = None;
    while recovering.elapsed() < Duration::from_secs(30) {
        let answers = round(&alice, &mut n).await;
        let status = latency_status(&alice).await;
        let level = status["latency_brownout"]["level"].clone();
        eprintln!(
            "{:5.1} s  fast  {}  -> latency level {level}",
            at(),
            summary(&answers)
        );
        if level == "NONE" {
            back = Some(recovering.elapsed());
            break;
        }
    }
    let back_after = back.expect("the level returned to NONE within 30 s");
    eprintln!("back to NONE {back_after:?} after the simulator was fast again");
    let answers = round(&alice, &mut n).await;
    assert!(answers.iter().all(|a| a.level == "NONE"), "{answers:?}");
    assert!(answers.iter().all(|a| a.tokens == ANSWER_TOKENS as u64));
    alice.stop().await;
}

#[tokio::test]
async fn the_switch_turns_it_off() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.latency_brownout = false;
    let server = alice_server::start_with_sampler(settings, ScriptedLoad::new(0.3, 0.2))
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    let status = latency_status(&alice).await;
    assert_eq!(status["latency_brownout"]["enabled"], false, "{status}");
    assert!(
        !alice
            .scrape()
            .await
            .has("alice_guardian_latency_brownout_level")
    );
    alice.stop().await;
}

/// Rounds of requests that get no answer (`status`) until the latency level rises; its reason.
async fn level_rises_without_answers(
    status: u16,
    tweak: impl FnOnce(&mut alice_core::Config),
) -> String {
    // The simulator takes 3 s to a first token.
    let sim = start_sim(Faults {
        ttft_ms: 3000,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.interval = Duration::from_millis(100);
    settings.guardian.latency_dwell = Duration::from_secs(1);
    settings.guardian.latency_min_answers = 3;
    // Below the deadline, as in production (2 s against 30 s).
    settings.guardian.target_ttft_p95 = Duration::from_millis(500);
    settings.backends[0].max_concurrent = 8;
    tweak(&mut settings);
    let server = alice_server::start_with_sampler(settings, ScriptedLoad::new(0.3, 0.2))
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    let mut rose = None;
    for n in 0..6 {
        let replies = join_all(
            (0..CLIENTS).map(|c| alice.chat(json!({ "message": format!("Fråga {n}-{c}") }))),
        )
        .await;
        assert!(replies.iter().all(|(s, _)| *s == status), "{replies:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let body = latency_status(&alice).await;
        if body["latency_brownout"]["level"] != "NONE" {
            rose = Some(
                body["latency_brownout"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            break;
        }
    }
    alice.stop().await;
    rose.expect("requests without an answer raised the level")
}

#[tokio::test]
async fn requests_cut_by_their_deadline_raise_the_level_too() {
    let reason =
        level_rises_without_answers(504, |c| c.deadlines.chat = Duration::from_secs(1)).await;
    assert!(reason.starts_with("ttft p95 1.0 s > 0.5 s"), "{reason}");
}

#[tokio::test]
async fn requests_the_router_gives_up_on_raise_the_level_too() {
    // No first token within 400 ms and no retry: the router gives up long before the deadline.
    let reason = level_rises_without_answers(504, |c| {
        c.backends[0].first_token_timeout = Duration::from_millis(400);
        c.retry.max_retries = 0;
        c.guardian.target_ttft_p95 = Duration::from_millis(200);
    })
    .await;
    assert!(reason.starts_with("ttft p95 0.4 s > 0.2 s"), "{reason}");
}
