//! The statements both engines run word for word, written once with PostgreSQL's `$1, $2, …`
//! placeholders. SQLite takes `$N` as well, and sqlx's SQLite driver binds each `$N` to the
//! N-th bound value, wherever and however often it appears (the test below holds it to that),
//! so one text serves both engines. What differs between them (full-text search, batched
//! inserts, locking, pragmas, how a user's data is gathered and erased) stays in each engine,
//! written with `$N` placeholders too, so every statement in the crate reads the same way.

/// The message columns every message query reads (`m` is `messages`), as a literal so that
/// queries built with it stay `&'static str`.
macro_rules! message_columns {
    () => {
        "m.id, m.conversation_id, m.seq, m.role, m.content, m.created_at, m.model_used, \
         m.response_time_ms, m.ttft_ms, m.prompt_tokens, m.completion_tokens, m.request_id, \
         m.cached, m.metadata, m.cache_key"
    };
}

/// The conversation columns with the user's name (`c` is `conversations`, `u` its user), up to
/// where a query's `WHERE` or `ORDER BY` goes.
macro_rules! conversation_query {
    () => {
        "SELECT c.id, u.username, c.title, c.kind, c.started_at, c.last_message_at, c.ended_at, \
         c.message_count \
         FROM conversations c JOIN users u ON u.id = c.user_id "
    };
}

/// The memory columns with the user's name (`m` is `memories`, `u` its user), up to where a
/// query's `WHERE` or further `JOIN` goes.
macro_rules! memory_query {
    () => {
        "SELECT m.id, u.username, m.content, m.created_at, m.source_conversation_id \
         FROM memories m JOIN users u ON u.id = m.user_id "
    };
}

/// The feedback columns with the answer's conversation (`f` is `answer_feedback`, `m` its
/// message), up to where a query's `WHERE` goes.
macro_rules! feedback_query {
    () => {
        "SELECT f.message_id, m.conversation_id, f.rating, f.comment, f.created_at, f.updated_at \
         FROM answer_feedback f JOIN messages m ON m.id = f.message_id "
    };
}

pub(crate) use {conversation_query, memory_query};

/// Alice's tables, as `stats` reports them.
pub(crate) const TABLES: [&str; 10] = [
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

/// Whether the database answers at all.
pub(crate) const PING: &str = "SELECT 1";

/// One conversation by id.
pub(crate) const CONVERSATION: &str = concat!(conversation_query!(), "WHERE c.id = $1");

/// A page of a user's conversations, the most recently active first.
pub(crate) const USER_CONVERSATIONS: &str = concat!(
    conversation_query!(),
    "WHERE u.username = $1 ORDER BY c.last_message_at DESC, c.id DESC LIMIT $2 OFFSET $3"
);

/// A page of all users' conversations, the most recently active first.
pub(crate) const RECENT_CONVERSATIONS: &str = concat!(
    conversation_query!(),
    "ORDER BY c.last_message_at DESC, c.id DESC LIMIT $1 OFFSET $2"
);

/// The last `$2` messages of conversation `$1`, oldest first.
pub(crate) const RECENT_MESSAGES: &str = concat!(
    "SELECT * FROM (SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2) recent \
     ORDER BY seq ASC"
);

/// At most `$3` messages of conversation `$1` after message number `$2`, in order.
pub(crate) const MESSAGES_AFTER: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
);

/// Whose message `$1` is: its conversation, the conversation's owner and the message's role
/// (and its metadata, which names an answer's experiment).
pub(crate) const MESSAGE_OWNER: &str = "SELECT m.conversation_id, u.username, m.role, m.metadata \
     FROM messages m JOIN conversations c ON c.id = m.conversation_id \
     JOIN users u ON u.id = c.user_id WHERE m.id = $1";

/// Stores feedback `$3` (rating), `$4` (comment) at `$5` on message `$1`, but only when it is an
/// answer in a conversation of user `$2` (by name); replaces the feedback the answer had, whose
/// `created_at` stays. Checking and writing in one statement means an answer erased or deleted
/// meanwhile is simply not found. Returns the message id when stored (either engine's
/// `RETURNING`, so the caller needs no engine's own count of affected rows).
pub(crate) const PUT_FEEDBACK: &str = "INSERT INTO answer_feedback \
         (message_id, user_id, rating, comment, created_at, updated_at) \
     SELECT m.id, c.user_id, $3, $4, $5, $5 \
     FROM messages m JOIN conversations c ON c.id = m.conversation_id \
     JOIN users u ON u.id = c.user_id \
     WHERE m.id = $1 AND m.role = 'assistant' AND u.username = $2 \
     ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating, \
         comment = excluded.comment, updated_at = excluded.updated_at \
     RETURNING message_id";

/// The feedback on message `$1`.
pub(crate) const FEEDBACK_OF: &str = concat!(feedback_query!(), "WHERE f.message_id = $1");

/// Deletes user `$2`'s (by name) feedback on message `$1`; returns the message id if there was
/// any.
pub(crate) const DELETE_FEEDBACK: &str = "DELETE FROM answer_feedback \
     WHERE message_id = $1 AND user_id = (SELECT id FROM users WHERE username = $2) \
     RETURNING message_id";

/// The feedback on the messages of conversation `$1` numbered after `$2` up to `$3`, in order:
/// the ratings beside a page of messages.
pub(crate) const FEEDBACK_BETWEEN: &str = concat!(
    feedback_query!(),
    "WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq"
);

/// A user's profile (and row id) by name.
pub(crate) const USER: &str = "SELECT id, username, display_name, language, timezone, preferences, created_at \
     FROM users WHERE username = $1";

/// The database's erasure key (made by a migration), as hex.
pub(crate) const ERASURE_KEY: &str = "SELECT key_hex FROM erasure_key WHERE id = 1";

/// Records a tombstone unless the log holds it already.
pub(crate) const RECORD_TOMBSTONE: &str = "INSERT INTO erasures \
     (id, subject, key_id, erased_at, erased_by, counts) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (id) DO NOTHING";

/// The whole erasure log, oldest first.
pub(crate) const ERASURE_LOG: &str = "SELECT id, subject, key_id, erased_at, erased_by, counts \
     FROM erasures ORDER BY erased_at, id";

/// A user's row id by name.
pub(crate) const USER_ID: &str = "SELECT id FROM users WHERE username = $1";

/// How many memories a user has.
pub(crate) const COUNT_MEMORIES: &str =
    "SELECT count(*) FROM memories m JOIN users u ON u.id = m.user_id WHERE u.username = $1";

/// Deletes a user by row id; everything that names them goes with them (ON DELETE CASCADE).
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

/// Deletes the idempotency records whose answer is the turn of user `$1` (by name), whoever
/// asked for it; the user's own records go with the user (ON DELETE CASCADE).
pub(crate) const DELETE_IDEMPOTENCY_RECORDS_ABOUT: &str =
    "DELETE FROM idempotency_records WHERE subject = $1";

/// Writes one downsampled Guardian sample.
pub(crate) const INSERT_SYSTEM_METRIC: &str = "INSERT INTO system_metrics (recorded_at, guardian_state, brownout_level, ram_pct, cpu_pct, \
         disk_pct, samples) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// At most `$2` Guardian samples since `$1`, oldest first.
pub(crate) const SYSTEM_METRICS: &str = "SELECT recorded_at, guardian_state, brownout_level, ram_pct, cpu_pct, disk_pct, samples \
     FROM system_metrics WHERE recorded_at >= $1 ORDER BY recorded_at, id LIMIT $2";

/// Writes one experiment outcome. `$3` names the user, whose row id it keeps, and `$11` the
/// answer: each is NULL when the database does not hold it (an unknown name, or a user or
/// answer erased while the outcome waited to be written), so a late outcome never fails on a
/// foreign key and never names someone erased.
pub(crate) const RECORD_OUTCOME: &str = "INSERT INTO experiment_outcomes \
         (experiment, variant, user_id, request_id, route, outcome, status, latency_ms, ttft_ms, \
          completion_tokens, message_id, at) \
     VALUES ($1, $2, (SELECT id FROM users WHERE username = $3), $4, $5, $6, $7, $8, $9, $10, \
         (SELECT id FROM messages WHERE id = $11), $12)";

/// The outcome columns with the answer's rating (`o` is `experiment_outcomes`, `f` the answer's
/// feedback), up to where a query's `WHERE` goes.
macro_rules! outcome_query {
    () => {
        "SELECT o.id, o.experiment, o.variant, o.request_id, o.route, o.outcome, o.status, \
         o.latency_ms, o.ttft_ms, o.completion_tokens, o.message_id, o.at, f.rating \
         FROM experiment_outcomes o LEFT JOIN answer_feedback f ON f.message_id = o.message_id "
    };
}

pub(crate) use outcome_query;

/// Every outcome of experiment `$1`, in the order written, through
/// `experiment_outcomes_by_time`.
pub(crate) const OUTCOMES: &str = concat!(
    outcome_query!(),
    "WHERE o.experiment = $1 ORDER BY o.at, o.id"
);

/// The outcomes of experiment `$1` at or after `$2`, in the order written.
pub(crate) const OUTCOMES_SINCE: &str = concat!(
    outcome_query!(),
    "WHERE o.experiment = $1 AND o.at >= $2 ORDER BY o.at, o.id"
);

/// Sets experiment `$1`'s state to `$2` with reason `$3` at `$4`.
pub(crate) const SET_EXPERIMENT_STATE: &str = "INSERT INTO experiment_states \
         (name, state, reason, changed_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, \
         changed_at = excluded.changed_at";

/// Every experiment state set, by name.
pub(crate) const EXPERIMENT_STATES: &str =
    "SELECT name, state, reason, changed_at FROM experiment_states ORDER BY name";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    #[tokio::test]
    async fn sqlite_binds_dollar_placeholders_by_their_number() {
        let pool = SqlitePoolOptions::new()
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let text: String = sqlx::query_scalar("SELECT $2 || '-' || $1 || '-' || $2")
            .bind("one")
            .bind("two")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(text, "two-one-two");
    }
}
