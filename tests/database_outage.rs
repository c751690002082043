//! A database that goes away: Alice talks to PostgreSQL through a TCP proxy the test can cut.
//! While it is cut, chat answers 503 with a clear message and Retry-After (not 500, not a
//! hang) and `/ready` reports the database; when it comes back, Alice recovers by itself.
//! Needs `ALICE_TEST_POSTGRES_URL`; skipped without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Alice, config, start_sim};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy to `target` that can drop every connection and refuse new ones, then come back.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    /// Bumped on every cut: connections opened before it end.
    cuts: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (accepting, cuts_seen) = (up.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    // Down: the connection is closed at once, as a dead server's would be.
                    continue;
                }
                let mut cut = cuts_seen.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, up, cuts }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn chat_answers_503_while_the_database_is_away_and_recovers() {
    let Ok(url) = std::env::var("ALICE_TEST_POSTGRES_URL") else {
        eprintln!(
            "skipped chat_answers_503_while_the_database_is_away_and_recovers: \
             ALICE_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let target =
        tokio::net::lookup_host((parsed.host_str().unwrap(), parsed.port().unwrap_or(5432)))
            .await
            .unwrap()
            .next()
            .expect("ALICE_TEST_POSTGRES_URL names a host that resolves");
    let proxy = Proxy::start(target).await;
    let mut through_proxy = parsed.clone();
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();

    let schema = format!("alice_test_outage_{}", uuid::Uuid::new_v4().simple());
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.database.url = through_proxy.to_string();
    config.database.schema = Some(schema.clone());
    config.database.acquire_timeout = Duration::from_secs(1);
    let alice = Alice::start(config).await;

    let ask = || alice.chat(json!({"message": "Hej Alice!", "user": "olle"}));
    let (status, reply) = ask().await;
    assert_eq!(status, 200, "{reply}");

    proxy.cut();
    let started = tokio::time::Instant::now();
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "Hej igen!", "user": "olle"}))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert!(body["error"].as_str().unwrap().contains("Databasen"));
    // Bounded by the pool's acquire timeout, far below the chat deadline: no hang.
    assert!(waited < Duration::from_secs(30), "took {waited:?}");
    let (status, ready) = alice.get("/ready").await;
    assert_eq!(status, 503);
    assert_eq!(ready["database"]["ok"], false, "{ready}");
    let (status, _) = alice.get("/api/db/health").await;
    assert_eq!(status, 503);

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        if ask().await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "Alice did not recover when the database came back"
    );
    let (status, ready) = alice.get("/ready").await;
    assert_eq!(ready["database"]["ok"], true, "{ready}");
    assert_eq!(status, 200);
    let (_, user) = alice.get("/api/db/users/olle/conversations").await;
    assert_eq!(
        user["conversations"].as_array().unwrap().len(),
        2,
        "the answered turns before and after the outage are stored: {user}"
    );
    alice.stop().await;

    let status = std::process::Command::new("psql")
        .args([&url, "-q", "-c", &format!("DROP SCHEMA {schema} CASCADE")])
        .status()
        .unwrap();
    assert!(status.success());
}
