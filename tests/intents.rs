//! What Alice answers herself, over real HTTP: the time, a sum, a week number, days until
//! julafton and a conversion with every LLM backend down; nothing of it reaches a backend when
//! one is up; a timer and a reminder set in the chat, listed, cancelled and rung into the
//! conversation; the route and confidence in the reply and in the stored answer; and with
//! `intents.enabled = false` the model answers instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_identity::Role;
use chrono::{Datelike, NaiveDate, Utc};
use common::sse_feed::Feed;
use common::{Alice, client_with_key, config, create_key, parse_sse, start_sim};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A port nothing listens on: every backend request fails at once.
const NOBODY: &str = "http://127.0.0.1:9";

/// The test config with the intent layer on (`common::config` turns it off).
fn intents_on(mut settings: alice_core::Config) -> alice_core::Config {
    settings.intents.enabled = true;
    settings
}

async fn ask(alice: &Alice, message: &str) -> Value {
    let (status, reply) = alice
        .chat(json!({"message": message, "user": "ella"}))
        .await;
    assert_eq!(status, 200, "{message}: {reply}");
    reply
}

/// "HH.MM" of Stockholm's clock at `at`.
fn stockholm_clock(at: chrono::DateTime<Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Stockholm)
        .format("%H.%M")
        .to_string()
}

#[tokio::test]
async fn everyday_questions_are_answered_with_every_backend_down() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(intents_on(config(dir.path(), NOBODY))).await;

    let before = Utc::now();
    let reply = ask(&alice, "Vad är klockan?").await;
    let after = Utc::now();
    let said = reply["response"].as_str().unwrap();
    let (early, late) = (stockholm_clock(before), stockholm_clock(after));
    assert!(
        said == format!("Klockan är {early}.") || said == format!("Klockan är {late}."),
        "{said:?} at {early}-{late} in Stockholm"
    );
    assert_eq!(reply["model"], "alice:time");
    assert_eq!(reply["route"]["kind"], "intent");
    assert_eq!(reply["route"]["intent"], "time");
    assert!(
        reply["route"]["confidence"].as_f64().unwrap() >= 0.7,
        "{reply}"
    );

    let reply = ask(&alice, "Vad är 17 gånger 23?").await;
    assert!(
        reply["response"].as_str().unwrap().contains("391"),
        "{reply}"
    );
    assert_eq!(reply["route"]["intent"], "arithmetic");

    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .date_naive();
    let reply = ask(&alice, "vilken vecka är det").await;
    let week = today.iso_week().week();
    assert_eq!(
        reply["response"],
        format!("Det är vecka {week}."),
        "{reply}"
    );

    let reply = ask(&alice, "Hur många dagar är det kvar till julafton?").await;
    let mut christmas_eve = NaiveDate::from_ymd_opt(today.year(), 12, 24).unwrap();
    if christmas_eve < today {
        christmas_eve = NaiveDate::from_ymd_opt(today.year() + 1, 12, 24).unwrap();
    }
    let days = (christmas_eve - today).num_days();
    let said = reply["response"].as_str().unwrap();
    let expected = match days {
        0 => "julafton idag".to_owned(),
        1 => "1 dag kvar".to_owned(),
        n => format!("{n} dagar kvar"),
    };
    assert!(said.contains(&expected), "{days}: {said}");

    let reply = ask(&alice, "20 grader celsius i fahrenheit").await;
    assert!(
        reply["response"].as_str().unwrap().contains("68"),
        "{reply}"
    );
    let reply = ask(&alice, "What time is it?").await;
    assert!(
        reply["response"].as_str().unwrap().starts_with("It's "),
        "{reply}"
    );

    // A question for the model finds no backend: an error, not an invented answer.
    let (status, reply) = alice
        .chat(json!({"message": "Vad är Sveriges huvudstad?", "user": "ella"}))
        .await;
    assert!(status >= 500, "{status} {reply}");

    // The local answers are stored with their route.
    let conversation = reply_conversation(&alice).await;
    let (status, page) = alice
        .get(&format!("/api/db/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200, "{page}");
    let answer = &page["messages"][1];
    assert_eq!(answer["route"]["kind"], "intent", "{page:#}");
    assert!(answer["route"]["intent"].is_string(), "{page:#}");
    alice.stop().await;
}

/// The newest conversation of ella's.
async fn reply_conversation(alice: &Alice) -> String {
    let (status, list) = alice.get("/api/db/users/ella/conversations").await;
    assert_eq!(status, 200, "{list}");
    list["conversations"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn local_answers_never_reach_a_backend_and_stream_like_answers() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(intents_on(config(dir.path(), &sim.base_url()))).await;
    for message in [
        "Hej!",
        "vad ar klockan",
        "hur mycket är 2,5 gånger 4",
        "hur många msk är 3 dl",
        "Tack så mycket!",
        "Hur blir vädret i Göteborg imorgon?",
    ] {
        ask(&alice, message).await;
    }
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());

    let response = alice
        .http
        .post(alice.url("/api/chat"))
        .json(&json!({"message": "Vad är 100 delat med 8?", "user": "ella", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = parse_sse(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["delta", "done"]);
    assert!(
        events[0].data["delta"].as_str().unwrap().contains("12,5"),
        "{events:?}"
    );
    assert_eq!(events[1].data["route"]["intent"], "arithmetic");

    // The model still answers what is not Alice's own, with its route.
    let reply = ask(&alice, "Kan du förklara hur en timer fungerar?").await;
    assert_eq!(reply["route"]["kind"], "model", "{reply}");
    assert_eq!(sim.requests().len(), 1);
    alice.stop().await;
}

#[tokio::test]
async fn with_intents_off_the_model_tells_the_time() {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path(), &sim.base_url());
    settings.intents.enabled = false;
    let alice = Alice::start(settings).await;
    let reply = ask(&alice, "Vad är klockan?").await;
    assert_eq!(reply["route"]["kind"], "model", "{reply}");
    assert_eq!(sim.requests().len(), 1);
    // Memory commands follow memory.enabled, not intents.enabled.
    let reply = ask(&alice, "Kom ihåg att jag gillar te").await;
    assert_eq!(reply["model"], "alice:memory", "{reply}");
    alice.stop().await;
}

#[tokio::test]
async fn timers_and_reminders_set_in_the_chat_ring_in_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = intents_on(config(dir.path(), NOBODY));
    settings.timers.poll_interval = Duration::from_millis(100);
    let ella = client_with_key(&create_key(&settings, "ella", Role::User).await);
    let alice = Alice::start(settings).await;
    let mut feed = Feed::open(&ella, &alice.url("/api/events")).await;

    let reply = ask(&alice, "Sätt en timer på två sekunder").await;
    assert_eq!(reply["route"]["intent"], "timer", "{reply}");
    let said = reply["response"].as_str().unwrap();
    assert!(said.starts_with("Okej, en timer på 2 sekunder"), "{said}");
    let conversation = reply["conversation_id"].as_str().unwrap().to_owned();
    let continued = json!({
        "message": "påminn mig om att ringa mamma om en timme",
        "user": "ella",
        "conversation_id": conversation,
    });
    let (status, reply) = alice.chat(continued).await;
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["response"].as_str().unwrap().contains("ringa mamma"),
        "{reply}"
    );
    let listed = json!({"message": "vilka timers har jag?", "user": "ella"});
    let (_, reply) = alice.chat(listed).await;
    let said = reply["response"].as_str().unwrap();
    assert!(
        said.contains("ringa mamma") && said.contains("en timer"),
        "{said}"
    );

    // The timer rings on ella's feed.
    let rung = feed.next(Duration::from_secs(10)).await.unwrap().data;
    assert_eq!(rung["message"], "Din timer på 2 sekunder har gått ut.");
    assert_eq!(rung["conversation_id"], conversation.as_str());
    let (_, page) = alice
        .get(&format!("/api/db/conversations/{conversation}/messages"))
        .await;
    let contents: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"Din timer på 2 sekunder har gått ut."),
        "{contents:?}"
    );

    let (_, reply) = alice
        .chat(json!({"message": "avbryt alla timers", "user": "ella"}))
        .await;
    assert_eq!(reply["route"]["intent"], "cancel_timers", "{reply}");
    let (_, listed) = alice.get("/api/users/ella/timers").await;
    assert_eq!(listed["timers"], json!([]), "{listed}");
    drop(feed);
    alice.stop().await;
}

/// A weather webhook on 127.0.0.1 that answers (or fails with 500) and counts its calls.
async fn weather_webhook(fails: bool) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/weather",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                assert_eq!(body["language"], "sv");
                if fails {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, String::new())
                } else {
                    let place = if body["message"].as_str().unwrap().contains("Göteborg") {
                        "Göteborg"
                    } else {
                        "okänd ort"
                    };
                    let text = format!("Imorgon blir det sol i {place}.");
                    (
                        axum::http::StatusCode::OK,
                        json!({ "text": text }).to_string(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/weather"), calls)
}

fn with_weather(settings: &mut alice_core::Config, url: String) {
    settings
        .tools
        .webhooks
        .push(alice_core::config::WebhookConfig {
            name: "vader".into(),
            url,
            integration: Some("weather".into()),
            ..Default::default()
        });
}

#[tokio::test]
async fn the_weather_comes_from_its_webhook_unless_a_brownout_switched_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = intents_on(config(dir.path(), NOBODY));
    let (url, calls) = weather_webhook(false).await;
    with_weather(&mut settings, url);
    // A Guardian on a calm scripted machine, for the operator's brownout switch.
    settings.guardian.enabled = true;
    let key_file = settings.auth.admin_key_file.clone();
    let load = common::scripted_load::ScriptedLoad::new(0.3, 0.2);
    let server = alice_server::start_with_sampler(settings, load)
        .await
        .unwrap();
    let alice = Alice::around(server, &key_file);
    let reply = ask(&alice, "Hur blir vädret i Göteborg imorgon?").await;
    assert_eq!(
        reply["response"], "Imorgon blir det sol i Göteborg.",
        "{reply}"
    );
    assert_eq!(reply["route"]["kind"], "tool");
    assert_eq!(reply["route"]["tool"], "vader");
    assert_eq!(reply["route"]["intent"], "external_weather");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A MODERATE brownout switches web-search tools off: Alice says so, the webhook rests.
    let (status, reply) = alice
        .post(
            "/api/brain/brownout",
            json!({"activate": true, "level": "MODERATE", "reason": "test"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let reply = ask(&alice, "Hur blir vädret i Göteborg imorgon?").await;
    let said = reply["response"].as_str().unwrap();
    assert!(said.contains("avstängd"), "{said}");
    assert_eq!(reply["route"]["kind"], "intent");
    assert_eq!(reply["route"]["tool"], "vader");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    alice.stop().await;
}

#[tokio::test]
async fn a_failing_or_missing_integration_is_said_in_swedish() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = intents_on(config(dir.path(), NOBODY));
    let (url, calls) = weather_webhook(true).await;
    with_weather(&mut settings, url);
    let alice = Alice::start(settings).await;
    let reply = ask(&alice, "Hur blir vädret i Malmö?").await;
    let said = reply["response"].as_str().unwrap();
    assert!(said.starts_with("Jag når inte den tjänsten"), "{said}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // No mail integration is configured: Alice says she has none.
    let reply = ask(&alice, "Har jag fått något nytt mejl?").await;
    let said = reply["response"].as_str().unwrap();
    assert!(
        said.starts_with("Jag är inte kopplad till din e-post"),
        "{said}"
    );
    assert_eq!(reply["route"]["intent"], "external_mail");
    alice.stop().await;
}

#[tokio::test]
async fn the_time_is_right_across_both_daylight_saving_changes_with_no_backend() {
    let instant = |text: &str| text.parse::<chrono::DateTime<Utc>>().unwrap();
    let now = Arc::new(std::sync::Mutex::new(instant("2026-03-29T00:59:30Z")));
    let read = Arc::clone(&now);
    let clock = alice_server::WallClock::from_fn(move || *read.lock().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let settings = intents_on(config(dir.path(), NOBODY));
    let key_file = settings.auth.admin_key_file.clone();
    let server = alice_server::start_with_clock(settings, clock)
        .await
        .unwrap();
    let alice = Alice::around(server, &key_file);
    for (at, said) in [
        // Spring: 02.00 CET becomes 03.00 CEST.
        ("2026-03-29T00:59:30Z", "Klockan är 01.59."),
        ("2026-03-29T01:00:30Z", "Klockan är 03.00."),
        // Autumn: 03.00 CEST becomes 02.00 CET, so 02.30 comes twice.
        ("2026-10-25T00:30:00Z", "Klockan är 02.30."),
        ("2026-10-25T01:30:00Z", "Klockan är 02.30."),
        ("2026-10-25T02:30:00Z", "Klockan är 03.30."),
    ] {
        *now.lock().unwrap() = instant(at);
        let reply = ask(&alice, "Vad är klockan?").await;
        assert_eq!(reply["response"], said, "at {at}: {reply}");
    }
    *now.lock().unwrap() = instant("2026-12-02T09:00:00Z");
    let reply = ask(&alice, "vilken vecka är det?").await;
    assert_eq!(reply["response"], "Det är vecka 49.");
    let reply = ask(&alice, "hur många dagar är det kvar till julafton").await;
    assert!(
        reply["response"].as_str().unwrap().contains("22 dagar"),
        "{reply}"
    );
    alice.stop().await;
}
