//! Durability under `kill -9`: a turn whose answer a client received is in the database.
//!
//! The real `alice serve` binary runs as a child process, with the upstream simulator as its
//! only backend, while 16 clients send it chats (streamed and JSON, new conversations and
//! continued ones). Once enough answers have come back, the child gets SIGKILL with requests
//! still in flight. Then the database is opened again (SQLite recovers its write-ahead log on
//! open) and every answer a client fully received (a JSON reply, or an SSE stream's `done`
//! event) must be there with the user message before it; turns whose clients got no answer may
//! be there too, but whole or not at all. Finally Alice is started again on the same database
//! and must answer a new request in a conversation from before the kill.
//!
//! The SQLite scenario always runs; the PostgreSQL one runs when `ALICE_TEST_POSTGRES_URL` is
//! set (e.g. postgres://postgres@127.0.0.1:5432/test), in a schema of its own that is dropped
//! afterwards (with `psql`, as the root package has no PostgreSQL client of its own).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use alice_core::Role;
use alice_core::config::DatabaseConfig;
use alice_store::{Page, Store, StoredMessage};
use alice_upstream_sim::{Faults, SimHandle};
use common::child_process::Running;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;

const ALICE: &str = env!("CARGO_BIN_EXE_alice");
const CLIENTS: usize = 16;
/// Each client stops after this many requests even if the kill never comes, so the load is
/// bounded whatever happens.
const MAX_REQUESTS_PER_CLIENT: usize = 60;
/// The kill comes once this many answers have been received...
const KILL_AFTER_ANSWERS: usize = 150;
/// ...or after this long, whichever is first.
const LOAD_LIMIT: Duration = Duration::from_secs(25);

/// The scenarios share two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_kill_9_loses_no_answered_turn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Sqlite(format!("sqlite://{}/alice.db", dir.path().display()));
    kill_nine_scenario("sqlite", dir.path(), &database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_kill_9_loses_no_answered_turn() {
    let test = "postgres_a_kill_9_loses_no_answered_turn";
    let url = match std::env::var("ALICE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("skipped {test}: ALICE_TEST_POSTGRES_URL is not set");
            return;
        }
    };
    let _one = ONE_AT_A_TIME.lock().await;
    let schema = format!(
        "alice_test_kill_{}",
        &Uuid::new_v4().simple().to_string()[..10]
    );
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let database = Database::Postgres { url, schema };
    kill_nine_scenario("postgres", dir.path(), &database).await;
}

/// The database a scenario runs on.
enum Database {
    /// A `sqlite://` URL.
    Sqlite(String),
    Postgres {
        url: String,
        schema: String,
    },
}

impl Database {
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Database::Sqlite(url) => vec![("ALICE_DATABASE__URL", url.clone())],
            Database::Postgres { url, schema } => vec![
                ("ALICE_DATABASE__URL", url.clone()),
                ("ALICE_DATABASE__SCHEMA", schema.clone()),
            ],
        }
    }

    fn config(&self) -> DatabaseConfig {
        match self {
            Database::Sqlite(url) => DatabaseConfig {
                url: url.clone(),
                ..DatabaseConfig::default()
            },
            Database::Postgres { url, schema } => DatabaseConfig {
                url: url.clone(),
                schema: Some(schema.clone()),
                ..DatabaseConfig::default()
            },
        }
    }
}

/// Drops the PostgreSQL scenario's schema when the test ends, passed or failed.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let dropped = Command::new("psql")
            .arg(&self.url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema))
            .stdout(Stdio::null())
            .output();
        match dropped {
            Ok(output) if output.status.success() => {}
            Ok(output) => println!(
                "could not drop schema {}: {}",
                self.schema,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => println!(
                "could not drop schema {} (psql: {error}); drop it by hand",
                self.schema
            ),
        }
    }
}

/// `alice serve` on a free port over `database`, with the simulator as its only backend;
/// returns once `/health` answers.
async fn start_alice(
    dir: &Path,
    database: &Database,
    sim: &SimHandle,
    http: &reqwest::Client,
) -> (Running, String) {
    let backends = format!(
        "[{{name=\"sim\", kind=\"ollama\", url=\"{}\", model=\"{}\", probe_generation=false, \
         warm_up=false, max_concurrent={CLIENTS}, queue_depth=64}}]",
        sim.base_url(),
        common::MODEL
    );
    let mut child = Running(
        Command::new(ALICE)
            .arg("serve")
            .current_dir(dir)
            .env_remove("ALICE_CONFIG")
            .env("ALICE_SERVER__BIND", "127.0.0.1:0")
            .env("ALICE_BACKENDS", backends)
            // A busy test machine must not make the Guardian shed the test's requests, and the
            // response cache must not answer a question without a backend.
            .env("ALICE_GUARDIAN__ENABLED", "false")
            .env("ALICE_CACHE__ENABLED", "false")
            .envs(database.env())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    // Reads every line, so a busy server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(parsed) = serde_json::from_str::<Value>(&line)
                && parsed["evt"] == "listening"
            {
                let _ = addr_tx.send(parsed["addr"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || addr_rx.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("alice should log that it listens");
    let base = format!("http://{addr}");
    let healthy = common::until(Duration::from_secs(20), || {
        let health = http.get(format!("{base}/health")).send();
        async move { health.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    assert!(healthy, "alice at {base} should answer /health");
    (child, base)
}

/// An answer a client received in full.
#[derive(Clone, Debug)]
struct Answer {
    request_id: String,
    conversation_id: Uuid,
    message_id: Uuid,
    message: String,
    streamed: bool,
}

/// What one client did.
#[derive(Debug, Default)]
struct ClientReport {
    sent: usize,
    answers: Vec<Answer>,
    /// Requests that failed before the kill: there should be none.
    failed_before_kill: Vec<String>,
    /// Requests that got no answer because of the kill.
    cut_by_kill: usize,
}

struct Shared {
    answers: AtomicUsize,
    killed: AtomicBool,
}

async fn client(
    number: usize,
    http: reqwest::Client,
    base: String,
    shared: Arc<Shared>,
) -> ClientReport {
    let mut report = ClientReport::default();
    let mut conversation: Option<Uuid> = None;
    for i in 0..MAX_REQUESTS_PER_CLIENT {
        if shared.killed.load(Ordering::SeqCst) {
            break;
        }
        let request_id = format!("kill-{number}-{i}");
        let message = format!("Fråga {i} från klient {number}: hur långt springer en älg?");
        let streamed = (number + i).is_multiple_of(2);
        let mut body = json!({
            "message": message,
            "user": format!("kund{number}"),
            "stream": streamed,
        });
        // Every third request starts a new conversation; the others continue the last one.
        if i % 3 != 0
            && let Some(id) = conversation
        {
            body["conversation_id"] = json!(id);
        }
        report.sent += 1;
        match ask(&http, &base, &body, &request_id, streamed).await {
            Ok((conversation_id, message_id)) => {
                report.answers.push(Answer {
                    request_id,
                    conversation_id,
                    message_id,
                    message,
                    streamed,
                });
                conversation = Some(conversation_id);
                shared.answers.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                if shared.killed.load(Ordering::SeqCst) {
                    report.cut_by_kill += 1;
                } else {
                    report
                        .failed_before_kill
                        .push(format!("{request_id}: {error}"));
                }
                break;
            }
        }
    }
    report
}

/// Sends one chat; returns the conversation and assistant message ids of an answer received in
/// full (a JSON reply, or a stream up to its `done` event).
async fn ask(
    http: &reqwest::Client,
    base: &str,
    body: &Value,
    request_id: &str,
    streamed: bool,
) -> Result<(Uuid, Uuid), String> {
    let response = http
        .post(format!("{base}/api/chat"))
        .header("x-request-id", request_id)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(format!("status {status}: {text}"));
    }
    let reply = if streamed {
        done_event(response).await?
    } else {
        response
            .json::<Value>()
            .await
            .map_err(|e| format!("json body: {e}"))?
    };
    let field = |name: &str| {
        reply[name]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| format!("reply without {name}: {reply}"))
    };
    if reply["request_id"] != request_id {
        return Err(format!("reply for another request: {reply}"));
    }
    Ok((field("conversation_id")?, field("message_id")?))
}

/// Reads an SSE stream up to its `done` event and returns that event's data; an `error` event,
/// a cut connection or an end without `done` is an error.
async fn done_event(response: reqwest::Response) -> Result<Value, String> {
    let mut stream = response.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = match stream.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(error)) => return Err(format!("stream cut: {error}")),
            None => return Err("stream ended without a done event".to_owned()),
        };
        pending.extend_from_slice(&chunk);
        // Only whole events (ended by a blank line) count.
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = pending.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(part) = line.strip_prefix("data:") {
                    data.push_str(part.trim_start());
                }
            }
            match event.as_deref() {
                Some("done") => {
                    return serde_json::from_str(&data).map_err(|e| format!("done event: {e}"));
                }
                Some("error") => return Err(format!("error event: {data}")),
                _ => {}
            }
        }
    }
}

/// A client with the admin key an Alice started in `dir` wrote.
fn with_admin_key(dir: &Path) -> reqwest::Client {
    let key = common::read_admin_key(&dir.join("data/admin.key"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn kill_nine_scenario(name: &str, dir: &Path, database: &Database) {
    let sim = common::start_sim(Faults {
        latency_ms: 2,
        ttft_ms: 10,
        tokens_per_second: 400.0,
        ..Faults::default()
    })
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let (mut alice, base) = start_alice(dir, database, &sim, &http).await;
    // The first start wrote the admin key (data/admin.key in its working directory); the
    // clients act as the admin, for their named users.
    let http = with_admin_key(dir);

    // Load, then SIGKILL with requests in flight.
    let shared = Arc::new(Shared {
        answers: AtomicUsize::new(0),
        killed: AtomicBool::new(false),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|number| {
            tokio::spawn(client(
                number,
                http.clone(),
                base.clone(),
                Arc::clone(&shared),
            ))
        })
        .collect();
    let enough = common::eventually(LOAD_LIMIT, || {
        shared.answers.load(Ordering::SeqCst) >= KILL_AFTER_ANSWERS
    })
    .await;
    shared.killed.store(true, Ordering::SeqCst);
    alice.0.kill().unwrap(); // SIGKILL
    let status = alice.0.wait().unwrap();
    assert!(!status.success(), "alice was killed: {status}");
    let mut reports = Vec::new();
    for handle in clients {
        reports.push(
            tokio::time::timeout(Duration::from_secs(25), handle)
                .await
                .expect("a client stops once alice is gone")
                .unwrap(),
        );
    }
    let failed_before_kill: Vec<&String> =
        reports.iter().flat_map(|r| &r.failed_before_kill).collect();
    assert!(
        failed_before_kill.is_empty(),
        "requests failed before the kill: {failed_before_kill:#?}"
    );
    let sent: usize = reports.iter().map(|r| r.sent).sum();
    let cut_by_kill: usize = reports.iter().map(|r| r.cut_by_kill).sum();
    let answers: Vec<Answer> = reports.into_iter().flat_map(|r| r.answers).collect();
    assert_eq!(sent, answers.len() + cut_by_kill);
    assert!(
        !answers.is_empty(),
        "no answer came back within {LOAD_LIMIT:?}"
    );
    if !enough {
        println!(
            "{name}: only {} answers within {LOAD_LIMIT:?}; killed then",
            answers.len()
        );
    }

    // Every received answer is in the database (recovered on open), with its question.
    let store = Store::open(&database.config()).await.unwrap();
    let turns = stored_turns(&store).await;
    let by_request: HashMap<&str, &StoredTurn> =
        turns.iter().map(|t| (t.request_id.as_str(), t)).collect();
    assert_eq!(
        by_request.len(),
        turns.len(),
        "a request's turn is written once"
    );
    let mut missing = Vec::new();
    for answer in &answers {
        match by_request.get(answer.request_id.as_str()) {
            Some(turn) => {
                assert_eq!(turn.conversation_id, answer.conversation_id, "{answer:?}");
                assert_eq!(turn.assistant_id, answer.message_id, "{answer:?}");
                assert_eq!(turn.question, answer.message, "{answer:?}");
            }
            None => missing.push(answer),
        }
    }
    assert!(
        missing.is_empty(),
        "{name}: {} of {} received answers are not in the database after kill -9: {missing:#?}",
        missing.len(),
        answers.len()
    );
    // The other turns in the database are ones whose answers were cut by the kill.
    let received: HashSet<&str> = answers.iter().map(|a| a.request_id.as_str()).collect();
    let extra: Vec<&StoredTurn> = turns
        .iter()
        .filter(|t| !received.contains(t.request_id.as_str()))
        .collect();
    assert!(
        extra.len() <= cut_by_kill,
        "{} turns were written for {cut_by_kill} requests cut by the kill",
        extra.len()
    );
    let streamed = answers.iter().filter(|a| a.streamed).count();
    println!(
        "{name}: sent {sent}, received {} ({streamed} streamed, {} JSON), in db {}, \
         in flight at kill {cut_by_kill}, written but not received {}, turns in db {}",
        answers.len(),
        answers.len() - streamed,
        answers.len() - missing.len(),
        extra.len(),
        turns.len()
    );
    store.close().await;

    // Alice starts again on the same database and continues a conversation from before.
    let (mut alice, base) = start_alice(dir, database, &sim, &http).await;
    let last = answers.last().unwrap();
    let before = turns
        .iter()
        .filter(|t| t.conversation_id == last.conversation_id)
        .count();
    let (conversation_id, message_id) = ask(
        &http,
        &base,
        &json!({
            "message": "Och efter omstarten?",
            "conversation_id": last.conversation_id,
            "user": turns.iter().find(|t| t.request_id == last.request_id).unwrap().username,
        }),
        "after-restart",
        false,
    )
    .await
    .unwrap();
    assert_eq!(conversation_id, last.conversation_id);
    let page: Value = http
        .get(format!(
            "{base}/api/conversations/{conversation_id}/messages"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2 * before + 2, "{page}");
    assert!(
        messages
            .iter()
            .any(|m| m["id"] == last.message_id.to_string())
    );
    let newest = messages.last().unwrap();
    assert_eq!(newest["id"], message_id.to_string());
    assert_eq!(newest["role"], "assistant");
    stop(&mut alice).await;
}

/// A turn as read back from the database.
#[derive(Debug)]
struct StoredTurn {
    request_id: String,
    conversation_id: Uuid,
    username: String,
    question: String,
    assistant_id: Uuid,
}

/// Every turn in the database. Also checks that each conversation is whole: its messages are
/// numbered 1..=n with no gap, n is its message count, and they come in pairs (a question and
/// its answer, of the same request), so no turn was half-written.
async fn stored_turns(store: &Store) -> Vec<StoredTurn> {
    let mut conversations = Vec::new();
    loop {
        let page = store
            .recent_conversations(Page {
                offset: u32::try_from(conversations.len()).unwrap(),
                limit: 500,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        conversations.extend(page);
    }
    let mut turns = Vec::new();
    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for conversation in conversations {
        let mut messages: Vec<StoredMessage> = Vec::new();
        loop {
            let after = messages.last().map_or(0, |m| m.seq);
            let page = store.messages(conversation.id, after, 500).await.unwrap();
            if page.is_empty() {
                break;
            }
            messages.extend(page);
        }
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(messages.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "conversation {}", conversation.id);
        assert_eq!(
            conversation.message_count,
            i64::try_from(messages.len()).unwrap(),
            "conversation {}",
            conversation.id
        );
        assert!(
            messages.len().is_multiple_of(2),
            "conversation {} holds a half turn",
            conversation.id
        );
        for pair in messages.chunks(2) {
            let (user, assistant) = (&pair[0], &pair[1]);
            assert_eq!(user.role, Role::User, "{user:?}");
            assert_eq!(assistant.role, Role::Assistant, "{assistant:?}");
            assert!(user.request_id.is_some(), "{user:?}");
            assert_eq!(user.request_id, assistant.request_id);
            assert!(!assistant.content.is_empty(), "{assistant:?}");
            turns.push(StoredTurn {
                request_id: user.request_id.clone().unwrap_or_default(),
                conversation_id: conversation.id,
                username: conversation.username.clone(),
                question: user.content.clone(),
                assistant_id: assistant.id,
            });
        }
        *per_user.entry(conversation.username.clone()).or_default() += 1;
    }
    assert!(per_user.len() <= CLIENTS, "{per_user:?}");
    turns
}

/// SIGTERM, and SIGKILL if Alice has not stopped within 10 s.
async fn stop(alice: &mut Running) {
    let _ = Command::new("kill")
        .args(["-TERM", &alice.0.id().to_string()])
        .status();
    for _ in 0..400 {
        if alice.0.try_wait().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = alice.0.kill();
    panic!("alice did not stop within 10 s of SIGTERM");
}
