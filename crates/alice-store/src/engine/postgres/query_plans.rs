//! The plans PostgreSQL picks for the statements on the chat request path (and the page's:
//! the conversation search, feedback on answers, the export's feedback pages), on a schema
//! where one user has thousands of conversations and the tables are analysed: none of them may
//! read `conversations`, `messages`, `memories` or `answer_feedback` with a sequential scan.
//!
//! PostgreSQL chooses by statistics, so the test seeds enough rows that a sequential scan would
//! be a real cost, then runs `ANALYZE` as autovacuum would. It needs `ALICE_TEST_POSTGRES_URL`
//! (skipped when unset) and works in a schema of its own, dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::batch::{LAST_SEQS, TOUCH_CONVERSATIONS};
use super::{SEARCH_CONVERSATIONS, SEARCH_MEMORIES};
use crate::StoreBackend;
use crate::engine::export_snapshot::{FEEDBACK_AFTER, FEEDBACK_FIRST};
use crate::engine::sql;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool, Row};
use uuid::Uuid;

const POSTGRES_URL: &str = "ALICE_TEST_POSTGRES_URL";

/// Tables a request must never read whole.
const BIG_TABLES: [&str; 4] = ["conversations", "messages", "memories", "answer_feedback"];

/// 3,000 conversations of 4 messages for "heavy", 50 memories each for 40 users, 100
/// conversations for each of those users, and a thumb on every answer.
const SEED: &str = "
INSERT INTO users (username, created_at) VALUES ('heavy', now());
INSERT INTO users (username, created_at) SELECT 'user' || g, now() FROM generate_series(1, 40) g;
INSERT INTO conversations (id, user_id, title, started_at, last_message_at, message_count)
SELECT gen_random_uuid(), u.id, 'Samtal ' || g, now() - g * interval '1 minute', now(), 4
FROM users u, generate_series(1, 3000) g WHERE u.username = 'heavy';
INSERT INTO conversations (id, user_id, title, started_at, last_message_at, message_count)
SELECT gen_random_uuid(), u.id, 'Samtal ' || g, now() - g * interval '1 minute', now(), 4
FROM users u, generate_series(1, 100) g WHERE u.username <> 'heavy';
INSERT INTO messages (id, conversation_id, seq, role, content, created_at)
SELECT gen_random_uuid(), c.id, k, CASE k % 2 WHEN 1 THEN 'user' ELSE 'assistant' END,
       'Hur blir vädret i Göteborg imorgon?', now()
FROM conversations c, generate_series(1, 4) k;
INSERT INTO answer_feedback (message_id, user_id, rating, created_at, updated_at)
SELECT m.id, c.user_id, 'up', now(), now()
FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'assistant';
INSERT INTO memories (id, user_id, content, created_at)
SELECT gen_random_uuid(), u.id, 'Min dotter heter Elsa och är ' || g || ' år', now()
FROM users u, generate_series(1, 50) g;
ANALYZE;
";

/// The `EXPLAIN` lines of `statement` with its parameters bound by `bind`.
async fn plan<'q>(
    pool: &PgPool,
    text: &'q str,
    bind: impl FnOnce(
        sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Vec<String> {
    let rows = bind(sqlx::query(sqlx::AssertSqlSafe(text)))
        .fetch_all(pool)
        .await
        .unwrap();
    rows.iter().map(|row| row.get::<String, _>(0)).collect()
}

#[tokio::test]
async fn request_path_statements_scan_no_big_table() {
    let Ok(url) = std::env::var(POSTGRES_URL) else {
        eprintln!("skipped: {POSTGRES_URL} is not set");
        return;
    };
    let schema = format!("alice_plans_{}", Uuid::new_v4().simple());
    let admin = PgPoolOptions::new().max_connections(1).connect(&url).await;
    let admin = admin.unwrap_or_else(|e| panic!("{POSTGRES_URL} is set but unusable: {e}"));
    let config = alice_core::config::DatabaseConfig {
        url: url.clone(),
        schema: Some(schema.clone()),
        ..alice_core::config::DatabaseConfig::default()
    };
    let outcome = async {
        let store = super::PostgresStore::open(&config).await.unwrap();
        let pool = store.pool.clone();
        pool.execute(sqlx::AssertSqlSafe(SEED)).await.unwrap();
        let conversation: Uuid =
            sqlx::query_scalar("SELECT c.id FROM conversations c ORDER BY c.started_at LIMIT 1")
                .fetch_one(&pool)
                .await
                .unwrap();
        let explain = |statement: &str| format!("EXPLAIN {statement}");
        let answer: Uuid = sqlx::query_scalar(
            "SELECT id FROM messages WHERE conversation_id = $1 AND role = 'assistant' LIMIT 1",
        )
        .bind(conversation)
        .fetch_one(&pool)
        .await
        .unwrap();
        let texts = [
            explain(sql::CONVERSATION),
            explain(sql::RECENT_MESSAGES),
            explain(SEARCH_MEMORIES),
            explain(TOUCH_CONVERSATIONS),
            explain(LAST_SEQS),
            explain(SEARCH_CONVERSATIONS),
            explain(sql::MESSAGE_OWNER),
            explain(sql::PUT_FEEDBACK),
            explain(sql::FEEDBACK_OF),
            explain(sql::DELETE_FEEDBACK),
            explain(sql::FEEDBACK_BETWEEN),
            explain(FEEDBACK_FIRST),
            explain(FEEDBACK_AFTER),
        ];
        let user1: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'user1'")
            .fetch_one(&pool)
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let plans = vec![
            (
                "conversation",
                plan(&pool, &texts[0], |q| q.bind(conversation)).await,
            ),
            (
                "recent messages",
                plan(&pool, &texts[1], |q| q.bind(conversation).bind(8_i64)).await,
            ),
            (
                "search memories",
                plan(&pool, &texts[2], |q| {
                    q.bind("heavy").bind("dotter | elsa").bind(3_i64)
                })
                .await,
            ),
            (
                "touch conversations",
                plan(&pool, &texts[3], |q| {
                    q.bind(vec![conversation]).bind(vec![1_i64]).bind(vec![now])
                })
                .await,
            ),
            (
                "last seqs",
                plan(&pool, &texts[4], |q| q.bind(vec![conversation])).await,
            ),
            (
                "search conversations",
                plan(&pool, &texts[5], |q| {
                    q.bind("user1")
                        .bind("[gG][öÖ]teborg")
                        .bind(50_i64)
                        .bind(0_i64)
                })
                .await,
            ),
            (
                "message owner",
                plan(&pool, &texts[6], |q| q.bind(answer)).await,
            ),
            (
                "put feedback",
                plan(&pool, &texts[7], |q| {
                    q.bind(answer)
                        .bind("heavy")
                        .bind("down")
                        .bind(None::<String>)
                        .bind(now)
                })
                .await,
            ),
            (
                "feedback of",
                plan(&pool, &texts[8], |q| q.bind(answer)).await,
            ),
            (
                "delete feedback",
                plan(&pool, &texts[9], |q| q.bind(answer).bind("heavy")).await,
            ),
            (
                "feedback between",
                plan(&pool, &texts[10], |q| {
                    q.bind(conversation).bind(0_i64).bind(100_i64)
                })
                .await,
            ),
            (
                "export feedback",
                plan(&pool, &texts[11], |q| q.bind(user1).bind(500_i64)).await,
            ),
            (
                "export feedback after",
                plan(&pool, &texts[12], |q| {
                    q.bind(user1).bind(answer).bind(500_i64)
                })
                .await,
            ),
        ];
        store.close().await;
        plans
    }
    .await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .await
        .unwrap();
    for (name, lines) in outcome {
        for table in BIG_TABLES {
            let seq_scan = format!("Seq Scan on {table}");
            assert!(
                !lines.iter().any(|line| line.contains(&seq_scan)),
                "{name}: {seq_scan} in {lines:#?}"
            );
        }
    }
}
