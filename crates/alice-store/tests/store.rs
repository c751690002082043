//! The SQLite store against a real database file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::Role;
use alice_core::config::DatabaseConfig;
use alice_store::{ConversationTarget, NewMessage, NewTurn, SqliteStore, Store, StoreError};
use chrono::Utc;
use uuid::Uuid;

fn config_in(dir: &tempfile::TempDir) -> DatabaseConfig {
    DatabaseConfig {
        url: format!("sqlite://{}/nested/alice.db", dir.path().display()),
        ..DatabaseConfig::default()
    }
}

fn turn(target: ConversationTarget, question: &str, answer: &str) -> NewTurn {
    let mut assistant = NewMessage::new(answer, Utc::now());
    assistant.model_used = Some("ollama:test".into());
    assistant.response_time_ms = Some(12);
    NewTurn {
        conversation: target,
        request_id: "req-1".into(),
        user: NewMessage::new(question, Utc::now()),
        assistant,
    }
}

fn new_conversation(user: &str) -> ConversationTarget {
    ConversationTarget::New {
        id: Uuid::now_v7(),
        username: user.into(),
    }
}

#[tokio::test]
async fn pragmas_follow_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&config_in(&dir)).await.unwrap();
    assert_eq!(store.pragma("journal_mode").await.unwrap(), "wal");
    assert_eq!(store.pragma("synchronous").await.unwrap(), "1", "NORMAL");
    assert_eq!(store.pragma("foreign_keys").await.unwrap(), "1");
    assert_eq!(store.pragma("busy_timeout").await.unwrap(), "30000");
    assert_eq!(
        store.pragma("cache_size").await.unwrap(),
        "-65536",
        "64 MiB"
    );
    assert!(store.pragma("x; DROP TABLE users").await.is_err());
}

#[tokio::test]
async fn a_turn_creates_user_and_conversation_and_keeps_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config_in(&dir)).await.unwrap();
    let question = "Vad är huvudstaden i Sverige, och varför blev det just Stockholm?";
    let first = store
        .record_turn(turn(new_conversation("anna"), question, "Stockholm."))
        .await
        .unwrap();
    let id = first.conversation_id;
    store
        .record_turn(turn(
            ConversationTarget::Existing(id),
            "Och Norge?",
            "Oslo.",
        ))
        .await
        .unwrap();

    let conversation = store.conversation(id).await.unwrap().unwrap();
    assert_eq!(conversation.username, "anna");
    assert_eq!(conversation.message_count, 4);
    assert_eq!(
        conversation.title,
        question.chars().take(50).collect::<String>()
    );

    let all = store.messages(id, 0, 100).await.unwrap();
    let seen: Vec<(i64, Role, &str)> = all
        .iter()
        .map(|m| (m.seq, m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, Role::User, question),
            (2, Role::Assistant, "Stockholm."),
            (3, Role::User, "Och Norge?"),
            (4, Role::Assistant, "Oslo."),
        ]
    );
    assert_eq!(all[1].model_used.as_deref(), Some("ollama:test"));
    assert_eq!(all[1].request_id.as_deref(), Some("req-1"));

    let recent = store.recent_messages(id, 3).await.unwrap();
    assert_eq!(
        recent.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let page = store.messages(id, 2, 1).await.unwrap();
    assert_eq!(page[0].seq, 3);
}

#[tokio::test]
async fn a_turn_for_a_missing_conversation_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config_in(&dir)).await.unwrap();
    let missing = Uuid::now_v7();
    let err = store
        .record_turn(turn(ConversationTarget::Existing(missing), "Hej", "Hej!"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConversationNotFound(id) if id == missing));
    assert!(store.messages(missing, 0, 10).await.unwrap().is_empty());
    assert!(store.conversation(Uuid::now_v7()).await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_turns_in_one_conversation_get_distinct_places() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config_in(&dir)).await.unwrap();
    let id = store
        .record_turn(turn(new_conversation("bo"), "Start", "Ok"))
        .await
        .unwrap()
        .conversation_id;
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_turn(turn(
                        ConversationTarget::Existing(id),
                        &format!("fråga {i}"),
                        &format!("svar {i}"),
                    ))
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let all = store.messages(id, 0, 1000).await.unwrap();
    assert_eq!(all.len(), 42);
    let seqs: Vec<i64> = all.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=42).collect::<Vec<_>>());
    for pair in all[2..].chunks(2) {
        assert_eq!(pair[0].role, Role::User);
        assert_eq!(
            pair[1].content,
            pair[0].content.replace("fråga", "svar"),
            "each answer sits right after its question"
        );
    }
}

#[tokio::test]
async fn history_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = Store::open(&config_in(&dir)).await.unwrap();
        let id = store
            .record_turn(turn(
                new_conversation("cecilia"),
                "Kom ihåg mig",
                "Absolut.",
            ))
            .await
            .unwrap()
            .conversation_id;
        store.close().await;
        id
    };
    let store = Store::open(&config_in(&dir)).await.unwrap();
    let messages = store.messages(id, 0, 10).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].content, "Absolut.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batcher_groups_concurrent_turns_into_few_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(&dir);
    // A batch stays open 200 ms for more turns: all 40 below arrive well within it.
    config.batch_max_wait = std::time::Duration::from_millis(200);
    let store = Store::open(&config).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_turn(turn(
                        new_conversation("batch"),
                        &format!("Fråga {i}"),
                        "Svar",
                    ))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let counters = store.batch_counters();
    let batches = counters.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        counters.turns.load(std::sync::atomic::Ordering::Relaxed),
        40
    );
    assert!(batches <= 2, "{batches} transactions for 40 turns");
    assert_eq!(store.stats().await.unwrap().rows["messages"], 80);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_writers_wait_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(&dir);
    config.batch_queue = 1;
    config.batch_max_turns = 2;
    let store = Store::open(&config).await.unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .record_turn(turn(
                        new_conversation("full"),
                        &format!("Fråga {i}"),
                        "Svar",
                    ))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.stats().await.unwrap().rows["messages"], 60);
    store.close().await;
}

#[tokio::test]
async fn closing_writes_what_is_queued_and_refuses_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&config_in(&dir)).await.unwrap();
    let writer = store.clone();
    let pending = tokio::spawn(async move {
        writer
            .record_turn(turn(new_conversation("closing"), "Sista frågan", "Svar"))
            .await
    });
    pending.await.unwrap().unwrap();
    store.close().await;
    let refused = store
        .record_turn(turn(new_conversation("closing"), "För sent", "Svar"))
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
}

#[tokio::test]
async fn a_postgres_password_never_shows_in_an_open_error() {
    // Nothing listens on port 1: the connection is refused, and the error names the URL.
    for url in [
        "postgres://alice:hemligt-1@127.0.0.1:1/alice",
        "postgres://alice@127.0.0.1:1/alice?password=hemligt-2&sslmode=disable",
    ] {
        let config = DatabaseConfig {
            url: url.into(),
            acquire_timeout: std::time::Duration::from_secs(2),
            ..DatabaseConfig::default()
        };
        let error = Store::open(&config).await.err().unwrap();
        let text = format!("{error} {error:?}");
        assert!(matches!(error, StoreError::Open { .. }), "{text}");
        assert!(!text.contains("hemligt"), "{text}");
        assert!(
            text.contains("127.0.0.1:1"),
            "still names the server: {text}"
        );
    }
}
