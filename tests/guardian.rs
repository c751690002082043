//! The Guardian inside Alice, over HTTP, with the machine's load scripted: brownout changes
//! what the model is asked, DEGRADED sheds chat with 429, EMERGENCY refuses with 503 while
//! health and status stay up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::scripted_load::ScriptedLoad;
use common::{Alice, config, start_sim};
use serde_json::{Value, json};
use std::time::Duration;

async fn alice_with_load(
    load: &ScriptedLoad,
    tweak: impl FnOnce(&mut alice_core::Config),
) -> (Alice, alice_upstream_sim::SimHandle, tempfile::TempDir) {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.enabled = true;
    settings.guardian.interval = Duration::from_millis(100);
    tweak(&mut settings);
    let server = alice_server::start_with_sampler(settings, load.clone())
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    (alice, sim, dir)
}

/// Polls the status endpoint until the Guardian is in `state` (at most 5 s).
async fn wait_for(alice: &Alice, state: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..250 {
        let (status, body) = alice.get("/api/guardian/status").await;
        assert_eq!(status, 200);
        if body["status"] == state {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the Guardian did not reach {state}; last status: {last}");
}

#[tokio::test]
async fn brownout_serves_shorter_cheaper_answers_with_less_history() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, sim, _dir) = alice_with_load(&load, |c| c.chat.temperature = 0.7).await;
    wait_for(&alice, "NORMAL").await;
    let (_, first) = alice.chat(json!({ "message": "Fråga ett" })).await;
    assert_eq!(first["brownout_level"], "NONE");
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    for question in ["Fråga två", "Fråga tre"] {
        let (status, _) = alice
            .chat(json!({ "message": question, "conversation_id": conversation }))
            .await;
        assert_eq!(status, 200);
    }
    let normal = sim.requests().last().unwrap().clone();
    assert_eq!(normal.options["num_predict"], 2048);
    assert_eq!(normal.messages.len(), 6, "system + 4 earlier + new");

    // Three samples of CPU at 85 %: the soft trigger.
    load.set(0.40, 0.85);
    let status = wait_for(&alice, "BROWNOUT").await;
    assert_eq!(status["brownout"]["level"], "MODERATE", "{status}");
    let (code, reply) = alice
        .chat(json!({ "message": "Fråga fyra", "conversation_id": conversation }))
        .await;
    assert_eq!(code, 200, "BROWNOUT serves, it does not shed: {reply}");
    assert_eq!(reply["brownout_level"], "MODERATE");
    let degraded = sim.requests().last().unwrap().clone();
    assert_eq!(
        degraded.options["num_predict"], 1024,
        "MODERATE caps answers at 1024 tokens"
    );
    assert!((degraded.options["temperature"].as_f64().unwrap() - 0.5).abs() < 1e-6);
    assert_eq!(
        degraded.messages.len(),
        5,
        "system + 3 earlier + new: {:?}",
        degraded.messages
    );
    assert!(
        degraded.messages[0].content.contains("max 50 ord"),
        "the short-answer prompt"
    );
    let (_, stored) = alice
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let levels: Vec<&Value> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["brownout_level"])
        .collect();
    assert_eq!(
        levels.last().unwrap().as_str(),
        Some("MODERATE"),
        "the answer keeps its level: {stored}"
    );
    assert_eq!(levels[1].as_str(), Some("NONE"));
    alice.stop().await;
}

#[tokio::test]
async fn degraded_sheds_chat_with_429_and_serves_everything_else() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, _sim, _dir) = alice_with_load(&load, |c| {
        c.guardian.degrade_after = Duration::from_millis(300);
        c.server.cors_allowed_origins = vec!["http://localhost:3000".into()];
    })
    .await;
    wait_for(&alice, "NORMAL").await;
    let (_, first) = alice.chat(json!({ "message": "Hej" })).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();

    load.set(0.85, 0.30);
    wait_for(&alice, "DEGRADED").await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .header("x-request-id", "belastad-1")
        .header("origin", "http://localhost:3000")
        .json(&json!({ "message": "Hej igen", "conversation_id": conversation }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let headers = response.headers().clone();
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(headers["x-guardian-mode"], "DEGRADED");
    assert_eq!(headers["x-guardian-status"], "shedding");
    assert_eq!(headers["x-request-id"], "belastad-1");
    assert_eq!(
        headers["access-control-allow-origin"], "http://localhost:3000",
        "CORS on blocked responses too"
    );
    let elsewhere = alice
        .http
        .post(alice.url("/api/chat"))
        .header("origin", "https://annan-sajt.example")
        .json(&json!({ "message": "Hej" }))
        .send()
        .await
        .unwrap();
    assert!(
        !elsewhere
            .headers()
            .contains_key("access-control-allow-origin"),
        "only listed origins"
    );
    let body: Value = response.json().await.unwrap();
    for key in [
        "error",
        "guardian_mode",
        "guardian_status",
        "request_id",
        "timestamp",
        "retry_after",
    ] {
        assert!(!body[key].is_null(), "{key} missing: {body}");
    }
    assert_eq!(body["request_id"], "belastad-1");
    assert!(
        body["error"].as_str().unwrap().contains("Försök igen"),
        "Swedish: {body}"
    );

    let response = alice
        .http
        .post(alice.url("/v1/chat/completions"))
        .json(&json!({ "model": "alice", "messages": [{ "role": "user", "content": "Hej" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        429,
        "the OpenAI-compatible path is an LLM path too"
    );

    let (status, _) = alice
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200, "reading history does not load the model");
    assert_eq!(alice.get("/health").await.0, 200);
    alice.stop().await;
}

#[tokio::test]
async fn emergency_refuses_with_503_but_health_ready_and_status_answer() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, _sim, _dir) = alice_with_load(&load, |_| {}).await;
    wait_for(&alice, "NORMAL").await;
    load.set(0.95, 0.30);
    let status = wait_for(&alice, "EMERGENCY").await;
    assert_eq!(status["metrics"]["emergency_mode"], true);
    assert_eq!(status["metrics"]["intake_blocked"], true);

    for path in [
        "/api/chat",
        "/api/conversations/01930000-0000-7000-8000-000000000000",
    ] {
        let response = if path == "/api/chat" {
            alice
                .http
                .post(alice.url(path))
                .json(&json!({ "message": "Hej" }))
                .send()
                .await
                .unwrap()
        } else {
            alice.http.get(alice.url(path)).send().await.unwrap()
        };
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.headers()["retry-after"], "15");
        assert_eq!(response.headers()["x-guardian-mode"], "EMERGENCY");
    }
    for path in ["/health", "/ready", "/api/guardian/status"] {
        assert_eq!(alice.get(path).await.0, 200, "{path} is always served");
    }
    // /metrics is served too, and its gauges say what the status says.
    let scrape = alice.scrape().await;
    assert_eq!(
        scrape.value("alice_guardian_state", &[("state", "EMERGENCY")]),
        1.0
    );
    assert_eq!(
        scrape.value("alice_guardian_state", &[("state", "NORMAL")]),
        0.0
    );
    assert_eq!(scrape.value("alice_guardian_brownout_level", &[]), 4.0);
    assert_eq!(
        scrape.value("alice_guardian_usage_ratio", &[("resource", "ram")]),
        0.95
    );
    assert!(scrape.value("alice_guardian_samples_total", &[]) >= 1.0);
    assert!(scrape.value("alice_guardian_transitions_total", &[]) >= 1.0);
    assert_eq!(
        scrape.value(
            "alice_http_requests_total",
            &[("route", "/api/chat"), ("status", "503")]
        ),
        1.0,
        "refusals are counted under the route they were refused on"
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_status_has_the_spec_shape() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, _sim, _dir) = alice_with_load(&load, |_| {}).await;
    let mut status = wait_for(&alice, "NORMAL").await;
    // The first sample comes one interval after start.
    while !status["metrics"]["cpu_pct"].is_number() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        status = alice.get("/api/guardian/status").await.1;
    }
    for key in [
        "status",
        "previous_state",
        "uptime_s",
        "state_duration_s",
        "metrics",
        "hysteresis",
        "cooldown",
        "brownout",
        "auto_tuning",
    ] {
        assert!(status.get(key).is_some(), "{key} missing: {status}");
    }
    for key in [
        "ram_pct",
        "cpu_pct",
        "disk_pct",
        "degraded",
        "intake_blocked",
        "emergency_mode",
    ] {
        assert!(
            status["metrics"].get(key).is_some(),
            "metrics.{key} missing: {status}"
        );
    }
    for key in [
        "ram_measurements",
        "cpu_measurements",
        "measurement_window_full",
        "flap_detected",
        "state_history",
    ] {
        assert!(
            status["hysteresis"].get(key).is_some(),
            "hysteresis.{key} missing"
        );
    }
    assert!((status["metrics"]["cpu_pct"].as_f64().unwrap() - 0.30).abs() < 1e-9);
    alice.stop().await;
}

#[tokio::test]
async fn real_readings_below_the_thresholds_brown_out_alice_and_raised_thresholds_recover_it() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.enabled = true;
    settings.guardian.interval = Duration::from_millis(500);
    settings.guardian.min_dwell = Duration::from_secs(1);
    settings.guardian.data_dir = dir.path().to_path_buf();
    // CPU use and every pressure are left out of it (thresholds above 1.0 are never reached),
    // so a busy test machine cannot trip it; RAM is what the test moves.
    settings.guardian.soft_cpu = 1.5;
    settings.guardian.recover_cpu = 1.1;
    settings.guardian.hard_cpu = 2.0;
    settings.guardian.hard_ram = 2.0;
    settings.guardian.soft_cpu_pressure = 1.5;
    settings.guardian.recover_cpu_pressure = 1.1;
    settings.guardian.soft_memory_pressure = 1.5;
    settings.guardian.hard_memory_pressure = 2.0;
    settings.guardian.recover_memory_pressure = 1.1;
    settings.guardian.soft_io_pressure = 1.5;
    settings.guardian.recover_io_pressure = 1.1;
    let mut low = settings.guardian.clone();
    // Any machine running this test uses more than 0.2 % of its RAM.
    low.soft_ram = 0.002;
    low.recover_ram = 0.001;
    settings.guardian.soft_ram = low.soft_ram;
    settings.guardian.recover_ram = low.recover_ram;
    let server = alice_server::start(settings.clone()).await.unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));

    let status = wait_for(&alice, "BROWNOUT").await;
    let ram = status["metrics"]["ram_pct"].as_f64().unwrap();
    assert!(ram > 0.002 && ram < 1.0, "a real RAM reading: {status}");
    let (code, reply) = alice.chat(json!({ "message": "Hur mår datorn?" })).await;
    assert_eq!(code, 200);
    assert_eq!(reply["brownout_level"], "MODERATE");
    assert_eq!(sim.requests().last().unwrap().options["num_predict"], 1024);

    // Thresholds above any real reading: calm after three samples and the dwell time.
    let high = alice_core::config::GuardianConfig {
        soft_ram: 0.999,
        recover_ram: 0.998,
        ..low
    };
    alice.server.guardian().unwrap().set_config(high).unwrap();
    wait_for(&alice, "NORMAL").await;
    let (_, reply) = alice.chat(json!({ "message": "Och nu?" })).await;
    assert_eq!(reply["brownout_level"], "NONE");
    assert_eq!(sim.requests().last().unwrap().options["num_predict"], 2048);
    alice.stop().await;
}

#[tokio::test]
async fn the_control_api_sets_history_and_a_manual_brownout() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, sim, _dir) = alice_with_load(&load, |_| {}).await;
    wait_for(&alice, "NORMAL").await;
    let (_, first) = alice.chat(json!({ "message": "Ett" })).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    alice
        .chat(json!({ "message": "Två", "conversation_id": conversation }))
        .await;

    let (status, body) = alice
        .post("/api/brain/context/set", json!({ "messages": 33 }))
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("messages")));
    let (status, _) = alice
        .post("/api/brain/context/set", json!({ "messages": 1 }))
        .await;
    assert_eq!(status, 200);
    alice
        .chat(json!({ "message": "Tre", "conversation_id": conversation }))
        .await;
    assert_eq!(
        sim.requests().last().unwrap().messages.len(),
        3,
        "system + 1 earlier + new"
    );

    let (status, body) = alice
        .post(
            "/api/brain/brownout",
            json!({ "activate": true, "level": "HEAVY", "reason": "test av manuell brownout" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["brownout_level"], "HEAVY");
    let (_, reply) = alice.chat(json!({ "message": "Fyra" })).await;
    assert_eq!(reply["brownout_level"], "HEAVY");
    assert_eq!(sim.requests().last().unwrap().options["num_predict"], 512);
    // The OpenAI-compatible path is browned out too: fewer tokens, only recent history.
    let history: Vec<Value> = (0..6)
        .map(|i| json!({ "role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("tur {i}") }))
        .chain([json!({ "role": "user", "content": "Sista frågan" })])
        .collect();
    let (status, _) = alice
        .post(
            "/v1/chat/completions",
            json!({ "model": "alice", "messages": history }),
        )
        .await;
    assert_eq!(status, 200);
    let sent = sim.requests().last().unwrap().clone();
    assert_eq!(sent.options["num_predict"], 512);
    let contents: Vec<&str> = sent.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents[contents.len() - 3..],
        ["tur 4", "tur 5", "Sista frågan"],
        "HEAVY keeps 2 earlier messages"
    );
    let (_, brain) = alice.get("/api/brain/status").await;
    assert_eq!(
        brain["guardian"]["manual_brownout"]["reason"],
        "test av manuell brownout"
    );

    alice
        .post("/api/brain/brownout", json!({ "activate": false }))
        .await;
    let (_, reply) = alice.chat(json!({ "message": "Fem" })).await;
    assert_eq!(reply["brownout_level"], "NONE");
    alice.stop().await;
}

#[tokio::test]
async fn three_emergencies_lock_alice_down_until_an_operator_overrides() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, _sim, _dir) = alice_with_load(&load, |c| {
        c.guardian.min_dwell = Duration::from_millis(200);
        c.guardian.kill_cooldown = Duration::from_millis(200);
        c.guardian.flap_transitions = 100;
    })
    .await;
    wait_for(&alice, "NORMAL").await;
    let (status, body) = alice
        .post(
            "/api/brain/guardian/override",
            json!({ "confirm_override": true }),
        )
        .await;
    assert_eq!(status, 409, "nothing to override outside LOCKDOWN: {body}");

    for _ in 0..2 {
        load.set(0.95, 0.30);
        wait_for(&alice, "EMERGENCY").await;
        load.set(0.40, 0.30);
        wait_for(&alice, "NORMAL").await;
    }
    load.set(0.95, 0.30);
    let status = wait_for(&alice, "LOCKDOWN").await;
    assert_eq!(status["cooldown"]["kills_in_window"], 3, "{status}");
    load.set(0.40, 0.30);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, _) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(code, 503, "calm readings do not end a LOCKDOWN");

    let (status, _) = alice
        .post(
            "/api/brain/guardian/override",
            json!({ "confirm_override": false }),
        )
        .await;
    assert_eq!(status, 409);
    let (status, body) = alice
        .post(
            "/api/brain/guardian/override",
            json!({ "confirm_override": true }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], "LOCKDOWN");
    assert_eq!(alice.chat(json!({ "message": "Hej igen" })).await.0, 200);
    alice.stop().await;
}

#[tokio::test]
async fn an_emergency_cuts_answers_after_the_drain_time_and_unloads_the_model() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let sim = start_sim(Faults {
        tokens_per_second: 4.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.interval = Duration::from_millis(100);
    settings.guardian.drain_timeout = Duration::from_millis(300);
    let server = alice_server::start_with_sampler(settings, load.clone())
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    wait_for(&alice, "NORMAL").await;

    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Berätta en lång saga om Norrland", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reading = tokio::spawn(response.text());
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.set(0.95, 0.30);
    wait_for(&alice, "EMERGENCY").await;

    let events = common::parse_sse(&reading.await.unwrap().unwrap());
    let last = events.last().unwrap();
    assert_eq!(last.event, "error", "{events:?}");
    assert_eq!(last.data["status"], 503);
    assert!(
        last.data["detail"].as_str().unwrap().contains("Guardian"),
        "{}",
        last.data
    );
    assert!(
        common::eventually(Duration::from_secs(2), || sim
            .requests()
            .iter()
            .any(|r| r.messages.is_empty() && r.keep_alive == Some(json!(0))))
        .await,
        "the model is unloaded with keep_alive 0: {:?}",
        sim.requests()
    );
    assert_eq!(sim.in_flight(), 0, "nothing keeps generating");
    alice.stop().await;
}

#[tokio::test]
async fn alice_follows_a_guardian_daemon_and_refuses_chat_from_the_third_unknown_check() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let mut guardian_settings = alice_core::config::GuardianConfig {
        interval: Duration::from_millis(100),
        ..Default::default()
    };
    let daemon = alice_server::start_daemon(
        guardian_settings.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        load.clone(),
    )
    .await
    .unwrap();
    let daemon_url = format!("http://{}", daemon.addr());

    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    guardian_settings.enabled = true;
    guardian_settings.remote_url = Some(daemon_url.clone());
    guardian_settings.remote_poll = Duration::from_millis(100);
    settings.guardian = guardian_settings;
    let server = alice_server::start(settings).await.unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));

    let status = wait_for(&alice, "NORMAL").await;
    assert_eq!(status["source"], daemon_url.as_str());
    assert_eq!(alice.chat(json!({ "message": "Hej" })).await.0, 200);

    load.set(0.95, 0.30);
    wait_for(&alice, "EMERGENCY").await;
    assert!(
        common::eventually(Duration::from_secs(3), || sim
            .requests()
            .iter()
            .any(|r| r.messages.is_empty() && r.keep_alive == Some(json!(0))))
        .await,
        "following the daemon's EMERGENCY, this Alice unloads its model too"
    );
    assert_eq!(
        alice.chat(json!({ "message": "Hej" })).await.0,
        503,
        "the daemon's EMERGENCY holds here"
    );
    load.set(0.40, 0.30);
    daemon
        .guardian()
        .set_config(alice_core::config::GuardianConfig {
            min_dwell: Duration::from_millis(100),
            interval: Duration::from_millis(100),
            ..Default::default()
        })
        .unwrap();
    wait_for(&alice, "NORMAL").await;

    // The daemon goes away: two unknown checks pass, the third refuses chat (429, DEGRADED).
    daemon.shutdown().await.unwrap();
    let status = wait_for(&alice, "DEGRADED").await;
    assert!(status["unknown_checks"].as_u64().unwrap() >= 3, "{status}");
    assert!(
        status["remote_error"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{status}"
    );
    assert_eq!(alice.chat(json!({ "message": "Hej" })).await.0, 429);
    assert_eq!(alice.get("/health").await.0, 200);
    alice.stop().await;
}

#[tokio::test]
async fn brownout_asks_for_the_smaller_model_and_an_operator_can_switch_models() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let (alice, sim, _dir) = alice_with_load(&load, |c| {
        c.chat.smaller_model = Some("llama3.2:3b".into());
    })
    .await;
    wait_for(&alice, "NORMAL").await;
    let (_, reply) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(reply["model"], "ollama:gpt-oss:20b");
    assert_eq!(sim.requests().last().unwrap().model, "gpt-oss:20b");

    alice
        .post(
            "/api/brain/brownout",
            json!({ "activate": true, "level": "MODERATE" }),
        )
        .await;
    let (_, reply) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(reply["model"], "ollama:llama3.2:3b", "{reply}");
    assert_eq!(sim.requests().last().unwrap().model, "llama3.2:3b");
    alice
        .post("/api/brain/brownout", json!({ "activate": false }))
        .await;

    let (status, _) = alice
        .post(
            "/api/brain/model/switch",
            json!({ "model": "llama3.2:3b", "reason": "test" }),
        )
        .await;
    assert_eq!(status, 200);
    alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(sim.requests().last().unwrap().model, "llama3.2:3b");
    let (status, _) = alice
        .post("/api/brain/model/switch", json!({ "model": "  " }))
        .await;
    assert_eq!(status, 422);
    alice.post("/api/brain/model/switch", json!({})).await;
    alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(
        sim.requests().last().unwrap().model,
        "gpt-oss:20b",
        "back to the configured model"
    );
    alice.stop().await;
}
