//! GDPR over HTTP: a user with conversations, memories, cached answers and an answer kept for
//! an idempotent retry is exported (every marker string is in the document) and erased (no marker string is left in the database's
//! files, or in a pg_dump of PostgreSQL, and their cached answers are gone), while another
//! user's data stays. A backup taken before the erasure is then restored into an empty
//! database, and the same scan finds nothing of the erased user there either: the restore
//! applied the erasure log. Runs on SQLite always and on PostgreSQL when
//! `ALICE_TEST_POSTGRES_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_core::config::DatabaseConfig;
use alice_store::backup;
use common::{Alice, config, start_sim};
use serde_json::{Value, json};
use std::path::Path;

/// Marker words: lowercase letters and digits with no Swedish suffix to stem away, so the
/// full-text index holds them exactly as written and a byte scan finds every copy.
const ERASED: &[&str] = &["mrk7741qz", "mrk7742qz", "mrk7743qz", "mrk7744qz"];
const KEPT: &str = "mrk5512qz";
const QUESTION: &str = "Vad är huvudstaden i Norge?";

/// Gives `user` three conversations (one continued; one a memory command; one whose answer is
/// cached), two memories (chat and API) and an identity number in a message; every marker
/// appears somewhere.
async fn populate(alice: &Alice, user: &str, markers: &[&str]) {
    let first = chat(
        alice,
        user,
        &format!(
            "Berätta om {} och vädret. Mitt personnummer är 19121212-1212.",
            markers[0]
        ),
        None,
    )
    .await;
    // Sent as a retry-safe request: its kept answer quotes the marker, under the admin's key.
    let second = alice
        .http
        .post(alice.url("/api/chat"))
        .header("idempotency-key", format!("retry-{user}"))
        .json(&json!({
            "message": format!("Och {} då?", markers[1]),
            "user": user,
            "conversation_id": first["conversation_id"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    chat(
        alice,
        user,
        &format!("Kom ihåg att min kod är {}", markers[2]),
        None,
    )
    .await;
    let (status, body) = alice
        .post(
            &format!("/api/users/{user}/memories"),
            json!({"content": format!("{} är mitt lösenordstips", markers[3])}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cached = chat(alice, user, QUESTION, None).await;
    assert!(cached["conversation_id"].is_string());
}

async fn chat(alice: &Alice, user: &str, message: &str, conversation: Option<&str>) -> Value {
    let mut body = json!({"message": message, "user": user});
    if let Some(id) = conversation {
        body["conversation_id"] = json!(id);
    }
    let (status, reply) = alice.chat(body).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The whole scenario; `dump` returns every byte the database keeps, `restored` restores the
/// backup in `backup_dir` into an empty database and returns every byte that one keeps.
async fn erase_leaves_no_trace(
    alice: &Alice,
    sim: &alice_upstream_sim::SimHandle,
    dump: impl Fn() -> Vec<u8>,
    database: &DatabaseConfig,
    backup_dir: &Path,
    restored: impl AsyncFnOnce() -> Vec<u8>,
) {
    populate(alice, "gdpr_anna", ERASED).await;
    populate(alice, "gdpr_bo", &[KEPT, KEPT, KEPT, KEPT]).await;
    let calls_before = sim.requests().len();

    let (status, export) = alice.get("/api/users/gdpr_anna/export").await;
    assert_eq!(status, 200, "{export}");
    let text = export.to_string();
    for marker in ERASED {
        assert!(text.contains(marker), "{marker} missing from the export");
    }
    assert!(!text.contains(KEPT), "another user's data in the export");
    assert_eq!(export["format"], "alice-user-export/2");
    assert_eq!(export["counts"]["conversations"], 3);
    assert_eq!(export["counts"]["messages"], 8);
    assert_eq!(export["counts"]["memories"], 2);
    assert_eq!(export["user"]["language"], "sv");
    let first_question = &export["conversations"][0]["messages"][0];
    assert_eq!(first_question["contains_personal_identity_number"], true);
    let flagged = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|conversation| conversation["messages"].as_array().unwrap())
        .filter(|message| message["contains_personal_identity_number"] == true)
        .count();
    assert_eq!(
        export["personal_identity_numbers"]["texts"]["messages"],
        json!(flagged),
        "the summary counts the marked messages"
    );

    let before = dump();
    backup::create(database, backup_dir).await.unwrap();
    for marker in ERASED.iter().chain([&KEPT]) {
        assert!(
            contains(&before, marker),
            "{marker} not found before erasure: the scan is blind"
        );
    }

    let response = alice
        .http
        .delete(alice.url("/api/users/gdpr_anna"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["erased"]["conversations"], 3, "{report}");
    assert_eq!(report["erased"]["messages"], 8);
    assert_eq!(report["erased"]["memories"], 2);
    assert_eq!(report["erased"]["cache_keys"], 1);
    assert_eq!(report["erased"]["idempotency_records"], 1);
    assert_eq!(report["cache"]["local"], 1, "{report}");

    let after = dump();
    for marker in ERASED {
        assert!(!contains(&after, marker), "{marker} survived erasure");
    }
    assert!(
        contains(&after, KEPT),
        "the other user's data was erased too"
    );
    let (status, _) = alice.get("/api/users/gdpr_anna/export").await;
    assert_eq!(status, 404);
    let (status, _) = alice.get("/api/db/users/gdpr_bo").await;
    assert_eq!(status, 200);

    // The answer anna's question put in the cache is gone: the same question is asked anew.
    chat(alice, "gdpr_cecilia", QUESTION, None).await;
    assert_eq!(sim.requests().len(), calls_before + 1);

    // The backup from before the erasure holds anna; restored, she is erased again.
    let restored = restored().await;
    assert!(contains(&restored, KEPT), "the restore lost the other user");
    for marker in ERASED {
        assert!(
            !contains(&restored, marker),
            "{marker} came back with the restore of an older backup"
        );
    }
}

/// Restores `backup_dir` into `target` (an empty database) with the erasure log of the running
/// Alice, and checks that the restore applied anna's erasure.
async fn restore_applying_the_erasure(backup_dir: &Path, target: &DatabaseConfig) {
    let report = backup::restore(backup_dir, target).await.unwrap();
    assert_eq!(report.erasures.len(), 1, "{:?}", report.erasures);
    assert_eq!(report.erasures[0].users, 1);
    assert_eq!(report.erasures[0].erased.conversations, 3);
    assert_eq!(report.erasures[0].erased.memories, 2);
}

#[tokio::test]
async fn sqlite_export_and_erasure() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.cache.enabled = true;
    let database = config.database.clone();
    let alice = Alice::start(config).await;
    let files = dir.path().to_owned();
    let backup_dir = dir.path().join("backups/before");
    let restored_dir = dir.path().join("restored");
    let target = DatabaseConfig {
        url: format!("sqlite://{}/alice.db", restored_dir.display()),
        ..database.clone()
    };
    let restored = async || {
        restore_applying_the_erasure(&backup_dir, &target).await;
        sqlite_bytes(&restored_dir)
    };
    erase_leaves_no_trace(
        &alice,
        &sim,
        || sqlite_bytes(&files),
        &database,
        &backup_dir,
        restored,
    )
    .await;
    alice.stop().await;
}

/// The database file with its write-ahead log and shared-memory file.
fn sqlite_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["alice.db", "alice.db-wal", "alice.db-shm"] {
        if let Ok(content) = std::fs::read(dir.join(name)) {
            bytes.extend(content);
        }
    }
    bytes
}

#[tokio::test]
async fn postgres_export_and_erasure() {
    let Ok(url) = std::env::var("ALICE_TEST_POSTGRES_URL") else {
        eprintln!("skipped postgres_export_and_erasure: ALICE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("alice_test_gdpr_{}", uuid::Uuid::new_v4().simple());
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.cache.enabled = true;
    config.database.url = url.clone();
    config.database.schema = Some(schema.clone());
    let database = config.database.clone();
    let alice = Alice::start(config).await;
    let dump = |url: &str| {
        let output = std::process::Command::new("pg_dump")
            .args(["--schema", &schema, "--dbname", url])
            .output()
            .expect("pg_dump runs (apt-get install postgresql-client)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    // The restore goes into a database of its own (a dump restores into the schema it was made
    // from, which the running Alice holds in the test database).
    let restored_database = schema.replace("alice_test_gdpr_", "alice_test_gdpr_restored_");
    let psql = |sql: &str| {
        let status = std::process::Command::new("psql")
            .args([&url, "-q", "-c", sql])
            .status()
            .unwrap();
        assert!(status.success(), "{sql}");
    };
    psql(&format!("CREATE DATABASE {restored_database}"));
    let (server, _) = url.rsplit_once('/').unwrap();
    let restored_url = format!("{server}/{restored_database}");
    let target = DatabaseConfig {
        url: restored_url.clone(),
        ..database.clone()
    };
    let backup_dir = dir.path().join("backups/before");
    let restored = async || {
        restore_applying_the_erasure(&backup_dir, &target).await;
        dump(&restored_url)
    };
    erase_leaves_no_trace(
        &alice,
        &sim,
        || dump(&url),
        &database,
        &backup_dir,
        restored,
    )
    .await;
    alice.stop().await;
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
    psql(&format!("DROP DATABASE {restored_database} WITH (FORCE)"));
}
