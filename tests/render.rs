//! `POST /api/render`, the page's Markdown renderer, over real HTTP: it sanitises, keeps the
//! order of the texts, is open to any caller with a key, and refuses what breaks its limits
//! with the house's errors (422 naming the field, 413 over the body limit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use alice_upstream_sim::Faults;
use common::{Alice, client_with_key, config, create_key, start_sim};
use serde_json::{Value, json};

async fn render(http: &reqwest::Client, alice: &Alice, body: Value) -> (u16, Value) {
    let response = http
        .post(alice.url("/api/render"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn texts_come_back_sanitised_and_in_order() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let alice = Alice::start(settings).await;
    let texts = [
        "<script>alert(1)</script>",
        "**Stockholm** är huvudstad",
        "[klicka](javascript:alert(1))",
        "```python\nprint(1 < 2)\n```",
        "",
        "<img src=x onerror=alert(1)>",
        "Räksmörgås på Åland, tack",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "[Wikipedia](https://sv.wikipedia.org)",
    ];
    let (status, reply) = render(&anna, &alice, json!({ "texts": texts })).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply.as_object().unwrap().len(), 1, "only html: {reply}");
    let html: Vec<&str> = reply["html"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(html.len(), texts.len());
    assert_eq!(html[0], "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
    assert_eq!(html[1], "<p><strong>Stockholm</strong> är huvudstad</p>\n");
    assert_eq!(
        html[2],
        "<p><a rel=\"noopener noreferrer nofollow\">klicka</a></p>\n"
    );
    assert_eq!(
        html[3],
        "<pre><code class=\"language-python\">print(1 &lt; 2)\n</code></pre>\n"
    );
    assert_eq!(html[4], "");
    assert!(!html[5].contains("<img"), "{}", html[5]);
    assert_eq!(html[6], "<p>Räksmörgås på Åland, tack</p>\n");
    assert!(html[7].starts_with("<table>"), "{}", html[7]);
    assert_eq!(
        html[8],
        "<p><a href=\"https://sv.wikipedia.org\" rel=\"noopener noreferrer nofollow\">Wikipedia</a></p>\n"
    );
    for h in &html {
        alice_markdown::audit(h).unwrap();
    }
    let anonymous = render(&reqwest::Client::new(), &alice, json!({"texts": ["x"]})).await;
    assert_eq!(anonymous.0, 401);
    alice.stop().await;
}

#[tokio::test]
async fn what_breaks_a_limit_is_refused_naming_the_field() {
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let http = &alice.http;

    let many: Vec<&str> = vec!["x"; 201];
    let (status, reply) = render(http, &alice, json!({ "texts": many })).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["code"], "invalid_input");
    assert_eq!(reply["field"], "texts");
    assert!(reply["detail"].as_str().unwrap().contains("200"), "{reply}");
    let (status, _) = render(http, &alice, json!({ "texts": vec!["x"; 200] })).await;
    assert_eq!(status, 200, "200 texts are allowed");

    let long = "å".repeat(100_001);
    let (status, reply) = render(http, &alice, json!({ "texts": ["kort", long] })).await;
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["field"], "texts[1]");
    assert!(
        reply["detail"].as_str().unwrap().contains("100000"),
        "{reply}"
    );

    for (body, field) in [
        (json!({ "texts": "inte en lista" }), "texts"),
        (json!({ "texts": [1, 2] }), "texts"),
        (json!({ "text": ["x"] }), "text"),
        (json!({}), "texts"),
    ] {
        let (status, reply) = render(http, &alice, body.clone()).await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert!(
            reply["field"].as_str().unwrap().starts_with(field),
            "{body}: {reply}"
        );
    }

    // Over server.body_limit_bytes (1 MiB): 413, whatever the texts.
    let big = "a".repeat(60_000);
    let (status, reply) = render(http, &alice, json!({ "texts": vec![big; 20] })).await;
    assert_eq!(status, 413, "{reply}");
    assert_eq!(reply["code"], "payload_too_large");
    alice.stop().await;
}
