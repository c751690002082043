//! The contract of [`StoreBackend`], one suite run against both engines, so the server never
//! needs to know which one it talks to.
//!
//! Every check is an `async fn check_…(store: &Store)` and runs twice: `sqlite::check_…` on a
//! fresh database file in a temporary directory, and `pg::check_…` on PostgreSQL at
//! `ALICE_TEST_POSTGRES_URL` (skipped when unset, a loud failure when set but unusable), in a
//! schema of its own that is dropped afterwards. Select one engine with a filter:
//! `cargo test -p alice-store --test store_contract -- pg::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alice_core::config::DatabaseConfig;
use alice_core::{BrownoutLevel, Role};
use alice_store::{
    AnswerRoute, ChatRoute, Claim, ClaimOutcome, ConversationTarget, ErasureCause, ExperimentTag,
    Memory, MemoryMatch, NewClaim, NewFeedback, NewMemory, NewMessage, NewOutcome, NewTimer,
    NewTurn, OutcomeKind, Page, Rating, RetentionReport, RunState, Store, StoreError, StoredAnswer,
    StoredMessage, StoredOutcome, SystemMetricSample, TimerKind, TimerState,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Executor};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The two engines.

const POSTGRES_URL: &str = "ALICE_TEST_POSTGRES_URL";

/// Each check as a test on each engine. A check that needs to write rows the store has no
/// method for (chat sessions, agent runs) names `raw` and gets a second connection too.
macro_rules! contract {
    ($($check:ident $(($raw:ident))?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let harness = super::Harness::sqlite().await;
                    let store = harness.store.clone();
                    $(let $raw = harness.raw.clone();)?
                    let outcome =
                        tokio::spawn(async move { super::$check(&store $(, &$raw)?).await })
                            .await;
                    harness.finish(outcome).await;
                }
            )*
        }
        mod pg {
            $(
                #[tokio::test]
                async fn $check() {
                    let test = concat!("pg::", stringify!($check));
                    let Some(harness) = super::Harness::postgres(test).await else {
                        return;
                    };
                    let store = harness.store.clone();
                    $(let $raw = harness.raw.clone();)?
                    let outcome =
                        tokio::spawn(async move { super::$check(&store $(, &$raw)?).await })
                            .await;
                    harness.finish(outcome).await;
                }
            )*
        }
    };
}

contract! {
    check_a_turn_creates_user_and_conversation,
    check_continuing_a_conversation,
    check_a_missing_conversation_fails_alone,
    check_a_batch_may_start_and_continue_a_conversation,
    check_message_fields_round_trip,
    check_recent_messages_are_the_last_oldest_first,
    check_messages_page_after_seq,
    check_user_profile_defaults,
    check_user_conversations_newest_active_first,
    check_recent_conversations_newest_active_first,
    check_memories_add_list_count,
    check_the_memory_cap_holds_under_concurrent_writes,
    check_memory_search_understands_swedish,
    check_memory_search_without_words_matches_nothing,
    check_delete_memories_only_deletes_the_users_own,
    check_export_holds_everything,
    check_export_pages_through_more_than_a_page,
    check_erasure_leaves_a_tombstone_without_the_name,
    check_applying_tombstones_erases_again,
    check_export_and_erase_cover_sessions_and_agent_runs(raw),
    check_erase_removes_the_user_and_nothing_else,
    check_retention_deletes_old_messages_and_empty_conversations,
    check_system_metrics_round_trip,
    check_stats_count_rows,
    check_the_batcher_writes_every_turn_under_concurrency,
    check_accounts_keys_and_sessions,
    check_erasure_takes_keys_and_sessions,
    check_an_idempotency_key_is_claimed_completed_and_replayed,
    check_a_released_idempotency_key_runs_again,
    check_expired_idempotency_records_are_taken_over_and_deleted,
    check_concurrent_idempotency_claims_have_one_winner,
    check_erasure_takes_idempotency_records,
    check_a_due_timer_fires_once_into_its_conversation,
    check_concurrent_firing_fires_each_timer_once,
    check_timers_are_cancelled_by_their_owner_only,
    check_a_timer_in_another_users_conversation_is_refused,
    check_erasure_takes_timers,
    check_conversation_search_finds_title_and_content_case_ignored,
    check_conversation_search_takes_the_text_literally,
    check_feedback_only_on_the_users_own_answers,
    check_feedback_is_replaced_and_deleted,
    check_feedback_beside_a_page_of_messages,
    check_feedback_is_exported_and_erased,
    check_feedback_goes_with_its_message,
    check_outcomes_round_trip_with_their_ratings,
    check_outcomes_are_exported_and_erased,
    check_an_outcome_outlives_its_answer,
    check_experiment_states_are_set_and_replaced,
    check_a_full_outcome_queue_drops_and_counts,
}

/// A second way into the database under test, for rows the store has no method for.
#[derive(Clone)]
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One engine opened for one test.
struct Harness {
    store: Store,
    raw: Raw,
    /// Drops the test's PostgreSQL schema.
    schema: Option<SchemaGuard>,
    /// Holds the SQLite file.
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = DatabaseConfig {
            url: format!("sqlite://{}/alice.db", dir.path().display()),
            batch_max_turns: 64,
            ..DatabaseConfig::default()
        };
        let store = Store::open(&config).await.unwrap();
        let raw = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::from_str(&config.url)
                    .unwrap()
                    .busy_timeout(std::time::Duration::from_secs(30)),
            )
            .await
            .unwrap();
        Self {
            store,
            raw: Raw::Sqlite(raw),
            schema: None,
            _dir: Some(dir),
        }
    }

    /// None (after saying so) when no PostgreSQL is configured for the tests.
    async fn postgres(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var(POSTGRES_URL) else {
            eprintln!("skipped {test}: {POSTGRES_URL} is not set");
            return None;
        };
        let schema = format!("alice_test_{}", Uuid::new_v4().simple());
        // Armed before the store creates the schema, so a failing open cleans up too.
        let guard = SchemaGuard {
            url: url.clone(),
            schema: schema.clone(),
            armed: true,
        };
        let config = DatabaseConfig {
            url: url.clone(),
            schema: Some(schema.clone()),
            batch_max_turns: 64,
            ..DatabaseConfig::default()
        };
        let store = Store::open(&config).await.unwrap_or_else(|error| {
            panic!("{POSTGRES_URL} is set ({url}) but the PostgreSQL store cannot open: {error}")
        });
        let raw = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(
                PgConnectOptions::from_str(&url)
                    .unwrap()
                    .options([("search_path", schema.as_str())]),
            )
            .await
            .unwrap();
        Some(Self {
            store,
            raw: Raw::Postgres(raw),
            schema: Some(guard),
            _dir: None,
        })
    }

    /// Closes the engine, drops the test's schema, then fails the test if the check failed.
    async fn finish(self, outcome: Result<(), tokio::task::JoinError>) {
        self.store.close().await;
        match &self.raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
        if let Some(guard) = self.schema {
            guard.drop_schema().await;
        }
        if let Err(error) = outcome {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("the check did not finish: {error}"),
            }
        }
    }
}

/// Drops a test's PostgreSQL schema: normally through [`SchemaGuard::drop_schema`], and on a
/// panic in the harness itself from `Drop`, on a thread of its own.
struct SchemaGuard {
    url: String,
    schema: String,
    armed: bool,
}

impl SchemaGuard {
    async fn drop_schema(mut self) {
        self.armed = false;
        drop_schema(&self.url, &self.schema).await;
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(drop_schema(&url, &schema));
        });
        let _ = cleanup.join();
    }
}

async fn drop_schema(url: &str, schema: &str) {
    let dropped = async {
        let mut connection =
            sqlx::PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?;
        // Never hang a test run on a lock some stray connection holds.
        connection.execute("SET lock_timeout = '10s'").await?;
        connection
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
            )))
            .await?;
        connection.close().await
    };
    if let Err(error) = dropped.await {
        eprintln!("could not drop the test schema {schema}: {error}");
    }
}

impl Raw {
    async fn add_chat_session(&self, username: &str, id: &str, client: &str, at: DateTime<Utc>) {
        let metadata = serde_json::json!({ "device": "kök" });
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO chat_sessions (id, user_id, client, started_at, last_seen_at,
                         metadata)
                     SELECT ?, id, ?, ?, ?, ? FROM users WHERE username = ?",
                )
                .bind(id)
                .bind(client)
                .bind(at)
                .bind(at)
                .bind(metadata.to_string())
                .bind(username)
                .execute(pool)
                .await
                .unwrap();
            }
            Raw::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO chat_sessions (id, user_id, client, started_at, last_seen_at,
                         metadata)
                     SELECT $1, id, $2, $3, $4, $5 FROM users WHERE username = $6",
                )
                .bind(id)
                .bind(client)
                .bind(at)
                .bind(at)
                .bind(metadata)
                .bind(username)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }

    async fn add_agent_run(&self, username: &str, id: &str, conversation: Uuid, at: DateTime<Utc>) {
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO agent_executions (id, user_id, conversation_id, agent, status,
                         input, output, started_at, finished_at, metadata)
                     SELECT ?, id, ?, 'väder', 'succeeded', 'Vädret i Umeå?', 'Snö.', ?, ?, '{}'
                     FROM users WHERE username = ?",
                )
                .bind(id)
                .bind(conversation.to_string())
                .bind(at)
                .bind(at + Duration::seconds(2))
                .bind(username)
                .execute(pool)
                .await
                .unwrap();
            }
            Raw::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO agent_executions (id, user_id, conversation_id, agent, status,
                         input, output, started_at, finished_at, metadata)
                     SELECT $1, id, $2, 'väder', 'succeeded', 'Vädret i Umeå?', 'Snö.', $3, $4,
                         '{}'
                     FROM users WHERE username = $5",
                )
                .bind(id)
                .bind(conversation)
                .bind(at)
                .bind(at + Duration::seconds(2))
                .bind(username)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Now, to the millisecond: both engines keep such times exactly (PostgreSQL keeps
/// microseconds), so stored times compare equal to the written ones.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn new_conversation(username: &str) -> ConversationTarget {
    ConversationTarget::New {
        id: Uuid::now_v7(),
        username: username.into(),
    }
}

/// A turn asked at `at` and answered a second later, with the answer's measurements.
fn turn(target: ConversationTarget, question: &str, answer: &str, at: DateTime<Utc>) -> NewTurn {
    let mut assistant = NewMessage::new(answer, at + Duration::seconds(1));
    assistant.model_used = Some("ollama:gpt-oss:20b".into());
    assistant.response_time_ms = Some(1200);
    assistant.ttft_ms = Some(180);
    assistant.prompt_tokens = Some(42);
    assistant.completion_tokens = Some(17);
    NewTurn {
        conversation: target,
        request_id: format!("req-{}", Uuid::new_v4().simple()),
        user: NewMessage::new(question, at),
        assistant,
    }
}

/// Starts a conversation with one turn; returns its id.
async fn start(store: &Store, username: &str, question: &str, at: DateTime<Utc>) -> Uuid {
    store
        .record_turn(turn(new_conversation(username), question, "Svar.", at))
        .await
        .unwrap()
        .conversation_id
}

async fn continue_with(store: &Store, id: Uuid, question: &str, at: DateTime<Utc>) {
    store
        .record_turn(turn(
            ConversationTarget::Existing(id),
            question,
            "Svar.",
            at,
        ))
        .await
        .unwrap();
}

/// What the store should give back for a message it was given.
fn stored(
    message: &NewMessage,
    conversation_id: Uuid,
    seq: i64,
    role: Role,
    request_id: &str,
) -> StoredMessage {
    StoredMessage {
        id: message.id,
        conversation_id,
        seq,
        role,
        content: message.content.clone(),
        created_at: message.created_at,
        model_used: message.model_used.clone(),
        response_time_ms: message.response_time_ms,
        ttft_ms: message.ttft_ms,
        prompt_tokens: message.prompt_tokens,
        completion_tokens: message.completion_tokens,
        request_id: Some(request_id.to_owned()),
        cached: message.cached,
        brownout_level: message.brownout_level,
        cache_key: message.cache_key.clone(),
        experiment: message.experiment.clone(),
        route: message.route.clone(),
    }
}

fn seqs(messages: &[StoredMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn contents(messages: &[StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

fn page(offset: u32, limit: u32) -> Page {
    Page { offset, limit }
}

async fn remember(store: &Store, username: &str, content: &str, at: DateTime<Utc>) -> Memory {
    store
        .add_memory(username, NewMemory::new(content, at), u32::MAX)
        .await
        .unwrap()
        .unwrap()
}

fn ids(memories: &[Memory]) -> Vec<Uuid> {
    memories.iter().map(|m| m.id).collect()
}

// ---------------------------------------------------------------------------------------------
// Turns and conversations.

async fn check_a_turn_creates_user_and_conversation(store: &Store) {
    let t0 = now();
    let question = "Vad är skillnaden mellan en älg och en ren? Förklara gärna för ett barn.";
    assert!(store.user("anna").await.unwrap().is_none());
    let first = turn(new_conversation("anna"), question, "En älg är större.", t0);
    let recorded = store.record_turn(first.clone()).await.unwrap();
    assert_eq!(recorded.user_message_id, first.user.id);
    assert_eq!(recorded.assistant_message_id, first.assistant.id);
    let ConversationTarget::New { id, .. } = first.conversation else {
        unreachable!()
    };
    assert_eq!(recorded.conversation_id, id);

    let conversation = store.conversation(id).await.unwrap().expect("created");
    assert_eq!(conversation.id, id);
    assert_eq!(conversation.username, "anna");
    assert_eq!(
        conversation.title,
        question.chars().take(50).collect::<String>()
    );
    assert_eq!(conversation.title.chars().count(), 50);
    assert_eq!(conversation.kind, "chat");
    assert_eq!(conversation.message_count, 2);
    assert_eq!(conversation.started_at, t0);
    assert_eq!(conversation.last_message_at, first.assistant.created_at);
    assert_eq!(conversation.ended_at, None);

    let messages = store.messages(id, 0, 100).await.unwrap();
    assert_eq!(
        messages,
        vec![
            stored(&first.user, id, 1, Role::User, &first.request_id),
            stored(&first.assistant, id, 2, Role::Assistant, &first.request_id),
        ]
    );
    let user = store
        .user("anna")
        .await
        .unwrap()
        .expect("the user was created");
    assert_eq!(user.username, "anna");
    assert!(store.conversation(Uuid::now_v7()).await.unwrap().is_none());
}

async fn check_continuing_a_conversation(store: &Store) {
    let t0 = now();
    let id = start(store, "anna", "Vad heter Sveriges huvudstad?", t0).await;
    let second = turn(
        ConversationTarget::Existing(id),
        "Och Norges?",
        "Oslo.",
        t0 + Duration::minutes(1),
    );
    store.record_turn(second.clone()).await.unwrap();
    continue_with(store, id, "Och Finlands?", t0 + Duration::minutes(2)).await;

    let conversation = store.conversation(id).await.unwrap().unwrap();
    assert_eq!(conversation.message_count, 6);
    assert_eq!(conversation.title, "Vad heter Sveriges huvudstad?");
    assert_eq!(conversation.started_at, t0);
    assert_eq!(
        conversation.last_message_at,
        t0 + Duration::minutes(2) + Duration::seconds(1)
    );
    let messages = store.messages(id, 0, 100).await.unwrap();
    assert_eq!(seqs(&messages), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        contents(&messages),
        vec![
            "Vad heter Sveriges huvudstad?",
            "Svar.",
            "Och Norges?",
            "Oslo.",
            "Och Finlands?",
            "Svar."
        ]
    );
    let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant].repeat(3),
        "questions and answers alternate"
    );
    assert_eq!(
        messages[2],
        stored(&second.user, id, 3, Role::User, &second.request_id)
    );
    assert_eq!(
        messages[3],
        stored(
            &second.assistant,
            id,
            4,
            Role::Assistant,
            &second.request_id
        )
    );
}

async fn check_a_missing_conversation_fails_alone(store: &Store) {
    let t0 = now();
    let missing = Uuid::now_v7();
    let before = turn(new_conversation("anna"), "Första frågan", "Ett", t0);
    let lost = turn(
        ConversationTarget::Existing(missing),
        "Vart tog den vägen?",
        "Borta",
        t0 + Duration::seconds(5),
    );
    let after = turn(
        new_conversation("bertil"),
        "Tredje frågan",
        "Tre",
        t0 + Duration::seconds(10),
    );
    let outcomes = store
        .record_turns(&[before.clone(), lost, after.clone()])
        .await
        .expect("one missing conversation does not fail the batch");
    assert_eq!(outcomes.len(), 3);
    assert!(
        matches!(&outcomes[1], Err(StoreError::ConversationNotFound(id)) if *id == missing),
        "{:?}",
        outcomes[1]
    );
    for (outcome, written) in [(&outcomes[0], &before), (&outcomes[2], &after)] {
        let recorded = outcome.as_ref().expect("the other turns are written");
        assert_eq!(recorded.user_message_id, written.user.id);
        let messages = store
            .messages(recorded.conversation_id, 0, 10)
            .await
            .unwrap();
        assert_eq!(
            contents(&messages),
            vec![
                written.user.content.as_str(),
                written.assistant.content.as_str()
            ]
        );
        let conversation = store
            .conversation(recorded.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(conversation.message_count, 2);
    }
    assert!(store.conversation(missing).await.unwrap().is_none());
    assert!(store.messages(missing, 0, 10).await.unwrap().is_empty());

    // Through the batcher, alone.
    let error = store
        .record_turn(turn(
            ConversationTarget::Existing(missing),
            "Igen?",
            "Nej",
            t0,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::ConversationNotFound(id) if id == missing),
        "{error:?}"
    );
    assert_eq!(store.stats().await.unwrap().rows["messages"], 4);
}

async fn check_a_batch_may_start_and_continue_a_conversation(store: &Store) {
    let t0 = now();
    let id = Uuid::now_v7();
    let outcomes = store
        .record_turns(&[
            turn(
                ConversationTarget::New {
                    id,
                    username: "cecilia".into(),
                },
                "Fråga ett",
                "Svar ett",
                t0,
            ),
            turn(
                ConversationTarget::Existing(id),
                "Fråga två",
                "Svar två",
                t0 + Duration::seconds(10),
            ),
        ])
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let conversation = store.conversation(id).await.unwrap().unwrap();
    assert_eq!(conversation.message_count, 4);
    assert_eq!(conversation.title, "Fråga ett");
    assert_eq!(conversation.last_message_at, t0 + Duration::seconds(11));
    let messages = store.messages(id, 0, 10).await.unwrap();
    assert_eq!(seqs(&messages), vec![1, 2, 3, 4]);
    assert_eq!(
        contents(&messages),
        vec!["Fråga ett", "Svar ett", "Fråga två", "Svar två"]
    );

    // A turn to a conversation that a later turn of the batch starts comes too early.
    let later = Uuid::now_v7();
    let outcomes = store
        .record_turns(&[
            turn(
                ConversationTarget::Existing(later),
                "För tidigt",
                "-",
                t0 + Duration::seconds(20),
            ),
            turn(
                ConversationTarget::New {
                    id: later,
                    username: "cecilia".into(),
                },
                "Början",
                "Ja",
                t0 + Duration::seconds(30),
            ),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0], Err(StoreError::ConversationNotFound(id)) if *id == later),
        "{:?}",
        outcomes[0]
    );
    assert!(outcomes[1].is_ok(), "{:?}", outcomes[1]);
    let messages = store.messages(later, 0, 10).await.unwrap();
    assert_eq!(contents(&messages), vec!["Början", "Ja"]);
    assert_eq!(seqs(&messages), vec![1, 2]);
}

async fn check_message_fields_round_trip(store: &Store) {
    let t0 = now();
    let mut served = turn(new_conversation("anna"), "Hur mår du?", "Bra, tack!", t0);
    served.assistant.cached = true;
    served.assistant.brownout_level = Some(BrownoutLevel::Heavy);
    served.assistant.cache_key = Some("sha256:5f2b".into());
    served.assistant.experiment = Some(ExperimentTag {
        name: "kort-eller-långt".into(),
        variant: "kort".into(),
    });
    served.assistant.route = Some(AnswerRoute {
        kind: "intent".into(),
        intent: Some("time".into()),
        confidence: Some(0.95),
        tool: None,
        calls: Vec::new(),
    });
    let id = store
        .record_turn(served.clone())
        .await
        .unwrap()
        .conversation_id;
    let mut plain = turn(
        ConversationTarget::Existing(id),
        "Och du?",
        "Också bra.",
        t0 + Duration::seconds(5),
    );
    plain.assistant.brownout_level = Some(BrownoutLevel::None);
    plain.assistant.model_used = None;
    plain.assistant.response_time_ms = None;
    store.record_turn(plain.clone()).await.unwrap();

    let expected = vec![
        stored(&served.user, id, 1, Role::User, &served.request_id),
        stored(
            &served.assistant,
            id,
            2,
            Role::Assistant,
            &served.request_id,
        ),
        stored(&plain.user, id, 3, Role::User, &plain.request_id),
        stored(&plain.assistant, id, 4, Role::Assistant, &plain.request_id),
    ];
    assert_eq!(store.messages(id, 0, 10).await.unwrap(), expected);
    assert_eq!(store.recent_messages(id, 10).await.unwrap(), expected);
    let answer = &expected[1];
    assert!(answer.cached);
    assert_eq!(answer.brownout_level, Some(BrownoutLevel::Heavy));
    assert_eq!(answer.cache_key.as_deref(), Some("sha256:5f2b"));
    assert_eq!(answer.experiment.as_ref().unwrap().variant, "kort");
    let owner = store
        .message_owner(served.assistant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        owner.experiment, answer.experiment,
        "the rating's experiment is known"
    );
    let owner = store
        .message_owner(plain.assistant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.experiment, None);
    assert_eq!(expected[3].experiment, None);
    assert_eq!(expected[0].brownout_level, None);
    assert_eq!(expected[0].cache_key, None);
    assert!(!expected[0].cached);
}

async fn check_recent_messages_are_the_last_oldest_first(store: &Store) {
    let t0 = now();
    let id = start(store, "anna", "Ett", t0).await;
    continue_with(store, id, "Två", t0 + Duration::minutes(1)).await;
    continue_with(store, id, "Tre", t0 + Duration::minutes(2)).await;

    let last = store.recent_messages(id, 3).await.unwrap();
    assert_eq!(seqs(&last), vec![4, 5, 6]);
    assert_eq!(contents(&last), vec!["Svar.", "Tre", "Svar."]);
    assert_eq!(
        seqs(&store.recent_messages(id, 100).await.unwrap()),
        (1..=6).collect::<Vec<_>>()
    );
    assert!(store.recent_messages(id, 0).await.unwrap().is_empty());
    assert!(
        store
            .recent_messages(Uuid::now_v7(), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_messages_page_after_seq(store: &Store) {
    let t0 = now();
    let id = start(store, "anna", "Ett", t0).await;
    continue_with(store, id, "Två", t0 + Duration::minutes(1)).await;
    continue_with(store, id, "Tre", t0 + Duration::minutes(2)).await;

    assert_eq!(seqs(&store.messages(id, 0, 2).await.unwrap()), vec![1, 2]);
    assert_eq!(
        seqs(&store.messages(id, 2, 3).await.unwrap()),
        vec![3, 4, 5]
    );
    assert_eq!(seqs(&store.messages(id, 5, 10).await.unwrap()), vec![6]);
    assert!(store.messages(id, 6, 10).await.unwrap().is_empty());
    assert_eq!(
        contents(&store.messages(id, 4, 1).await.unwrap()),
        vec!["Tre"]
    );
}

async fn check_user_profile_defaults(store: &Store) {
    start(store, "anna", "Hej", now()).await;
    let user = store.user("anna").await.unwrap().unwrap();
    assert_eq!(user.username, "anna");
    assert_eq!(user.display_name, None);
    assert_eq!(user.language, "sv");
    assert_eq!(user.timezone, "Europe/Stockholm");
    assert_eq!(user.preferences, serde_json::json!({}));
    assert!(store.user("okänd").await.unwrap().is_none());

    // A memory creates its user too.
    remember(store, "bertil", "Jag heter Bertil", now()).await;
    let bertil = store.user("bertil").await.unwrap().unwrap();
    assert_eq!(bertil.language, "sv");
    assert_eq!(bertil.timezone, "Europe/Stockholm");
}

/// Three conversations of bob, the first continued last, and a newer one of anna's.
async fn four_conversations(store: &Store) -> [Uuid; 4] {
    let t0 = now() - Duration::hours(1);
    let first = start(store, "bob", "Första", t0).await;
    let second = start(store, "bob", "Andra", t0 + Duration::minutes(1)).await;
    let third = start(store, "bob", "Tredje", t0 + Duration::minutes(2)).await;
    continue_with(store, first, "Första igen", t0 + Duration::minutes(3)).await;
    let annas = start(store, "anna", "Annas", t0 + Duration::minutes(4)).await;
    [first, second, third, annas]
}

async fn check_user_conversations_newest_active_first(store: &Store) {
    let [first, second, third, _] = four_conversations(store).await;
    let listed = store.user_conversations("bob", page(0, 10)).await.unwrap();
    let order: Vec<Uuid> = listed.iter().map(|c| c.id).collect();
    assert_eq!(order, vec![first, third, second]);
    assert!(listed.iter().all(|c| c.username == "bob"));
    assert_eq!(listed[0].message_count, 4);
    assert_eq!(listed[0].title, "Första");
    let one: Vec<Uuid> = store
        .user_conversations("bob", page(1, 1))
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(one, vec![third]);
    assert!(
        store
            .user_conversations("bob", page(3, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .user_conversations("okänd", page(0, 10))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_recent_conversations_newest_active_first(store: &Store) {
    let [first, second, third, annas] = four_conversations(store).await;
    let order = |listed: Vec<alice_store::Conversation>| -> Vec<Uuid> {
        listed.iter().map(|c| c.id).collect()
    };
    assert_eq!(
        order(store.recent_conversations(page(0, 10)).await.unwrap()),
        vec![annas, first, third, second]
    );
    assert_eq!(
        order(store.recent_conversations(page(0, 2)).await.unwrap()),
        vec![annas, first]
    );
    assert_eq!(
        order(store.recent_conversations(page(2, 10)).await.unwrap()),
        vec![third, second]
    );
    let all = store.recent_conversations(page(0, 10)).await.unwrap();
    assert_eq!(all[0].username, "anna");
    assert_eq!(all[1].username, "bob");
}

// ---------------------------------------------------------------------------------------------
// Memories.

async fn check_memories_add_list_count(store: &Store) {
    let t0 = now();
    let conversation = start(
        store,
        "anna",
        "Kom ihåg att jag är allergisk mot nötter",
        t0,
    )
    .await;
    let mut new = NewMemory::new("Jag är allergisk mot nötter", t0 + Duration::seconds(1));
    new.source_conversation_id = Some(conversation);
    let first = store
        .add_memory("anna", new.clone(), u32::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, new.id);
    assert_eq!(first.username, "anna");
    assert_eq!(first.content, new.content);
    assert_eq!(first.created_at, new.created_at);
    assert_eq!(first.source_conversation_id, Some(conversation));
    let second = remember(
        store,
        "anna",
        "Min dotter heter Elsa",
        t0 + Duration::minutes(1),
    )
    .await;
    let third = remember(store, "anna", "Jag bor i Luleå", t0 + Duration::minutes(2)).await;
    assert_eq!(third.source_conversation_id, None);

    assert_eq!(
        store.memories("anna", page(0, 10)).await.unwrap(),
        vec![third.clone(), second.clone(), first.clone()],
        "newest first"
    );
    assert_eq!(
        store.memories("anna", page(1, 1)).await.unwrap(),
        vec![second]
    );
    assert!(
        store
            .memories("anna", page(3, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.count_memories("anna").await.unwrap(), 3);
    assert_eq!(store.count_memories("okänd").await.unwrap(), 0);
    assert!(
        store
            .memories("okänd", page(0, 10))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_the_memory_cap_holds_under_concurrent_writes(store: &Store) {
    const CAP: u32 = 5;
    let t0 = now();
    // Writers at once for a user who does not exist yet: none may count before another's
    // insert and slip past the cap.
    let writers: Vec<_> = (0..40)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let memory = NewMemory::new(format!("Minne nummer {n}"), t0);
                store.add_memory("anna", memory, CAP).await.unwrap()
            })
        })
        .collect();
    let mut stored = 0;
    for writer in writers {
        if writer.await.unwrap().is_some() {
            stored += 1;
        }
    }
    assert_eq!(stored, CAP, "exactly the cap was stored");
    assert_eq!(store.count_memories("anna").await.unwrap(), u64::from(CAP));
    let full = store
        .add_memory("anna", NewMemory::new("En till", t0), CAP)
        .await
        .unwrap();
    assert_eq!(full, None, "a full user gets nothing stored");
    let other = store
        .add_memory("bertil", NewMemory::new("Bertils minne", t0), CAP)
        .await
        .unwrap();
    assert!(other.is_some(), "the cap is per user");
}

async fn check_memory_search_understands_swedish(store: &Store) {
    let t0 = now();
    let dog = remember(store, "anna", "Min hund heter Fido", t0).await;
    let berries = remember(
        store,
        "anna",
        "Jag gillar jordgubbar",
        t0 + Duration::minutes(1),
    )
    .await;
    let cat = remember(
        store,
        "anna",
        "Min katt heter Måns",
        t0 + Duration::minutes(2),
    )
    .await;
    let bertils = remember(store, "bertil", "Bertils hund heter Rex", t0).await;

    let all = store
        .search_memories("anna", "Vad heter hunden?", MemoryMatch::All, 10)
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![dog.id], "{all:?}");

    let any = store
        .search_memories("anna", "Vad heter hunden?", MemoryMatch::Any, 10)
        .await
        .unwrap();
    assert_eq!(
        any.first().map(|m| m.id),
        Some(dog.id),
        "best first: {any:?}"
    );
    assert!(
        any.iter().any(|m| m.id == cat.id),
        "'heter' matches: {any:?}"
    );
    if let Some(position) = any.iter().position(|m| m.id == berries.id) {
        assert!(position > 0, "unrelated memory ranked first: {any:?}");
    }
    assert!(
        !any.iter().any(|m| m.id == bertils.id),
        "another user's memory: {any:?}"
    );
    assert!(any.iter().all(|m| m.username == "anna"));

    let one = store
        .search_memories("anna", "Vad heter hunden?", MemoryMatch::Any, 1)
        .await
        .unwrap();
    assert_eq!(ids(&one), vec![dog.id]);

    let plural = store
        .search_memories("anna", "Gillar du jordgubben?", MemoryMatch::All, 10)
        .await
        .unwrap();
    assert_eq!(ids(&plural), vec![berries.id], "jordgubben ~ jordgubbar");
    let upper = store
        .search_memories("anna", "FIDO", MemoryMatch::All, 10)
        .await
        .unwrap();
    assert_eq!(ids(&upper), vec![dog.id]);
    let theirs = store
        .search_memories("bertil", "hundar", MemoryMatch::All, 10)
        .await
        .unwrap();
    assert_eq!(ids(&theirs), vec![bertils.id]);
    assert!(
        store
            .search_memories("anna", "glass", MemoryMatch::Any, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_memory_search_without_words_matches_nothing(store: &Store) {
    let dog = remember(store, "anna", "Min hund heter Fido", now()).await;
    remember(store, "anna", "Och att det är så", now()).await;
    for query in ["och att det", "?! ...", ""] {
        for matching in [MemoryMatch::Any, MemoryMatch::All] {
            let found = store
                .search_memories("anna", query, matching, 10)
                .await
                .unwrap_or_else(|e| panic!("{query:?} {matching:?}: {e}"));
            assert!(found.is_empty(), "{query:?} {matching:?}: {found:?}");
        }
    }
    // Query syntax of either engine is taken as plain words.
    for query in [
        "hund & | ! ( ) :* '",
        "\"hund\" OR NOT NEAR(x)",
        "hund' | 'fido",
        "hund\\",
    ] {
        let found = store
            .search_memories("anna", query, MemoryMatch::Any, 10)
            .await
            .unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!(ids(&found), vec![dog.id], "{query:?}");
    }
}

async fn check_delete_memories_only_deletes_the_users_own(store: &Store) {
    let t0 = now();
    let first = remember(store, "anna", "Första", t0).await;
    let second = remember(store, "anna", "Andra", t0 + Duration::seconds(1)).await;
    let bertils = remember(store, "bertil", "Bertils", t0).await;

    assert_eq!(
        store
            .delete_memories("anna", &[first.id, bertils.id])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ids(&store.memories("anna", page(0, 10)).await.unwrap()),
        vec![second.id]
    );
    assert_eq!(
        ids(&store.memories("bertil", page(0, 10)).await.unwrap()),
        vec![bertils.id]
    );
    assert_eq!(
        store.delete_memories("bertil", &[second.id]).await.unwrap(),
        0
    );
    assert_eq!(store.delete_memories("anna", &[first.id]).await.unwrap(), 0);
    assert_eq!(store.delete_memories("anna", &[]).await.unwrap(), 0);
    assert_eq!(
        store.delete_memories("okänd", &[second.id]).await.unwrap(),
        0
    );
    assert_eq!(store.count_memories("anna").await.unwrap(), 1);
    assert_eq!(store.count_memories("bertil").await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// GDPR: export and erasure.

/// The streamed export document of a user, parsed; None for a user the database does not know.
async fn export(store: &Store, user: &str) -> Option<serde_json::Value> {
    let document = alice_store::gdpr::export(&**store, user, now())
        .await
        .unwrap()?;
    let mut bytes = Vec::new();
    document.write_to(&mut bytes).await.unwrap();
    Some(serde_json::from_slice(&bytes).expect("the export is one JSON document"))
}

fn json_ids(values: &serde_json::Value) -> BTreeSet<Uuid> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|value| Uuid::parse_str(value["id"].as_str().unwrap()).unwrap())
        .collect()
}

fn request() -> ErasureCause {
    ErasureCause::Request { by: "test".into() }
}

async fn check_export_holds_everything(store: &Store) {
    let t0 = now();
    let first = start(store, "anna", "Första samtalet", t0).await;
    continue_with(store, first, "Mer", t0 + Duration::minutes(1)).await;
    let second = start(store, "anna", "Andra samtalet", t0 + Duration::minutes(2)).await;
    let bertils = start(store, "bertil", "Bertils samtal", t0).await;
    let memory = remember(store, "anna", "Jag bor i Kiruna", t0).await;
    let other = remember(
        store,
        "anna",
        "Mitt personnummer är 19121212-1212",
        t0 + Duration::seconds(1),
    )
    .await;
    remember(store, "bertil", "Bertil bor i Malmö", t0).await;
    let timers = store.timers();
    let pending = timers
        .create(&new_timer("anna", Some(first), t0 + Duration::hours(1)))
        .await
        .unwrap();
    let cancelled = timers
        .create(&NewTimer {
            kind: TimerKind::Reminder,
            label: "ring 19121212-1212",
            message: "Påminnelse: ring 19121212-1212.",
            ..new_timer("anna", None, t0 + Duration::hours(2))
        })
        .await
        .unwrap();
    assert!(timers.cancel("anna", cancelled.id).await.unwrap());
    timers
        .create(&new_timer("bertil", None, t0 + Duration::hours(1)))
        .await
        .unwrap();

    let document = export(store, "anna").await.expect("anna exists");
    assert_eq!(document["format"], "alice-user-export/2");
    assert_eq!(
        document["user"],
        serde_json::json!(store.user("anna").await.unwrap().unwrap())
    );
    let exported = json_ids(&document["conversations"]);
    assert_eq!(exported, BTreeSet::from([first, second]));
    assert!(!exported.contains(&bertils));
    for conversation in document["conversations"].as_array().unwrap() {
        let id = Uuid::parse_str(conversation["id"].as_str().unwrap()).unwrap();
        let stored = store.conversation(id).await.unwrap().unwrap();
        assert_eq!(conversation["title"], serde_json::json!(stored.title));
        let expected: Vec<serde_json::Value> = store
            .messages(id, 0, 100)
            .await
            .unwrap()
            .iter()
            .map(|message| {
                let mut value = serde_json::json!(message);
                value["contains_personal_identity_number"] = serde_json::json!(false);
                value
            })
            .collect();
        assert_eq!(
            conversation["messages"],
            serde_json::json!(expected),
            "every message, in order"
        );
    }
    assert_eq!(document["counts"]["conversations"], 2);
    assert_eq!(document["counts"]["messages"], 6);
    assert_eq!(document["counts"]["memories"], 2);
    assert_eq!(
        json_ids(&document["memories"]),
        BTreeSet::from([memory.id, other.id])
    );
    let flagged: Vec<&serde_json::Value> = document["memories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|memory| memory["contains_personal_identity_number"] == true)
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["id"], serde_json::json!(other.id));
    assert_eq!(
        document["personal_identity_numbers"]["texts"]["memories"],
        1
    );
    assert_eq!(
        document["personal_identity_numbers"]["texts"]["messages"],
        0
    );
    assert_eq!(document["chat_sessions"], serde_json::json!([]));
    assert_eq!(document["agent_executions"], serde_json::json!([]));
    // Her timers, pending and cancelled, and nobody else's.
    assert_eq!(document["counts"]["timers"], 2);
    assert_eq!(
        json_ids(&document["timers"]),
        BTreeSet::from([pending.id, cancelled.id])
    );
    assert_eq!(document["timers"][1]["state"], "cancelled");
    assert_eq!(
        document["timers"][1]["contains_personal_identity_number"],
        true
    );
    assert_eq!(document["personal_identity_numbers"]["texts"]["timers"], 1);

    assert!(export(store, "okänd").await.is_none());
}

async fn check_export_pages_through_more_than_a_page(store: &Store) {
    let page = alice_store::gdpr::PAGE as usize;
    let t0 = now();
    let long = start(store, "anna", "Ett långt samtal", t0).await;
    // More messages in one conversation, and more conversations, than one page holds.
    let turns = page / 2 + 3;
    for n in 1..turns {
        continue_with(
            store,
            long,
            &format!("Fråga {n}"),
            t0 + Duration::seconds(n as i64),
        )
        .await;
    }
    let conversations = page + 7;
    let mut started = BTreeSet::from([long]);
    let batch: Vec<NewTurn> = (1..conversations)
        .map(|n| {
            turn(
                new_conversation("anna"),
                &format!("Samtal {n}"),
                "Svar",
                t0 + Duration::milliseconds(n as i64),
            )
        })
        .collect();
    let recorded =
        futures_util::future::join_all(batch.into_iter().map(|turn| store.record_turn(turn))).await;
    for turn in recorded {
        started.insert(turn.unwrap().conversation_id);
    }

    let document = export(store, "anna").await.unwrap();
    assert_eq!(json_ids(&document["conversations"]), started);
    assert_eq!(document["counts"]["conversations"], conversations as u64);
    let long_one = document["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|conversation| conversation["id"] == serde_json::json!(long))
        .unwrap();
    let seqs: Vec<i64> = long_one["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=(turns as i64 * 2)).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert_eq!(
        document["counts"]["messages"],
        (turns * 2 + (conversations - 1) * 2) as u64
    );
}

async fn check_erasure_leaves_a_tombstone_without_the_name(store: &Store) {
    let t0 = now();
    start(store, "anna", "Hej", t0).await;
    remember(store, "anna", "Jag bor i Kiruna", t0).await;
    let report = store.erase_user("anna", &request()).await.unwrap().unwrap();
    let key = store.erasure_key().await.unwrap();
    let log = store.erasure_log().await.unwrap();
    assert_eq!(log.len(), 1);
    let tombstone = &log[0];
    assert_eq!(tombstone, &report.tombstone);
    assert_eq!(tombstone.subject, key.subject("anna"));
    assert_eq!(tombstone.key_id, key.id());
    assert_eq!(tombstone.erased_by, "test");
    assert_eq!(tombstone.counts.conversations, 1);
    assert_eq!(tombstone.counts.messages, 2);
    assert_eq!(tombstone.counts.memories, 1);
    let text = serde_json::to_string(tombstone).unwrap();
    assert!(!text.contains("anna"), "{text}");

    // Recording a tombstone again changes nothing.
    store.record_tombstone(tombstone).await.unwrap();
    assert_eq!(store.erasure_log().await.unwrap().len(), 1);
    assert_eq!(store.stats().await.unwrap().rows["users"], 0);
}

async fn check_applying_tombstones_erases_again(store: &Store) {
    use alice_store::erasure_log::{self, ErasureLogError};
    let t0 = now();
    start(store, "anna", "Min portkod är 4711", t0).await;
    start(store, "bertil", "Hej", t0).await;
    let key = store.erasure_key().await.unwrap();
    let counts = alice_store::ErasureCounts::default();
    let anna = key.tombstone("anna", "cli", counts.clone());
    let taken_at = anna.erased_at - Duration::seconds(1);

    // A tombstone made with another key cannot be matched: nothing is erased.
    let mut foreign = key.tombstone("bertil", "cli", counts.clone());
    foreign.key_id = "0000000000000000".into();
    let error = erasure_log::apply(store, &[anna.clone(), foreign], taken_at)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ErasureLogError::KeyMismatch { .. }),
        "{error}"
    );
    assert!(store.user("anna").await.unwrap().is_some());

    // One older than the backup is not applied again (its person may have come back since).
    let mut older = key.tombstone("bertil", "cli", counts.clone());
    older.erased_at = taken_at - Duration::days(1);
    let applied = erasure_log::apply(store, &[anna.clone(), older], taken_at)
        .await
        .unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].tombstone, anna.id);
    assert_eq!(applied[0].users, 1);
    assert_eq!(applied[0].erased.messages, 2);
    assert!(store.user("anna").await.unwrap().is_none());
    assert!(store.user("bertil").await.unwrap().is_some());
    let log = store.erasure_log().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0], anna, "the original tombstone, as it was");

    // Held now, so applying it again does nothing.
    assert!(
        erasure_log::apply(store, &[anna], taken_at)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn check_export_and_erase_cover_sessions_and_agent_runs(store: &Store, raw: &Raw) {
    let t0 = now();
    let conversation = start(store, "anna", "Hur blir vädret i Umeå?", t0).await;
    start(store, "bertil", "Hej", t0).await;
    raw.add_chat_session("anna", "tab-1", "webb", t0).await;
    raw.add_chat_session("bertil", "tab-2", "röst", t0).await;
    raw.add_agent_run("anna", "run-1", conversation, t0).await;

    let document = export(store, "anna").await.unwrap();
    let sessions = document["chat_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session["id"], "tab-1");
    assert_eq!(session["client"], "webb");
    assert_eq!(session["started_at"], serde_json::json!(t0));
    assert_eq!(session["last_seen_at"], serde_json::json!(t0));
    assert_eq!(session["ended_at"], serde_json::Value::Null);
    assert_eq!(session["metadata"], serde_json::json!({ "device": "kök" }));
    let runs = document["agent_executions"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["id"], "run-1");
    assert_eq!(run["conversation_id"], serde_json::json!(conversation));
    assert_eq!(run["agent"], "väder");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["input"], "Vädret i Umeå?");
    assert_eq!(run["output"], "Snö.");
    assert_eq!(
        run["finished_at"],
        serde_json::json!(t0 + Duration::seconds(2))
    );
    assert_eq!(run["metadata"], serde_json::json!({}));
    assert_eq!(run["contains_personal_identity_number"], false);
    assert_eq!(document["counts"]["chat_sessions"], 1);
    assert_eq!(document["counts"]["agent_executions"], 1);

    let report = store.erase_user("anna", &request()).await.unwrap().unwrap();
    assert_eq!(report.counts().chat_sessions, 1);
    assert_eq!(report.counts().agent_executions, 1);
    let bertil = export(store, "bertil").await.unwrap();
    assert_eq!(bertil["chat_sessions"].as_array().unwrap().len(), 1);
    let rows = store.stats().await.unwrap().rows;
    assert_eq!(rows["chat_sessions"], 1);
    assert_eq!(rows["agent_executions"], 0);
}

async fn check_erase_removes_the_user_and_nothing_else(store: &Store) {
    let t0 = now();
    let mut cached = turn(new_conversation("anna"), "Vad är klockan?", "Tolv.", t0);
    cached.assistant.cache_key = Some("key-1".into());
    let first = store.record_turn(cached).await.unwrap().conversation_id;
    let mut again = turn(
        ConversationTarget::Existing(first),
        "Vad är klockan?",
        "Tolv.",
        t0 + Duration::minutes(1),
    );
    again.assistant.cache_key = Some("key-1".into());
    store.record_turn(again).await.unwrap();
    let mut other = turn(
        new_conversation("anna"),
        "Hej",
        "Hej!",
        t0 + Duration::minutes(2),
    );
    other.assistant.cache_key = Some("key-2".into());
    let second = store.record_turn(other).await.unwrap().conversation_id;
    remember(store, "anna", "Min hund heter Fido", t0).await;
    remember(store, "anna", "Jag bor i Kiruna", t0).await;

    let mut bertils_turn = turn(new_conversation("bertil"), "Vad är klockan?", "Ett.", t0);
    bertils_turn.assistant.cache_key = Some("key-b".into());
    let bertils = store
        .record_turn(bertils_turn)
        .await
        .unwrap()
        .conversation_id;
    let bertils_memory = remember(store, "bertil", "Bertils hund heter Rex", t0).await;

    let mut report = store
        .erase_user("anna", &request())
        .await
        .unwrap()
        .expect("anna exists");
    report.cache_keys.sort();
    let counts = report.counts();
    assert_eq!(counts.users, 1);
    assert_eq!(counts.conversations, 2);
    assert_eq!(counts.messages, 6);
    assert_eq!(counts.memories, 2);
    assert_eq!(counts.chat_sessions, 0);
    assert_eq!(counts.agent_executions, 0);
    assert_eq!(
        report.cache_keys,
        vec!["key-1", "key-2"],
        "distinct, non-null"
    );

    assert!(store.user("anna").await.unwrap().is_none());
    assert!(store.conversation(first).await.unwrap().is_none());
    assert!(store.conversation(second).await.unwrap().is_none());
    assert!(store.messages(first, 0, 10).await.unwrap().is_empty());
    assert!(store.recent_messages(second, 10).await.unwrap().is_empty());
    assert_eq!(store.count_memories("anna").await.unwrap(), 0);
    assert!(
        store
            .search_memories("anna", "hund", MemoryMatch::Any, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(export(store, "anna").await.is_none());
    assert!(
        store
            .user_conversations("anna", page(0, 10))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.user("bertil").await.unwrap().is_some());
    let kept = store.conversation(bertils).await.unwrap().unwrap();
    assert_eq!(kept.message_count, 2);
    let kept_messages = store.messages(bertils, 0, 10).await.unwrap();
    assert_eq!(kept_messages.len(), 2);
    assert_eq!(kept_messages[1].cache_key.as_deref(), Some("key-b"));
    assert_eq!(
        store.memories("bertil", page(0, 10)).await.unwrap(),
        vec![bertils_memory]
    );
    let rows = store.stats().await.unwrap().rows;
    assert_eq!(rows["users"], 1);
    assert_eq!(rows["conversations"], 1);
    assert_eq!(rows["messages"], 2);
    assert_eq!(rows["memories"], 1);

    assert!(
        store
            .erase_user("anna", &request())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .erase_user("okänd", &request())
            .await
            .unwrap()
            .is_none()
    );
    // The name can be used again, from scratch.
    let fresh = start(store, "anna", "Hej igen", now()).await;
    assert_eq!(
        store.conversation(fresh).await.unwrap().unwrap().username,
        "anna"
    );
    assert_eq!(store.count_memories("anna").await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// The page's conversation search, and feedback on answers.

/// Starts a conversation with one turn of this question and answer; returns its id and the
/// answer's message id.
async fn asked(
    store: &Store,
    username: &str,
    question: &str,
    answer: &str,
    at: DateTime<Utc>,
) -> (Uuid, Uuid) {
    let recorded = store
        .record_turn(turn(new_conversation(username), question, answer, at))
        .await
        .unwrap();
    (recorded.conversation_id, recorded.assistant_message_id)
}

async fn found(store: &Store, username: &str, text: &str) -> Vec<Uuid> {
    store
        .search_conversations(username, text, page(0, 50))
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect()
}

async fn check_conversation_search_finds_title_and_content_case_ignored(store: &Store) {
    let t0 = now();
    let (trip, _) = asked(store, "anna", "Tåget till Åre", "Det går 07.12.", t0).await;
    let (weather, _) = asked(
        store,
        "anna",
        "Hur blir vädret?",
        "Regn i GÖTEBORG, sol i Luleå.",
        t0 + Duration::minutes(1),
    )
    .await;
    continue_with(store, weather, "Och i morgon?", t0 + Duration::minutes(2)).await;
    let (later, _) = asked(
        store,
        "anna",
        "Vad heter Göteborgs hamn?",
        "Skandiahamnen.",
        t0 + Duration::minutes(3),
    )
    .await;
    let (bertils, _) = asked(store, "bertil", "Göteborg eller Åre?", "Båda.", t0).await;

    // The title, and any message of the conversation (the answer, a later question).
    assert_eq!(found(store, "anna", "åre").await, vec![trip]);
    assert_eq!(found(store, "anna", "ÅRE").await, vec![trip]);
    assert_eq!(found(store, "anna", "göteborg").await, vec![later, weather]);
    assert_eq!(found(store, "anna", "i MORGON").await, vec![weather]);
    assert_eq!(found(store, "anna", "07.12").await, vec![trip]);
    assert!(found(store, "anna", "Stockholm").await.is_empty());
    // Another user's conversations are never found.
    assert_eq!(found(store, "bertil", "göteborg").await, vec![bertils]);
    assert!(found(store, "okänd", "göteborg").await.is_empty());
    // Pages, newest activity first.
    let paged = |offset| store.search_conversations("anna", "e", page(offset, 1));
    let first: Vec<Uuid> = paged(0).await.unwrap().iter().map(|c| c.id).collect();
    let second: Vec<Uuid> = paged(1).await.unwrap().iter().map(|c| c.id).collect();
    let third: Vec<Uuid> = paged(2).await.unwrap().iter().map(|c| c.id).collect();
    assert_eq!([first, second, third].concat(), vec![later, weather, trip]);
    assert!(paged(3).await.unwrap().is_empty());
}

async fn check_conversation_search_takes_the_text_literally(store: &Store) {
    let t0 = now();
    let (percent, _) = asked(store, "anna", "Räntan är 4% nu", "Ja, 4 %.", t0).await;
    let (underscore, _) = asked(
        store,
        "anna",
        "Filen heter a_b.txt",
        "Bra namn.",
        t0 + Duration::seconds(1),
    )
    .await;
    let (pattern, _) = asked(
        store,
        "anna",
        "Vad betyder [a-z]* och (x|y)?",
        "Mönster.",
        t0 + Duration::seconds(2),
    )
    .await;
    asked(
        store,
        "anna",
        "Inget särskilt",
        "Axb och xyb.",
        t0 + Duration::seconds(3),
    )
    .await;

    assert_eq!(found(store, "anna", "4%").await, vec![percent]);
    assert_eq!(found(store, "anna", "a_b").await, vec![underscore]);
    assert_eq!(found(store, "anna", "[A-Z]*").await, vec![pattern]);
    assert_eq!(found(store, "anna", "(x|y)?").await, vec![pattern]);
    assert!(found(store, "anna", "a?b").await.is_empty());
    assert_eq!(found(store, "anna", "%").await, vec![percent]);
    assert!(found(store, "anna", "x.b").await.is_empty());
    assert!(found(store, "anna", "\\").await.is_empty());
}

fn feedback(message_id: Uuid, rating: Rating, comment: Option<&str>) -> NewFeedback {
    NewFeedback {
        message_id,
        rating,
        comment: comment.map(str::to_owned),
        at: now(),
    }
}

async fn check_feedback_only_on_the_users_own_answers(store: &Store) {
    let t0 = now();
    let recorded = store
        .record_turn(turn(new_conversation("anna"), "Hej", "Hej Anna!", t0))
        .await
        .unwrap();
    let (bertils, bertils_answer) = asked(store, "bertil", "Hej", "Hej Bertil!", t0).await;

    let owner = store
        .message_owner(recorded.user_message_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.username, "anna");
    assert_eq!(owner.role, Role::User);
    assert_eq!(owner.conversation_id, recorded.conversation_id);
    let owner = store.message_owner(bertils_answer).await.unwrap().unwrap();
    assert_eq!(
        (owner.username.as_str(), owner.role),
        ("bertil", Role::Assistant)
    );
    assert_eq!(owner.conversation_id, bertils);
    assert!(store.message_owner(Uuid::now_v7()).await.unwrap().is_none());

    // A question is not an answer; bertil's answer is not anna's; no message is no answer.
    for (user, message) in [
        ("anna", recorded.user_message_id),
        ("anna", bertils_answer),
        ("bertil", recorded.assistant_message_id),
        ("anna", Uuid::now_v7()),
        ("okänd", recorded.assistant_message_id),
    ] {
        let stored = store
            .put_feedback(user, &feedback(message, Rating::Up, None))
            .await
            .unwrap();
        assert!(stored.is_none(), "{user} on {message}");
        assert!(!store.delete_feedback(user, message).await.unwrap());
    }
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 0);

    let stored = store
        .put_feedback(
            "anna",
            &feedback(
                recorded.assistant_message_id,
                Rating::Down,
                Some("För kort"),
            ),
        )
        .await
        .unwrap()
        .expect("anna's own answer");
    assert_eq!(stored.message_id, recorded.assistant_message_id);
    assert_eq!(stored.conversation_id, recorded.conversation_id);
    assert_eq!(stored.rating, Rating::Down);
    assert_eq!(stored.comment.as_deref(), Some("För kort"));
    // Bertil cannot take anna's feedback away.
    assert!(
        !store
            .delete_feedback("bertil", recorded.assistant_message_id)
            .await
            .unwrap()
    );
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 1);
}

async fn check_feedback_is_replaced_and_deleted(store: &Store) {
    let (_, answer) = asked(store, "anna", "Hej", "Hej!", now()).await;
    let mut first = feedback(answer, Rating::Up, Some("Bra"));
    first.at = now() - Duration::minutes(5);
    let stored = store.put_feedback("anna", &first).await.unwrap().unwrap();
    assert_eq!(stored.created_at, first.at);
    assert_eq!(stored.updated_at, first.at);

    let second = feedback(answer, Rating::Down, None);
    let replaced = store.put_feedback("anna", &second).await.unwrap().unwrap();
    assert_eq!(replaced.rating, Rating::Down);
    assert_eq!(replaced.comment, None, "the comment is replaced too");
    assert_eq!(replaced.created_at, first.at, "first rated then");
    assert_eq!(replaced.updated_at, second.at);
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 1);

    assert!(store.delete_feedback("anna", answer).await.unwrap());
    assert!(!store.delete_feedback("anna", answer).await.unwrap());
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 0);
    // And it can be given again.
    let again = store.put_feedback("anna", &first).await.unwrap().unwrap();
    assert_eq!(again.rating, Rating::Up);
}

async fn check_feedback_beside_a_page_of_messages(store: &Store) {
    let t0 = now();
    let (id, first) = asked(store, "anna", "Ett", "Svar ett", t0).await;
    continue_with(store, id, "Två", t0 + Duration::minutes(1)).await;
    continue_with(store, id, "Tre", t0 + Duration::minutes(2)).await;
    let messages = store.messages(id, 0, 10).await.unwrap();
    assert_eq!(messages[1].id, first);
    let third = messages[5].id;
    store
        .put_feedback("anna", &feedback(third, Rating::Down, None))
        .await
        .unwrap()
        .unwrap();
    store
        .put_feedback("anna", &feedback(first, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();
    let (other, others) = asked(store, "anna", "Annat", "Annat svar", t0).await;
    store
        .put_feedback("anna", &feedback(others, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();

    let all = store.feedback_between(id, 0, 6).await.unwrap();
    let rated: Vec<(Uuid, Rating)> = all.iter().map(|f| (f.message_id, f.rating)).collect();
    assert_eq!(rated, vec![(first, Rating::Up), (third, Rating::Down)]);
    assert!(all.iter().all(|f| f.conversation_id == id));
    // After message 2, up to 4: the middle answer has none.
    assert!(store.feedback_between(id, 2, 4).await.unwrap().is_empty());
    let last = store.feedback_between(id, 4, 6).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].message_id, third);
    assert_eq!(
        store.feedback_between(other, 0, 100).await.unwrap().len(),
        1
    );
}

async fn check_feedback_is_exported_and_erased(store: &Store) {
    let t0 = now();
    let (_, answer) = asked(store, "anna", "Hej", "Hej!", t0).await;
    let (_, other) = asked(store, "anna", "Mer", "Mer!", t0 + Duration::seconds(1)).await;
    let (_, bertils) = asked(store, "bertil", "Hej", "Hej Bertil!", t0).await;
    let up = store
        .put_feedback("anna", &feedback(answer, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();
    let down = store
        .put_feedback(
            "anna",
            &feedback(
                other,
                Rating::Down,
                Some("Mitt personnummer är 19121212-1212"),
            ),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .put_feedback("bertil", &feedback(bertils, Rating::Up, Some("Bertils")))
        .await
        .unwrap()
        .unwrap();

    let document = export(store, "anna").await.unwrap();
    assert_eq!(document["format"], "alice-user-export/2");
    let mut expected_up = serde_json::json!(up);
    expected_up["contains_personal_identity_number"] = serde_json::json!(false);
    let mut expected_down = serde_json::json!(down);
    expected_down["contains_personal_identity_number"] = serde_json::json!(true);
    assert_eq!(
        document["answer_feedback"],
        serde_json::json!([expected_up, expected_down]),
        "anna's feedback only, in the order of the answers"
    );
    assert_eq!(document["answer_feedback"][1]["rating"], "down");
    assert_eq!(document["counts"]["answer_feedback"], 2);
    assert_eq!(
        document["personal_identity_numbers"]["texts"]["answer_feedback"],
        1
    );

    let report = store.erase_user("anna", &request()).await.unwrap().unwrap();
    assert_eq!(report.counts().answer_feedback, 2);
    assert!(store.message_owner(answer).await.unwrap().is_none());
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 1);
    let document = export(store, "bertil").await.unwrap();
    assert_eq!(document["counts"]["answer_feedback"], 1);
    assert_eq!(document["answer_feedback"][0]["comment"], "Bertils");
}

async fn check_feedback_goes_with_its_message(store: &Store) {
    let now = now();
    let (old, answer) = asked(
        store,
        "anna",
        "Gammalt",
        "Gammalt svar",
        now - Duration::days(30),
    )
    .await;
    let (_, kept) = asked(store, "anna", "Nytt", "Nytt svar", now).await;
    for message in [answer, kept] {
        store
            .put_feedback("anna", &feedback(message, Rating::Up, None))
            .await
            .unwrap()
            .unwrap();
    }
    let report = store
        .delete_messages_before(now - Duration::days(7))
        .await
        .unwrap();
    assert_eq!(report.messages, 2);
    assert!(store.conversation(old).await.unwrap().is_none());
    assert_eq!(store.stats().await.unwrap().rows["answer_feedback"], 1);
    let document = export(store, "anna").await.unwrap();
    assert_eq!(
        document["answer_feedback"][0]["message_id"],
        serde_json::json!(kept)
    );
}

// ---------------------------------------------------------------------------------------------
// Experiment outcomes and states.

/// An outcome of experiment `experiment` for `user` at `at`: answered in `latency_ms` when
/// `message` is given, else an error (502).
fn outcome(
    experiment: &str,
    variant: &str,
    user: Option<&str>,
    message: Option<Uuid>,
    at: DateTime<Utc>,
) -> NewOutcome {
    NewOutcome {
        experiment: experiment.into(),
        variant: variant.into(),
        username: user.map(str::to_owned),
        request_id: format!("req-{}", Uuid::new_v4().simple()),
        route: ChatRoute::Native,
        outcome: if message.is_some() {
            OutcomeKind::Answered
        } else {
            OutcomeKind::Error
        },
        status: if message.is_some() { 200 } else { 502 },
        latency_ms: message.map(|_| 840),
        ttft_ms: message.map(|_| 120),
        completion_tokens: message.map(|_| 17),
        message_id: message,
        at,
    }
}

/// Queues outcomes as the server does, and waits until they are written.
async fn recorded(store: &Store, outcomes: Vec<NewOutcome>) {
    for outcome in outcomes {
        assert!(store.record_outcome(outcome), "the queue has room");
    }
    store.flush_outcomes().await;
}

/// What the store should give back for an outcome it was given (without the row number).
fn same_outcome(stored: &StoredOutcome, written: &NewOutcome, rating: Option<Rating>) {
    assert_eq!(stored.experiment, written.experiment);
    assert_eq!(stored.variant, written.variant);
    assert_eq!(stored.request_id, written.request_id);
    assert_eq!(stored.route, written.route);
    assert_eq!(stored.outcome, written.outcome);
    assert_eq!(stored.status, written.status);
    assert_eq!(stored.latency_ms, written.latency_ms);
    assert_eq!(stored.ttft_ms, written.ttft_ms);
    assert_eq!(stored.completion_tokens, written.completion_tokens);
    assert_eq!(stored.message_id, written.message_id);
    assert_eq!(stored.at, written.at);
    assert_eq!(stored.rating, rating);
}

async fn check_outcomes_round_trip_with_their_ratings(store: &Store) {
    let t0 = now();
    let (_, rated) = asked(store, "anna", "Hej", "Hej!", t0).await;
    let (_, unrated) = asked(store, "anna", "Mer", "Mer!", t0).await;
    store
        .put_feedback("anna", &feedback(rated, Rating::Down, Some("För långt")))
        .await
        .unwrap()
        .unwrap();
    let mut shed = outcome("modell", "b", None, None, t0 + Duration::seconds(2));
    shed.outcome = OutcomeKind::Shed;
    shed.status = 429;
    shed.route = ChatRoute::OpenAi;
    let written = vec![
        outcome("modell", "a", Some("anna"), Some(rated), t0),
        outcome(
            "modell",
            "b",
            Some("anna"),
            Some(unrated),
            t0 + Duration::seconds(1),
        ),
        shed,
        outcome(
            "modell",
            "a",
            Some("okänd"),
            None,
            t0 + Duration::seconds(3),
        ),
        outcome("annat", "a", Some("anna"), None, t0),
    ];
    recorded(store, written.clone()).await;

    let all = store.outcomes("modell", None).await.unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    same_outcome(&all[0], &written[0], Some(Rating::Down));
    same_outcome(&all[1], &written[1], None);
    same_outcome(&all[2], &written[2], None);
    same_outcome(&all[3], &written[3], None);
    assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));

    let since = store
        .outcomes("modell", Some(t0 + Duration::seconds(1)))
        .await
        .unwrap();
    let variants: Vec<&str> = since.iter().map(|o| o.variant.as_str()).collect();
    assert_eq!(variants, ["b", "b", "a"]);
    assert_eq!(store.outcomes("annat", None).await.unwrap().len(), 1);
    assert!(store.outcomes("ingen", None).await.unwrap().is_empty());
    // A changed rating is read as it is now.
    store
        .put_feedback("anna", &feedback(rated, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();
    let all = store.outcomes("modell", None).await.unwrap();
    assert_eq!(all[0].rating, Some(Rating::Up));
    assert_eq!(store.stats().await.unwrap().rows["experiment_outcomes"], 5);
    assert_eq!(store.outcome_counters().written.load(Ordering::Relaxed), 5);
}

async fn check_outcomes_are_exported_and_erased(store: &Store) {
    let t0 = now();
    let (_, annas) = asked(store, "anna", "Hej", "Hej!", t0).await;
    let (_, bertils) = asked(store, "bertil", "Hej", "Hej Bertil!", t0).await;
    store
        .put_feedback("anna", &feedback(annas, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();
    let written = vec![
        outcome("modell", "a", Some("anna"), Some(annas), t0),
        outcome("modell", "b", Some("bertil"), Some(bertils), t0),
        outcome("modell", "a", Some("anna"), None, t0 + Duration::seconds(1)),
        outcome("modell", "b", None, None, t0 + Duration::seconds(2)),
    ];
    recorded(store, written.clone()).await;

    let document = export(store, "anna").await.unwrap();
    let exported = document["experiment_outcomes"].as_array().unwrap();
    assert_eq!(exported.len(), 2, "anna's own only: {exported:?}");
    assert_eq!(exported[0]["request_id"], written[0].request_id.as_str());
    assert_eq!(exported[0]["variant"], "a");
    assert_eq!(exported[0]["outcome"], "answered");
    assert_eq!(exported[0]["route"], "native");
    assert_eq!(exported[0]["rating"], "up");
    assert_eq!(exported[0]["latency_ms"], 840);
    assert_eq!(exported[1]["outcome"], "error");
    assert_eq!(exported[1]["status"], 502);
    assert_eq!(document["counts"]["experiment_outcomes"], 2);

    let report = store.erase_user("anna", &request()).await.unwrap().unwrap();
    assert_eq!(report.counts().experiment_outcomes, 2);
    let left = store.outcomes("modell", None).await.unwrap();
    let ids: Vec<&str> = left.iter().map(|o| o.request_id.as_str()).collect();
    assert_eq!(ids, [&written[1].request_id, &written[3].request_id]);
    let document = export(store, "bertil").await.unwrap();
    assert_eq!(document["counts"]["experiment_outcomes"], 1);
}

async fn check_an_outcome_outlives_its_answer(store: &Store) {
    let now = now();
    let old = now - Duration::days(30);
    let (_, answer) = asked(store, "anna", "Gammalt", "Gammalt svar", old).await;
    store
        .put_feedback("anna", &feedback(answer, Rating::Up, None))
        .await
        .unwrap()
        .unwrap();
    recorded(
        store,
        vec![outcome("modell", "a", Some("anna"), Some(answer), old)],
    )
    .await;
    store
        .delete_messages_before(now - Duration::days(7))
        .await
        .unwrap();
    let left = store.outcomes("modell", None).await.unwrap();
    assert_eq!(left.len(), 1, "the measurement stays");
    assert_eq!(left[0].message_id, None);
    assert_eq!(left[0].rating, None);
    assert_eq!(left[0].latency_ms, Some(840));

    // An outcome whose answer is gone before it is written keeps no dangling id.
    recorded(
        store,
        vec![outcome("modell", "b", Some("anna"), Some(answer), now)],
    )
    .await;
    let left = store.outcomes("modell", Some(now)).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].message_id, None);
    assert_eq!(left[0].outcome, OutcomeKind::Answered);
}

async fn check_experiment_states_are_set_and_replaced(store: &Store) {
    assert!(store.experiment_states().await.unwrap().is_empty());
    let before = Utc::now() - Duration::seconds(1);
    store
        .set_experiment_state("modell", RunState::Paused, Some("b: 30 % fel"))
        .await
        .unwrap();
    store
        .set_experiment_state("prompt", RunState::Stopped, None)
        .await
        .unwrap();
    let states = store.experiment_states().await.unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].name, "modell");
    assert_eq!(states[0].state, RunState::Paused);
    assert_eq!(states[0].reason.as_deref(), Some("b: 30 % fel"));
    assert!(states[0].changed_at > before);
    assert_eq!(states[1].state, RunState::Stopped);
    assert_eq!(states[1].reason, None);

    store
        .set_experiment_state("modell", RunState::Running, Some("åter"))
        .await
        .unwrap();
    let states = store.experiment_states().await.unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0].state, RunState::Running);
    assert_eq!(states[0].reason.as_deref(), Some("åter"));
    assert!(states[0].changed_at >= states[1].changed_at);
}

async fn check_a_full_outcome_queue_drops_and_counts(store: &Store) {
    // Far more than the queue holds, offered at once: none waits, some may be dropped, and
    // every one is either written or counted as dropped.
    let offered = alice_store::outcome_writer::QUEUE * 3;
    let t0 = now();
    let mut queued = 0;
    for _ in 0..offered {
        queued += usize::from(store.record_outcome(outcome("last", "a", None, None, t0)));
    }
    store.flush_outcomes().await;
    let counters = store.outcome_counters();
    let written = counters.written.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    assert_eq!(written as usize, queued);
    assert_eq!((written + dropped) as usize, offered);
    assert!(queued >= alice_store::outcome_writer::QUEUE, "{queued}");
    assert_eq!(store.outcomes("last", None).await.unwrap().len(), queued);
}

// ---------------------------------------------------------------------------------------------
// Retention, Guardian samples, stats.

async fn check_retention_deletes_old_messages_and_empty_conversations(store: &Store) {
    let now = now();
    let old = now - Duration::days(30);
    let cutoff = now - Duration::days(7);
    let expired = start(store, "anna", "Gammalt", old).await;
    continue_with(store, expired, "Också gammalt", old + Duration::hours(1)).await;
    let mixed = start(store, "anna", "Gammal början", old).await;
    continue_with(store, mixed, "Ny fortsättning", now).await;
    let fresh = start(store, "bertil", "Nytt", now).await;
    let mut new = NewMemory::new("Något från ett gammalt samtal", old);
    new.source_conversation_id = Some(expired);
    let memory = store
        .add_memory("anna", new, u32::MAX)
        .await
        .unwrap()
        .unwrap();

    let report = store.delete_messages_before(cutoff).await.unwrap();
    assert_eq!(
        report,
        RetentionReport {
            messages: 6,
            conversations: 1
        }
    );
    assert!(store.conversation(expired).await.unwrap().is_none());
    assert!(store.messages(expired, 0, 10).await.unwrap().is_empty());
    let memories = store.memories("anna", page(0, 10)).await.unwrap();
    assert_eq!(ids(&memories), vec![memory.id], "memories are not messages");
    assert_eq!(memories[0].source_conversation_id, None);

    let kept = store.messages(mixed, 0, 10).await.unwrap();
    assert_eq!(contents(&kept), vec!["Ny fortsättning", "Svar."]);
    assert_eq!(
        store
            .conversation(mixed)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2,
        "the count follows the messages left"
    );
    assert_eq!(store.messages(fresh, 0, 10).await.unwrap().len(), 2);
    assert_eq!(
        store
            .conversation(fresh)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        2
    );
    assert_eq!(
        store.delete_messages_before(cutoff).await.unwrap(),
        RetentionReport::default()
    );

    // A conversation that lost its oldest messages goes on, its new messages after the kept.
    store
        .record_turn(turn(
            ConversationTarget::Existing(mixed),
            "Efter gallringen",
            "Svar.",
            now + Duration::minutes(1),
        ))
        .await
        .expect("a conversation that lost its oldest messages takes new turns");
    let after = store.messages(mixed, 0, 10).await.unwrap();
    assert_eq!(
        contents(&after),
        vec!["Ny fortsättning", "Svar.", "Efter gallringen", "Svar."]
    );
    assert!(
        after.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "{:?}",
        seqs(&after)
    );
    assert_eq!(
        store
            .conversation(mixed)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        4
    );
}

async fn check_system_metrics_round_trip(store: &Store) {
    let t0 = now();
    let sample = |minutes_ago: i64, state: &str, ram: Option<f64>| SystemMetricSample {
        recorded_at: t0 - Duration::minutes(minutes_ago),
        guardian_state: state.into(),
        brownout_level: "LIGHT".into(),
        ram_pct: ram,
        cpu_pct: Some(12.25),
        disk_pct: None,
        samples: 60,
    };
    let oldest = sample(3, "NORMAL", Some(41.5));
    let middle = sample(2, "DEGRADED", None);
    let newest = sample(1, "NORMAL", Some(87.125));
    for written in [&newest, &oldest, &middle] {
        store.record_system_metrics(written).await.unwrap();
    }
    assert_eq!(
        store
            .system_metrics(t0 - Duration::minutes(10), 10)
            .await
            .unwrap(),
        vec![oldest.clone(), middle.clone(), newest.clone()],
        "oldest first"
    );
    assert_eq!(
        store
            .system_metrics(t0 - Duration::seconds(150), 10)
            .await
            .unwrap(),
        vec![middle, newest]
    );
    assert_eq!(
        store
            .system_metrics(t0 - Duration::minutes(10), 1)
            .await
            .unwrap(),
        vec![oldest]
    );
    assert!(store.system_metrics(t0, 10).await.unwrap().is_empty());
}

async fn check_stats_count_rows(store: &Store) {
    store.ping().await.unwrap();
    let tables = [
        "users",
        "conversations",
        "messages",
        "memories",
        "chat_sessions",
        "agent_executions",
        "system_metrics",
        "answer_feedback",
        "experiment_outcomes",
        "experiment_states",
    ];
    let empty = store.stats().await.unwrap();
    assert_eq!(empty.engine, store.engine().as_str());
    assert!(empty.schema_version >= 1, "{empty:?}");
    assert_eq!(empty.schema_version, store.schema_version().await.unwrap());
    let names: BTreeSet<&str> = empty.rows.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(tables), "the app's tables only");
    assert!(empty.rows.values().all(|&rows| rows == 0), "{empty:?}");

    let t0 = now();
    let id = start(store, "anna", "Ett", t0).await;
    continue_with(store, id, "Två", t0 + Duration::minutes(1)).await;
    start(store, "bertil", "Hej", t0).await;
    remember(store, "anna", "Jag bor i Visby", t0).await;
    store
        .record_system_metrics(&SystemMetricSample {
            recorded_at: t0,
            guardian_state: "NORMAL".into(),
            brownout_level: "NONE".into(),
            ram_pct: None,
            cpu_pct: None,
            disk_pct: None,
            samples: 1,
        })
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    let rows = |table: &str| stats.rows[table];
    assert_eq!(rows("users"), 2);
    assert_eq!(rows("conversations"), 2);
    assert_eq!(rows("messages"), 6);
    assert_eq!(rows("memories"), 1);
    assert_eq!(rows("system_metrics"), 1);
    assert_eq!(rows("chat_sessions"), 0);
    assert_eq!(rows("agent_executions"), 0);
    if let Some(size) = stats.size_bytes {
        assert!(size > 0, "{stats:?}");
    }
}

async fn check_the_batcher_writes_every_turn_under_concurrency(store: &Store) {
    let t0 = now();
    let shared = start(store, "anna", "Början", t0).await;
    let mut tasks = Vec::new();
    for i in 0..50_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let at = t0 + Duration::seconds(i + 1);
            let target = if i % 2 == 0 {
                ConversationTarget::Existing(shared)
            } else {
                new_conversation(&format!("user{}", i % 5))
            };
            store
                .record_turn(turn(
                    target,
                    &format!("Fråga {i}"),
                    &format!("Svar {i}"),
                    at,
                ))
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let conversation = store.conversation(shared).await.unwrap().unwrap();
    assert_eq!(conversation.message_count, 2 + 2 * 25);
    let messages = store.messages(shared, 0, 1000).await.unwrap();
    assert_eq!(seqs(&messages), (1..=52).collect::<Vec<_>>());
    assert_eq!(contents(&messages[..2]), vec!["Början", "Svar."]);
    for pair in messages.chunks(2) {
        assert_eq!(pair[0].role, Role::User);
        assert_eq!(pair[1].role, Role::Assistant);
        assert_eq!(pair[0].request_id, pair[1].request_id);
    }
    for pair in messages[2..].chunks(2) {
        assert_eq!(
            pair[1].content,
            pair[0].content.replace("Fråga", "Svar"),
            "an answer follows its question"
        );
    }
    let rows = store.stats().await.unwrap().rows;
    assert_eq!(rows["messages"], 2 + 2 * 50);
    assert_eq!(rows["conversations"], 1 + 25);
    assert_eq!(rows["users"], 1 + 5);
    let counters = store.batch_counters();
    assert_eq!(counters.turns.load(Ordering::Relaxed), 51);
    assert_eq!(counters.failed.load(Ordering::Relaxed), 0);
    let batches = counters.batches.load(Ordering::Relaxed);
    assert!((1..=51).contains(&batches), "{batches} batches");
}

async fn check_accounts_keys_and_sessions(store: &Store) {
    let tables = store.identity();
    assert_eq!(tables.count_admins().await.unwrap(), 0);
    // A user known from a chat turn is a plain user without a password.
    start(store, "lisa", "Hej", now()).await;
    let admin = tables
        .create_user("root", Some("Rot"), "admin")
        .await
        .unwrap();
    assert_eq!((admin.role.as_str(), admin.has_password), ("admin", false));
    assert!(matches!(
        tables.create_user("root", None, "user").await,
        Err(alice_store::StoreError::Duplicate(_))
    ));
    assert_eq!(tables.count_admins().await.unwrap(), 1);
    let names: Vec<(String, String)> = tables
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.username, a.role))
        .collect();
    assert_eq!(
        names,
        [
            ("lisa".into(), "user".into()),
            ("root".into(), "admin".into())
        ]
    );

    assert!(
        tables
            .set_password_hash("lisa", "$argon2id$x")
            .await
            .unwrap()
    );
    assert!(
        !tables
            .set_password_hash("nobody", "$argon2id$x")
            .await
            .unwrap()
    );
    let (account, hash) = tables.account_with_password("lisa").await.unwrap().unwrap();
    assert!(account.has_password);
    assert_eq!(hash.as_deref(), Some("$argon2id$x"));

    let expires = (now() + Duration::days(90)).trunc_subsecs(3);
    let key = alice_store::NewApiKey {
        id: "0123456789ab".into(),
        username: "lisa".into(),
        label: "laptop".into(),
        secret_hash: "ab".repeat(32),
        created_at: now().trunc_subsecs(3),
        expires_at: Some(expires),
        limits: alice_store::KeyLimits {
            requests_per_minute: Some(10),
            tokens_per_minute: None,
            max_in_flight: Some(2),
        },
        priority: "batch".into(),
    };
    assert!(tables.create_api_key(&key).await.unwrap());
    let nobodys = alice_store::NewApiKey {
        id: "ffffffffffff".into(),
        username: "nobody".into(),
        ..key.clone()
    };
    assert!(
        !tables.create_api_key(&nobodys).await.unwrap(),
        "no key without its user"
    );
    let stored = tables.api_key("0123456789ab").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.username.as_str(),
            stored.role.as_str(),
            stored.label.as_str()
        ),
        ("lisa", "user", "laptop")
    );
    assert_eq!(stored.secret_hash, key.secret_hash);
    assert_eq!(stored.expires_at, Some(expires));
    assert_eq!(stored.limits, key.limits);
    assert_eq!(stored.priority, "batch");
    assert_eq!(tables.api_keys(Some("lisa")).await.unwrap().len(), 1);
    assert_eq!(tables.api_keys(Some("root")).await.unwrap().len(), 0);
    assert_eq!(tables.api_keys(None).await.unwrap().len(), 1);
    assert!(tables.revoke_api_key("0123456789ab").await.unwrap());
    assert!(
        !tables.revoke_api_key("0123456789ab").await.unwrap(),
        "revoked once"
    );
    assert!(
        tables
            .api_key("0123456789ab")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );

    let later = now() + Duration::hours(1);
    assert!(tables.create_session("s1", "lisa", later).await.unwrap());
    assert!(
        tables
            .create_session("s2", "lisa", now() - Duration::seconds(1))
            .await
            .unwrap()
    );
    assert!(!tables.create_session("s3", "nobody", later).await.unwrap());
    assert_eq!(
        tables.session("s1").await.unwrap().unwrap().username,
        "lisa"
    );
    assert!(
        tables.session("s2").await.unwrap().is_none(),
        "an expired session proves nobody"
    );
    assert_eq!(tables.delete_expired_sessions().await.unwrap(), 1);
    tables.delete_session("s1").await.unwrap();
    assert!(tables.session("s1").await.unwrap().is_none());
}

async fn check_erasure_takes_keys_and_sessions(store: &Store) {
    let tables = store.identity();
    tables.create_user("mia", None, "user").await.unwrap();
    tables.create_user("nils", None, "user").await.unwrap();
    for (id, user) in [("aaaaaaaaaaaa", "mia"), ("bbbbbbbbbbbb", "nils")] {
        let key = alice_store::NewApiKey {
            id: id.into(),
            username: user.into(),
            label: String::new(),
            secret_hash: "cd".repeat(32),
            created_at: now(),
            expires_at: None,
            limits: alice_store::KeyLimits::default(),
            priority: "interactive".into(),
        };
        assert!(tables.create_api_key(&key).await.unwrap());
        assert!(
            tables
                .create_session(&format!("session-{user}"), user, now() + Duration::hours(1))
                .await
                .unwrap()
        );
    }
    store.erase_user("mia", &request()).await.unwrap().unwrap();
    assert!(tables.api_key("aaaaaaaaaaaa").await.unwrap().is_none());
    assert!(tables.session("session-mia").await.unwrap().is_none());
    assert!(
        tables.api_key("bbbbbbbbbbbb").await.unwrap().is_some(),
        "nils keeps his"
    );
    assert!(tables.session("session-nils").await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// Idempotency records.

fn new_claim<'a>(username: &'a str, key: &'a str, fingerprint: &'a str) -> NewClaim<'a> {
    NewClaim {
        username,
        key,
        fingerprint,
        subject: username,
        running_until: now() + Duration::minutes(1),
    }
}

fn claimed(outcome: ClaimOutcome) -> Claim {
    match outcome {
        ClaimOutcome::Claimed(claim) => claim,
        other => panic!("expected a claim, got {other:?}"),
    }
}

fn answer(text: &str) -> StoredAnswer {
    StoredAnswer {
        status: 200,
        content_type: Some("text/event-stream".into()),
        body: text.as_bytes().to_vec(),
    }
}

async fn check_an_idempotency_key_is_claimed_completed_and_replayed(store: &Store) {
    let records = store.idempotency();
    let claim = claimed(
        records
            .claim(&new_claim("olle", "k-1", "fp-a"))
            .await
            .unwrap(),
    );
    assert_eq!((claim.username(), claim.key()), ("olle", "k-1"));
    assert!(
        store.user("olle").await.unwrap().is_some(),
        "a claim creates a user the database did not know"
    );
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-1", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Running
    );
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-1", "fp-b"))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch,
        "a different request under a running key"
    );
    // Another user's key of the same name is another record.
    let pers = claimed(
        records
            .claim(&new_claim("per", "k-1", "fp-b"))
            .await
            .unwrap(),
    );

    let kept = answer("event: done\ndata: {\"svar\": \"Hej då! \u{1F44B}\"}\n\n");
    let until = now() + Duration::hours(24);
    assert!(records.complete(&claim, &kept, until).await.unwrap());
    assert!(
        !records.complete(&claim, &kept, until).await.unwrap(),
        "a completed record is completed once"
    );
    assert!(!records.release(&claim).await.unwrap(), "nor released");
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-1", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Completed(kept.clone())
    );
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-1", "fp-b"))
            .await
            .unwrap(),
        ClaimOutcome::Mismatch,
        "a different request under a completed key"
    );
    let binary = StoredAnswer {
        status: 201,
        content_type: None,
        body: vec![0, 159, 255, 10],
    };
    assert!(records.complete(&pers, &binary, until).await.unwrap());
    assert_eq!(
        records
            .claim(&new_claim("per", "k-1", "fp-b"))
            .await
            .unwrap(),
        ClaimOutcome::Completed(binary)
    );
    assert_eq!(records.delete_expired().await.unwrap(), 0);
}

async fn check_a_released_idempotency_key_runs_again(store: &Store) {
    let records = store.idempotency();
    let first = claimed(
        records
            .claim(&new_claim("olle", "k-2", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(records.release(&first).await.unwrap());
    assert!(!records.release(&first).await.unwrap());
    // Released, the key is free for any request, the same or another.
    let second = claimed(
        records
            .claim(&new_claim("olle", "k-2", "fp-b"))
            .await
            .unwrap(),
    );
    assert_ne!(first, second, "each claim has its own token");
    assert!(
        !records
            .complete(&first, &answer("old"), now() + Duration::hours(1))
            .await
            .unwrap(),
        "a released claim cannot complete the record someone else holds now"
    );
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-2", "fp-b"))
            .await
            .unwrap(),
        ClaimOutcome::Running
    );
}

async fn check_expired_idempotency_records_are_taken_over_and_deleted(store: &Store) {
    let records = store.idempotency();
    // A running claim whose lease has passed was abandoned: a retry takes it over.
    let abandoned = claimed(
        records
            .claim(&NewClaim {
                running_until: now() - Duration::seconds(1),
                ..new_claim("olle", "k-3", "fp-a")
            })
            .await
            .unwrap(),
    );
    let taker = claimed(
        records
            .claim(&new_claim("olle", "k-3", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        !records
            .complete(&abandoned, &answer("late"), now() + Duration::hours(1))
            .await
            .unwrap(),
        "the abandoned request can no longer complete it"
    );
    assert!(
        !records
            .renew(&abandoned, now() + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(!records.release(&abandoned).await.unwrap());
    // A renewed lease holds off a takeover.
    assert!(
        records
            .renew(&taker, now() - Duration::seconds(1))
            .await
            .unwrap()
    );
    let renewed = claimed(
        records
            .claim(&new_claim("olle", "k-3", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        records
            .renew(&renewed, now() + Duration::hours(1))
            .await
            .unwrap()
    );
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-3", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Running
    );

    // A completed answer past its time is not replayed; the key runs again, for any request.
    let old = claimed(
        records
            .claim(&new_claim("olle", "k-4", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        records
            .complete(&old, &answer("old"), now() - Duration::seconds(1))
            .await
            .unwrap()
    );
    claimed(
        records
            .claim(&new_claim("olle", "k-4", "fp-b"))
            .await
            .unwrap(),
    );

    let stale = claimed(
        records
            .claim(&new_claim("olle", "k-5", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        records
            .complete(&stale, &answer("stale"), now() - Duration::seconds(1))
            .await
            .unwrap()
    );
    let live = claimed(
        records
            .claim(&new_claim("olle", "k-6", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        records
            .complete(&live, &answer("live"), now() + Duration::hours(1))
            .await
            .unwrap()
    );
    // k-3 (running) and k-4 (running again) and k-6 live; k-5 expired.
    assert_eq!(records.delete_expired().await.unwrap(), 1);
    assert_eq!(
        records
            .claim(&new_claim("olle", "k-6", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Completed(answer("live"))
    );
    claimed(
        records
            .claim(&new_claim("olle", "k-5", "fp-a"))
            .await
            .unwrap(),
    );
}

async fn check_concurrent_idempotency_claims_have_one_winner(store: &Store) {
    let records = store.idempotency();
    // The user exists first, so every claim races for the record alone.
    claimed(
        records
            .claim(&new_claim("olle", "warm-up", "fp"))
            .await
            .unwrap(),
    );
    let claims = (0..8).map(|_| {
        let records = records.clone();
        tokio::spawn(async move { records.claim(&new_claim("olle", "k-7", "fp-a")).await })
    });
    let mut won = 0;
    for outcome in futures_util::future::join_all(claims).await {
        match outcome.unwrap().unwrap() {
            ClaimOutcome::Claimed(_) => won += 1,
            ClaimOutcome::Running => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(won, 1);
}

/// Claims a key and keeps `text` as its answer for an hour.
async fn answered(records: &alice_store::IdempotencyTables, claim: NewClaim<'_>, text: &str) {
    let held = claimed(records.claim(&claim).await.unwrap());
    let until = now() + Duration::hours(1);
    assert!(records.complete(&held, &answer(text), until).await.unwrap());
}

async fn check_erasure_takes_idempotency_records(store: &Store) {
    let records = store.idempotency();
    answered(&records, new_claim("mia", "k-8", "fp-a"), "Mias svar").await;
    claimed(
        records
            .claim(&new_claim("mia", "k-9", "fp-a"))
            .await
            .unwrap(),
    );
    answered(&records, new_claim("nils", "k-8", "fp-a"), "Nils svar").await;
    // An admin's request for mia holds mia's answer: it goes with her, not with the admin.
    let for_mia = NewClaim {
        subject: "mia",
        ..new_claim("root", "k-8", "fp-a")
    };
    answered(&records, for_mia, "Svar till Mia").await;
    let for_nils = NewClaim {
        subject: "nils",
        ..new_claim("root", "k-9", "fp-a")
    };
    answered(&records, for_nils, "Svar till Nils").await;

    let report = store.erase_user("mia", &request()).await.unwrap().unwrap();
    assert_eq!(report.counts().idempotency_records, 3);
    // Mia's answers are gone: her key runs anew, for a user created afresh.
    claimed(
        records
            .claim(&new_claim("mia", "k-8", "fp-a"))
            .await
            .unwrap(),
    );
    assert!(
        store.user("root").await.unwrap().is_some(),
        "the admin stays"
    );
    claimed(
        records
            .claim(&new_claim("root", "k-8", "fp-a"))
            .await
            .unwrap(),
    );
    assert_eq!(
        records
            .claim(&new_claim("root", "k-9", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Completed(answer("Svar till Nils")),
        "the admin's answer for nils stays"
    );
    assert_eq!(
        records
            .claim(&new_claim("nils", "k-8", "fp-a"))
            .await
            .unwrap(),
        ClaimOutcome::Completed(answer("Nils svar")),
        "nils keeps his"
    );
}

// ---------------------------------------------------------------------------------------------
// Timers and reminders.

fn new_timer<'a>(
    username: &'a str,
    conversation: Option<Uuid>,
    due_at: DateTime<Utc>,
) -> NewTimer<'a> {
    NewTimer {
        username,
        conversation_id: conversation,
        kind: TimerKind::Timer,
        label: "äggen",
        message: "Din timer för äggen har gått ut.",
        created_at: now(),
        due_at,
    }
}

async fn check_a_due_timer_fires_once_into_its_conversation(store: &Store) {
    let timers = store.timers();
    let at = now() - Duration::minutes(10);
    let conversation = start(store, "ada", "Sätt en timer på tio minuter", at).await;
    let set = timers
        .create(&new_timer(
            "ada",
            Some(conversation),
            at + Duration::minutes(10),
        ))
        .await
        .unwrap();
    assert_eq!(set.state, TimerState::Pending);
    assert_eq!(set.username, "ada");
    let later = timers
        .create(&new_timer("ada", None, now() + Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(timers.count_pending("ada").await.unwrap(), 2);

    // Not yet due: nothing fires.
    assert!(timers.fire_due(at, 10, "a").await.unwrap().is_empty());
    let fired = timers.fire_due(now(), 10, "a").await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].timer.id, set.id);
    assert_eq!(fired[0].timer.state, TimerState::Fired);
    let message_id = fired[0].message_id.expect("a message in the conversation");
    // Fired once: a second pass finds nothing.
    assert!(timers.fire_due(now(), 10, "b").await.unwrap().is_empty());

    let messages = store.messages(conversation, 0, 10).await.unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last.id, message_id);
    assert_eq!(last.role, Role::Assistant);
    assert_eq!(last.content, "Din timer för äggen har gått ut.");
    assert_eq!(last.seq, 3, "after the turn's two messages");
    let pending = timers.pending("ada").await.unwrap();
    assert_eq!(pending.iter().map(|t| t.id).collect::<Vec<_>>(), [later.id]);
    // The conversation keeps its next turn in order after the timer's message.
    store
        .record_turn(turn(
            ConversationTarget::Existing(conversation),
            "Tack",
            "Varsågod",
            now(),
        ))
        .await
        .unwrap();
    let seqs: Vec<i64> = store
        .messages(conversation, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

async fn check_concurrent_firing_fires_each_timer_once(store: &Store) {
    let timers = store.timers();
    let due = now() - Duration::seconds(1);
    let conversation = start(store, "bo", "Många timers", due - Duration::minutes(1)).await;
    let mut set = BTreeSet::new();
    for _ in 0..12 {
        set.insert(
            timers
                .create(&new_timer("bo", Some(conversation), due))
                .await
                .unwrap()
                .id,
        );
    }
    // Four "instances" fire at once, a few timers at a time.
    let firing = (0..4).map(|instance| {
        let timers = timers.clone();
        tokio::spawn(async move {
            let mut fired = Vec::new();
            loop {
                let batch = timers
                    .fire_due(now(), 3, &format!("i{instance}"))
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return fired;
                }
                fired.extend(batch.into_iter().map(|f| f.timer.id));
            }
        })
    });
    let mut fired = Vec::new();
    for outcome in futures_util::future::join_all(firing).await {
        fired.extend(outcome.unwrap());
    }
    assert_eq!(fired.len(), 12, "each timer fired exactly once: {fired:?}");
    assert_eq!(fired.into_iter().collect::<BTreeSet<_>>(), set);
    let messages = store.messages(conversation, 0, 100).await.unwrap();
    assert_eq!(messages.len(), 2 + 12);
    let seqs: BTreeSet<i64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), 14, "no message number taken twice");
}

async fn check_timers_are_cancelled_by_their_owner_only(store: &Store) {
    let timers = store.timers();
    let due = now() + Duration::minutes(5);
    let first = timers.create(&new_timer("cia", None, due)).await.unwrap();
    timers.create(&new_timer("cia", None, due)).await.unwrap();
    timers.create(&new_timer("cia", None, due)).await.unwrap();
    assert!(
        !timers.cancel("dan", first.id).await.unwrap(),
        "not dan's timer"
    );
    assert!(timers.cancel("cia", first.id).await.unwrap());
    assert!(
        !timers.cancel("cia", first.id).await.unwrap(),
        "already cancelled"
    );
    assert_eq!(timers.count_pending("cia").await.unwrap(), 2);
    assert_eq!(timers.cancel_all("dan").await.unwrap(), 0);
    assert_eq!(timers.cancel_all("cia").await.unwrap(), 2);
    assert!(timers.pending("cia").await.unwrap().is_empty());
    // Cancelled timers never fire.
    let fired = timers
        .fire_due(due + Duration::minutes(1), 10, "a")
        .await
        .unwrap();
    assert!(fired.is_empty(), "{fired:?}");
}

async fn check_a_timer_in_another_users_conversation_is_refused(store: &Store) {
    let theirs = start(store, "eva", "Hej", now()).await;
    let refused = store
        .timers()
        .create(&new_timer("fia", Some(theirs), now()))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::ConversationNotFound(id) if id == theirs),
        "{refused:?}"
    );
    assert_eq!(store.timers().count_pending("fia").await.unwrap(), 0);
}

async fn check_erasure_takes_timers(store: &Store) {
    let timers = store.timers();
    let due = now() - Duration::seconds(1);
    timers.create(&new_timer("gun", None, due)).await.unwrap();
    let kept = timers.create(&new_timer("hans", None, due)).await.unwrap();
    store.erase_user("gun", &request()).await.unwrap().unwrap();
    let fired = timers.fire_due(now(), 10, "a").await.unwrap();
    assert_eq!(
        fired.iter().map(|f| f.timer.id).collect::<Vec<_>>(),
        [kept.id]
    );
}
