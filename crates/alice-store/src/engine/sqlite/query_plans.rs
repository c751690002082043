//! The plans SQLite picks for the statements on the chat request path (and the page's: the
//! conversation search and feedback on answers), asserted with `EXPLAIN QUERY PLAN` on a
//! database where one user has a long history.
//!
//! These exist because a plan, not the SQL text, decides whether a request's cost grows with
//! the user's data: the memory search once read every memory the user had and ran the
//! full-text expression for each (a plan an upgrade of the bundled SQLite chose), and no result
//! test could see it. A plan is the same on every machine, so unlike a timing it can be tested.

#![allow(clippy::unwrap_used)]

use super::batch::{LAST_SEQ, TOUCH_CONVERSATION};
use super::{ADD_MEMORY, SEARCH_CONVERSATIONS, SEARCH_MEMORIES, SqliteStore};
use crate::StoreBackend;
use crate::engine::export_snapshot::{FEEDBACK_AFTER, FEEDBACK_FIRST};
use crate::engine::sql;
use crate::model::{ConversationTarget, NewFeedback, NewMemory, NewMessage, NewTurn, Rating};
use alice_core::config::DatabaseConfig;
use chrono::Utc;
use sqlx::Row;
use uuid::Uuid;

/// A store in a temporary directory where "heavy" has 200 conversations and 50 memories and
/// "light" one of each, as the planner would see a real database (Alice runs no ANALYZE).
async fn seeded() -> (tempfile::TempDir, SqliteStore, Uuid) {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        url: format!("sqlite://{}/alice.db", dir.path().display()),
        ..DatabaseConfig::default()
    };
    let store = SqliteStore::open(&config).await.unwrap();
    let turn = |username: &str| NewTurn {
        conversation: ConversationTarget::New {
            id: Uuid::now_v7(),
            username: username.into(),
        },
        request_id: "req".into(),
        user: NewMessage::new("Hur blir vädret i Göteborg imorgon?", Utc::now()),
        assistant: NewMessage::new("Sol och tolv grader.", Utc::now()),
    };
    let turns: Vec<NewTurn> = (0..200).map(|_| turn("heavy")).collect();
    let recorded = store.record_turns(&turns).await.unwrap();
    let conversation = recorded[0].as_ref().unwrap().conversation_id;
    store.record_turns(&[turn("light")]).await.unwrap();
    for n in 0..50 {
        let memory = NewMemory::new(format!("Min dotter heter Elsa och är {n} år"), Utc::now());
        store.add_memory("heavy", memory, 1000).await.unwrap();
    }
    let memory = NewMemory::new("Jag parkerade på Drottninggatan", Utc::now());
    store.add_memory("light", memory, 1000).await.unwrap();
    (dir, store, conversation)
}

/// The plan's lines (the `detail` column), each statement parameter bound to `values`.
async fn plan(store: &SqliteStore, statement: &str, values: &[&str]) -> Vec<String> {
    let text = format!("EXPLAIN QUERY PLAN {statement}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
    for value in values {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(&store.pool).await.unwrap();
    rows.iter().map(|row| row.get::<String, _>(3)).collect()
}

/// Every table is reached through an index or its primary key. The scans allowed read no
/// table row by row: a full-text match (`M` in the index string; `=` there would mean one
/// lookup per row of an outer loop), the one-row `SELECT` of an `INSERT … SELECT`, and the
/// result of a `LIMIT`ed subquery.
fn assert_no_table_scan(name: &str, lines: &[String]) {
    for line in lines {
        let scan = line.starts_with("SCAN ");
        let allowed = line.starts_with("SCAN f VIRTUAL TABLE INDEX 0:M")
            || line == "SCAN CONSTANT ROW"
            || line == "SCAN recent";
        assert!(!scan || allowed, "{name}: {line:?} in {lines:#?}");
    }
}

#[tokio::test]
async fn request_path_statements_use_indexes() {
    let (_dir, store, conversation) = seeded().await;
    let id = conversation.to_string();
    let now = Utc::now().to_rfc3339();
    let statements: [(&str, &str, Vec<&str>); 7] = [
        ("conversation", sql::CONVERSATION, vec![&id]),
        ("recent messages", sql::RECENT_MESSAGES, vec![&id, "8"]),
        ("user id", sql::USER_ID, vec!["heavy"]),
        ("touch conversation", TOUCH_CONVERSATION, vec![&now, &id]),
        ("last seq", LAST_SEQ, vec![&id]),
        (
            "add memory",
            ADD_MEMORY,
            vec!["id", "1", "text", "terms", &now, &id, "1000"],
        ),
        (
            "search memories",
            SEARCH_MEMORIES,
            vec!["heavy", "\"dott\" OR \"elsa\"", "3"],
        ),
    ];
    for (name, statement, values) in statements {
        let lines = plan(&store, statement, &values).await;
        assert!(!lines.is_empty(), "{name}: no plan");
        assert_no_table_scan(name, &lines);
    }
}

#[tokio::test]
async fn the_full_text_index_drives_the_memory_search() {
    let (_dir, store, _) = seeded().await;
    let lines = plan(&store, SEARCH_MEMORIES, &["heavy", "\"elsa\"", "3"]).await;
    // The match is the outer loop, looked up once; each hit then finds its row by number.
    assert!(
        lines[0].starts_with("SCAN f VIRTUAL TABLE INDEX 0:M"),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SEARCH m USING INTEGER PRIMARY KEY")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("memories_by_user")),
        "the user's memories must not be walked one by one: {lines:#?}"
    );
    // And the rewrite still finds only the user's own memories, best first.
    let found = store
        .search_memories("light", "Var parkerade jag?", crate::MemoryMatch::Any, 3)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].username, "light");
    let found = store
        .search_memories("heavy", "Vad heter min dotter?", crate::MemoryMatch::Any, 3)
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|m| m.username == "heavy"));
}

/// The page's reads and writes beside the chat: the caller's conversations searched (title and
/// messages), whose a message is, and the feedback on answers. None may read another user's
/// rows: the search starts from the user's name and walks only their conversations, each one's
/// messages by the `(conversation_id, seq)` index.
#[tokio::test]
async fn conversation_search_and_feedback_use_indexes() {
    let (_dir, store, conversation) = seeded().await;
    let answer = store.messages(conversation, 0, 2).await.unwrap()[1].id;
    let feedback = NewFeedback {
        message_id: answer,
        rating: Rating::Up,
        comment: None,
        at: Utc::now(),
    };
    assert!(
        store
            .put_feedback("heavy", &feedback)
            .await
            .unwrap()
            .is_some()
    );
    let (id, answer) = (conversation.to_string(), answer.to_string());
    let now = Utc::now().to_rfc3339();
    let statements: [(&str, &str, Vec<&str>); 8] = [
        (
            "search conversations",
            SEARCH_CONVERSATIONS,
            vec!["heavy", "*[gG][öÖ]teborg*", "50", "0"],
        ),
        ("message owner", sql::MESSAGE_OWNER, vec![&answer]),
        (
            "put feedback",
            sql::PUT_FEEDBACK,
            vec![&answer, "heavy", "down", "", &now],
        ),
        ("feedback of", sql::FEEDBACK_OF, vec![&answer]),
        (
            "delete feedback",
            sql::DELETE_FEEDBACK,
            vec![&answer, "heavy"],
        ),
        (
            "feedback between",
            sql::FEEDBACK_BETWEEN,
            vec![&id, "0", "100"],
        ),
        ("export feedback", FEEDBACK_FIRST, vec!["1", "500"]),
        (
            "export feedback after",
            FEEDBACK_AFTER,
            vec!["1", &answer, "500"],
        ),
    ];
    for (name, statement, values) in statements {
        let lines = plan(&store, statement, &values).await;
        assert!(!lines.is_empty(), "{name}: no plan");
        assert_no_table_scan(name, &lines);
        if name == "search conversations" {
            // The user by name, their conversations newest first (only ties on the time are
            // sorted), and each one's messages by its id.
            let walks = |start: &str, end: &str| {
                lines
                    .iter()
                    .any(|line| line.starts_with(start) && line.ends_with(end))
            };
            assert!(
                walks("SEARCH u USING COVERING INDEX", "(username=?)"),
                "{lines:#?}"
            );
            assert!(
                walks("SEARCH c USING INDEX conversations_by_user", "(user_id=?)"),
                "{lines:#?}"
            );
            assert!(
                walks("SEARCH m USING INDEX", "(conversation_id=?)"),
                "{lines:#?}"
            );
        }
        if name == "feedback between" {
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("(conversation_id=? AND seq>? AND seq<?)")),
                "{lines:#?}"
            );
        }
    }
}
