//! The PostgreSQL engine: for when several Alice instances share one database. It keeps the
//! same tables as SQLite with native types (UUID, TIMESTAMPTZ, JSONB), searches memories with
//! PostgreSQL's own `swedish` text-search configuration, and can keep its tables in a schema of
//! their own (`database.schema`), so Alice can share a database with other applications.

use crate::StoreError;
use crate::backend::{Engine, StoreBackend};
use crate::model::{
    AgentExecution, ChatSession, Conversation, ConversationTarget, ConversationWithMessages,
    ErasureReport, Memory, MemoryMatch, NewMemory, NewMessage, NewTurn, Page, RecordedTurn,
    RetentionReport, StoreStats, StoredMessage, SystemMetricSample, User, UserData, title_from,
};
use alice_core::config::DatabaseConfig;
use alice_core::{BrownoutLevel, Role};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, PgConnection, Postgres, Row, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Alice's tables, as `stats` reports them.
const TABLES: [&str; 7] = [
    "users",
    "conversations",
    "messages",
    "memories",
    "chat_sessions",
    "agent_executions",
    "system_metrics",
];

/// The message columns every message query reads (`m` is `messages`).
macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.seq, m.role, m.content, m.created_at, m.model_used, \
         m.response_time_ms, m.ttft_ms, m.prompt_tokens, m.completion_tokens, m.request_id, \
         m.cached, m.metadata, m.cache_key"
    };
}

/// The conversation columns every conversation query reads (`c` is `conversations`, `u` its
/// user).
macro_rules! conversation_columns {
    () => {
        "c.id, u.username, c.title, c.kind, c.started_at, c.last_message_at, c.ended_at, \
         c.message_count"
    };
}

/// A pool of connections to Alice's PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects, creates the configured schema when missing (every connection then works in
    /// it, the migrations' bookkeeping table included) and applies pending migrations.
    pub async fn open(config: &DatabaseConfig) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            url: redact_password(&config.url),
            source,
        };
        let mut options = PgConnectOptions::from_str(&config.url).map_err(open_error)?;
        if let Some(schema) = &config.schema {
            create_schema(&options, schema).await.map_err(open_error)?;
            options = options.options([("search_path", quote_identifier(schema))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// `CREATE SCHEMA IF NOT EXISTS` on a connection of its own, before the pool's connections
/// name the schema in their search_path.
async fn create_schema(options: &PgConnectOptions, schema: &str) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect_with(options).await?;
    // The name is quoted as an identifier, so any schema name is taken literally.
    let created = connection
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_identifier(schema)
        )))
        .await;
    connection.close().await?;
    match created {
        Ok(_) => Ok(()),
        // Two instances creating the schema at once: one of them loses the race, and the
        // schema exists all the same.
        Err(sqlx::Error::Database(error))
            if matches!(error.code().as_deref(), Some("42P06" | "23505")) =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// `name` as a PostgreSQL quoted identifier.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL with its password (if any) replaced, for error messages and logs.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[async_trait::async_trait]
impl StoreBackend for PostgresStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    async fn record_turns(
        &self,
        turns: &[NewTurn],
    ) -> Result<Vec<Result<RecordedTurn, StoreError>>, StoreError> {
        if turns.is_empty() {
            return Ok(Vec::new());
        }
        let plan = BatchPlan::of(turns);
        let mut tx = self.pool.begin().await?;
        let user_ids = ensure_users(&mut tx, &plan.new_users).await?;
        insert_conversations(&mut tx, turns, &plan.starts, &user_ids).await?;
        let mut next_seq = advance_conversations(&mut tx, &plan.conversations).await?;
        let mut messages = MessageRows::with_capacity(turns.len() * 2);
        let mut outcomes = Vec::with_capacity(turns.len());
        for (turn, target) in turns.iter().zip(&plan.targets) {
            let id = match target {
                Target::Write(id) => *id,
                Target::Missing(id) => {
                    outcomes.push(Err(StoreError::ConversationNotFound(*id)));
                    continue;
                }
            };
            let Some(seq) = next_seq.get_mut(&id) else {
                outcomes.push(Err(StoreError::ConversationNotFound(id)));
                continue;
            };
            messages.push(id, *seq + 1, Role::User, &turn.user, &turn.request_id);
            messages.push(
                id,
                *seq + 2,
                Role::Assistant,
                &turn.assistant,
                &turn.request_id,
            );
            *seq += 2;
            outcomes.push(Ok(RecordedTurn {
                conversation_id: id,
                user_message_id: turn.user.id,
                assistant_message_id: turn.assistant.id,
            }));
        }
        messages.insert(&mut tx).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN users u ON u.id = c.user_id WHERE c.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| conversation_from(&row))
        .transpose()
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT * FROM (SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2) recent
             ORDER BY seq ASC"
        ))
        .bind(conversation_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from).collect()
    }

    async fn messages(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2
             ORDER BY m.seq ASC LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from).collect()
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query(
            "SELECT username, display_name, language, timezone, preferences, created_at
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| user_from(&row))
        .transpose()
    }

    async fn user_conversations(
        &self,
        username: &str,
        page: Page,
    ) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN users u ON u.id = c.user_id WHERE u.username = $1
             ORDER BY c.last_message_at DESC, c.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(username)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation_from).collect()
    }

    async fn recent_conversations(&self, page: Page) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN users u ON u.id = c.user_id
             ORDER BY c.last_message_at DESC, c.id DESC LIMIT $1 OFFSET $2"
        ))
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(conversation_from).collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let counts = sqlx::query(
            "SELECT (SELECT count(*) FROM users) AS users,
                    (SELECT count(*) FROM conversations) AS conversations,
                    (SELECT count(*) FROM messages) AS messages,
                    (SELECT count(*) FROM memories) AS memories,
                    (SELECT count(*) FROM chat_sessions) AS chat_sessions,
                    (SELECT count(*) FROM agent_executions) AS agent_executions,
                    (SELECT count(*) FROM system_metrics) AS system_metrics",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut rows = BTreeMap::new();
        for table in TABLES {
            rows.insert(table.to_owned(), counts.try_get::<i64, _>(table)?);
        }
        // Alice's tables (with their indexes and TOAST) as the search_path resolves them, so
        // tables of other applications in a shared schema are not counted.
        let tables: Vec<&str> = TABLES
            .iter()
            .copied()
            .chain(std::iter::once("_sqlx_migrations"))
            .collect();
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT sum(pg_total_relation_size(to_regclass(t)))::bigint FROM unnest($1::text[]) t",
        )
        .bind(&tables)
        .fetch_one(&self.pool)
        .await?;
        Ok(StoreStats {
            engine: Engine::Postgres.as_str(),
            schema_version: self.schema_version().await?,
            rows,
            size_bytes: size,
        })
    }

    async fn add_memory(&self, username: &str, memory: NewMemory) -> Result<Memory, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user_ids = ensure_users(&mut tx, &[(username, memory.created_at)]).await?;
        let user_id = user_id_of(&user_ids, username)?;
        let row = sqlx::query(
            "INSERT INTO memories (id, user_id, content, created_at, source_conversation_id)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id, $6::text AS username, content, created_at, source_conversation_id",
        )
        .bind(memory.id)
        .bind(user_id)
        .bind(&memory.content)
        .bind(memory.created_at)
        .bind(memory.source_conversation_id)
        .bind(username)
        .fetch_one(&mut *tx)
        .await?;
        let stored = memory_from(&row)?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn memories(&self, username: &str, page: Page) -> Result<Vec<Memory>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, u.username, m.content, m.created_at, m.source_conversation_id
             FROM memories m JOIN users u ON u.id = m.user_id WHERE u.username = $1
             ORDER BY m.created_at DESC, m.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(username)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn count_memories(&self, username: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memories m JOIN users u ON u.id = m.user_id
             WHERE u.username = $1",
        )
        .bind(username)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn search_memories(
        &self,
        username: &str,
        query: &str,
        matching: MemoryMatch,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError> {
        let Some(tsquery) = tsquery_of(query, matching) else {
            return Ok(Vec::new());
        };
        // A query of stop words only becomes an empty tsquery, which matches nothing
        // (PostgreSQL says so in a NOTICE).
        let rows = sqlx::query(
            "SELECT m.id, u.username, m.content, m.created_at, m.source_conversation_id
             FROM memories m JOIN users u ON u.id = m.user_id,
                  to_tsquery('swedish', $2) q
             WHERE u.username = $1 AND m.search @@ q
             ORDER BY ts_rank(m.search, q) DESC, m.created_at DESC, m.id DESC
             LIMIT $3",
        )
        .bind(username)
        .bind(tsquery)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(memory_from).collect()
    }

    async fn delete_memories(&self, username: &str, ids: &[Uuid]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let deleted = sqlx::query(
            "DELETE FROM memories m USING users u
             WHERE m.user_id = u.id AND u.username = $1 AND m.id = ANY($2)",
        )
        .bind(username)
        .bind(ids)
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected())
    }

    async fn export_user(&self, username: &str) -> Result<Option<UserData>, StoreError> {
        // One snapshot, so the export is consistent while turns keep being written.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let Some(row) = sqlx::query(
            "SELECT id, username, display_name, language, timezone, preferences, created_at
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let user = user_from(&row)?;
        let user_id: i64 = row.try_get("id")?;

        let mut messages: HashMap<Uuid, Vec<StoredMessage>> = HashMap::new();
        let rows = sqlx::query(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE c.user_id = $1 ORDER BY m.conversation_id, m.seq"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let message = message_from(row)?;
            messages
                .entry(message.conversation_id)
                .or_default()
                .push(message);
        }
        let conversations = sqlx::query(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN users u ON u.id = c.user_id WHERE c.user_id = $1
             ORDER BY c.started_at, c.id"
        ))
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let conversation = conversation_from(row)?;
            Ok(ConversationWithMessages {
                messages: messages.remove(&conversation.id).unwrap_or_default(),
                conversation,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

        let memories = sqlx::query(
            "SELECT m.id, u.username, m.content, m.created_at, m.source_conversation_id
             FROM memories m JOIN users u ON u.id = m.user_id WHERE m.user_id = $1
             ORDER BY m.created_at, m.id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(memory_from)
        .collect::<Result<Vec<_>, _>>()?;
        let chat_sessions = sqlx::query(
            "SELECT id, client, started_at, last_seen_at, ended_at, metadata
             FROM chat_sessions WHERE user_id = $1 ORDER BY started_at, id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(session_from)
        .collect::<Result<Vec<_>, _>>()?;
        let agent_executions = sqlx::query(
            "SELECT id, conversation_id, agent, status, input, output, started_at, finished_at,
                    metadata
             FROM agent_executions WHERE user_id = $1 ORDER BY started_at, id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(execution_from)
        .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(Some(UserData {
            user,
            conversations,
            memories,
            chat_sessions,
            agent_executions,
        }))
    }

    async fn erase_user(&self, username: &str) -> Result<Option<ErasureReport>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(user_id) =
            sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE username = $1 FOR UPDATE")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        // Locking the user's conversations makes a turn being written to one of them either
        // finish first (and be counted) or find the conversation gone.
        sqlx::query("SELECT id FROM conversations WHERE user_id = $1 ORDER BY id FOR UPDATE")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let counts = sqlx::query(
            "SELECT (SELECT count(*) FROM conversations WHERE user_id = $1) AS conversations,
                    (SELECT count(*) FROM messages m JOIN conversations c
                         ON c.id = m.conversation_id WHERE c.user_id = $1) AS messages,
                    (SELECT count(*) FROM memories WHERE user_id = $1) AS memories,
                    (SELECT count(*) FROM chat_sessions WHERE user_id = $1) AS chat_sessions,
                    (SELECT count(*) FROM agent_executions
                     WHERE user_id = $1 OR conversation_id IN
                         (SELECT id FROM conversations WHERE user_id = $1)) AS agent_executions",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let cache_keys: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT m.cache_key FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             WHERE c.user_id = $1 AND m.cache_key IS NOT NULL ORDER BY m.cache_key",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        // Everything else goes with the user: ON DELETE CASCADE.
        let users = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let count = |column: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(counts.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        let report = ErasureReport {
            users,
            conversations: count("conversations")?,
            messages: count("messages")?,
            memories: count("memories")?,
            chat_sessions: count("chat_sessions")?,
            agent_executions: count("agent_executions")?,
            cache_keys,
        };
        tx.commit().await?;
        // PostgreSQL keeps deleted rows in its files until they are vacuumed; vacuuming now
        // removes them from the pages at once rather than whenever autovacuum comes by.
        // (VACUUM FULL would rewrite the files, but it locks the tables: that is left to the
        // operator.) The erasure is committed, so a failure here is only worth a warning.
        if let Err(error) = sqlx::raw_sql(
            "VACUUM users, conversations, messages, memories, chat_sessions, agent_executions",
        )
        .execute(&self.pool)
        .await
        {
            tracing::warn!(evt = "erase_vacuum_failed", error = %error);
        }
        Ok(Some(report))
    }

    async fn delete_messages_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "WITH gone AS (DELETE FROM messages WHERE created_at < $1 RETURNING conversation_id)
             SELECT conversation_id, count(*) AS messages FROM gone GROUP BY conversation_id",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        let mut touched = Vec::with_capacity(deleted.len());
        let mut messages = 0_i64;
        for row in &deleted {
            touched.push(row.try_get::<Uuid, _>("conversation_id")?);
            messages += row.try_get::<i64, _>("messages")?;
        }
        if touched.is_empty() {
            tx.commit().await?;
            return Ok(RetentionReport::default());
        }
        // Lock the touched conversations first: a turn being written to one of them then
        // commits before the emptiness check below, which (a statement of its own) sees it.
        sqlx::query("SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&touched)
            .execute(&mut *tx)
            .await?;
        let conversations = sqlx::query(
            "DELETE FROM conversations c WHERE c.id = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)",
        )
        .bind(&touched)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE conversations c
             SET message_count = (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id)
             WHERE c.id = ANY($1)",
        )
        .bind(&touched)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RetentionReport {
            messages: u64::try_from(messages).unwrap_or(0),
            conversations,
        })
    }

    async fn record_system_metrics(&self, sample: &SystemMetricSample) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO system_metrics (recorded_at, guardian_state, brownout_level, ram_pct,
                 cpu_pct, disk_pct, samples)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(sample.recorded_at)
        .bind(&sample.guardian_state)
        .bind(&sample.brownout_level)
        .bind(sample.ram_pct)
        .bind(sample.cpu_pct)
        .bind(sample.disk_pct)
        .bind(sample.samples)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn system_metrics(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SystemMetricSample>, StoreError> {
        let rows = sqlx::query(
            "SELECT recorded_at, guardian_state, brownout_level, ram_pct, cpu_pct, disk_pct,
                    samples
             FROM system_metrics WHERE recorded_at >= $1 ORDER BY recorded_at, id LIMIT $2",
        )
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(metric_from).collect()
    }
}

/// The tsquery text for a memory search: the query's words, lowercase, joined by `|` (any) or
/// `&` (all), for `to_tsquery('swedish', …)` to stem and to drop stop words from. Words are
/// made of letters and digits only, so they cannot carry tsquery operators. None when the
/// query has no word.
fn tsquery_of(query: &str, matching: MemoryMatch) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return None;
    }
    let operator = match matching {
        MemoryMatch::Any => " | ",
        MemoryMatch::All => " & ",
    };
    Some(words.join(operator))
}

/// Where one turn of a batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// This conversation, if it exists once the batch's new conversations are created.
    Write(Uuid),
    /// A conversation that only a later turn of the batch creates: when this turn comes, it
    /// does not exist yet.
    Missing(Uuid),
}

/// What a batch of turns writes, worked out before touching the database so that each
/// statement covers the whole batch.
#[derive(Debug, PartialEq)]
struct BatchPlan<'a> {
    /// Users of the conversations the batch starts, each once, with the time of their first
    /// message in the batch.
    new_users: Vec<(&'a str, DateTime<Utc>)>,
    /// The turns (by index) that start a conversation.
    starts: Vec<usize>,
    /// Each turn's conversation.
    targets: Vec<Target>,
    /// Each conversation written to, once, in order of first appearance.
    conversations: Vec<ConversationWrite>,
}

/// How a batch advances one conversation.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ConversationWrite {
    id: Uuid,
    turns: i64,
    /// The time of the batch's last answer in the conversation.
    last_message_at: DateTime<Utc>,
}

impl<'a> BatchPlan<'a> {
    fn of(turns: &'a [NewTurn]) -> Self {
        let mut plan = Self {
            new_users: Vec::new(),
            starts: Vec::new(),
            targets: Vec::with_capacity(turns.len()),
            conversations: Vec::new(),
        };
        let mut started: HashSet<Uuid> = HashSet::new();
        for (index, turn) in turns.iter().enumerate() {
            let target = match &turn.conversation {
                ConversationTarget::New { id, username } => {
                    if !plan.new_users.iter().any(|(name, _)| name == username) {
                        plan.new_users.push((username, turn.user.created_at));
                    }
                    plan.starts.push(index);
                    started.insert(*id);
                    Target::Write(*id)
                }
                ConversationTarget::Existing(id) => {
                    let started_later = !started.contains(id)
                        && turns[index + 1..].iter().any(|later| {
                            matches!(&later.conversation,
                                ConversationTarget::New { id: new, .. } if new == id)
                        });
                    if started_later {
                        Target::Missing(*id)
                    } else {
                        Target::Write(*id)
                    }
                }
            };
            if let Target::Write(id) = target {
                match plan.conversations.iter_mut().find(|c| c.id == id) {
                    Some(write) => {
                        write.turns += 1;
                        write.last_message_at = turn.assistant.created_at;
                    }
                    None => plan.conversations.push(ConversationWrite {
                        id,
                        turns: 1,
                        last_message_at: turn.assistant.created_at,
                    }),
                }
            }
            plan.targets.push(target);
        }
        plan
    }
}

/// Creates the users that are missing; returns the ids of all of them by name.
async fn ensure_users(
    tx: &mut Transaction<'static, Postgres>,
    users: &[(&str, DateTime<Utc>)],
) -> Result<HashMap<String, i64>, StoreError> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let (names, created): (Vec<&str>, Vec<DateTime<Utc>>) = users.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO users (username, created_at)
         SELECT * FROM unnest($1::text[], $2::timestamptz[])
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(&names)
    .bind(&created)
    .execute(&mut **tx)
    .await?;
    // A statement of its own: it also sees a user another instance created meanwhile.
    let rows = sqlx::query("SELECT username, id FROM users WHERE username = ANY($1)")
        .bind(&names)
        .fetch_all(&mut **tx)
        .await?;
    let mut ids = HashMap::with_capacity(rows.len());
    for row in &rows {
        ids.insert(row.try_get::<String, _>("username")?, row.try_get("id")?);
    }
    Ok(ids)
}

fn user_id_of(user_ids: &HashMap<String, i64>, username: &str) -> Result<i64, StoreError> {
    user_ids
        .get(username)
        .copied()
        .ok_or_else(|| StoreError::Corrupt(format!("user {username:?} vanished while written")))
}

/// Inserts the conversations the batch starts, titled after their first user message.
async fn insert_conversations(
    tx: &mut Transaction<'static, Postgres>,
    turns: &[NewTurn],
    starts: &[usize],
    user_ids: &HashMap<String, i64>,
) -> Result<(), StoreError> {
    if starts.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(starts.len());
    let mut users = Vec::with_capacity(starts.len());
    let mut titles = Vec::with_capacity(starts.len());
    let mut started = Vec::with_capacity(starts.len());
    for turn in starts.iter().filter_map(|&index| turns.get(index)) {
        if let ConversationTarget::New { id, username } = &turn.conversation {
            ids.push(*id);
            users.push(user_id_of(user_ids, username)?);
            titles.push(title_from(&turn.user.content));
            started.push(turn.user.created_at);
        }
    }
    sqlx::query(
        "INSERT INTO conversations (id, user_id, title, started_at, last_message_at)
         SELECT id, user_id, title, started_at, started_at
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[])
             AS t (id, user_id, title, started_at)",
    )
    .bind(&ids)
    .bind(&users)
    .bind(&titles)
    .bind(&started)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts the batch's messages into the conversations that exist (locking them until the
/// commit) and returns, for each of those, the highest message number before the batch: the
/// batch numbers its messages on from there. A conversation missing from the result does not
/// exist.
///
/// The numbers continue from the highest one rather than from `message_count`, because
/// retention deletes a conversation's oldest messages and lowers its count: numbering from the
/// count would then reuse numbers still taken and put new messages before old ones.
async fn advance_conversations(
    tx: &mut Transaction<'static, Postgres>,
    conversations: &[ConversationWrite],
) -> Result<HashMap<Uuid, i64>, StoreError> {
    if conversations.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = conversations.iter().map(|c| c.id).collect();
    let turns: Vec<i64> = conversations.iter().map(|c| c.turns).collect();
    let last: Vec<DateTime<Utc>> = conversations.iter().map(|c| c.last_message_at).collect();
    let updated: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE conversations c
         SET message_count = c.message_count + 2 * b.turns, last_message_at = b.last_at
         FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS b (id, turns, last_at)
         WHERE c.id = b.id
         RETURNING c.id",
    )
    .bind(&ids)
    .bind(&turns)
    .bind(&last)
    .fetch_all(&mut **tx)
    .await?;
    let mut next_seq: HashMap<Uuid, i64> = updated.into_iter().map(|id| (id, 0)).collect();
    if next_seq.is_empty() {
        return Ok(next_seq);
    }
    // A statement of its own, after the rows are locked: it sees the messages of a batch that
    // wrote to the same conversations and committed while this one waited for the lock.
    let found: Vec<Uuid> = next_seq.keys().copied().collect();
    let rows = sqlx::query(
        "SELECT conversation_id, max(seq) AS seq FROM messages
         WHERE conversation_id = ANY($1) GROUP BY conversation_id",
    )
    .bind(&found)
    .fetch_all(&mut **tx)
    .await?;
    for row in &rows {
        let id: Uuid = row.try_get("conversation_id")?;
        let seq: i64 = row.try_get("seq")?;
        next_seq.insert(id, seq);
    }
    Ok(next_seq)
}

/// The messages of a batch, column by column, for one `INSERT … SELECT FROM unnest(…)`.
#[derive(Default)]
struct MessageRows {
    id: Vec<Uuid>,
    conversation_id: Vec<Uuid>,
    seq: Vec<i64>,
    role: Vec<&'static str>,
    content: Vec<String>,
    created_at: Vec<DateTime<Utc>>,
    model_used: Vec<Option<String>>,
    response_time_ms: Vec<Option<i64>>,
    ttft_ms: Vec<Option<i64>>,
    prompt_tokens: Vec<Option<i64>>,
    completion_tokens: Vec<Option<i64>>,
    request_id: Vec<String>,
    cached: Vec<bool>,
    metadata: Vec<serde_json::Value>,
    cache_key: Vec<Option<String>>,
}

impl MessageRows {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            id: Vec::with_capacity(capacity),
            conversation_id: Vec::with_capacity(capacity),
            seq: Vec::with_capacity(capacity),
            role: Vec::with_capacity(capacity),
            content: Vec::with_capacity(capacity),
            created_at: Vec::with_capacity(capacity),
            model_used: Vec::with_capacity(capacity),
            response_time_ms: Vec::with_capacity(capacity),
            ttft_ms: Vec::with_capacity(capacity),
            prompt_tokens: Vec::with_capacity(capacity),
            completion_tokens: Vec::with_capacity(capacity),
            request_id: Vec::with_capacity(capacity),
            cached: Vec::with_capacity(capacity),
            metadata: Vec::with_capacity(capacity),
            cache_key: Vec::with_capacity(capacity),
        }
    }

    fn push(
        &mut self,
        conversation_id: Uuid,
        seq: i64,
        role: Role,
        message: &NewMessage,
        request_id: &str,
    ) {
        self.id.push(message.id);
        self.conversation_id.push(conversation_id);
        self.seq.push(seq);
        self.role.push(role.as_str());
        self.content.push(message.content.clone());
        self.created_at.push(message.created_at);
        self.model_used.push(message.model_used.clone());
        self.response_time_ms.push(message.response_time_ms);
        self.ttft_ms.push(message.ttft_ms);
        self.prompt_tokens.push(message.prompt_tokens);
        self.completion_tokens.push(message.completion_tokens);
        self.request_id.push(request_id.to_owned());
        self.cached.push(message.cached);
        self.metadata.push(Metadata::json(message.brownout_level));
        self.cache_key.push(message.cache_key.clone());
    }

    async fn insert(self, tx: &mut Transaction<'static, Postgres>) -> Result<(), StoreError> {
        if self.id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, role, content, created_at,
                 model_used, response_time_ms, ttft_ms, prompt_tokens, completion_tokens,
                 request_id, cached, metadata, cache_key)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                 $6::timestamptz[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[],
                 $11::bigint[], $12::text[], $13::boolean[], $14::jsonb[], $15::text[])",
        )
        .bind(&self.id)
        .bind(&self.conversation_id)
        .bind(&self.seq)
        .bind(&self.role)
        .bind(&self.content)
        .bind(&self.created_at)
        .bind(&self.model_used)
        .bind(&self.response_time_ms)
        .bind(&self.ttft_ms)
        .bind(&self.prompt_tokens)
        .bind(&self.completion_tokens)
        .bind(&self.request_id)
        .bind(&self.cached)
        .bind(&self.metadata)
        .bind(&self.cache_key)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// What a message keeps in its `metadata` column: the same JSON as SQLite's.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    brownout_level: Option<BrownoutLevel>,
}

impl Metadata {
    fn json(brownout_level: Option<BrownoutLevel>) -> serde_json::Value {
        serde_json::json!(Metadata { brownout_level })
    }
}

fn conversation_from(row: &PgRow) -> Result<Conversation, StoreError> {
    Ok(Conversation {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        title: row.try_get("title")?,
        kind: row.try_get("kind")?,
        started_at: row.try_get("started_at")?,
        last_message_at: row.try_get("last_message_at")?,
        ended_at: row.try_get("ended_at")?,
        message_count: row.try_get("message_count")?,
    })
}

fn message_from(row: &PgRow) -> Result<StoredMessage, StoreError> {
    let role: String = row.try_get("role")?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    // Metadata written by a newer Alice may hold more; unknown keys are ignored.
    let metadata: Metadata = serde_json::from_value(metadata.clone())
        .map_err(|e| StoreError::Corrupt(format!("metadata {metadata}: {e}")))?;
    Ok(StoredMessage {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        seq: row.try_get("seq")?,
        role: role
            .parse()
            .map_err(|e: alice_core::chat::UnknownRole| StoreError::Corrupt(e.to_string()))?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
        model_used: row.try_get("model_used")?,
        response_time_ms: row.try_get("response_time_ms")?,
        ttft_ms: row.try_get("ttft_ms")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        request_id: row.try_get("request_id")?,
        cached: row.try_get("cached")?,
        brownout_level: metadata.brownout_level,
        cache_key: row.try_get("cache_key")?,
    })
}

fn user_from(row: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        language: row.try_get("language")?,
        timezone: row.try_get("timezone")?,
        preferences: row.try_get("preferences")?,
        created_at: row.try_get("created_at")?,
    })
}

fn memory_from(row: &PgRow) -> Result<Memory, StoreError> {
    Ok(Memory {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        content: row.try_get("content")?,
        created_at: row.try_get("created_at")?,
        source_conversation_id: row.try_get("source_conversation_id")?,
    })
}

fn session_from(row: &PgRow) -> Result<ChatSession, StoreError> {
    Ok(ChatSession {
        id: row.try_get("id")?,
        client: row.try_get("client")?,
        started_at: row.try_get("started_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        ended_at: row.try_get("ended_at")?,
        metadata: row.try_get("metadata")?,
    })
}

fn execution_from(row: &PgRow) -> Result<AgentExecution, StoreError> {
    Ok(AgentExecution {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        agent: row.try_get("agent")?,
        status: row.try_get("status")?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        metadata: row.try_get("metadata")?,
    })
}

fn metric_from(row: &PgRow) -> Result<SystemMetricSample, StoreError> {
    Ok(SystemMetricSample {
        recorded_at: row.try_get("recorded_at")?,
        guardian_state: row.try_get("guardian_state")?,
        brownout_level: row.try_get("brownout_level")?,
        ram_pct: row.try_get("ram_pct")?,
        cpu_pct: row.try_get("cpu_pct")?,
        disk_pct: row.try_get("disk_pct")?,
        samples: row.try_get("samples")?,
    })
}

#[cfg(test)]
mod tests {
    use super::{BatchPlan, Target, redact_password, tsquery_of};
    use crate::model::{ConversationTarget, MemoryMatch, NewMessage, NewTurn};
    use chrono::{Duration, TimeZone, Utc};
    use uuid::Uuid;

    fn turn(conversation: ConversationTarget, minute: i64) -> NewTurn {
        let at = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default()
            + Duration::minutes(minute);
        NewTurn {
            conversation,
            request_id: format!("req-{minute}"),
            user: NewMessage::new("Hej", at),
            assistant: NewMessage::new("Hej!", at + Duration::seconds(1)),
        }
    }

    #[test]
    fn tsquery_joins_plain_lowercase_words() {
        assert_eq!(
            tsquery_of("Vad heter HUNDEN? Hunden!", MemoryMatch::Any).as_deref(),
            Some("vad | heter | hunden")
        );
        assert_eq!(
            tsquery_of("glöm 'jordgubbar' & (allt) | !x:*", MemoryMatch::All).as_deref(),
            Some("glöm & jordgubbar & allt & x")
        );
        assert_eq!(tsquery_of(" ?! -- ", MemoryMatch::Any), None);
    }

    #[test]
    fn a_batch_groups_turns_by_conversation_in_order() {
        let existing = Uuid::now_v7();
        let new = Uuid::now_v7();
        let turns = [
            turn(ConversationTarget::Existing(existing), 1),
            turn(
                ConversationTarget::New {
                    id: new,
                    username: "anna".into(),
                },
                2,
            ),
            turn(ConversationTarget::Existing(new), 3),
            turn(ConversationTarget::Existing(existing), 4),
        ];
        let plan = BatchPlan::of(&turns);
        assert_eq!(plan.new_users, vec![("anna", turns[1].user.created_at)]);
        assert_eq!(plan.starts, vec![1]);
        assert_eq!(
            plan.targets,
            vec![
                Target::Write(existing),
                Target::Write(new),
                Target::Write(new),
                Target::Write(existing)
            ]
        );
        let counts: Vec<(Uuid, i64)> = plan.conversations.iter().map(|c| (c.id, c.turns)).collect();
        assert_eq!(counts, vec![(existing, 2), (new, 2)]);
        assert_eq!(
            plan.conversations[0].last_message_at,
            turns[3].assistant.created_at
        );
    }

    #[test]
    fn a_conversation_started_later_in_the_batch_is_missing_before() {
        let id = Uuid::now_v7();
        let turns = [
            turn(ConversationTarget::Existing(id), 1),
            turn(
                ConversationTarget::New {
                    id,
                    username: "anna".into(),
                },
                2,
            ),
        ];
        let plan = BatchPlan::of(&turns);
        assert_eq!(plan.targets, vec![Target::Missing(id), Target::Write(id)]);
        assert_eq!(plan.conversations.len(), 1);
        assert_eq!(plan.conversations[0].turns, 1);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://alice:hemligt@db:5432/alice?sslmode=require"),
            "postgres://alice:***@db:5432/alice?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://alice@db/alice"),
            "postgres://alice@db/alice"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }
}
