//! `/api/db/…` (the database for the operator) and the housekeeping jobs: retention deletes
//! old messages, and the Guardian's samples are written to `system_metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_guardian::{Sample, Sampler};
use alice_store::{ConversationTarget, NewMessage, NewTurn, Store};
use chrono::Utc;
use common::{Alice, config, start_sim, until};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn reading_the_database() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let mut ids = Vec::new();
    for question in ["Hej!", "Vad är 2+2?", "Tack!"] {
        let (status, reply) = alice
            .chat(json!({"message": question, "user": "ingrid"}))
            .await;
        assert_eq!(status, 200, "{reply}");
        ids.push(reply["conversation_id"].as_str().unwrap().to_owned());
    }
    alice
        .chat(json!({"message": "Och 3+3?", "user": "ingrid", "conversation_id": ids[1]}))
        .await;
    alice
        .chat(json!({"message": "Hallå", "user": "johan"}))
        .await;

    let (status, health) = alice.get("/api/db/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["ok"], true);
    assert_eq!(health["engine"], "sqlite");

    let (_, stats) = alice.get("/api/db/stats").await;
    // ingrid and johan, and the admin the first start created.
    assert_eq!(stats["database"]["rows"]["users"], 3, "{stats}");
    assert_eq!(stats["database"]["rows"]["conversations"], 4);
    assert_eq!(stats["database"]["rows"]["messages"], 10);
    assert_eq!(stats["batcher"]["turns"], 5);
    assert_eq!(stats["batcher"]["failed"], 0);
    assert!(stats["database"]["schema_version"].as_i64().unwrap() >= 2);

    let (_, user) = alice.get("/api/db/users/ingrid").await;
    assert_eq!(user["user"]["timezone"], "Europe/Stockholm");
    assert_eq!(user["memories"], 0);

    // Newest activity first: the continued conversation moved to the top.
    let (_, page) = alice
        .get("/api/db/users/ingrid/conversations?limit=2")
        .await;
    let listed: Vec<&str> = page["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[2].as_str()]);
    assert_eq!(page["next_offset"], 2);
    let (_, rest) = alice
        .get("/api/db/users/ingrid/conversations?limit=2&offset=2")
        .await;
    assert_eq!(rest["conversations"][0]["id"], ids[0].as_str());
    assert!(rest["next_offset"].is_null());

    let (_, recent) = alice.get("/api/db/recent-activity?limit=1").await;
    assert_eq!(recent["conversations"][0]["username"], "johan");

    let (_, conversation) = alice
        .get(&format!("/api/db/conversations/{}", ids[1]))
        .await;
    assert_eq!(conversation["message_count"], 4);
    let (_, messages) = alice
        .get(&format!(
            "/api/db/conversations/{}/messages?limit=3",
            ids[1]
        ))
        .await;
    assert_eq!(messages["messages"].as_array().unwrap().len(), 3);
    assert_eq!(messages["next_after"], 3);

    let (status, missing) = alice.get("/api/db/users/nobody").await;
    assert_eq!((status, missing["code"].as_str()), (404, Some("not_found")));
    let (status, _) = alice.get("/api/db/users/nobody/conversations").await;
    assert_eq!(status, 404);
    let (status, _) = alice.get("/api/db/recent-activity?limit=100000").await;
    assert_eq!(status, 422);
    alice.stop().await;
}

#[tokio::test]
async fn the_retention_job_deletes_old_messages() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    // Turns from before the server started: one three days old, one from now.
    let store = Store::open(&config.database).await.unwrap();
    let old = Utc::now() - chrono::Duration::days(3);
    let mut written = Vec::new();
    for at in [old, Utc::now()] {
        let recorded = store
            .record_turn(NewTurn {
                conversation: ConversationTarget::New {
                    id: uuid::Uuid::now_v7(),
                    username: "karin".into(),
                },
                request_id: "seeded".into(),
                user: NewMessage::new("Fråga", at),
                assistant: NewMessage::new("Svar", at),
            })
            .await
            .unwrap();
        written.push(recorded.conversation_id);
    }
    store.close().await;

    config.database.retention = Duration::from_secs(24 * 3600);
    let alice = Alice::start(config).await;
    let gone = until(Duration::from_secs(10), || async {
        alice
            .get(&format!("/api/db/conversations/{}", written[0]))
            .await
            .0
            == 404
    })
    .await;
    assert!(gone, "the three-day-old conversation is still there");
    let (status, _) = alice
        .get(&format!("/api/db/conversations/{}", written[1]))
        .await;
    assert_eq!(status, 200, "today's conversation was deleted");
    alice.stop().await;
}

/// A machine at a fixed load.
struct SteadyLoad;

impl Sampler for SteadyLoad {
    fn sample(&mut self) -> Sample {
        Sample::ram_cpu(0.40, 0.25)
    }
}

#[tokio::test]
async fn guardian_samples_are_kept_downsampled() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.guardian.interval = Duration::from_millis(20);
    config.database.system_metrics_interval = Duration::from_millis(200);
    let server = alice_server::start_with_sampler(config.clone(), SteadyLoad)
        .await
        .unwrap();
    let alice = Alice::around(server, &dir.path().join("admin.key"));
    let written = until(Duration::from_secs(10), || async {
        let (_, stats) = alice.get("/api/db/stats").await;
        stats["database"]["rows"]["system_metrics"]
            .as_i64()
            .unwrap()
            >= 2
    })
    .await;
    assert!(written, "no downsampled Guardian sample was written");
    alice.stop().await;

    let store = Store::open(&config.database).await.unwrap();
    let rows = store
        .system_metrics(Utc::now() - chrono::Duration::hours(1), 10)
        .await
        .unwrap();
    store.close().await;
    let first = &rows[0];
    assert_eq!(first.guardian_state, "NORMAL");
    assert_eq!(first.brownout_level, "NONE");
    assert!((first.ram_pct.unwrap() - 0.40).abs() < 1e-9, "{first:?}");
    assert!((first.cpu_pct.unwrap() - 0.25).abs() < 1e-9, "{first:?}");
    assert!(
        first.samples >= 2,
        "one row stands for several samples: {first:?}"
    );
}
