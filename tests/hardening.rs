//! Attacks from the audit (issue 15, item 6), each over real HTTP against a real Alice: slow
//! headers, too many connections, a huge upstream error body, an upstream event that never
//! ends. Each of these succeeded against the server before it was hardened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_core::{BackendConfig, BackendKind};
use alice_upstream_sim::{ERROR_PADDING, Faults, SimHandle};
use common::{Alice, config, start_sim};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any step of these tests waits for something that must happen.
const BOUND: Duration = Duration::from_secs(10);

const HEALTH_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Reads from `stream` until the end of one response to a small GET (its body is JSON, so a
/// closing brace ends it) or the connection closes; `None` when nothing came within `wait`.
async fn read_response(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    received.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&received);
                    if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(wait, reading).await;
    (!received.is_empty()).then(|| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_that_stalls_halfway_through_its_headers_is_disconnected() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.server.header_read_timeout = Duration::from_millis(300);
    let alice = Alice::start(config).await;

    let mut slow = TcpStream::connect(alice.server.addr()).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.")
        .await
        .unwrap();
    // The server closes the connection (perhaps after a 408); a read then ends.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(BOUND, slow.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a stalled request header must not hold its connection open"
    );
    let answer = String::from_utf8_lossy(&rest);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // Others are still served.
    let (status, _) = alice.get("/health").await;
    assert_eq!(status, 200);
    alice.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.server.header_read_timeout = Duration::from_secs(60);
    config.server.keep_alive_timeout = Duration::from_millis(300);
    let alice = Alice::start(config).await;

    let mut idle = TcpStream::connect(alice.server.addr()).await.unwrap();
    idle.write_all(HEALTH_REQUEST).await.unwrap();
    let answer = read_response(&mut idle, BOUND).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Nothing more is sent: the server closes the connection, and the read ends.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(BOUND, idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection must not stay open");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    alice.stop().await;
}

#[tokio::test]
async fn a_streamed_answer_longer_than_the_keep_alive_timeout_is_not_cut() {
    let sim = start_sim(Faults {
        tokens_per_second: 10.0,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.server.keep_alive_timeout = Duration::from_millis(200);
    let alice = Alice::start(config).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({ "message": "Berätta något långsamt", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = common::parse_sse(&response.text().await.unwrap());
    assert!(events.len() > 3, "{events:?}");
    assert_eq!(events.last().unwrap().event, "done", "{events:?}");
    alice.stop().await;
}

#[tokio::test]
async fn a_connection_past_the_cap_waits_until_one_closes() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.server.max_connections = 2;
    config.server.header_read_timeout = Duration::from_secs(30);
    let alice = Alice::start(config).await;

    // Two keep-alive connections, each served once, so both hold a slot.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(alice.server.addr()).await.unwrap();
        stream.write_all(HEALTH_REQUEST).await.unwrap();
        let answer = read_response(&mut stream, BOUND).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(stream);
    }

    // The third is taken by the kernel, but Alice does not serve it while two are open.
    let mut third = TcpStream::connect(alice.server.addr()).await.unwrap();
    third.write_all(HEALTH_REQUEST).await.unwrap();
    assert_eq!(
        read_response(&mut third, Duration::from_millis(500)).await,
        None,
        "a third connection must not be served while two are open"
    );

    drop(held.pop());
    let answer = read_response(&mut third, BOUND).await;
    assert!(
        answer
            .as_deref()
            .is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "served once a slot is free: {answer:?}"
    );
    drop(held);
    drop(third);
    alice.stop().await;
}

/// A config whose one backend speaks OpenAI's API to the simulator at `sim`.
fn openai_backend(config: &mut alice_core::Config, sim: &SimHandle) {
    config.backends[0].name = "cloud".into();
    config.backends[0].kind = BackendKind::Openai;
    config.backends[0].url = format!("{}/v1", sim.base_url());
}

/// Small caps, so the tests read little.
fn small_caps(backend: &mut BackendConfig) {
    backend.max_event_bytes = 64 * 1024;
    backend.max_answer_bytes = 1024 * 1024;
}

/// Checks that a client body carries nothing of the backend: no address, no name, none of
/// its text.
fn assert_scrubbed(body: &Value, sim: &SimHandle) {
    let text = body.to_string();
    let address = sim.base_url().trim_start_matches("http://").to_owned();
    assert!(!text.contains(&address), "backend address in {text}");
    assert!(
        !text.contains(ERROR_PADDING.trim()),
        "upstream text in {text}"
    );
    assert!(!text.contains("simulated"), "upstream text in {text}");
    assert!(text.len() < 4096, "{} bytes of error body", text.len());
}

#[tokio::test]
async fn a_mebibyte_of_upstream_error_text_reaches_no_client() {
    let sim = start_sim(Faults {
        error_rate: 1.0,
        error_status: 500,
        error_body_bytes: 1024 * 1024,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "backend_failed");
    assert!(body["request_id"].is_string(), "{body}");
    assert_scrubbed(&body, &sim);

    let (status, body) = alice
        .post(
            "/v1/chat/completions",
            json!({ "model": "alice", "messages": [{ "role": "user", "content": "Hej" }] }),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "backend_failed");
    assert_scrubbed(&body, &sim);
    alice.stop().await;
}

#[tokio::test]
async fn a_never_ending_sse_event_is_cut_at_the_cap_and_the_next_backend_answers() {
    let endless = start_sim(Faults {
        endless_event: true,
        ..Faults::default()
    })
    .await;
    let healthy = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &endless.base_url());
    openai_backend(&mut config, &endless);
    small_caps(&mut config.backends[0]);
    let mut fallback = config.backends[0].clone();
    fallback.name = "ollama".into();
    fallback.kind = BackendKind::Ollama;
    fallback.url = healthy.base_url();
    config.backends.push(fallback);

    // Alone, the endless backend gets an error that says what failed, not what it sent.
    let mut alone = config.clone();
    alone.backends.truncate(1);
    let alice = Alice::start(alone).await;
    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "backend_protocol");
    assert_scrubbed(&body, &endless);
    assert!(
        common::eventually(BOUND, || endless.in_flight() == 0).await,
        "Alice stopped reading the endless answer and closed it"
    );
    alice.stop().await;

    // With a fallback, the cut comes before the first token, so the fallback answers.
    let alice = Alice::start(config).await;
    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "ollama:gpt-oss:20b (failover)", "{body}");
    assert!(
        !body["response"].as_str().unwrap().contains("endless"),
        "{body}"
    );
    assert!(common::eventually(BOUND, || endless.in_flight() == 0).await);
    alice.stop().await;
}

#[tokio::test]
async fn a_never_ending_ndjson_line_is_cut_at_the_cap() {
    let endless = start_sim(Faults {
        endless_event: true,
        ..Faults::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &endless.base_url());
    small_caps(&mut config.backends[0]);
    let alice = Alice::start(config).await;
    let (status, body) = alice.chat(json!({ "message": "Hej" })).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "backend_protocol");
    assert_scrubbed(&body, &endless);
    assert!(common::eventually(BOUND, || endless.in_flight() == 0).await);
    alice.stop().await;
}

/// Plays a PostgreSQL server far enough to ask for a clear-text password; returns the
/// password the client sent, if it sent one.
async fn ask_for_password(stream: &mut TcpStream) -> Option<String> {
    async fn message(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let length = stream.read_u32().await.ok()?;
        let mut body = vec![0; usize::try_from(length).ok()?.checked_sub(4)?];
        stream.read_exact(&mut body).await.ok()?;
        Some(body)
    }
    const SSL_REQUEST: [u8; 4] = 80_877_103u32.to_be_bytes();
    let mut startup = message(stream).await?;
    if startup == SSL_REQUEST {
        stream.write_all(b"N").await.ok()?;
        startup = message(stream).await?;
    }
    assert!(startup.len() > 4, "a startup message");
    // AuthenticationCleartextPassword.
    stream
        .write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3])
        .await
        .ok()?;
    let kind = stream.read_u8().await.ok()?;
    let body = message(stream).await?;
    assert_eq!(kind, b'p', "a password message");
    let password = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body)).into_owned();
    let error = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0";
    let mut reply = vec![b'E'];
    reply.extend_from_slice(&(u32::try_from(error.len()).unwrap() + 4).to_be_bytes());
    reply.extend_from_slice(error);
    let _ = stream.write_all(&reply).await;
    Some(password)
}

#[tokio::test]
async fn backup_verify_sends_no_password_to_a_server_named_only_by_the_manifest() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // One connection is all verify makes before it gives up.
    let server = tokio::spawn(async move {
        match tokio::time::timeout(BOUND, listener.accept()).await {
            Ok(Ok((mut stream, _))) => vec![ask_for_password(&mut stream).await],
            _ => Vec::new(),
        }
    });

    // A backup whose manifest names that server (anyone who can write the directory can).
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::write(backup.join("alice.dump"), b"").unwrap();
    let manifest = json!({
        "format_version": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "alice_version": "0.1.0",
        "engine": "postgres",
        "schema_version": 1,
        "source": format!("postgres://postgres:from-the-manifest@127.0.0.1:{port}/alice"),
        "postgres_schema": "public",
        "data_file": "alice.dump",
        "data_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "data_bytes": 0,
        "checksum_algorithm": "postgres-rowtext-md5-sum-v1",
        "tables": {},
    });
    std::fs::write(backup.join("manifest.json"), manifest.to_string()).unwrap();

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_alice"))
        .args(["backup", "verify"])
        .arg(&backup)
        .current_dir(dir.path())
        .env(
            "ALICE_DATABASE__URL",
            format!("sqlite://{}/alice.db", dir.path().display()),
        )
        .env("PGPASSWORD", "hunter2-geheim")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(BOUND, output).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let contacted = server.await.unwrap();
    assert_eq!(contacted.len(), 1, "verify did try the manifest's server");
    for sent in contacted.into_iter().flatten() {
        assert!(
            !sent.contains("hunter2") && !sent.contains("from-the-manifest"),
            "the server named by the manifest got a password: {sent:?}"
        );
    }
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("database.url"), "says what to do: {stderr}");
}
