//! Timers and reminders over real HTTP: set, listed and cancelled through
//! `/api/users/{user}/timers`; fired as a `timer` event on the owner's `/api/events` feed (and
//! nobody else's) and as Alice's message in the conversation; a timer set before a restart
//! fires after it, once; and two instances on one PostgreSQL database fire each timer once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use common::sse_feed::Feed;
use common::{Alice, client_with_key, config, create_key, send, start_sim};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Alice's messages in `conversation`, as the owner's key reads them.
async fn messages(alice: &Alice, conversation: &str) -> Vec<Value> {
    let (status, reply) = alice
        .get(&format!(
            "/api/db/conversations/{conversation}/messages?limit=100"
        ))
        .await;
    assert_eq!(status, 200, "{reply}");
    reply["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_timer_rings_in_its_owners_feed_and_conversation_only() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.timers.poll_interval = Duration::from_millis(100);
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let eve = client_with_key(&create_key(&settings, "eve", Role::User).await);
    let alice = Alice::start(settings).await;
    let (status, reply) = send(
        &anna,
        Method::POST,
        &alice.url("/api/chat"),
        Some(json!({"message": "Hej"})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let mut annas_feed = Feed::open(&anna, &alice.url("/api/events")).await;
    let mut eves_feed = Feed::open(&eve, &alice.url("/api/events")).await;

    let timers = alice.url("/api/users/anna/timers");
    let body = json!({"in_seconds": 1, "label": "äggen", "conversation_id": conversation});
    let (status, set) = send(&anna, Method::POST, &timers, Some(body)).await;
    assert_eq!(status, 201, "{set}");
    assert_eq!(set["state"], "pending");
    assert_eq!(set["message"], "Din timer för äggen har gått ut.");
    let (status, listed) = send(&anna, Method::GET, &timers, None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["timers"][0]["id"], set["id"]);
    // Eve cannot see or cancel it: to her, anna's timers do not exist.
    let (status, _) = send(&eve, Method::GET, &timers, None).await;
    assert_eq!(status, 404);
    let theirs = format!("{timers}/{}", set["id"].as_str().unwrap());
    let (status, _) = send(&eve, Method::DELETE, &theirs, None).await;
    assert_eq!(status, 404);

    let rung = annas_feed.next(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rung.event, "timer");
    assert_eq!(rung.id.as_deref(), set["id"].as_str());
    assert_eq!(rung.data["message"], "Din timer för äggen har gått ut.");
    assert_eq!(rung.data["state"], "fired");
    let message_id = rung.data["message_id"].as_str().unwrap().to_owned();
    let said = messages(&alice, &conversation).await;
    let last = said.last().unwrap();
    assert_eq!(last["id"], message_id.as_str());
    assert_eq!(last["role"], "assistant");
    assert_eq!(last["content"], "Din timer för äggen har gått ut.");
    let heard = eves_feed.next_within(Duration::from_millis(500)).await;
    assert!(heard.is_none(), "eve heard anna's timer: {heard:?}");
    let (_, listed) = send(&anna, Method::GET, &timers, None).await;
    assert_eq!(listed["timers"], json!([]), "fired, so no longer pending");
    drop((annas_feed, eves_feed));
    alice.stop().await;
}

#[tokio::test]
async fn timers_are_cancelled_and_bad_ones_refused_saying_why() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.timers.max_pending_per_user = 2;
    let alice = Alice::start(settings).await;
    let timers = "/api/users/bo/timers";
    for (body, field) in [
        (json!({"in_seconds": 0}), "in_seconds"),
        (json!({}), "in_seconds"),
        (
            json!({"in_seconds": 5, "due_at": "2030-01-01T00:00:00Z"}),
            "in_seconds",
        ),
        (json!({"due_at": "2001-01-01T00:00:00Z"}), "due_at"),
        (json!({"due_at": "2999-01-01T00:00:00Z"}), "due_at"),
        (json!({"in_seconds": 60, "kind": "alarm"}), "kind"),
    ] {
        let (status, reply) = alice.post(timers, body.clone()).await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["field"], field, "{body}: {reply}");
    }
    let (status, first) = alice.post(timers, json!({"in_seconds": 600})).await;
    assert_eq!(status, 201, "{first}");
    let reminder = json!({"in_seconds": 900, "kind": "reminder", "label": "ringa mamma"});
    let (status, second) = alice.post(timers, reminder).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["message"], "Påminnelse: ringa mamma.");
    let (status, full) = alice.post(timers, json!({"in_seconds": 60})).await;
    assert_eq!(status, 409, "{full}");
    assert!(full.to_string().contains("max_pending_per_user"), "{full}");

    let one = alice.url(&format!("{timers}/{}", first["id"].as_str().unwrap()));
    let (status, _) = send(&alice.http, Method::DELETE, &one, None).await;
    assert_eq!(status, 204);
    let (status, again) = send(&alice.http, Method::DELETE, &one, None).await;
    assert_eq!(status, 404, "{again}");
    let (_, listed) = alice.get(timers).await;
    assert_eq!(listed["timers"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["timers"][0]["id"], second["id"]);
    alice.stop().await;
}

#[tokio::test]
async fn a_timer_set_before_a_restart_fires_after_it_once() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.timers.poll_interval = Duration::from_millis(100);
    let alice = Alice::start(settings.clone()).await;
    let (status, reply) = alice.chat(json!({"message": "Hej", "user": "cia"})).await;
    assert_eq!(status, 200, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let body = json!({"in_seconds": 2, "label": "tvätten", "conversation_id": conversation});
    let (status, set) = alice.post("/api/users/cia/timers", body).await;
    assert_eq!(status, 201, "{set}");
    alice.stop().await;

    // Due while Alice is down; it fires once she is back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alice = Alice::start(settings).await;
    let said = common::until(Duration::from_secs(10), || async {
        messages(&alice, &conversation).await.len() == 3
    })
    .await;
    assert!(said, "{:#?}", messages(&alice, &conversation).await);
    // And only once, however many polls pass.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let said = messages(&alice, &conversation).await;
    let rung: Vec<_> = said
        .iter()
        .filter(|m| m["content"] == "Din timer för tvätten har gått ut.")
        .collect();
    assert_eq!(rung.len(), 1, "{said:#?}");
    alice.stop().await;
}

#[tokio::test]
async fn two_instances_on_postgres_fire_each_timer_once() {
    let Ok(url) = std::env::var("ALICE_TEST_POSTGRES_URL") else {
        eprintln!(
            "skipped two_instances_on_postgres_fire_each_timer_once: ALICE_TEST_POSTGRES_URL \
             is not set"
        );
        return;
    };
    let schema = format!("alice_test_timers_{}", uuid::Uuid::new_v4().simple());
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.database.url = url.clone();
    settings.database.schema = Some(schema.clone());
    settings.timers.poll_interval = Duration::from_millis(50);
    settings.timers.fire_batch = 2;
    let first = Alice::start(settings.clone()).await;
    let second = Alice::start(settings).await;
    let (status, reply) = first.chat(json!({"message": "Hej", "user": "dan"})).await;
    assert_eq!(status, 200, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    for n in 0..20 {
        let body = json!({
            "in_seconds": 1,
            "message": format!("Timer {n}"),
            "conversation_id": conversation,
        });
        let on = if n % 2 == 0 { &first } else { &second };
        let (status, set) = on.post("/api/users/dan/timers", body).await;
        assert_eq!(status, 201, "{set}");
    }
    let all_said = common::until(Duration::from_secs(15), || async {
        messages(&second, &conversation).await.len() >= 22
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let said = messages(&first, &conversation).await;
    assert!(all_said, "{said:#?}");
    let mut contents: Vec<String> = said[2..]
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("Timer {n}")).collect();
    expected.sort();
    assert_eq!(contents, expected, "each timer said exactly once");
    first.stop().await;
    second.stop().await;
    let dropped = std::process::Command::new("psql")
        .args(["--quiet", "--dbname", &url, "--command"])
        .arg(format!("DROP SCHEMA {schema} CASCADE"))
        .status()
        .unwrap();
    assert!(dropped.success());
}
