//! The statements of the idempotency records ([`crate::idempotency`]), written once over either
//! engine's pool like [`super::identity_queries`]: `INSERT … ON CONFLICT … DO UPDATE … WHERE`
//! is the same in both, and is what makes a claim one atomic step.

use crate::StoreError;
use crate::engine::identity_queries::RowsAffected;
use crate::engine::rows::StoredRow;
use crate::idempotency::{Claim, ClaimOutcome, NewClaim, StoredAnswer};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

/// A claim's first try: a new record, or a record that has expired taken over. Nothing is
/// written when a live record holds the key (or the user does not exist).
const CLAIM: &str = "INSERT INTO idempotency_records \
         (user_id, idempotency_key, fingerprint, claim_token, subject, state, created_at, \
          expires_at) \
     SELECT id, $2, $3, $4, $7, 'running', $5, $6 FROM users WHERE username = $1 \
     ON CONFLICT (user_id, idempotency_key) DO UPDATE SET \
         fingerprint = excluded.fingerprint, claim_token = excluded.claim_token, \
         subject = excluded.subject, \
         state = 'running', created_at = excluded.created_at, expires_at = excluded.expires_at, \
         status = NULL, content_type = NULL, body = NULL \
     WHERE idempotency_records.expires_at <= excluded.created_at";

/// The record that holds a key, when a claim did not get it.
const HOLDER: &str = "SELECT r.fingerprint, r.state, r.expires_at, r.status, r.content_type, r.body \
     FROM idempotency_records r JOIN users u ON u.id = r.user_id \
     WHERE u.username = $1 AND r.idempotency_key = $2";

/// The condition that a statement touches only the record its claim still holds (`$1` user,
/// `$2` key, `$3` token), as a literal so that statements built with it stay `&'static str`.
macro_rules! held_by_claim {
    () => {
        " WHERE user_id = (SELECT id FROM users WHERE username = $1) \
         AND idempotency_key = $2 AND claim_token = $3 AND state = 'running'"
    };
}

/// A claim meets a changing record at most this often (released, expired or taken over
/// between its two statements) before it gives up.
const CLAIM_ATTEMPTS: usize = 4;

/// The idempotency statements on one engine's pool.
pub(crate) struct IdempotencyQueries<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> IdempotencyQueries<'_, DB>
where
    DB: Database,
    DB::Row: StoredRow,
    DB::QueryResult: RowsAffected,
    usize: ColumnIndex<DB::Row>,
    for<'a> DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'v> &'v str: Encode<'v, DB> + Type<DB>,
    for<'v> Option<&'v str>: Encode<'v, DB> + Type<DB>,
    for<'v> &'v [u8]: Encode<'v, DB> + Type<DB>,
    for<'v> i64: Encode<'v, DB> + Decode<'v, DB> + Type<DB>,
    for<'v> DateTime<Utc>: Encode<'v, DB> + Type<DB>,
{
    pub(crate) async fn claim(
        &self,
        claim: &NewClaim<'_>,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let done = sqlx::query(CLAIM)
                .bind(claim.username)
                .bind(claim.key)
                .bind(claim.fingerprint)
                .bind(token)
                .bind(now)
                .bind(claim.running_until)
                .bind(claim.subject)
                .execute(self.0)
                .await?;
            if done.changed_rows() > 0 {
                return Ok(ClaimOutcome::Claimed(Claim::new(
                    claim.username,
                    claim.key,
                    token,
                )));
            }
            let holder = sqlx::query(HOLDER)
                .bind(claim.username)
                .bind(claim.key)
                .fetch_optional(self.0)
                .await?;
            let Some(row) = holder else {
                // No record, so no user either (or the record was released meanwhile): create
                // the user, as a turn would, and claim again.
                self.create_user(claim.username, now).await?;
                continue;
            };
            let expires_at: DateTime<Utc> = row.get("expires_at")?;
            if expires_at <= now {
                // Taken over, or expired, between the two statements.
                continue;
            }
            let fingerprint: String = row.get("fingerprint")?;
            if fingerprint != claim.fingerprint {
                return Ok(ClaimOutcome::Mismatch);
            }
            let state: String = row.get("state")?;
            return match state.as_str() {
                "running" => Ok(ClaimOutcome::Running),
                "completed" => Ok(ClaimOutcome::Completed(answer_from(&row)?)),
                other => Err(StoreError::Corrupt(format!(
                    "idempotency_records.state is {other:?}"
                ))),
            };
        }
        Err(StoreError::Unavailable(
            "an idempotency record kept changing while it was claimed; retry".to_owned(),
        ))
    }

    async fn create_user(&self, username: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (username, created_at) VALUES ($1, $2) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(now)
        .execute(self.0)
        .await?;
        Ok(())
    }

    pub(crate) async fn complete(
        &self,
        claim: &Claim,
        answer: &StoredAnswer,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(concat!(
            "UPDATE idempotency_records SET state = 'completed', expires_at = $4, status = $5, \
             content_type = $6, body = $7",
            held_by_claim!()
        ))
        .bind(claim.username())
        .bind(claim.key())
        .bind(claim.token())
        .bind(expires_at)
        .bind(i64::from(answer.status))
        .bind(answer.content_type.as_deref())
        .bind(answer.body.as_slice())
        .execute(self.0)
        .await?;
        Ok(done.changed_rows() > 0)
    }

    pub(crate) async fn renew(
        &self,
        claim: &Claim,
        running_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(concat!(
            "UPDATE idempotency_records SET expires_at = $4",
            held_by_claim!()
        ))
        .bind(claim.username())
        .bind(claim.key())
        .bind(claim.token())
        .bind(running_until)
        .execute(self.0)
        .await?;
        Ok(done.changed_rows() > 0)
    }

    pub(crate) async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        let done = sqlx::query(concat!("DELETE FROM idempotency_records", held_by_claim!()))
            .bind(claim.username())
            .bind(claim.key())
            .bind(claim.token())
            .execute(self.0)
            .await?;
        Ok(done.changed_rows() > 0)
    }

    pub(crate) async fn delete_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_records WHERE expires_at <= $1")
            .bind(now)
            .execute(self.0)
            .await?;
        Ok(done.changed_rows())
    }
}

fn answer_from(row: &impl StoredRow) -> Result<StoredAnswer, StoreError> {
    let status: Option<i64> = row.get("status")?;
    let body: Option<Vec<u8>> = row.get("body")?;
    let status = status
        .and_then(|status| u16::try_from(status).ok())
        .ok_or_else(|| {
            StoreError::Corrupt("a completed idempotency record has no status".into())
        })?;
    Ok(StoredAnswer {
        status,
        content_type: row.get("content_type")?,
        body: body.unwrap_or_default(),
    })
}
