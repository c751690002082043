//! `GET /api/events`, the operator dashboard's feed, over real HTTP in front of the upstream
//! simulator: the first snapshot at once with every field, a brownout and a state change in
//! the next ones, a backend's breaker opening, admins only, at most one snapshot a second,
//! served through an EMERGENCY, and a graceful shutdown that an open feed does not hold up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_guardian::{Sample, Sampler};
use alice_identity::{KeyRequest, Role};
use alice_store::KeyLimits;
use alice_upstream_sim::Faults;
use common::sse_feed::Feed;
use common::{Alice, client_with_key, config, create_key, create_key_with, start_sim};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A machine whose RAM and CPU readings the test sets.
#[derive(Clone)]
struct ScriptedLoad(Arc<Mutex<(f64, f64)>>);

impl ScriptedLoad {
    fn new(ram: f64, cpu: f64) -> Self {
        Self(Arc::new(Mutex::new((ram, cpu))))
    }
    fn set(&self, ram: f64, cpu: f64) {
        *self.0.lock().unwrap() = (ram, cpu);
    }
}

impl Sampler for ScriptedLoad {
    fn sample(&mut self) -> Sample {
        let (ram, cpu) = *self.0.lock().unwrap();
        Sample {
            disk_pct: Some(0.25),
            ..Sample::ram_cpu(ram, cpu)
        }
    }
}

struct Started {
    alice: Alice,
    /// User anna, whose key may make one request a minute.
    anna: reqwest::Client,
    _sim: alice_upstream_sim::SimHandle,
    _dir: tempfile::TempDir,
}

/// Alice with a Guardian that samples `load` ten times a second, once it has a first sample.
async fn alice_with_load(load: &ScriptedLoad) -> Started {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.guardian.enabled = true;
    settings.guardian.interval = Duration::from_millis(100);
    let one_a_minute = KeyRequest {
        limits: KeyLimits {
            requests_per_minute: Some(1),
            tokens_per_minute: Some(0),
            max_in_flight: Some(0),
        },
        ..KeyRequest::default()
    };
    let anna = client_with_key(&create_key_with(&settings, "anna", Role::User, one_a_minute).await);
    let server = alice_server::start_with_sampler(settings, load.clone())
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    let sampled = common::until(Duration::from_secs(5), || async {
        alice.get("/api/guardian/status").await.1["metrics"]["ram_pct"].is_number()
    })
    .await;
    assert!(sampled, "the Guardian took no sample");
    Started {
        alice,
        anna,
        _sim: sim,
        _dir: dir,
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn the_first_snapshot_arrives_at_once_with_every_field() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let Started { alice, anna, .. } = alice_with_load(&load).await;
    let (status, _) = alice.chat(json!({"message": "Hej"})).await;
    assert_eq!(status, 200);
    let (status, _) = alice
        .get("/api/conversations/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
    // Anna's key may make one request a minute: the second is shed with 429.
    let me = alice.url("/api/auth/me");
    assert_eq!(anna.get(&me).send().await.unwrap().status(), 200);
    assert_eq!(anna.get(&me).send().await.unwrap().status(), 429);

    let connected = Instant::now();
    let mut feed = Feed::open(&alice.http, &alice.url("/api/events")).await;
    let first = feed.next(Duration::from_secs(1)).await.unwrap();
    assert!(
        connected.elapsed() < Duration::from_secs(1),
        "{:?}",
        connected.elapsed()
    );
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.retry, Some(2000), "browsers reconnect by themselves");
    let snapshot = first.data;
    assert_eq!(
        keys(&snapshot),
        [
            "at",
            "instance",
            "uptime_s",
            "guardian",
            "requests",
            "errors",
            "backends",
            "last_resort",
            "cache",
            "store"
        ]
    );
    let at: chrono::DateTime<chrono::FixedOffset> =
        chrono::DateTime::parse_from_rfc3339(snapshot["at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 5);
    let port = alice.server.addr().port().to_string();
    let instance = snapshot["instance"].as_str().unwrap();
    assert!(instance.ends_with(&format!(":{port}")), "{instance}");

    let guardian = &snapshot["guardian"];
    assert_eq!(
        keys(guardian),
        [
            "enabled",
            "source",
            "state",
            "brownout_level",
            "manual_brownout",
            "readings",
            "transitions"
        ]
    );
    assert_eq!(guardian["enabled"], true);
    assert_eq!(guardian["source"], "local");
    assert_eq!(guardian["state"], "NORMAL");
    assert_eq!(guardian["brownout_level"], "NONE");
    assert_eq!(guardian["manual_brownout"], Value::Null);
    assert_eq!(
        keys(&guardian["readings"]),
        [
            "at",
            "ram_pct",
            "cpu_pct",
            "disk_pct",
            "temp_c",
            "ram_gb",
            "ram_total_gb",
            "pressure",
            "unknown_streak"
        ]
    );
    assert_eq!(guardian["readings"]["ram_pct"], 0.40);
    // This test's scripted machine has no pressure figures.
    assert_eq!(guardian["readings"]["pressure"], Value::Null);
    assert_eq!(guardian["readings"]["disk_pct"], 0.25);
    assert!(guardian["transitions"].as_array().unwrap().is_empty());

    let requests = &snapshot["requests"];
    assert_eq!(
        keys(requests),
        ["window_s", "count", "rate_per_s", "latency_ms"]
    );
    assert!(requests["count"].as_u64().unwrap() >= 2, "{requests}");
    assert!(requests["rate_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        keys(&requests["latency_ms"]),
        ["p50", "p95", "p99", "p99_9", "max"]
    );
    let errors = &snapshot["errors"];
    assert_eq!(
        keys(errors),
        ["rate_per_s", "ratio", "total", "by_code", "shed"]
    );
    assert_eq!(errors["by_code"]["conversation_not_found"], 1, "{errors}");
    assert_eq!(errors["by_code"]["rate_limit_exceeded"], 1, "{errors}");
    assert_eq!(errors["total"], 2, "{errors}");
    assert_eq!(errors["rate_per_s"], 0.0, "no 5xx: {errors}");
    assert_eq!(
        errors["shed"],
        json!({
            "total": 1,
            "by_reason": {"rate_limit_exceeded": 1},
            "rate_limited": {"in_flight": 0, "requests": 1, "tokens": 0},
        })
    );
    let backend = &snapshot["backends"][0];
    assert_eq!(
        keys(backend),
        [
            "name",
            "model",
            "breaker",
            "in_flight",
            "queue_depth",
            "limit"
        ]
    );
    assert_eq!(backend["name"], "ollama");
    assert_eq!(backend["breaker"], "CLOSED");
    assert_eq!(backend["limit"], 3, "max_concurrent's default: {backend}");
    let last_resort = &snapshot["last_resort"];
    assert_eq!(
        keys(last_resort),
        [
            "available",
            "reason",
            "model",
            "url",
            "in_flight",
            "queued",
            "concurrency_limit",
            "answers"
        ]
    );
    // The harness turns it off.
    assert_eq!(last_resort["available"], false);
    assert_eq!(
        last_resort["reason"],
        "turned off (last_resort.enabled = false)"
    );
    assert_eq!(last_resort["answers"], 0);
    assert_eq!(
        keys(&snapshot["cache"]),
        [
            "enabled",
            "entries",
            "bytes",
            "hits",
            "misses",
            "hit_rate",
            "coalesced"
        ]
    );
    assert_eq!(snapshot["cache"]["enabled"], false);
    assert_eq!(snapshot["cache"]["hit_rate"], Value::Null);
    let store = &snapshot["store"];
    assert_eq!(
        keys(store),
        ["batches", "turns", "failed", "queued", "turns_per_batch"]
    );
    assert_eq!(store["turns"], 1, "the one chat turn: {store}");
    assert!(store["turns_per_batch"].as_f64().unwrap() > 0.0);
    drop(feed);
    alice.stop().await;
}

#[tokio::test]
async fn a_brownout_and_a_state_change_show_in_the_next_snapshots() {
    let load = ScriptedLoad::new(0.40, 0.30);
    let Started { alice, .. } = alice_with_load(&load).await;
    let mut feed = Feed::open(&alice.http, &alice.url("/api/events")).await;
    let first = feed.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.data["guardian"]["brownout_level"], "NONE");

    let (status, reply) = alice
        .post(
            "/api/brain/brownout",
            json!({"activate": true, "level": "HEAVY", "reason": "test av panelen"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let next = feed.next(Duration::from_millis(1500)).await.unwrap().data;
    assert_eq!(next["guardian"]["brownout_level"], "HEAVY", "{next:#}");
    assert_eq!(
        next["guardian"]["manual_brownout"],
        json!({"level": "HEAVY", "reason": "test av panelen"})
    );
    assert_eq!(
        next["guardian"]["state"], "NORMAL",
        "a manual brownout is no state change"
    );

    // RAM over the soft threshold for a full window: BROWNOUT, with its transition.
    load.set(0.85, 0.30);
    let browned = feed
        .until(Duration::from_secs(5), |s| {
            s["guardian"]["state"] == "BROWNOUT"
        })
        .await;
    let transitions = browned["guardian"]["transitions"].as_array().unwrap();
    let last = transitions.last().unwrap();
    assert_eq!(keys(last), ["at", "from", "to", "reason", "detail"]);
    assert_eq!(last["from"], "NORMAL");
    assert_eq!(last["to"], "BROWNOUT");
    assert_eq!(last["reason"], "soft_trigger");
    assert_eq!(browned["guardian"]["readings"]["ram_pct"], 0.85);

    // A hard reading: EMERGENCY. The feed goes on, and a new one is admitted, while other
    // paths are refused.
    load.set(0.97, 0.30);
    let emergency = feed
        .until(Duration::from_secs(5), |s| {
            s["guardian"]["state"] == "EMERGENCY"
        })
        .await;
    let last = emergency["guardian"]["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("BROWNOUT"), Some("EMERGENCY"))
    );
    let (status, _) = alice.get("/v1/models").await;
    assert_eq!(status, 503, "other paths are refused in EMERGENCY");
    let mut second = Feed::open(&alice.http, &alice.url("/api/events")).await;
    let during = second.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(during.data["guardian"]["state"], "EMERGENCY");
    drop((feed, second));
    alice.stop().await;
}

#[tokio::test]
async fn a_backends_breaker_shows_open_after_it_fails() {
    let sim = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let mut feed = Feed::open(&alice.http, &alice.url("/api/events")).await;
    let first = feed.next(Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.data["backends"][0]["breaker"], "CLOSED");
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..8 {
        let (status, reply) = alice.chat(json!({"message": format!("Fråga {i}")})).await;
        assert!(status >= 500, "{status} {reply}");
        *codes
            .entry(reply["code"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    let open = feed
        .until(Duration::from_secs(5), |s| {
            s["backends"][0]["breaker"] == "OPEN"
        })
        .await;
    let errors = &open["errors"];
    assert_eq!(errors["total"], 8, "{errors:#}");
    for (code, count) in &codes {
        assert_eq!(errors["by_code"][code], *count, "{code}: {errors:#}");
    }
    assert!(errors["rate_per_s"].as_f64().unwrap() > 0.0, "{errors:#}");
    assert!(errors["ratio"].as_f64().unwrap() > 0.5, "{errors:#}");
    drop(feed);
    alice.stop().await;
}

#[tokio::test]
async fn only_admins_watch_the_dashboard() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let alice = Alice::start(settings).await;
    let url = alice.url("/api/events");
    let anonymous = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // A user's feed carries their own timers, never the dashboard's snapshots.
    let mut feed = Feed::open(&anna, &url).await;
    let quiet = feed.next_within(Duration::from_millis(2500)).await;
    assert!(quiet.is_none(), "a user got {quiet:?}");
    assert_eq!(feed.retry, Some(2000), "told when to reconnect");
    drop(feed);
    let (status, reply) = alice.get("/api/events?interval_s=0").await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["field"], "interval_s");
    alice.stop().await;
}

#[tokio::test]
async fn at_most_one_snapshot_a_second() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let mut feed = Feed::open(&alice.http, &alice.url("/api/events")).await;
    let watched = Instant::now();
    let mut snapshots = 0;
    while watched.elapsed() < Duration::from_secs(3) {
        let left = Duration::from_secs(3).saturating_sub(watched.elapsed());
        let next = tokio::time::timeout(left, feed.next(Duration::from_secs(5))).await;
        match next {
            Ok(Some(event)) => {
                assert_eq!(event.event, "snapshot");
                snapshots += 1;
            }
            Ok(None) => panic!("the stream ended"),
            Err(_) => break,
        }
    }
    // At once, then at 1 s and 2 s (and perhaps just at 3 s): never a burst.
    assert!((2..=4).contains(&snapshots), "{snapshots} snapshots in 3 s");
    drop(feed);
    alice.stop().await;
}

#[tokio::test]
async fn an_open_feed_ends_with_alice_and_does_not_hold_up_her_shutdown() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let mut feed = Feed::open(&alice.http, &alice.url("/api/events")).await;
    assert!(feed.next(Duration::from_secs(1)).await.is_some());
    let grace = Duration::from_secs(10);
    let stopping = Instant::now();
    let shutdown = tokio::spawn(alice.server.shutdown(grace));
    // The feed ends: what is left of it is read to the end, without an error.
    while let Some(event) = feed.next(Duration::from_secs(5)).await {
        assert_eq!(event.event, "snapshot");
    }
    shutdown.await.unwrap().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "the shutdown waited {:?} (grace {grace:?}): the feed held it up",
        stopping.elapsed()
    );
}
