//! The real `alice` binary: start-up, config errors, logs under concurrency, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::alice_process::{ALICE, admin_http, spawn_alice, terminate};
use common::child_process::Running;
use common::parse_sse;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// `alice serve --demo` on a free port with its database in `dir`; returns the process, its
/// address and a channel of its stdout lines.
fn spawn_demo(dir: &std::path::Path) -> (Running, String, mpsc::Receiver<String>) {
    spawn_alice(dir, &["serve", "--demo"], &[])
}

#[tokio::test]
async fn demo_mode_streams_a_swedish_answer_and_logs_each_request_under_its_own_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, lines) = spawn_demo(dir.path());
    let http = admin_http(dir.path());

    // Eight streamed chats at once, each with its own request id.
    let chats = (0..8).map(|i| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .post(format!("{base}/api/chat"))
                .header("x-request-id", format!("samtidig-{i}"))
                .json(&json!({ "message": format!("Berätta om talet {i}"), "stream": true }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let events = parse_sse(&response.text().await.unwrap());
            let done = events.last().unwrap();
            assert_eq!(done.event, "done", "{events:?}");
            assert!(
                done.data["response"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("Berätta om talet {i}"))
            );
            (
                format!("samtidig-{i}"),
                done.data["conversation_id"].as_str().unwrap().to_owned(),
            )
        }
    });
    let conversations: HashMap<String, String> = futures_util::future::join_all(chats)
        .await
        .into_iter()
        .collect();

    let status = terminate(&mut child);
    assert!(status.success(), "a clean shutdown exits 0: {status}");

    // Every line that names a request id and a conversation names the right pair, and each
    // request has its request_done and chat_done lines.
    let logged: Vec<Value> = lines
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    for line in &logged {
        for key in ["ts", "lvl", "evt"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
    }
    for (request_id, conversation) in &conversations {
        let mine: Vec<&Value> = logged
            .iter()
            .filter(|l| l["req_id"] == request_id.as_str())
            .collect();
        let events: Vec<&str> = mine.iter().map(|l| l["evt"].as_str().unwrap()).collect();
        assert!(events.contains(&"request_done"), "{request_id}: {events:?}");
        assert!(events.contains(&"chat_done"), "{request_id}: {events:?}");
        for line in mine {
            if let Some(logged_conversation) = line.get("conversation_id") {
                assert_eq!(logged_conversation, conversation.as_str(), "{line}");
            }
        }
    }
    let foreign = logged
        .iter()
        .filter(|l| l["evt"] == "chat_done")
        .filter(|l| {
            conversations.get(l["req_id"].as_str().unwrap_or(""))
                != l["conversation_id"].as_str().map(str::to_owned).as_ref()
        })
        .count();
    assert_eq!(foreign, 0, "no chat_done line carries another request's id");
    assert!(logged.iter().any(|l| l["evt"] == "stopped"));
}

#[tokio::test]
async fn without_a_reachable_ollama_alice_starts_and_says_how_to_start_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ollama = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, lines) = spawn_alice(
        dir.path(),
        &["serve"],
        &[
            ("ALICE_BACKENDS", &format!("[{{url=\"{ollama}\"}}]")),
            ("ALICE_RETRY__BASE_DELAY", "10ms"),
        ],
    );
    let warning: Value = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a backend_unavailable line");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        if parsed["evt"] == "backend_unavailable" {
            break parsed;
        }
    };
    assert_eq!(warning["lvl"], "WARN");
    assert_eq!(warning["url"], ollama.as_str());
    assert!(
        warning["error"].as_str().unwrap().contains("ollama serve"),
        "{warning}"
    );
    let response = admin_http(dir.path())
        .post(format!("{base}/api/chat"))
        .json(&json!({ "message": "Vad är Sveriges huvudstad?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    // What Alice answers herself needs no model.
    let response = admin_http(dir.path())
        .post(format!("{base}/api/chat"))
        .json(&json!({ "message": "Vad är 17 gånger 23?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["response"], "17 × 23 = 391.", "{reply}");
    assert!(terminate(&mut child).success());
}

#[test]
fn an_invalid_setting_stops_start_up_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(ALICE)
        .arg("serve")
        .current_dir(dir.path())
        .env("ALICE_CHAT__TEMPERATURE", "9")
        .env("ALICE_SERVER__BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("chat.temperature"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing half-starts: no database created"
    );
}

#[test]
fn a_config_file_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(ALICE)
        .args(["--config", "saknas.toml", "serve"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("saknas.toml"));
}

#[test]
fn the_example_config_is_valid_and_complete() {
    // alice.example.toml must load as it is, and say exactly what the defaults are.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/alice.example.toml"))
            .unwrap();
    let from_example: toml::Value = toml::from_str(&example).unwrap();
    let defaults = toml::Value::try_from(alice_core::Config::default()).unwrap();
    // Keys as "section.key", with the backend list's tables as "backends[].key".
    let documented = |table: &toml::Value| -> Vec<String> {
        let mut keys = Vec::new();
        for (section, values) in table.as_table().unwrap() {
            let tables: Vec<&toml::Value> = match values {
                toml::Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let suffix = if values.is_array() { "[]" } else { "" };
            for table in tables {
                for key in table.as_table().unwrap().keys() {
                    keys.push(format!("{section}{suffix}.{key}"));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    };
    let mut default_keys = documented(&defaults);
    // Unset by default, so shown commented out in the example.
    default_keys.retain(|k| {
        ![
            "log.file",
            "backends[].api_key_env",
            "guardian.remote_url",
            "chat.smaller_model",
            "chat.smallest_model",
            // No webhook or MCP server by default; one of each is shown commented out
            // (checked in alice-core).
            "tools.webhooks",
            "tools.mcp",
        ]
        .contains(&k.as_str())
    });
    assert_eq!(documented(&from_example), default_keys);
    // Every value in the example is the default: parsed as a Config it serialises the same.
    let parsed: alice_core::Config = toml::from_str(&example).unwrap();
    assert_eq!(toml::Value::try_from(parsed).unwrap(), defaults);
}

/// `alice ARGS` in `dir` to the end, with extra environment; returns (success, stdout, stderr).
fn alice_in(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(ALICE)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .env_remove("ALICE_CONFIG")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn backup_while_serving_then_verify_and_restore_into_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _lines) = spawn_demo(dir.path());
    let http = admin_http(dir.path());
    for i in 0..3 {
        let response = http
            .post(format!("{base}/api/chat"))
            .json(&json!({ "message": format!("Hej nummer {i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    // Online: the server keeps its database open while the backup is taken.
    let (ok, stdout, stderr) = alice_in(dir.path(), &["backup", "backups/first"], &[]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("backup written to backups/first"),
        "{stdout}"
    );
    assert!(stdout.contains("messages"), "{stdout}");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("backups/first/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["engine"], "sqlite");
    assert!(manifest["schema_version"].as_i64().unwrap() >= 1);
    let messages = manifest["tables"]["messages"]["rows"].as_u64().unwrap();
    assert!(messages >= 6, "three turns: {manifest}");

    // A restore over the live database is refused, and the server's data is untouched.
    let (ok, _, stderr) = alice_in(dir.path(), &["restore", "backups/first"], &[]);
    assert!(!ok);
    assert!(stderr.contains("is Alice running?"), "{stderr}");
    assert!(terminate(&mut child).success());

    let (ok, stdout, stderr) = alice_in(dir.path(), &["backup", "verify", "backups/first"], &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("is good"), "{stdout}");
    assert!(stdout.contains("integrity_check ok"), "{stdout}");

    // A bare file name: the target's directory is the working directory.
    let restored = [("ALICE_DATABASE__URL", "sqlite://restored.db")];
    let (ok, stdout, stderr) = alice_in(dir.path(), &["restore", "backups/first"], &restored);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("every table matches the manifest"),
        "{stdout}"
    );
    let messages_line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("messages "))
        .unwrap();
    assert_eq!(
        messages_line.split_whitespace().nth(1),
        Some(messages.to_string().as_str()),
        "{stdout}"
    );
    assert!(dir.path().join("restored.db").exists());
    // The restored database now holds the rows: a second restore is refused.
    let (ok, _, stderr) = alice_in(dir.path(), &["restore", "backups/first"], &restored);
    assert!(!ok);
    assert!(
        stderr.contains("restore only into an empty database"),
        "{stderr}"
    );

    // A damaged backup fails verification and restore with a message that says so.
    let data = dir.path().join("backups/first/alice.db");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let (ok, _, stderr) = alice_in(dir.path(), &["backup", "verify", "backups/first"], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("does not match its manifest checksum"),
        "{stderr}"
    );
    let elsewhere = [("ALICE_DATABASE__URL", "sqlite://elsewhere/alice.db")];
    let (ok, _, stderr) = alice_in(dir.path(), &["restore", "backups/first"], &elsewhere);
    assert!(!ok);
    assert!(
        stderr.contains("the backup is damaged; use another backup"),
        "{stderr}"
    );
    assert!(!dir.path().join("elsewhere/alice.db").exists());
}

#[tokio::test]
async fn user_export_and_forget_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/alice.db", dir.path().display());
    let database = alice_core::config::DatabaseConfig {
        url: url.clone(),
        ..Default::default()
    };
    let store = alice_store::Store::open(&database).await.unwrap();
    for (user, text) in [("lisa", "Lisas fråga om mrk9931qz"), ("max", "Max fråga")] {
        store
            .record_turn(alice_store::NewTurn {
                conversation: alice_store::ConversationTarget::New {
                    id: uuid::Uuid::now_v7(),
                    username: user.into(),
                },
                request_id: "cli".into(),
                user: alice_store::NewMessage::new(text, chrono::Utc::now()),
                assistant: alice_store::NewMessage::new("Svar", chrono::Utc::now()),
            })
            .await
            .unwrap();
    }
    store
        .add_memory(
            "lisa",
            alice_store::NewMemory::new("Lisa spelar fiol", chrono::Utc::now()),
            u32::MAX,
        )
        .await
        .unwrap()
        .unwrap();
    store.close().await;
    let env = [("ALICE_DATABASE__URL", url.as_str())];

    let (ok, stdout, stderr) = alice_in(dir.path(), &["migrate"], &env);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("sqlite database is at schema version"),
        "{stdout}"
    );

    let (ok, _, stderr) = alice_in(
        dir.path(),
        &["user", "export", "lisa", "-o", "lisa.json"],
        &env,
    );
    assert!(ok, "{stderr}");
    let export: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("lisa.json")).unwrap())
            .unwrap();
    assert_eq!(export["counts"]["messages"], 2);
    assert_eq!(export["memories"][0]["content"], "Lisa spelar fiol");
    assert!(export.to_string().contains("mrk9931qz"));

    let (ok, _, stderr) = alice_in(dir.path(), &["backup", "backups/before"], &env);
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) = alice_in(dir.path(), &["user", "forget", "lisa"], &env);
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("erased lisa: 1 conversations, 2 messages, 1 memories"),
        "{stdout}"
    );
    assert!(stdout.contains("data/erasures.ndjson"), "{stdout}");
    let log = std::fs::read_to_string(dir.path().join("data/erasures.ndjson")).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(!log.contains("lisa"), "the tombstone names nobody: {log}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.path().join("data/erasures.ndjson"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The backup from before the erasure still holds lisa; a restore of it erases her again.
    let elsewhere_url = format!("sqlite://{}/elsewhere/alice.db", dir.path().display());
    let elsewhere = [("ALICE_DATABASE__URL", elsewhere_url.as_str())];
    let (ok, stdout, stderr) = alice_in(dir.path(), &["restore", "backups/before"], &elsewhere);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("erasure log: 1 erasures newer than the backup applied"),
        "{stdout}"
    );
    assert!(
        stdout.contains(": 1 users, 1 conversations, 2 messages"),
        "{stdout}"
    );
    let restored = std::fs::read(dir.path().join("elsewhere/alice.db")).unwrap();
    assert!(
        !restored.windows(9).any(|w| w == b"mrk9931qz"),
        "the erased text came back with the restore"
    );
    let (ok, stdout, _) = alice_in(dir.path(), &["user", "export", "max"], &elsewhere);
    assert!(ok && stdout.contains("Max fråga"), "{stdout}");
    let (ok, stdout, stderr) = alice_in(dir.path(), &["backup", "verify", "backups/before"], &env);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("erasure log: 1 erasures newer than the backup a restore would apply"),
        "{stdout}"
    );
    let (ok, _, stderr) = alice_in(dir.path(), &["user", "export", "lisa"], &env);
    assert!(!ok);
    assert!(stderr.contains("no user \"lisa\""), "{stderr}");
    let (ok, stdout, _) = alice_in(dir.path(), &["user", "export", "max"], &env);
    assert!(
        ok && stdout.contains("Max fråga"),
        "the other user is kept: {stdout}"
    );
    let bytes = std::fs::read(dir.path().join("alice.db")).unwrap();
    assert!(
        !bytes.windows(9).any(|w| w == b"mrk9931qz"),
        "the erased text is still in the database file"
    );
}

/// The next log line with this `evt`, within 30 s.
fn wait_for_event(lines: &mpsc::Receiver<String>, evt: &str) -> Value {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {evt} line"));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        if parsed["evt"] == evt {
            return parsed;
        }
    }
}

/// A fresh machine: no backend configured, nothing at Ollama's default address. Without the
/// embedded model Alice says how to get one; with it, Alice answers a Swedish question from it.
#[tokio::test]
async fn with_no_backend_configured_alice_picks_the_embedded_model_or_says_how_to_get_one() {
    if std::net::TcpStream::connect("127.0.0.1:11434").is_ok() {
        eprintln!(
            "skipped with_no_backend_configured_alice_picks_the_embedded_model_or_says_how_to_get_one: \
             something listens at Ollama's default address on this machine"
        );
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let (mut child, base, lines) = spawn_alice(empty.path(), &["serve"], &[]);
    let warning = wait_for_event(&lines, "no_model");
    assert_eq!(warning["lvl"], "WARN");
    assert!(
        warning["msg"]
            .as_str()
            .unwrap()
            .contains("alice model fetch"),
        "{warning}"
    );
    let response = admin_http(empty.path())
        .post(format!("{base}/api/chat"))
        .json(&json!({ "message": "Vad är Sveriges huvudstad?" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(terminate(&mut child).success());

    let Ok(model) = std::env::var("ALICE_TEST_EMBEDDED_MODEL") else {
        eprintln!(
            "skipped the embedded half of \
             with_no_backend_configured_alice_picks_the_embedded_model_or_says_how_to_get_one: \
             ALICE_TEST_EMBEDDED_MODEL is not set"
        );
        return;
    };
    let installed = tempfile::tempdir().unwrap();
    let models = installed.path().join("data/models");
    std::fs::create_dir_all(&models).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize(model).unwrap(),
        models.join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
    .unwrap();
    let (mut child, base, lines) = spawn_alice(
        installed.path(),
        &["serve"],
        &[
            ("ALICE_CHAT__MAX_TOKENS", "32"),
            ("ALICE_CHAT__TEMPERATURE", "0"),
        ],
    );
    let chosen = wait_for_event(&lines, "backend_chosen");
    assert_eq!(chosen["backend"], "embedded", "{chosen}");
    let (status, reply) = {
        let response = admin_http(installed.path())
            .post(format!("{base}/api/chat"))
            .json(&json!({ "message": "Vad är Sveriges huvudstad?" }))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "embedded:SmolLM2-135M-Instruct.Q4_1");
    assert!(
        !reply["response"].as_str().unwrap().trim().is_empty(),
        "{reply}"
    );
    assert!(reply["completion_tokens"].as_u64().unwrap() > 0);
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn users_and_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/alice.db", dir.path().display());
    let env = [("ALICE_DATABASE__URL", url.as_str())];

    let (ok, stdout, stderr) = alice_in(
        dir.path(),
        &["user", "add", "anna", "--display-name", "Anna A"],
        &env,
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("added anna (user)"), "{stdout}");
    let (ok, _, stderr) = alice_in(dir.path(), &["user", "add", "anna"], &env);
    assert!(!ok);
    assert!(stderr.contains("exists already"), "{stderr}");
    let (ok, _, stderr) = alice_in(dir.path(), &["user", "add", "two words"], &env);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("no spaces"),
        "the refusal says what a name may be: {stderr}"
    );

    let (ok, stdout, stderr) = alice_in(
        dir.path(),
        &[
            "key",
            "create",
            "anna",
            "--label",
            "laptop",
            "--expires",
            "90d",
        ],
        &env,
    );
    assert!(ok, "{stderr}");
    // The key alone on the last line of stdout, once.
    let key = stdout.lines().last().unwrap().to_owned();
    let (id, _) = alice_identity::secrets::parse_key(&key).expect("an Alice key");
    assert!(stderr.contains(id), "{stderr}");
    let (ok, _, stderr) = alice_in(dir.path(), &["key", "create", "nobody"], &env);
    assert!(!ok);
    assert!(stderr.contains("alice user add nobody"), "{stderr}");
    let (ok, stdout, stderr) = alice_in(
        dir.path(),
        &[
            "key",
            "create",
            "anna",
            "--priority",
            "batch",
            "--label",
            "nightly",
        ],
        &env,
    );
    assert!(ok, "{stderr}");
    let batch_key = stdout.lines().last().unwrap().to_owned();
    let (batch_id, _) = alice_identity::secrets::parse_key(&batch_key).unwrap();
    let (ok, _, stderr) = alice_in(
        dir.path(),
        &["key", "create", "anna", "--priority", "urgent"],
        &env,
    );
    assert!(!ok);
    assert!(stderr.contains("interactive or batch"), "{stderr}");

    let (ok, listed, _) = alice_in(dir.path(), &["key", "list", "anna"], &env);
    assert!(ok);
    assert!(
        listed.contains(id) && listed.contains("active") && listed.contains("laptop"),
        "{listed}"
    );
    assert!(!listed.contains(&key), "a listing never shows a secret");
    let line_of = |id: &str| {
        listed
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_owned()
    };
    assert!(line_of(id).ends_with("\tinteractive\tlaptop"), "{listed}");
    assert!(line_of(batch_id).ends_with("\tbatch\tnightly"), "{listed}");
    let (ok, users, _) = alice_in(dir.path(), &["user", "list"], &env);
    assert!(ok);
    assert!(users.contains("anna\tuser\t-"), "{users}");

    let (ok, stdout, stderr) = alice_in(dir.path(), &["key", "revoke", id], &env);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("revoked"), "{stdout}");
    let (ok, listed, _) = alice_in(dir.path(), &["key", "list"], &env);
    assert!(ok);
    assert!(listed.contains("revoked"), "{listed}");
    let (ok, _, _) = alice_in(dir.path(), &["key", "revoke", id], &env);
    assert!(!ok, "a key is revoked once");
}

/// A spoofed X-Forwarded-For from a peer that is not a trusted proxy is not who the log says
/// asked; from a trusted proxy, the rightmost untrusted hop is. (Nothing is granted for an
/// address either way: roles come from keys.)
#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for (trusted, expected) in [
        (None, "127.0.0.1"),
        (Some(r#"["127.0.0.1/32"]"#), "203.0.113.5"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let envs: Vec<(&str, &str)> = trusted
            .map(|cidrs| vec![("ALICE_SERVER__TRUSTED_PROXIES", cidrs)])
            .unwrap_or_default();
        let (mut child, base, lines) = spawn_alice(dir.path(), &["serve", "--demo"], &envs);
        let response = admin_http(dir.path())
            .get(format!("{base}/api/auth/me"))
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.5")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let done = wait_for_event(&lines, "request_done");
        assert_eq!(
            done["client"], expected,
            "trusted proxies {trusted:?}: {done}"
        );
        assert_eq!(done["user"], "admin", "{done}");
        assert!(terminate(&mut child).success());
    }
}
