//! The page's routes beside the chat, over real HTTP: `GET /api/conversations` (the caller's
//! own conversations, newest activity first, searched with `?q=` in titles and messages,
//! paged), and thumbs on answers with `PUT`/`DELETE /api/messages/{id}/feedback` (only on the
//! caller's own answers; shown again in `.../messages`, counted in `/metrics`, exported and
//! erased with the user).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use common::{Alice, client_with_key, config, create_key, send, start_sim};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Alice with keys for anna, bertil and eve (users), and the directory of her database.
struct Page {
    alice: Alice,
    anna: reqwest::Client,
    bertil: reqwest::Client,
    eve: reqwest::Client,
    _sim: alice_upstream_sim::SimHandle,
    dir: tempfile::TempDir,
}

async fn page() -> Page {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let anna = client_with_key(&create_key(&settings, "anna", Role::User).await);
    let bertil = client_with_key(&create_key(&settings, "bertil", Role::User).await);
    let eve = client_with_key(&create_key(&settings, "eve", Role::User).await);
    let alice = Alice::start(settings).await;
    Page {
        alice,
        anna,
        bertil,
        eve,
        _sim: sim,
        dir,
    }
}

impl Page {
    /// One chat turn of `who`, in a new conversation or in `conversation`; returns the
    /// conversation's id and the answer's message id.
    async fn chat(
        &self,
        who: &reqwest::Client,
        message: &str,
        conversation: Option<&str>,
    ) -> (String, String) {
        let mut body = json!({ "message": message });
        if let Some(id) = conversation {
            body["conversation_id"] = json!(id);
        }
        let (status, reply) =
            send(who, Method::POST, &self.alice.url("/api/chat"), Some(body)).await;
        assert_eq!(status, 200, "{reply}");
        (
            reply["conversation_id"].as_str().unwrap().to_owned(),
            reply["message_id"].as_str().unwrap().to_owned(),
        )
    }

    async fn list(&self, who: &reqwest::Client, query: &str) -> (u16, Value) {
        let url = self.alice.url(&format!("/api/conversations{query}"));
        send(who, Method::GET, &url, None).await
    }

    /// The ids of `who`'s conversations that `query` lists.
    async fn listed(&self, who: &reqwest::Client, query: &str) -> Vec<String> {
        let (status, body) = self.list(who, query).await;
        assert_eq!(status, 200, "{query}: {body}");
        ids(&body)
    }

    async fn rate(&self, who: &reqwest::Client, message: &str, body: Value) -> (u16, Value) {
        let url = self.alice.url(&format!("/api/messages/{message}/feedback"));
        send(who, Method::PUT, &url, Some(body)).await
    }

    async fn unrate(&self, who: &reqwest::Client, message: &str) -> (u16, Value) {
        let url = self.alice.url(&format!("/api/messages/{message}/feedback"));
        send(who, Method::DELETE, &url, None).await
    }

    async fn messages(&self, who: &reqwest::Client, conversation: &str) -> Vec<Value> {
        let url = self
            .alice
            .url(&format!("/api/conversations/{conversation}/messages"));
        let (status, body) = send(who, Method::GET, &url, None).await;
        assert_eq!(status, 200, "{body}");
        body["messages"].as_array().unwrap().clone()
    }
}

/// The keys of a JSON object, sorted.
fn fields(object: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

fn time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap()).unwrap()
}

fn ids(list: &Value) -> Vec<String> {
    list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_is_the_callers_own_newest_first_searched_and_paged() {
    let page = page().await;
    let (hello, _) = page.chat(&page.anna, "Hej Alice", None).await;
    let (trip, _) = page
        .chat(&page.anna, "Vad kostar en resa till Åre?", None)
        .await;
    // A later message, not in the title: the conversation moves to the top.
    page.chat(&page.anna, "Berätta om Kiruna_100%", Some(&hello))
        .await;
    let (third, _) = page.chat(&page.anna, "Tredje samtalet", None).await;
    let (bertils, _) = page.chat(&page.bertil, "Åre är fint", None).await;

    let (status, body) = page.list(&page.anna, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [third.as_str(), hello.as_str(), trip.as_str()]);
    assert_eq!(body["user"], "anna");
    assert_eq!(body["next_offset"], Value::Null);
    let first = &body["conversations"][1];
    assert_eq!(
        fields(first),
        [
            "id",
            "last_message_at",
            "message_count",
            "started_at",
            "title"
        ],
        "{first}"
    );
    assert_eq!(first["title"], "Hej Alice");
    assert_eq!(first["message_count"], 4);
    assert!(time(&first["last_message_at"]) > time(&first["started_at"]));

    // The title, case ignored, Swedish letters too; another user's conversations never.
    assert_eq!(
        page.listed(&page.anna, "?q=%C3%A5RE").await,
        [trip.as_str()]
    );
    assert_eq!(
        page.listed(&page.bertil, "?q=%C3%A5re").await,
        [bertils.as_str()]
    );
    // A message's content, not the title; % and _ are only text.
    assert_eq!(page.listed(&page.anna, "?q=kiruna").await, [hello.as_str()]);
    assert_eq!(
        page.listed(&page.anna, "?q=a_100%25").await,
        [hello.as_str()]
    );
    assert!(page.listed(&page.anna, "?q=a_1000").await.is_empty());
    assert!(page.listed(&page.anna, "?q=Stockholm").await.is_empty());
    // A blank search lists everything.
    assert_eq!(page.listed(&page.anna, "?q=%20").await.len(), 3);

    // Pages.
    let (_, first_page) = page.list(&page.anna, "?limit=2").await;
    assert_eq!(ids(&first_page), [third.as_str(), hello.as_str()]);
    assert_eq!(first_page["next_offset"], 2);
    let (_, last_page) = page.list(&page.anna, "?limit=2&offset=2").await;
    assert_eq!(ids(&last_page), [trip.as_str()]);
    assert_eq!(last_page["next_offset"], Value::Null);
    // "Samtalet" is in every answer ("Jag ser 2 meddelanden i samtalet").
    let (_, searched) = page.list(&page.anna, "?q=SAMTALET&limit=1&offset=1").await;
    assert_eq!(ids(&searched), [hello.as_str()]);
    assert_eq!(searched["next_offset"], 2);
    assert_eq!(searched["q"], "SAMTALET");

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?sort=title", "query"),
        ("?offset=-1", "query"),
    ] {
        let (status, body) = page.list(&page.anna, query).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let long = "a".repeat(201);
    let (status, body) = page.list(&page.anna, &format!("?q={long}")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("q")), "{body}");

    // Someone with no conversations, and the admin (whose own list this is, too).
    assert!(page.listed(&page.eve, "").await.is_empty());
    assert!(page.listed(&page.alice.http, "?q=kiruna").await.is_empty());
    page.alice.stop().await;
}

#[tokio::test]
async fn feedback_is_put_replaced_shown_and_taken_back() {
    let page = page().await;
    let (conversation, answer) = page
        .chat(&page.anna, "Hur långt är det till månen?", None)
        .await;
    page.chat(&page.anna, "Och till solen?", Some(&conversation))
        .await;

    let (status, stored) = page
        .rate(
            &page.anna,
            &answer,
            json!({"rating": "up", "comment": " Bra svar! "}),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["message_id"], answer.as_str());
    assert_eq!(stored["conversation_id"], conversation.as_str());
    assert_eq!(stored["rating"], "up");
    assert_eq!(stored["comment"], "Bra svar!");
    assert_eq!(stored["created_at"], stored["updated_at"]);
    assert_eq!(
        fields(&stored),
        [
            "comment",
            "conversation_id",
            "created_at",
            "message_id",
            "rating",
            "updated_at"
        ]
    );

    // Each answer carries its thumb (or null); questions carry none; the rest is unchanged.
    let messages = page.messages(&page.anna, &conversation).await;
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[1]["id"], answer.as_str());
    assert_eq!(messages[1]["feedback"], "up");
    assert_eq!(messages[3]["role"], "assistant");
    assert_eq!(messages[3]["feedback"], Value::Null);
    assert!(messages[3].as_object().unwrap().contains_key("feedback"));
    for question in [&messages[0], &messages[2]] {
        assert_eq!(question["role"], "user");
        assert!(
            !question.as_object().unwrap().contains_key("feedback"),
            "{question}"
        );
    }
    for field in [
        "conversation_id",
        "seq",
        "content",
        "created_at",
        "model_used",
        "cached",
    ] {
        assert!(
            messages[1].get(field).is_some(),
            "{field} in {}",
            messages[1]
        );
    }
    // The operator's view of the same page shows it too.
    let (status, admin_view) = page
        .alice
        .get(&format!("/api/db/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(admin_view["messages"][1]["feedback"], "up");
    // A page that starts after the rated answer.
    let (_, later) = send(
        &page.anna,
        Method::GET,
        &page.alice.url(&format!(
            "/api/conversations/{conversation}/messages?after=2"
        )),
        None,
    )
    .await;
    assert_eq!(later["messages"][1]["feedback"], Value::Null);

    // PUT replaces: the rating and the comment; created_at stays.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, replaced) = page
        .rate(&page.anna, &answer, json!({"rating": "down"}))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["rating"], "down");
    assert_eq!(replaced["comment"], Value::Null);
    assert_eq!(replaced["created_at"], stored["created_at"]);
    assert!(time(&replaced["updated_at"]) > time(&stored["updated_at"]));
    assert_eq!(
        page.messages(&page.anna, &conversation).await[1]["feedback"],
        "down"
    );
    let scrape = page.alice.scrape().await;
    assert_eq!(
        scrape.value("alice_feedback_total", &[("rating", "up")]),
        1.0
    );
    assert_eq!(
        scrape.value("alice_feedback_total", &[("rating", "down")]),
        1.0
    );

    // Bodies the route refuses, naming the field.
    for (body, field) in [
        (json!({"rating": "sideways"}), "rating"),
        (json!({}), "rating"),
        (
            json!({"rating": "up", "comment": "å".repeat(2001)}),
            "comment",
        ),
        (json!({"rating": "up", "stars": 5}), "stars"),
    ] {
        let (status, reply) = page.rate(&page.anna, &answer, body.clone()).await;
        assert_eq!(status, 422, "{body}: {reply}");
        assert_eq!(reply["field"], field, "{body}: {reply}");
    }
    let (status, _) = page
        .rate(
            &page.anna,
            &answer,
            json!({"rating": "up", "comment": "å".repeat(2000)}),
        )
        .await;
    assert_eq!(status, 200, "2000 characters are allowed");

    // DELETE takes it back; again is still 204.
    let (status, _) = page.unrate(&page.anna, &answer).await;
    assert_eq!(status, 204);
    assert_eq!(
        page.messages(&page.anna, &conversation).await[1]["feedback"],
        Value::Null
    );
    let (status, _) = page.unrate(&page.anna, &answer).await;
    assert_eq!(status, 204);
    page.alice.stop().await;
}

#[tokio::test]
async fn feedback_only_on_the_callers_own_answers() {
    let page = page().await;
    let (conversation, answer) = page.chat(&page.anna, "Hej", None).await;
    let question = page.messages(&page.anna, &conversation).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = page
        .rate(&page.anna, &answer, json!({"rating": "up"}))
        .await;
    assert_eq!(status, 200);

    // Her own question is not an answer.
    let (status, reply) = page
        .rate(&page.anna, &question, json!({"rating": "up"}))
        .await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["code"], "not_found");
    assert!(
        reply["detail"].as_str().unwrap().contains("not an answer"),
        "{reply}"
    );
    assert!(reply["error"].is_string());
    let (status, _) = page.unrate(&page.anna, &question).await;
    assert_eq!(status, 404);

    // Bertil's key, and the admin's, on anna's answer: as if it did not exist.
    for who in [&page.bertil, &page.alice.http] {
        let (status, reply) = page.rate(who, &answer, json!({"rating": "down"})).await;
        assert_eq!(status, 404, "{reply}");
        assert!(
            !reply.to_string().contains("anna"),
            "nothing of anna's: {reply}"
        );
        let (status, _) = page.unrate(who, &answer).await;
        assert_eq!(status, 404);
        // Whatever the body: the answer is checked first.
        let (status, _) = page.rate(who, &answer, json!({"rating": "sideways"})).await;
        assert_eq!(status, 404);
    }
    assert_eq!(
        page.messages(&page.anna, &conversation).await[1]["feedback"],
        "up"
    );

    let (status, _) = page
        .rate(
            &page.anna,
            "0192f0c4-0000-7000-8000-000000000000",
            json!({"rating": "up"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, reply) = page
        .rate(&page.anna, "inte-ett-id", json!({"rating": "up"}))
        .await;
    assert_eq!(
        (status, reply["field"].as_str()),
        (422, Some("id")),
        "{reply}"
    );
    let (status, _) = send(
        &reqwest::Client::new(),
        Method::PUT,
        &page.alice.url(&format!("/api/messages/{answer}/feedback")),
        Some(json!({"rating": "up"})),
    )
    .await;
    assert_eq!(status, 401);
    page.alice.stop().await;
}

/// Every byte of the SQLite database's files (the file and its write-ahead log).
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("alice.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    bytes
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn feedback_is_exported_and_erased_with_the_user() {
    const MARKER: &str = "Tummen-ner-markör-7731";
    let page = page().await;
    let (conversation, answer) = page.chat(&page.anna, "Hej", None).await;
    let (_, bertils) = page.chat(&page.bertil, "Hej", None).await;
    let (status, _) = page
        .rate(
            &page.anna,
            &answer,
            json!({"rating": "down", "comment": MARKER}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = page
        .rate(&page.bertil, &bertils, json!({"rating": "up"}))
        .await;
    assert_eq!(status, 200);

    let (status, export) = send(
        &page.anna,
        Method::GET,
        &page.alice.url("/api/users/anna/export"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["format"], "alice-user-export/2");
    assert_eq!(export["counts"]["answer_feedback"], 1);
    let exported = &export["answer_feedback"][0];
    assert_eq!(exported["message_id"], answer.as_str());
    assert_eq!(exported["conversation_id"], conversation.as_str());
    assert_eq!(exported["rating"], "down");
    assert_eq!(exported["comment"], MARKER);
    assert_eq!(exported["contains_personal_identity_number"], false);

    // The file holds the comment until the erasure.
    assert!(
        holds(&database_bytes(page.dir.path()), MARKER),
        "the scan is blind"
    );
    let (status, report) = send(
        &page.anna,
        Method::DELETE,
        &page.alice.url("/api/users/anna"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["erased"]["answer_feedback"], 1);
    assert!(
        !holds(&database_bytes(page.dir.path()), MARKER),
        "the comment survived"
    );
    let (_, stats) = page.alice.get("/api/db/stats").await;
    assert_eq!(
        stats["database"]["rows"]["answer_feedback"], 1,
        "bertil's stays"
    );
    let (status, _) = page
        .rate(&page.bertil, &bertils, json!({"rating": "down"}))
        .await;
    assert_eq!(status, 200);
    page.alice.stop().await;
}

#[tokio::test]
async fn with_auth_off_the_callers_own_routes_say_why_they_have_nothing() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.auth.mode = alice_core::config::AuthMode::Off;
    let server = alice_server::start(settings).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let (status, reply) = send(
        &http,
        Method::POST,
        &format!("{base}/api/chat"),
        Some(json!({"message": "Hej"})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let answer = reply["message_id"].as_str().unwrap();

    let (status, body) = send(
        &http,
        Method::GET,
        &format!("{base}/api/conversations"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "anonymous_caller");
    assert!(
        body["detail"].as_str().unwrap().contains("auth.mode"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("/api/db/users/{user}/conversations")
    );
    for method in [Method::PUT, Method::DELETE] {
        let (status, body) = send(
            &http,
            method.clone(),
            &format!("{base}/api/messages/{answer}/feedback"),
            (method == Method::PUT).then(|| json!({"rating": "up"})),
        )
        .await;
        assert_eq!(status, 400, "{method}: {body}");
        assert_eq!(body["code"], "anonymous_caller");
    }
    // The anonymous turn is there for an operator.
    let (status, body) = send(
        &http,
        Method::GET,
        &format!("{base}/api/db/users/anonymous/conversations"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["conversations"].as_array().unwrap().len(), 1);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
