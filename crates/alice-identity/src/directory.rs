//! [`Directory`]: users, keys and sessions as Alice uses them. It turns a presented key or
//! session token into a [`Caller`], and carries out what `alice user …` / `alice key …` and the
//! page's login ask for.
//!
//! Verified keys are kept in memory for `auth.key_cache_ttl`, so a request pays a hash and a
//! map lookup rather than a database query; a key revoked by another process (the CLI) stops
//! working within that time.

use crate::caller::{Caller, Credential, Role};
use crate::passwords::{self, PasswordError};
use crate::secrets::{self, IssuedKey};
use alice_core::Priority;
use alice_core::config::{AuthConfig, Limits, RoleLimits};
use alice_store::{Account, ApiKeyRecord, IdentityTables, KeyLimits, NewApiKey, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a credential was not accepted, or an identity operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Not an Alice key, or no key with its id, or the secret is wrong.
    #[error("the API key is not valid")]
    UnknownKey,
    #[error("the API key {id} was revoked")]
    RevokedKey { id: String },
    #[error("the API key {id} expired at {at}")]
    ExpiredKey { id: String, at: DateTime<Utc> },
    /// No session with this token, or it expired.
    #[error("the session is not valid (expired or logged out)")]
    UnknownSession,
    /// The user name and password do not match (which of them is wrong is not said).
    #[error("wrong user name or password")]
    WrongPassword,
    /// Too many failed logins for this user name lately.
    #[error("too many failed logins for {username:?}; try again in {retry_after:?}")]
    LockedOut {
        username: String,
        retry_after: std::time::Duration,
    },
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("user {0:?} exists already")]
    UserExists(String),
    #[error("{rule}, not {0:?}", rule = crate::usernames::USERNAME_RULE)]
    InvalidUsername(String),
    #[error("stored role {0:?} is not user or admin")]
    UnknownRole(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to store with a new key.
#[derive(Clone, Debug, Default)]
pub struct KeyRequest {
    pub label: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub limits: KeyLimits,
    /// Its requests' class at the backends' queues.
    pub priority: Priority,
}

/// Users, keys and sessions over the identity tables.
#[derive(Clone)]
pub struct Directory {
    tables: IdentityTables,
    limits: RoleLimits,
    session_ttl: chrono::Duration,
    keys: moka::future::Cache<String, Arc<ApiKeyRecord>>,
    /// Failed logins per user name, forgotten `auth.login_lockout` after the first of them.
    failed_logins: moka::future::Cache<String, Arc<std::sync::atomic::AtomicU32>>,
    max_failed_logins: u32,
    login_lockout: std::time::Duration,
}

impl Directory {
    pub fn new(tables: IdentityTables, config: &AuthConfig) -> Self {
        Self {
            tables,
            limits: config.limits.clone(),
            session_ttl: chrono::Duration::from_std(config.session_ttl)
                .unwrap_or(chrono::Duration::days(7)),
            keys: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.key_cache_ttl)
                .build(),
            failed_logins: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.login_lockout)
                .build(),
            max_failed_logins: config.max_failed_logins,
            login_lockout: config.login_lockout,
        }
    }

    /// The caller a presented API key proves.
    pub async fn authenticate_key(&self, key: &str) -> Result<Caller, IdentityError> {
        let (id, secret) = secrets::parse_key(key).ok_or(IdentityError::UnknownKey)?;
        let record = match self.keys.get(id).await {
            Some(record) => record,
            None => {
                let record = Arc::new(
                    self.tables
                        .api_key(id)
                        .await?
                        .ok_or(IdentityError::UnknownKey)?,
                );
                self.keys.insert(id.to_owned(), Arc::clone(&record)).await;
                record
            }
        };
        if !secrets::secret_matches(secret, &record.secret_hash) {
            return Err(IdentityError::UnknownKey);
        }
        if record.revoked_at.is_some() {
            return Err(IdentityError::RevokedKey {
                id: record.id.clone(),
            });
        }
        if let Some(at) = record.expires_at.filter(|at| *at <= Utc::now()) {
            return Err(IdentityError::ExpiredKey {
                id: record.id.clone(),
                at,
            });
        }
        let role = parse_role(&record.role)?;
        Ok(Caller {
            username: record.username.clone(),
            role,
            credential: Credential::ApiKey {
                id: record.id.clone(),
            },
            limits: with_overrides(self.role_limits(role), record.limits),
            // The store's CHECK allows only the two names.
            priority: Priority::parse(&record.priority).unwrap_or_default(),
        })
    }

    /// The caller a session cookie proves.
    pub async fn authenticate_session(&self, token: &str) -> Result<Caller, IdentityError> {
        let session = self
            .tables
            .session(&secrets::hash_secret(token))
            .await?
            .ok_or(IdentityError::UnknownSession)?;
        let role = parse_role(&session.role)?;
        Ok(Caller {
            username: session.username,
            role,
            credential: Credential::Session,
            limits: self.role_limits(role),
            priority: Priority::Interactive,
        })
    }

    /// Checks a user's password and starts a session: the token for the cookie, and who it
    /// proves.
    pub async fn log_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, Caller), IdentityError> {
        let failures = self
            .failed_logins
            .get_with(username.to_owned(), async { Arc::default() })
            .await;
        if failures.load(std::sync::atomic::Ordering::Relaxed) >= self.max_failed_logins {
            return Err(IdentityError::LockedOut {
                username: username.to_owned(),
                retry_after: self.login_lockout,
            });
        }
        let outcome = self.check_password_and_start(username, password).await;
        match &outcome {
            Err(IdentityError::WrongPassword) => {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(_) => self.failed_logins.invalidate(username).await,
            Err(_) => {}
        }
        outcome
    }

    async fn check_password_and_start(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, Caller), IdentityError> {
        let (account, hash) = self
            .tables
            .account_with_password(username)
            .await?
            .ok_or(IdentityError::WrongPassword)?;
        // Argon2 takes tens of milliseconds: off the async workers.
        let password = password.to_owned();
        let matches = match hash {
            Some(hash) => {
                tokio::task::spawn_blocking(move || passwords::password_matches(&password, &hash))
                    .await
                    .unwrap_or(false)
            }
            None => false,
        };
        if !matches {
            return Err(IdentityError::WrongPassword);
        }
        let token = secrets::new_session_token(&mut rand::rng());
        let expires_at = Utc::now() + self.session_ttl;
        if !self
            .tables
            .create_session(&secrets::hash_secret(&token), username, expires_at)
            .await?
        {
            return Err(IdentityError::WrongPassword);
        }
        let role = parse_role(&account.role)?;
        let caller = Caller {
            username: account.username,
            role,
            credential: Credential::Session,
            limits: self.role_limits(role),
            priority: Priority::Interactive,
        };
        Ok((token, caller))
    }

    /// Starts a session for the owner of an API key, for the web page's "log in with a key":
    /// the token for the cookie, and who it proves. The session has the user's role and ends
    /// with the key if the key expires first; it does not carry the key's own limits.
    pub async fn log_in_with_key(&self, key: &str) -> Result<(String, Caller), IdentityError> {
        let by_key = self.authenticate_key(key).await?;
        let key_expires = match &by_key.credential {
            Credential::ApiKey { id } => {
                self.keys.get(id).await.and_then(|record| record.expires_at)
            }
            _ => None,
        };
        let token = secrets::new_session_token(&mut rand::rng());
        let session_end = Utc::now() + self.session_ttl;
        let expires_at = key_expires.map_or(session_end, |at| at.min(session_end));
        if !self
            .tables
            .create_session(&secrets::hash_secret(&token), &by_key.username, expires_at)
            .await?
        {
            return Err(IdentityError::UnknownKey);
        }
        let caller = Caller {
            username: by_key.username,
            role: by_key.role,
            credential: Credential::Session,
            limits: self.role_limits(by_key.role),
            // A person at the web page, whatever the key is for.
            priority: Priority::Interactive,
        };
        Ok((token, caller))
    }

    /// Ends the session of this token.
    pub async fn log_out(&self, token: &str) -> Result<(), IdentityError> {
        Ok(self
            .tables
            .delete_session(&secrets::hash_secret(token))
            .await?)
    }

    /// Creates a user.
    pub async fn add_user(
        &self,
        username: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<Account, IdentityError> {
        if !crate::usernames::is_valid_username(username) {
            return Err(IdentityError::InvalidUsername(username.to_owned()));
        }
        match self
            .tables
            .create_user(username, display_name, role.as_str())
            .await
        {
            Err(StoreError::Duplicate(_)) => Err(IdentityError::UserExists(username.to_owned())),
            other => Ok(other?),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<Account>, IdentityError> {
        Ok(self.tables.accounts().await?)
    }

    /// Sets a user's web password (argon2id).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), IdentityError> {
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || passwords::hash_password(&password))
            .await
            .map_err(|error| PasswordError::Hash(error.to_string()))??;
        if self.tables.set_password_hash(username, &hash).await? {
            Ok(())
        } else {
            Err(IdentityError::NoSuchUser(username.to_owned()))
        }
    }

    /// Makes a key for a user; the returned key is the only copy of its secret.
    pub async fn create_key(
        &self,
        username: &str,
        request: KeyRequest,
    ) -> Result<IssuedKey, IdentityError> {
        let issued = secrets::issue_key(&mut rand::rng());
        let stored = self
            .tables
            .create_api_key(&NewApiKey {
                id: issued.id.clone(),
                username: username.to_owned(),
                label: request.label,
                secret_hash: issued.secret_hash.clone(),
                created_at: Utc::now(),
                expires_at: request.expires_at,
                limits: request.limits,
                priority: request.priority.as_str().to_owned(),
            })
            .await?;
        if stored {
            Ok(issued)
        } else {
            Err(IdentityError::NoSuchUser(username.to_owned()))
        }
    }

    /// Every key, or one user's.
    pub async fn keys(&self, username: Option<&str>) -> Result<Vec<ApiKeyRecord>, IdentityError> {
        Ok(self.tables.api_keys(username).await?)
    }

    /// Revokes a key; false when there is no such key or it was revoked already.
    pub async fn revoke_key(&self, id: &str) -> Result<bool, IdentityError> {
        let revoked = self.tables.revoke_api_key(id).await?;
        self.keys.invalidate(id).await;
        Ok(revoked)
    }

    /// Whether any user is an admin.
    pub async fn has_admin(&self) -> Result<bool, IdentityError> {
        Ok(self.tables.count_admins().await? > 0)
    }

    fn role_limits(&self, role: Role) -> Limits {
        match role {
            Role::User => self.limits.user,
            Role::Admin => self.limits.admin,
        }
    }
}

fn parse_role(name: &str) -> Result<Role, IdentityError> {
    Role::parse(name).ok_or_else(|| IdentityError::UnknownRole(name.to_owned()))
}

/// A role's limits with a key's own values where it has them.
fn with_overrides(role: Limits, key: KeyLimits) -> Limits {
    Limits {
        requests_per_minute: key.requests_per_minute.unwrap_or(role.requests_per_minute),
        tokens_per_minute: key.tokens_per_minute.unwrap_or(role.tokens_per_minute),
        max_in_flight: key.max_in_flight.unwrap_or(role.max_in_flight),
    }
}
