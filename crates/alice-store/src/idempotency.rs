//! The idempotency records: what lets a client retry a chat request (with the same
//! `Idempotency-Key`) and get the first answer back instead of a second turn. The store keeps one
//! record per user and key and knows nothing of HTTP: a record is claimed by a request,
//! completed with the answer's bytes, or released so that a retry runs again.
//!
//! A record past its `expires_at` counts as gone: a claim may take it over, and
//! [`IdempotencyTables::delete_expired`] deletes it. A running record's `expires_at` is its
//! lease (how long its request may take before it counts as abandoned); a completed record's is
//! when its answer may no longer be replayed.
//!
//! [`IdempotencyTables`] runs the same statements on either engine (see
//! `engine::idempotency_queries`), as [`crate::identity::IdentityTables`] does.

use crate::StoreError;
use crate::engine::idempotency_queries::IdempotencyQueries;
use crate::engine::{EnginePool, on_engine};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

/// A request asking to be the one that answers `key` for `username`.
#[derive(Clone, Debug)]
pub struct NewClaim<'a> {
    pub username: &'a str,
    pub key: &'a str,
    /// What the request is (route and body, hashed), so a different request under the same key
    /// is told apart from a retry.
    pub fingerprint: &'a str,
    /// Whose turn the answer is: the caller, or the user an admin acts for. Erasing either
    /// user erases the record, since it holds the answer's text.
    pub subject: &'a str,
    /// Until when the claim holds if it is neither completed, released nor renewed.
    pub running_until: DateTime<Utc>,
}

/// A claim held by one request: the only one that may complete, renew or release its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    username: String,
    key: String,
    /// Random, per claim: a request that took over an abandoned record holds a new one, so the
    /// abandoned request can no longer touch it.
    token: String,
}

impl Claim {
    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// An answer kept for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// No live record had the key: the request holds it now, and answers.
    Claimed(Claim),
    /// The same request is being answered (by another connection or instance).
    Running,
    /// The same request was answered: here is the answer.
    Completed(StoredAnswer),
    /// The key is held by a different request (another route or body), running or completed.
    Mismatch,
}

/// The idempotency records of one database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct IdempotencyTables(EnginePool);

impl IdempotencyTables {
    pub(crate) fn sqlite(pool: SqlitePool) -> Self {
        Self(EnginePool::Sqlite(pool))
    }

    pub(crate) fn postgres(pool: PgPool) -> Self {
        Self(EnginePool::Postgres(pool))
    }

    /// Claims the key for a request in one atomic step: a new record, or one that has expired
    /// taken over; otherwise says what holds it. A user the database does not know yet is
    /// created, as a turn would create them.
    pub async fn claim(&self, claim: &NewClaim<'_>) -> Result<ClaimOutcome, StoreError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        on_engine!(self.0, IdempotencyQueries, q => q.claim(claim, &token, Utc::now()))
    }

    /// Stores the answer of a claimed request for replay until `expires_at`; false when the
    /// claim no longer holds the record (it was taken over or released).
    pub async fn complete(
        &self,
        claim: &Claim,
        answer: &StoredAnswer,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_engine!(self.0, IdempotencyQueries, q => q.complete(claim, answer, expires_at))
    }

    /// Extends a running claim to `running_until` (a long streamed answer is still going);
    /// false when the claim no longer holds the record.
    pub async fn renew(
        &self,
        claim: &Claim,
        running_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_engine!(self.0, IdempotencyQueries, q => q.renew(claim, running_until))
    }

    /// Gives the key up (the answer failed, or was not kept), so a retry runs again; false when
    /// the claim no longer held the record.
    pub async fn release(&self, claim: &Claim) -> Result<bool, StoreError> {
        on_engine!(self.0, IdempotencyQueries, q => q.release(claim))
    }

    /// Deletes records that have expired; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, StoreError> {
        on_engine!(self.0, IdempotencyQueries, q => q.delete_expired(Utc::now()))
    }
}

impl Claim {
    pub(crate) fn new(username: &str, key: &str, token: &str) -> Self {
        Self {
            username: username.to_owned(),
            key: key.to_owned(),
            token: token.to_owned(),
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}
