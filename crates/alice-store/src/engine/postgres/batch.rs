//! Writing a batch of turns to PostgreSQL in a handful of statements, whatever the batch's
//! size: the batch is planned first ([`BatchPlan`]), then its users, conversations and
//! messages are each written by one statement over arrays (`unnest`).

use crate::StoreError;
use crate::engine::rows::Metadata;
use crate::model::{ConversationTarget, NewMessage, NewTurn, RecordedTurn, title_from};
use alice_core::Role;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Row, Transaction};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Counts `$2` turns in each conversation of `$1`, stamped `$3`; returns the ids that exist.
pub(super) const TOUCH_CONVERSATIONS: &str = "UPDATE conversations c \
     SET message_count = c.message_count + 2 * b.turns, last_message_at = b.last_at \
     FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS b (id, turns, last_at) \
     WHERE c.id = b.id \
     RETURNING c.id";

/// The number of the newest message of each conversation of `$1` that has any.
pub(super) const LAST_SEQS: &str = "SELECT conversation_id, max(seq) AS seq FROM messages \
     WHERE conversation_id = ANY($1) GROUP BY conversation_id";

/// Writes turns in one transaction; see [`crate::StoreBackend::record_turns`].
pub(super) async fn record_turns(
    pool: &PgPool,
    turns: &[NewTurn],
) -> Result<Vec<Result<RecordedTurn, StoreError>>, StoreError> {
    if turns.is_empty() {
        return Ok(Vec::new());
    }
    let plan = BatchPlan::of(turns);
    let mut tx = pool.begin().await?;
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
pub(super) async fn ensure_users(
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

pub(super) fn user_id_of(
    user_ids: &HashMap<String, i64>,
    username: &str,
) -> Result<i64, StoreError> {
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
    let updated: Vec<Uuid> = sqlx::query_scalar(TOUCH_CONVERSATIONS)
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
    let rows = sqlx::query(LAST_SEQS)
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
        self.metadata.push(Metadata::of(message));
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

#[cfg(test)]
mod tests {
    use super::{BatchPlan, Target};
    use crate::model::{ConversationTarget, NewMessage, NewTurn};
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
}
