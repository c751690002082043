//! Personal memories over HTTP: "kom ihåg att …" stores one, later questions carry the relevant
//! ones to the model (and so are never shared through the cache), "glöm …" deletes them, and
//! `/api/users/{u}/memories` lists, adds and deletes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Alice, config, parse_sse, start_sim};
use serde_json::{Value, json};
use std::time::Duration;

/// The system prompt of the simulator's latest request.
fn last_system_prompt(sim: &alice_upstream_sim::SimHandle) -> String {
    let requests = sim.requests();
    let last = requests.last().expect("the model was asked");
    last.messages
        .iter()
        .filter(|m| m.role == "system")
        .map(|m| m.content.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn memories_of(alice: &Alice, user: &str) -> Vec<String> {
    let (status, body) = alice.get(&format!("/api/users/{user}/memories")).await;
    assert_eq!(status, 200, "{body}");
    body["memories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn remembered_facts_reach_later_prompts_of_that_user_only() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    let (status, reply) = alice
        .chat(json!({"message": "Kom ihåg att min hund heter Fido.", "user": "anna"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model"], "alice:memory");
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .contains("min hund heter Fido")
    );
    assert!(
        sim.requests().is_empty(),
        "a memory command never reaches the model"
    );
    assert_eq!(memories_of(&alice, "anna").await, ["min hund heter Fido"]);
    // The command is a turn of its conversation like any other.
    let history = alice
        .history(reply["conversation_id"].as_str().unwrap())
        .await;
    assert_eq!(history.len(), 2);

    let (status, reply) = alice
        .chat(json!({"message": "Vad heter hunden?", "user": "anna"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    let system = last_system_prompt(&sim);
    assert!(system.contains("min hund heter Fido"), "{system}");
    assert!(
        system.starts_with("Du är Alice"),
        "the configured prompt comes first: {system}"
    );

    let (status, _) = alice
        .chat(json!({"message": "Vad heter hunden?", "user": "bertil"}))
        .await;
    assert_eq!(status, 200);
    assert!(
        !last_system_prompt(&sim).contains("Fido"),
        "another user's memory leaked"
    );

    // A question the memory has nothing to do with does not get it.
    alice
        .chat(json!({"message": "Hur långt är det till månen?", "user": "anna"}))
        .await;
    assert!(!last_system_prompt(&sim).contains("Fido"));
    alice.stop().await;
}

#[tokio::test]
async fn forgetting_deletes_only_what_it_names() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    for fact in [
        "Kom ihåg att min hund heter Fido",
        "Kom ihåg att jag är allergisk mot jordnötter",
        "Remember that my sister lives in Malmö",
    ] {
        let (status, body) = alice
            .chat(json!({"message": fact, "user": "cecilia"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(memories_of(&alice, "cecilia").await.len(), 3);

    let (_, reply) = alice
        .chat(json!({"message": "Glöm att jag är allergisk mot jordnötter", "user": "cecilia"}))
        .await;
    assert_eq!(reply["response"], "Klart, jag har glömt det.");
    let left = memories_of(&alice, "cecilia").await;
    assert_eq!(left, ["my sister lives in Malmö", "min hund heter Fido"]);

    let (_, reply) = alice
        .chat(json!({"message": "Glöm att jag har en katt", "user": "cecilia"}))
        .await;
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .starts_with("Jag hittade inget minne")
    );

    let (_, reply) = alice
        .chat(json!({"message": "Forget that.", "user": "cecilia"}))
        .await;
    assert_eq!(
        reply["response"],
        "Done, I have forgotten: my sister lives in Malmö"
    );

    let (_, reply) = alice
        .chat(json!({"message": "Glöm allt!", "user": "cecilia"}))
        .await;
    assert!(
        reply["response"].as_str().unwrap().contains("(1 minnen)"),
        "{reply}"
    );
    assert!(memories_of(&alice, "cecilia").await.is_empty());
    assert!(sim.requests().is_empty());
    alice.stop().await;
}

#[tokio::test]
async fn a_turn_that_names_no_user_is_the_callers_and_identity_numbers_are_masked() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;

    // The harness sends the admin's key: a turn without "user" is the admin's own.
    let (status, reply) = alice
        .chat(json!({"message": "Kom ihåg att jag gillar jazz"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(memories_of(&alice, "admin").await, ["jag gillar jazz"]);
    let (status, _) = alice.get("/api/db/users/anonymous").await;
    assert_eq!(
        status, 404,
        "nobody is anonymous when the key says who is asking"
    );

    // memory.allow_personal_numbers is false by default: the number is masked before it is kept.
    alice
        .chat(json!({"message": "Kom ihåg att mitt personnummer är 121212-1212", "user": "david"}))
        .await;
    assert_eq!(
        memories_of(&alice, "david").await,
        ["mitt personnummer är ******-****"]
    );
    alice.stop().await;
}

#[tokio::test]
async fn with_auth_off_a_turn_that_names_no_user_is_anonymous_and_remembers_nothing() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.auth.mode = alice_core::config::AuthMode::Off;
    let server = alice_server::start(settings).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();

    let reply: serde_json::Value = http
        .post(format!("{base}/api/chat"))
        .json(&json!({"message": "Kom ihåg att jag gillar jazz"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        reply["response"]
            .as_str()
            .unwrap()
            .contains("namngiven användare"),
        "{reply}"
    );
    let user = http
        .get(format!("{base}/api/db/users/anonymous"))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200, "the turn itself is stored");
    assert!(
        !dir.path().join("admin.key").exists(),
        "no admin key is made when nobody needs one"
    );
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn memories_keep_personal_answers_out_of_the_cache() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &sim.base_url());
    config.cache.enabled = true;
    let alice = Alice::start(config).await;
    alice
        .chat(json!({"message": "Kom ihåg att jag ska resa till Norge i sommar", "user": "erik"}))
        .await;
    let question = "Vad är huvudstaden i Norge?";
    for _ in 0..2 {
        let (status, reply) = alice
            .chat(json!({"message": question, "user": "erik"}))
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            reply["cached"], false,
            "an answer made with erik's memories"
        );
    }
    assert_eq!(sim.requests().len(), 2);
    // Without memories the same question is shared.
    for _ in 0..2 {
        alice
            .chat(json!({"message": question, "user": "frida"}))
            .await;
    }
    assert_eq!(
        sim.requests().len(),
        3,
        "frida's repeat came from the cache"
    );
    alice.stop().await;
}

#[tokio::test]
async fn a_streamed_memory_command_reads_like_an_answer() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "kom ihåg: tandläkaren på fredag", "user": "gustav", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["delta", "done"]);
    assert!(
        events[0].data["delta"]
            .as_str()
            .unwrap()
            .contains("tandläkaren på fredag")
    );
    assert_eq!(events[1].data["model"], "alice:memory");
    assert_eq!(
        memories_of(&alice, "gustav").await,
        ["tandläkaren på fredag"]
    );
    alice.stop().await;
}

#[tokio::test]
async fn the_memories_api() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let path = "/api/users/hanna/memories";

    let (status, created) = alice
        .post(path, json!({"content": "Hanna spelar cello i en kvartett"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    alice
        .post(path, json!({"content": "Hanna bor i Uppsala"}))
        .await;
    let (_, list) = alice.get(&format!("{path}?limit=1")).await;
    assert_eq!(list["total"], 2);
    assert_eq!(
        list["memories"][0]["content"], "Hanna bor i Uppsala",
        "newest first"
    );
    assert_eq!(list["next_offset"], 1);

    let delete = |url: String| {
        let http = alice.http.clone();
        async move { http.delete(url).send().await.unwrap() }
    };
    assert_eq!(
        delete(alice.url(&format!("{path}/{id}"))).await.status(),
        204
    );
    let again = delete(alice.url(&format!("{path}/{id}"))).await;
    assert_eq!(again.status(), 404);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    let many: Value = delete(alice.url(&format!("{path}?matching=Uppsala")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(many["deleted"], 1);
    assert!(memories_of(&alice, "hanna").await.is_empty());

    let (status, body) = alice.post(path, json!({"content": "   "})).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("content")));
    let (status, _) = alice
        .post(
            "/api/users/two%20words/memories",
            json!({"content": "x y z"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = alice.get(&format!("{path}?limit=0")).await;
    assert_eq!(status, 422);
    alice.stop().await;
}
