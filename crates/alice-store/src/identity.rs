//! The identity tables: accounts (a user's role and web password), API keys and web sessions.
//! The store keeps them and knows nothing of what they mean: roles are the names `user` and
//! `admin`, secrets arrive already hashed. `alice-identity` gives them their meaning.
//!
//! [`IdentityTables`] runs the same statements on either engine (see
//! `engine::identity_queries`), so neither engine needs its own copy of them.

use crate::StoreError;
use crate::engine::identity_queries::IdentityQueries;
use crate::engine::{EnginePool, on_engine};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, SqlitePool};

/// A user who may be able to sign in: their name, role and whether they have a web password.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub username: String,
    pub display_name: Option<String>,
    /// `user` or `admin`.
    pub role: String,
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
}

/// Limits a key sets for itself instead of its role's; None keeps the role's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyLimits {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub max_in_flight: Option<u32>,
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// The public lookup id, part of the key itself.
    pub id: String,
    pub username: String,
    pub label: String,
    /// SHA-256 of the key's secret part, in hex.
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub limits: KeyLimits,
    /// "interactive" or "batch": its requests' class at the backends' queues.
    pub priority: String,
}

/// A stored key with its owner's name and role.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub username: String,
    pub role: String,
    pub label: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub limits: KeyLimits,
    /// "interactive" or "batch".
    pub priority: String,
}

/// A web session that has not expired, with its user's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub username: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
}

/// The identity tables of one database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct IdentityTables(EnginePool);

impl IdentityTables {
    pub(crate) fn sqlite(pool: SqlitePool) -> Self {
        Self(EnginePool::Sqlite(pool))
    }

    pub(crate) fn postgres(pool: PgPool) -> Self {
        Self(EnginePool::Postgres(pool))
    }

    /// Creates a user; [`StoreError::Duplicate`] when the name is taken.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: Option<&str>,
        role: &str,
    ) -> Result<Account, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.create_user(username, display_name, role, Utc::now()))
    }

    /// How many admins there are (a start creates `admin` when there are none).
    pub async fn count_admins(&self) -> Result<u64, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.count_admins())
    }

    /// Every user, by name.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.accounts())
    }

    /// A user's account with their password hash (None: no password set), if the user exists.
    pub async fn account_with_password(
        &self,
        username: &str,
    ) -> Result<Option<(Account, Option<String>)>, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.account_with_password(username))
    }

    /// Sets a user's web password hash; false when there is no such user.
    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.set_password_hash(username, hash))
    }

    /// Stores a key for its user; false when there is no such user.
    pub async fn create_api_key(&self, key: &NewApiKey) -> Result<bool, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.create_api_key(key))
    }

    /// The key with this lookup id, revoked and expired ones included.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.api_key(id))
    }

    /// Every key, or one user's, oldest first.
    pub async fn api_keys(&self, username: Option<&str>) -> Result<Vec<ApiKeyRecord>, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.api_keys(username))
    }

    /// Revokes a key; false when there is no such key or it was revoked already.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.revoke_api_key(id, Utc::now()))
    }

    /// Stores a web session for a user; false when there is no such user.
    pub async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.create_session(token_hash, username, Utc::now(), expires_at))
    }

    /// The session with this token hash, unless it has expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.session(token_hash, Utc::now()))
    }

    /// Ends a session (logging out).
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.delete_session(token_hash))
    }

    /// Deletes sessions that have expired; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        on_engine!(self.0, IdentityQueries, q => q.delete_expired_sessions(Utc::now()))
    }
}
