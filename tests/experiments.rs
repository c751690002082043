//! A/B experiments over real HTTP, with Alice in front of upstream simulators: two backends
//! with different faults, each variant pinned to one. Users spread over the variants and keep
//! theirs across requests, restarts and instances; every answer names its variant (reply,
//! stored message, cache key, log line); feedback through `POST /api/feedback`; the report
//! tells a real latency difference from a tiny feedback difference; the guard pauses a variant
//! with 30 % errors and not one within the margin; `alice experiment stop` from another process
//! stops assignment within seconds; outcomes go with their user. Every load is a few dozen
//! requests on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_core::Config;
use alice_core::config::{ExperimentConfig, ExperimentGuard, ExperimentRoutes, VariantConfig};
use alice_identity::{Directory, IdentityError, KeyRequest, Role};
use alice_upstream_sim::{Faults, SimHandle};
use common::child_process::Running;
use common::{Alice, client_with_key, start_sim};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ALICE: &str = env!("CARGO_BIN_EXE_alice");
const EXPERIMENT: &str = "modell";

fn variant(name: &str, backend: &str) -> VariantConfig {
    VariantConfig {
        name: name.to_owned(),
        weight: 1.0,
        backend: Some(backend.to_owned()),
        model: None,
        brownout: None,
        system_prompt: None,
    }
}

fn experiment(
    name: &str,
    routes: ExperimentRoutes,
    variants: Vec<VariantConfig>,
) -> ExperimentConfig {
    ExperimentConfig {
        name: name.to_owned(),
        routes,
        start: None,
        stop: None,
        control: None,
        // Not judged unless a test says so.
        guard: ExperimentGuard {
            error_margin: 0.10,
            min_requests: 100_000,
        },
        variants,
    }
}

/// The test config with one backend per simulator, named as given, in that order.
fn config_with(dir: &Path, backends: &[(&str, &SimHandle)]) -> Config {
    let mut config = common::config(dir, &backends[0].1.base_url());
    let template = config.backends[0].clone();
    config.backends = backends
        .iter()
        .map(|(name, sim)| alice_core::BackendConfig {
            name: (*name).to_owned(),
            url: sim.base_url(),
            ..template.clone()
        })
        .collect();
    config
}

/// Experiment "modell" over both routes: control "a" answered by backend "quick", "b" by
/// backend "slow".
fn lab(dir: &Path, quick: &SimHandle, slow: &SimHandle) -> Config {
    let mut config = config_with(dir, &[("quick", quick), ("slow", slow)]);
    config.experiments = vec![experiment(
        EXPERIMENT,
        ExperimentRoutes::Both,
        vec![variant("a", "quick"), variant("b", "slow")],
    )];
    config.validate().unwrap();
    config
}

/// The variant `user` gets in `experiment`, as Alice computes it.
fn variant_of(config: &Config, experiment: &str, user: &str) -> String {
    let experiment = config
        .experiments
        .iter()
        .find(|e| e.name == experiment)
        .unwrap();
    alice_experiments::assign(experiment, user).name.clone()
}

/// The first `n` of person-000, person-001, … whose variant of `experiment` is `variant`.
fn users_of(config: &Config, experiment: &str, variant: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("person-{i:03}"))
        .filter(|user| variant_of(config, experiment, user) == variant)
        .take(n)
        .collect()
}

/// A key for each user (added when new), through one opening of the database.
async fn keys(config: &Config, users: &[String]) -> HashMap<String, reqwest::Client> {
    keys_with(config, users, KeyRequest::default()).await
}

async fn keys_with(
    config: &Config,
    users: &[String],
    request: KeyRequest,
) -> HashMap<String, reqwest::Client> {
    let store = alice_store::Store::open(&config.database).await.unwrap();
    let directory = Directory::new(store.identity(), &config.auth);
    let mut clients = HashMap::new();
    for user in users {
        match directory.add_user(user, None, Role::User).await {
            Ok(_) | Err(IdentityError::UserExists(_)) => {}
            Err(error) => panic!("cannot add {user}: {error}"),
        }
        let issued = directory.create_key(user, request.clone()).await.unwrap();
        clients.insert(user.clone(), client_with_key(&issued.key));
    }
    store.close().await;
    clients
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let response = http.post(url).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One `/api/chat` turn of the key's user in a new conversation.
async fn chat(base: &str, http: &reqwest::Client, message: &str) -> (u16, Value) {
    post(
        http,
        &format!("{base}/api/chat"),
        json!({ "message": message }),
    )
    .await
}

/// One `/v1/chat/completions` answer.
async fn complete(base: &str, http: &reqwest::Client, message: &str) -> (u16, Value) {
    let body = json!({"model": "alice", "messages": [{"role": "user", "content": message}]});
    post(http, &format!("{base}/v1/chat/completions"), body).await
}

/// The variant a native reply names, checking the experiment's name.
fn named_variant(reply: &Value, experiment: &str) -> String {
    assert_eq!(reply["experiment"]["name"], experiment, "{reply}");
    reply["experiment"]["variant"].as_str().unwrap().to_owned()
}

/// The answer's stored message.
async fn stored_answer(alice: &Alice, reply: &Value) -> Value {
    let conversation = reply["conversation_id"].as_str().unwrap();
    let (status, page) = alice
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200, "{page}");
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply["message_id"])
        .cloned()
        .unwrap()
}

/// Runs `step` until it says done, for at most `limit`; whether it did, and its last value.
async fn poll<F, Fut>(limit: Duration, mut step: F) -> (bool, Value)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, Value)>,
{
    let started = tokio::time::Instant::now();
    loop {
        let (done, value) = step().await;
        if done || started.elapsed() >= limit {
            return (done, value);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /api/experiments/{name}` once its report holds at least `rows` outcomes (the writer
/// is asynchronous).
async fn report_with(alice: &Alice, name: &str, rows: u64) -> Value {
    let path = format!("/api/experiments/{name}");
    let (found, last) = poll(Duration::from_secs(10), || async {
        let (status, body) = alice.get(&path).await;
        assert_eq!(status, 200, "{body}");
        (body["report"]["rows"].as_u64().unwrap() >= rows, body)
    })
    .await;
    assert!(found, "{rows} outcomes of {name} are reported: {last}");
    last
}

/// The figures of one variant in a report.
fn figures<'a>(report: &'a Value, variant: &str) -> &'a Value {
    report["report"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == variant)
        .unwrap()
}

#[tokio::test]
async fn users_spread_over_the_variants_and_keep_theirs_across_requests_restarts_and_instances() {
    let quick = start_sim(Faults::default()).await;
    let slow = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = lab(dir.path(), &quick, &slow);
    settings.cache.enabled = true;
    let users: Vec<String> = (0..16).map(|i| format!("anv{i:02}")).collect();
    let clients = keys(&settings, &users).await;
    let alice = Alice::start(settings.clone()).await;

    let mut variants = BTreeMap::new();
    for user in &users {
        let expected = variant_of(&settings, EXPERIMENT, user);
        for round in 0..2 {
            let (status, reply) = chat(
                &alice.base,
                &clients[user],
                &format!("Fråga {round} av {user}"),
            )
            .await;
            assert_eq!(status, 200, "{reply}");
            assert_eq!(
                named_variant(&reply, EXPERIMENT),
                expected,
                "{user}, round {round}"
            );
            let backend = if expected == "a" { "quick:" } else { "slow:" };
            assert!(
                reply["model"].as_str().unwrap().starts_with(backend),
                "the variant's backend answers: {reply}"
            );
        }
        variants.insert(user.clone(), expected);
    }
    let a = variants.values().filter(|v| *v == "a").count();
    assert!(
        a > 0 && a < users.len(),
        "both variants have users: {variants:?}"
    );
    // Each simulator answered its variant's users alone (probes are not chats).
    let chats = |sim: &SimHandle| sim.requests().len();
    assert_eq!(chats(&quick), 2 * a);
    assert_eq!(chats(&slow), 2 * (users.len() - a));

    // The same experiment covers /v1: the same variant, as an extra top-level field.
    for user in users.iter().take(4) {
        let (status, reply) =
            complete(&alice.base, &clients[user], &format!("Hej från {user}")).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["alice_experiment"]["name"], EXPERIMENT, "{reply}");
        assert_eq!(
            reply["alice_experiment"]["variant"],
            variants[user].as_str()
        );
        assert_eq!(reply["object"], "chat.completion");
    }

    // The stored answer names its variant; the streamed reply's done event too.
    let user = &users[0];
    let (_, reply) = chat(&alice.base, &clients[user], "Vad heter Finlands huvudstad?").await;
    let message = stored_answer(&alice, &reply).await;
    assert_eq!(
        message["experiment"],
        json!({"name": EXPERIMENT, "variant": variants[user]}),
        "{message}"
    );
    let response = clients[user]
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "Berätta om Göta kanal", "stream": true}))
        .send()
        .await
        .unwrap();
    let events = common::parse_sse(&response.text().await.unwrap());
    let done = events.iter().find(|e| e.event == "done").unwrap();
    assert_eq!(done.data["experiment"]["variant"], variants[user].as_str());

    // Variants never share a cached answer; users of one variant do.
    let of = |v: &str| {
        users
            .iter()
            .filter(|u| variants[*u] == v)
            .collect::<Vec<_>>()
    };
    let (a_users, b_users) = (of("a"), of("b"));
    let question = "Vad är Sveriges huvudstad?";
    let (_, first) = chat(&alice.base, &clients[a_users[0]], question).await;
    let (_, again) = chat(&alice.base, &clients[a_users[1]], question).await;
    let (_, other) = chat(&alice.base, &clients[b_users[0]], question).await;
    assert_eq!(first["cached"], false, "{first}");
    assert_eq!(again["cached"], true, "the same variant shares: {again}");
    assert_eq!(other["cached"], false, "another variant does not: {other}");
    assert!(
        other["model"].as_str().unwrap().starts_with("slow:"),
        "{other}"
    );
    let key = |message: &Value| message["cache_key"].as_str().unwrap().to_owned();
    let (first, again, other) = (
        stored_answer(&alice, &first).await,
        stored_answer(&alice, &again).await,
        stored_answer(&alice, &other).await,
    );
    assert_eq!(key(&first), key(&again));
    assert_ne!(key(&first), key(&other), "the variant is part of the key");

    // After a restart on the same database, and in a second instance beside it: the same.
    alice.stop().await;
    let alice = Alice::start(settings.clone()).await;
    let second = Alice::start(settings.clone()).await;
    assert_ne!(alice.base, second.base);
    for user in &users {
        for instance in [&alice, &second] {
            let (status, reply) =
                chat(&instance.base, &clients[user], &format!("Igen, {user}")).await;
            assert_eq!(status, 200, "{reply}");
            assert_eq!(
                named_variant(&reply, EXPERIMENT),
                variants[user],
                "{user} at {}",
                instance.base
            );
        }
    }
    second.stop().await;
    alice.stop().await;
}

#[tokio::test]
async fn the_report_names_the_faster_variant_and_calls_a_tiny_feedback_difference_noise() {
    let quick = start_sim(Faults {
        ttft_ms: 5,
        ..Faults::default()
    })
    .await;
    let slow = start_sim(Faults {
        ttft_ms: 120,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let settings = lab(dir.path(), &quick, &slow);
    let a_users = users_of(&settings, EXPERIMENT, "a", 10);
    let b_users = users_of(&settings, EXPERIMENT, "b", 10);
    let everyone: Vec<String> = a_users.iter().chain(&b_users).cloned().collect();
    let clients = keys(&settings, &everyone).await;
    let alice = Alice::start(settings.clone()).await;

    // Four questions each, the users side by side (twenty at a time at most).
    let mut tasks = Vec::new();
    for user in &everyone {
        let (base, http, user) = (alice.base.clone(), clients[user].clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..4 {
                let (status, reply) = chat(&base, &http, &format!("Fråga {i} från {user}")).await;
                assert_eq!(status, 200, "{reply}");
                answers.push(reply["message_id"].as_str().unwrap().to_owned());
            }
            (user, answers)
        }));
    }
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in tasks {
        let (user, ids) = task.await.unwrap();
        answers.insert(user, ids);
    }

    // Scripted thumbs through POST /api/feedback: 60 % up for a, 55 % for b.
    let rate = |users: &[String], up: fn(usize) -> bool| {
        let mut ratings = Vec::new();
        let mut i = 0;
        for user in users {
            for id in &answers[user] {
                ratings.push((user.clone(), id.clone(), if up(i) { "up" } else { "down" }));
                i += 1;
            }
        }
        ratings
    };
    let ratings: Vec<_> = rate(&a_users, |i| i % 5 < 3)
        .into_iter()
        .chain(rate(&b_users, |i| i % 20 < 11))
        .collect();
    for (user, id, rating) in &ratings {
        let (status, body) = post(
            &clients[user],
            &alice.url("/api/feedback"),
            json!({"message_id": id, "rating": rating, "comment": "Tack"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["rating"], *rating);
        assert_eq!(body["message_id"], id.as_str());
    }
    // Only the answer's owner rates it; the body names what is wrong.
    let (user, id, _) = &ratings[0];
    let stranger = everyone.iter().find(|u| *u != user).unwrap();
    let (status, body) = post(
        &clients[stranger],
        &alice.url("/api/feedback"),
        json!({"message_id": id, "rating": "up"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(
        &clients[user],
        &alice.url("/api/feedback"),
        json!({"rating": "up"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("message_id"), "{body}");
    let (status, body) = post(
        &clients[user],
        &alice.url("/api/feedback"),
        json!({"message_id": id, "rating": "kanske"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    let report = report_with(&alice, EXPERIMENT, 80).await;
    assert_eq!(report["experiment"], EXPERIMENT);
    assert_eq!(report["state"], "running");
    assert_eq!(report["active"], true);
    let (a, b) = (figures(&report, "a"), figures(&report, "b"));
    assert_eq!(
        (a["requests"].as_u64(), b["requests"].as_u64()),
        (Some(40), Some(40))
    );
    assert_eq!(a["answered_share"], 1.0);
    assert_eq!(a["feedback"], 40);
    assert_eq!(a["share_positive"], 0.6);
    assert_eq!(b["share_positive"], 0.55);
    assert!(
        a["latency_ms"]["p50"].as_u64() < b["latency_ms"]["p50"].as_u64(),
        "{report}"
    );
    let comparison = &report["report"]["comparisons"][0];
    assert_eq!(comparison["variant"], "b");
    assert_eq!(comparison["control"], "a");
    assert!(
        comparison["latency"]["p_value"].as_f64().unwrap() < 0.05,
        "{comparison}"
    );
    assert!(
        comparison["feedback"]["p_value"].as_f64().unwrap() > 0.05,
        "{comparison}"
    );
    let verdict: Vec<&str> = comparison["verdict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    assert!(
        verdict[0].starts_with("b is slower than a")
            && verdict[0].contains("larger than the noise"),
        "{verdict:?}"
    );
    assert!(
        verdict[1].starts_with("the feedback difference")
            && verdict[1].contains("within the noise"),
        "{verdict:?}"
    );
    assert_eq!(report["report"]["guard"], Value::Null);

    // The same from the command line, as text and as JSON; --since leaves older rows out.
    let config_file = dir.path().join("alice.toml");
    std::fs::write(&config_file, toml::to_string(&settings).unwrap()).unwrap();
    let config = config_file.to_str().unwrap();
    let (ok, out, err) = alice_cli(
        dir.path(),
        &["experiment", "report", EXPERIMENT, "--config", config],
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("experiment modell: running"), "{out}");
    assert!(out.contains("b is slower than a"), "{out}");
    assert!(out.contains("within the noise"), "{out}");
    let (ok, out, err) = alice_cli(
        dir.path(),
        &[
            "experiment",
            "report",
            EXPERIMENT,
            "--json",
            "--config",
            config,
        ],
    );
    assert!(ok, "{err}");
    let document: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["report"]["rows"], 80);
    assert_eq!(document["report"], report["report"]);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (ok, out, err) = alice_cli(
        dir.path(),
        &[
            "experiment",
            "report",
            EXPERIMENT,
            "--json",
            "--since",
            &later,
            "--config",
            config,
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["report"]["rows"],
        0
    );
    let (status, body) = alice
        .get(&format!(
            "/api/experiments/{EXPERIMENT}?since={}",
            later.replace('+', "%2B")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["rows"], 0);
    let (status, body) = alice.get("/api/experiments/modell?since=igår").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = alice.get("/api/experiments/ingen").await;
    assert_eq!(status, 404, "{body}");

    // Counted in the metrics per variant.
    let scrape = alice.scrape().await;
    let outcomes = |variant: &str| {
        scrape.value(
            "alice_experiment_outcomes_total",
            &[
                ("experiment", EXPERIMENT),
                ("variant", variant),
                ("outcome", "answered"),
            ],
        )
    };
    assert_eq!((outcomes("a"), outcomes("b")), (40.0, 40.0));
    let thumbs = |variant: &str, rating: &str| {
        scrape.value(
            "alice_experiment_feedback_total",
            &[
                ("experiment", EXPERIMENT),
                ("variant", variant),
                ("rating", rating),
            ],
        )
    };
    assert_eq!((thumbs("a", "up"), thumbs("a", "down")), (24.0, 16.0));
    assert_eq!((thumbs("b", "up"), thumbs("b", "down")), (22.0, 18.0));
    assert_eq!(
        scrape.value("alice_experiment_outcomes_dropped_total", &[]),
        0.0
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_guard_pauses_a_variant_with_thirty_percent_errors_and_not_one_within_the_margin() {
    let healthy = start_sim(Faults::default()).await;
    let flaky = start_sim(Faults::default()).await;
    let shaky = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config_with(
        dir.path(),
        &[("healthy", &healthy), ("flaky", &flaky), ("shaky", &shaky)],
    );
    // A failed attempt reaches the client: the errors are the variant's, not absorbed.
    settings.retry.max_retries = 0;
    let guard = ExperimentGuard {
        error_margin: 0.10,
        min_requests: 20,
    };
    settings.experiments = vec![
        ExperimentConfig {
            guard: guard.clone(),
            ..experiment(
                "fel",
                ExperimentRoutes::Native,
                vec![variant("control", "healthy"), variant("flaky", "flaky")],
            )
        },
        ExperimentConfig {
            guard,
            ..experiment(
                "marginal",
                ExperimentRoutes::Openai,
                vec![variant("control", "healthy"), variant("shaky", "shaky")],
            )
        },
    ];
    settings.validate().unwrap();
    let groups = [
        users_of(&settings, "fel", "control", 2),
        users_of(&settings, "fel", "flaky", 2),
        users_of(&settings, "marginal", "control", 2),
        users_of(&settings, "marginal", "shaky", 2),
    ];
    let everyone: Vec<String> = groups.concat();
    let clients = keys(&settings, &everyone).await;
    let alice = Alice::start(settings.clone()).await;

    // Twenty requests each way, in turn, so which of them fail is exact: 1 in 20 (5 %, within
    // the margin) on /v1 for "shaky", 6 in 20 (30 %) on /api/chat for "flaky".
    let fail_when = |sim: &SimHandle, fail: bool| {
        sim.set_faults(Faults {
            error_rate: if fail { 1.0 } else { 0.0 },
            error_status: 500,
            ..Faults::default()
        });
    };
    for i in 0..20 {
        let control = &groups[2][i % 2];
        let (status, _) = complete(&alice.base, &clients[control], &format!("Kontroll {i}")).await;
        assert_eq!(status, 200);
        fail_when(&shaky, i == 7);
        let user = &groups[3][i % 2];
        let (status, reply) = complete(&alice.base, &clients[user], &format!("Skakig {i}")).await;
        assert_eq!(status, if i == 7 { 502 } else { 200 }, "{reply}");
    }
    for i in 0..20 {
        let control = &groups[0][i % 2];
        let (status, _) = chat(&alice.base, &clients[control], &format!("Kontroll {i}")).await;
        assert_eq!(status, 200);
        fail_when(&flaky, i % 10 < 3);
        let user = &groups[1][i % 2];
        let (status, reply) = chat(&alice.base, &clients[user], &format!("Fladdrig {i}")).await;
        assert_eq!(status, if i % 10 < 3 { 502 } else { 200 }, "{reply}");
        if status == 200 {
            assert_eq!(named_variant(&reply, "fel"), "flaky");
        }
    }

    // Judged every few seconds: "fel" is paused, with the trip's sentence as the reason.
    let (paused, fel) = poll(Duration::from_secs(20), || async {
        let (_, body) = alice.get("/api/experiments/fel").await;
        (body["state"] == "paused", body)
    })
    .await;
    assert!(paused, "{fel}");
    let reason = fel["reason"].as_str().unwrap();
    assert!(
        reason.contains("variant flaky failed 30") && reason.contains("of its 20 requests"),
        "{reason}"
    );
    assert_eq!(fel["report"]["guard"]["variant"], "flaky");
    // Paused: no request takes part any more, and its backend is no longer pinned.
    let (status, reply) = chat(&alice.base, &clients[&groups[1][0]], "Efter pausen").await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply.get("experiment").is_none(), "{reply}");
    assert!(
        reply["model"].as_str().unwrap().starts_with("healthy:"),
        "{reply}"
    );

    // "marginal" had all its rows before "fel" was judged; one more round, and it still runs.
    tokio::time::sleep(alice_server::runtime::experiments::GUARD_INTERVAL + Duration::from_secs(1))
        .await;
    let (status, marginal) = alice.get("/api/experiments/marginal").await;
    assert_eq!(status, 200);
    assert_eq!(marginal["state"], "running", "{marginal}");
    assert_eq!(marginal["report"]["guard"], Value::Null, "{marginal}");
    assert_eq!(figures(&marginal, "shaky")["errors"], 1);
    let (_, reply) = complete(&alice.base, &clients[&groups[3][0]], "Fortfarande med?").await;
    assert_eq!(reply["alice_experiment"]["variant"], "shaky", "{reply}");

    let scrape = alice.scrape().await;
    let errors = scrape.value(
        "alice_experiment_outcomes_total",
        &[
            ("experiment", "fel"),
            ("variant", "flaky"),
            ("outcome", "error"),
        ],
    );
    assert_eq!(errors, 6.0);
    alice.stop().await;
}

/// `alice ARGS` to its end in `dir`: (success, stdout, stderr).
fn alice_cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let (status, out, err) = common::child_process::run_to_end(
        {
            let mut command = Command::new(ALICE);
            command
                .args(args)
                .current_dir(dir)
                .env_remove("ALICE_CONFIG");
            command
        },
        Duration::from_secs(60),
        "alice",
    );
    (status.success(), out, err)
}

/// `alice serve --config FILE` in `dir`: the process, its address, and its log lines.
fn serve(dir: &Path, config: &Path) -> (Running, String, mpsc::Receiver<Value>) {
    let mut child = Running(
        Command::new(ALICE)
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(dir)
            .env_remove("ALICE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let (addr_tx, addr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(parsed) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if parsed["evt"] == "listening" {
                let _ = addr_tx.send(parsed["addr"].as_str().unwrap_or_default().to_owned());
            }
            if lines_tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(30))
        .expect("alice should log that it listens");
    (child, format!("http://{addr}"), lines)
}

#[tokio::test]
async fn alice_experiment_stop_from_another_process_stops_assignment_within_seconds() {
    let quick = start_sim(Faults::default()).await;
    let slow = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = lab(dir.path(), &quick, &slow);
    settings.log.stdout = true;
    let users = vec!["sara".to_owned()];
    let clients = keys(&settings, &users).await;
    let config_file = dir.path().join("alice.toml");
    std::fs::write(&config_file, toml::to_string(&settings).unwrap()).unwrap();
    let config = config_file.to_str().unwrap();
    let (_alice, base, lines) = serve(dir.path(), &config_file);
    let sara = &clients["sara"];
    let expected = variant_of(&settings, EXPERIMENT, "sara");

    let response = sara
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": "Hej Alice"}))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let reply: Value = response.json().await.unwrap();
    assert_eq!(named_variant(&reply, EXPERIMENT), expected);
    // The request's log lines name the experiment and the variant.
    let mut logged = BTreeMap::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        if line["req_id"] == request_id.as_str() {
            let evt = line["evt"].as_str().unwrap_or_default().to_owned();
            logged.insert(evt.clone(), line.clone());
            if evt == "request_done" {
                break;
            }
        }
    }
    for evt in ["chat_done", "request_done"] {
        let line = logged
            .get(evt)
            .unwrap_or_else(|| panic!("no {evt} line: {logged:?}"));
        assert_eq!(line["experiment"], EXPERIMENT, "{line}");
        assert_eq!(line["variant"], expected.as_str(), "{line}");
    }

    let (ok, out, err) = alice_cli(
        dir.path(),
        &[
            "experiment",
            "stop",
            EXPERIMENT,
            "--reason",
            "för långsamt",
            "--config",
            config,
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("stopped"), "{out}");
    let stopped_at = tokio::time::Instant::now();
    let (stopped, reply) = poll(Duration::from_secs(10), || async {
        let (status, body) = chat(&base, sara, "Är du kvar?").await;
        assert_eq!(status, 200, "{body}");
        (body.get("experiment").is_none(), body)
    })
    .await;
    assert!(stopped, "still assigned: {reply}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped_at.elapsed()
    );
    let (ok, out, err) = alice_cli(
        dir.path(),
        &["experiment", "report", EXPERIMENT, "--config", config],
    );
    assert!(ok, "{err}");
    assert!(
        out.starts_with("experiment modell: stopped (för långsamt)"),
        "{out}"
    );
    let admin = client_with_key(&common::read_admin_key(&settings.auth.admin_key_file));
    let (status, body) = get(&admin, &format!("{base}/api/experiments/{EXPERIMENT}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "stopped");
    assert_eq!(body["reason"], "för långsamt");

    let (ok, _, err) = alice_cli(
        dir.path(),
        &["experiment", "resume", EXPERIMENT, "--config", config],
    );
    assert!(ok, "{err}");
    let (resumed, reply) = poll(Duration::from_secs(10), || async {
        let (_, body) = chat(&base, sara, "Och nu?").await;
        (body.get("experiment").is_some(), body)
    })
    .await;
    assert!(resumed, "{reply}");

    let (ok, _, err) = alice_cli(
        dir.path(),
        &["experiment", "stop", "ingen", "--config", config],
    );
    assert!(!ok);
    assert!(err.contains("no experiment \"ingen\""), "{err}");
}

#[tokio::test]
async fn outcomes_go_with_their_user_and_a_refusal_for_load_is_counted_as_shed() {
    let quick = start_sim(Faults::default()).await;
    let slow = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = lab(dir.path(), &quick, &slow);
    // Lisa's key allows three requests a minute: her fourth is refused (429) before any
    // handler runs, and counted as shed for her variant.
    let limited = KeyRequest {
        limits: alice_store::KeyLimits {
            requests_per_minute: Some(3),
            ..Default::default()
        },
        ..KeyRequest::default()
    };
    let lisa = keys_with(&settings, &["lisa".to_owned()], limited).await["lisa"].clone();
    let max = keys(&settings, &["max".to_owned()]).await["max"].clone();
    let alice = Alice::start(settings.clone()).await;
    let variant = variant_of(&settings, EXPERIMENT, "lisa");
    for i in 0..3 {
        let (status, reply) = chat(&alice.base, &lisa, &format!("Lisa {i}")).await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = chat(&alice.base, &lisa, "En gång till").await;
    assert_eq!(status, 429, "{reply}");
    let (status, _) = chat(&alice.base, &max, "Max fråga").await;
    assert_eq!(status, 200);

    let report = report_with(&alice, EXPERIMENT, 5).await;
    let lisas = figures(&report, &variant);
    assert!(lisas["shed"].as_u64().unwrap() >= 1, "{report}");

    let (status, export) = alice.get("/api/users/lisa/export").await;
    assert_eq!(status, 200);
    let outcomes = export["experiment_outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(export["counts"]["experiment_outcomes"], 4);
    assert_eq!(outcomes[3]["outcome"], "shed");
    assert_eq!(outcomes[3]["status"], 429);
    assert!(outcomes.iter().all(|o| o["variant"] == variant.as_str()));
    assert!(outcomes[0]["message_id"].is_string());

    let response = alice
        .http
        .delete(alice.url("/api/users/lisa"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let erased: Value = response.json().await.unwrap();
    assert_eq!(erased["erased"]["experiment_outcomes"], 4, "{erased}");
    let (_, report) = alice.get(&format!("/api/experiments/{EXPERIMENT}")).await;
    assert_eq!(report["report"]["rows"], 1, "max's alone is left: {report}");
    alice.stop().await;
}
