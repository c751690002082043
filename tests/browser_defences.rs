//! The browser's holes, over real HTTP: a `text/plain` POST (what a page can send cross-site
//! without a CORS preflight) is refused before anything is done, and a foreign `Host` (a
//! DNS-rebinding page) gets 421 even with a valid key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Alice, config, start_sim};
use serde_json::Value;

#[tokio::test]
async fn a_text_plain_post_is_refused_and_nothing_is_stored_or_asked() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    for (path, body) in [
        (
            "/api/chat",
            r#"{"message": "Kom ihåg att min portkod är 4711", "user": "anna"}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model": "alice", "messages": [{"role": "user", "content": "Hej"}]}"#,
        ),
        ("/api/users/anna/memories", r#"{"content": "planterad"}"#),
    ] {
        for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
            let response = alice
                .http
                .post(alice.url(path))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 415, "{path} as {content_type}");
            let reply: Value = response.json().await.unwrap();
            assert!(reply.to_string().contains("application/json"), "{reply}");
        }
    }
    assert!(sim.requests().is_empty(), "nothing reached the model");
    let (status, _) = alice.get("/api/db/users/anna").await;
    assert_eq!(status, 404, "nothing was stored for anna");
    alice.stop().await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_even_with_a_valid_key() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.server.allowed_hosts = vec!["alice.example.se".to_owned()];
    let alice = Alice::start(settings).await;
    let port = alice.server.addr().port();
    for (host, expected) in [
        (format!("evil.example:{port}"), 421),
        ("127.0.0.1.evil.example".to_owned(), 421),
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 200),
        ("alice.example.se".to_owned(), 200),
    ] {
        for path in ["/api/db/stats", "/api/users/anna/export"] {
            let response = alice
                .http
                .get(alice.url(path))
                .header("host", &host)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let allowed = if path.ends_with("export") && expected == 200 {
                404
            } else {
                expected
            };
            assert_eq!(status, allowed, "{path} with Host {host}");
        }
    }
    alice.stop().await;
}
