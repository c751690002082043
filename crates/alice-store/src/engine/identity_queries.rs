//! The statements of the identity tables ([`crate::identity`]), written once over either
//! engine's pool like [`super::shared_queries`]: they use nothing one engine lacks.

use crate::StoreError;
use crate::engine::rows::StoredRow;
use crate::identity::{Account, ApiKeyRecord, KeyLimits, NewApiKey, SessionRecord};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

/// The account columns, up to where a query's `WHERE` or `ORDER BY` goes (a macro, so the
/// queries built with it stay `&'static str`).
macro_rules! account_query {
    () => {
        "SELECT username, display_name, role, password_hash, created_at FROM users "
    };
}

/// The key columns with the owner's name and role, up to where a query's `WHERE` goes.
macro_rules! key_query {
    () => {
        "SELECT k.id, u.username, u.role, k.label, k.secret_hash, k.created_at, k.expires_at, \
         k.revoked_at, k.requests_per_minute, k.tokens_per_minute, k.max_in_flight, k.priority \
         FROM api_keys k JOIN users u ON u.id = k.user_id "
    };
}

/// The identity statements on one engine's pool.
pub(crate) struct IdentityQueries<'p, DB: Database>(pub(crate) &'p Pool<DB>);

impl<DB> IdentityQueries<'_, DB>
where
    DB: Database,
    DB::Row: StoredRow,
    DB::QueryResult: RowsAffected,
    usize: ColumnIndex<DB::Row>,
    for<'a> DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'v> &'v str: Encode<'v, DB> + Type<DB>,
    for<'v> Option<&'v str>: Encode<'v, DB> + Type<DB>,
    for<'v> i64: Encode<'v, DB> + Decode<'v, DB> + Type<DB>,
    for<'v> Option<i64>: Encode<'v, DB> + Type<DB>,
    for<'v> DateTime<Utc>: Encode<'v, DB> + Type<DB>,
    for<'v> Option<DateTime<Utc>>: Encode<'v, DB> + Type<DB>,
{
    pub(crate) async fn create_user(
        &self,
        username: &str,
        display_name: Option<&str>,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO users (username, display_name, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(display_name)
        .bind(role)
        .bind(now)
        .execute(self.0)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(StoreError::Duplicate(format!("user {username}")));
            }
            Err(error) => return Err(error.into()),
        }
        let (account, _) = self
            .account_with_password(username)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("user {username} vanished on insert")))?;
        Ok(account)
    }

    pub(crate) async fn count_admins(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .fetch_one(self.0)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(concat!(account_query!(), "ORDER BY username"))
            .fetch_all(self.0)
            .await?;
        rows.iter()
            .map(|row| account_from(row).map(|(account, _)| account))
            .collect()
    }

    pub(crate) async fn account_with_password(
        &self,
        username: &str,
    ) -> Result<Option<(Account, Option<String>)>, StoreError> {
        sqlx::query(concat!(account_query!(), "WHERE username = $1"))
            .bind(username)
            .fetch_optional(self.0)
            .await?
            .map(|row| account_from(&row))
            .transpose()
    }

    pub(crate) async fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
            .bind(hash)
            .bind(username)
            .execute(self.0)
            .await?;
        Ok(rows_affected::<DB>(&done) > 0)
    }

    pub(crate) async fn create_api_key(&self, key: &NewApiKey) -> Result<bool, StoreError> {
        let limit = |value: Option<u32>| value.map(i64::from);
        let done = sqlx::query(
            "INSERT INTO api_keys (id, user_id, label, secret_hash, created_at, expires_at, \
                 requests_per_minute, tokens_per_minute, max_in_flight, priority) \
             SELECT $1, id, $2, $3, $4, $5, $6, $7, $8, $9 FROM users WHERE username = $10",
        )
        .bind(key.id.as_str())
        .bind(key.label.as_str())
        .bind(key.secret_hash.as_str())
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(limit(key.limits.requests_per_minute))
        .bind(limit(key.limits.tokens_per_minute))
        .bind(limit(key.limits.max_in_flight))
        .bind(key.priority.as_str())
        .bind(key.username.as_str())
        .execute(self.0)
        .await?;
        Ok(rows_affected::<DB>(&done) > 0)
    }

    pub(crate) async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        sqlx::query(concat!(key_query!(), "WHERE k.id = $1"))
            .bind(id)
            .fetch_optional(self.0)
            .await?
            .map(|row| key_from(&row))
            .transpose()
    }

    pub(crate) async fn api_keys(
        &self,
        username: Option<&str>,
    ) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            key_query!(),
            "WHERE $1 IS NULL OR u.username = $1 ORDER BY k.created_at, k.id"
        ))
        .bind(username)
        .fetch_all(self.0)
        .await?;
        rows.iter().map(key_from).collect()
    }

    pub(crate) async fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(self.0)
                .await?;
        Ok(rows_affected::<DB>(&done) > 0)
    }

    pub(crate) async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at) \
             SELECT $1, id, $2, $3 FROM users WHERE username = $4",
        )
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .bind(username)
        .execute(self.0)
        .await?;
        Ok(rows_affected::<DB>(&done) > 0)
    }

    pub(crate) async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT u.username, u.role, s.expires_at FROM web_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.0)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                username: row.get("username")?,
                role: row.get("role")?,
                expires_at: row.get("expires_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.0)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_expired_sessions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.0)
            .await?;
        Ok(rows_affected::<DB>(&done))
    }
}

/// Rows a statement changed, whichever engine ran it.
fn rows_affected<DB: Database>(done: &DB::QueryResult) -> u64
where
    DB::QueryResult: RowsAffected,
{
    done.changed_rows()
}

/// Both engines' query results say how many rows they changed, under the same name but no
/// shared trait; this is that trait.
pub(crate) trait RowsAffected {
    fn changed_rows(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn changed_rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn changed_rows(&self) -> u64 {
        self.rows_affected()
    }
}

fn account_from(row: &impl StoredRow) -> Result<(Account, Option<String>), StoreError> {
    let password_hash: Option<String> = row.get("password_hash")?;
    Ok((
        Account {
            username: row.get("username")?,
            display_name: row.get("display_name")?,
            role: row.get("role")?,
            has_password: password_hash.is_some(),
            created_at: row.get("created_at")?,
        },
        password_hash,
    ))
}

fn key_from(row: &impl StoredRow) -> Result<ApiKeyRecord, StoreError> {
    let limit = |column: &str| -> Result<Option<u32>, StoreError> {
        let value: Option<i64> = row.get(column)?;
        Ok(value.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    };
    Ok(ApiKeyRecord {
        id: row.get("id")?,
        username: row.get("username")?,
        role: row.get("role")?,
        label: row.get("label")?,
        secret_hash: row.get("secret_hash")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
        revoked_at: row.get("revoked_at")?,
        limits: KeyLimits {
            requests_per_minute: limit("requests_per_minute")?,
            tokens_per_minute: limit("tokens_per_minute")?,
            max_in_flight: limit("max_in_flight")?,
        },
        priority: row.get("priority")?,
    })
}
