//! `[auth]`: who may call Alice. Every route but `/health`, a minimal `/ready` and the page's
//! static assets needs an API key (`Authorization: Bearer alice_…`) or a session cookie; these
//! settings say where the first admin key is written, how long verified keys and sessions are
//! trusted, who may read `/metrics`, and the request and token limits of each role.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Whether callers must prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every protected route needs a key or a session (the default).
    On,
    /// No credentials: every caller is the admin. Allowed only with a loopback `server.bind`,
    /// and warned about on every start.
    Off,
}

/// Authentication and per-key limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// Where the key of user `admin` is written (mode 0600) on the first start with no users.
    pub admin_key_file: PathBuf,
    /// How long a verified key is trusted before the database is asked again; a revoked key
    /// stops working within this time.
    #[serde(with = "humantime_serde")]
    pub key_cache_ttl: Duration,
    /// How long a web session (the page's login cookie) lasts.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Marks session cookies `Secure` even when no trusted proxy says the request came over TLS.
    pub secure_cookies: bool,
    /// Failed logins for one user name before further logins for it are refused for
    /// `login_lockout` (a guessed password costs the guesser an argon2 round each, and this).
    pub max_failed_logins: u32,
    /// How long logins for a user name are refused after `max_failed_logins` failures.
    #[serde(with = "humantime_serde")]
    pub login_lockout: Duration,
    /// A bearer token that may read `/metrics` (for a Prometheus scraper) without being a user.
    pub metrics_token: Option<String>,
    /// Whether `/metrics` answers without any credentials.
    pub public_metrics: bool,
    /// Limits of each role; a key may override them.
    pub limits: RoleLimits,
    /// Retry-After of a request refused because its key has `max_in_flight` requests running
    /// (when one ends is not known beforehand).
    #[serde(with = "humantime_serde")]
    pub in_flight_retry_after: Duration,
    /// Prefix of the rate limiter's keys in Redis (with `cache.redis_url` set, every instance
    /// counts against the same budgets there).
    pub redis_key_prefix: String,
}

/// The limits of each role.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleLimits {
    pub user: Limits,
    pub admin: Limits,
}

/// Limits on one key. Zero means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute (GCRA: a burst of this many, refilled evenly over the minute).
    pub requests_per_minute: u32,
    /// Prompt and completion tokens per minute.
    pub tokens_per_minute: u32,
    /// Requests in flight at once.
    pub max_in_flight: u32,
}

impl Limits {
    /// No limit at all.
    pub const UNLIMITED: Limits = Limits {
        requests_per_minute: 0,
        tokens_per_minute: 0,
        max_in_flight: 0,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_minute: 60,
            tokens_per_minute: 100_000,
            max_in_flight: 4,
        }
    }
}

impl Default for RoleLimits {
    fn default() -> Self {
        Self {
            user: Limits::default(),
            admin: Limits::UNLIMITED,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::On,
            admin_key_file: PathBuf::from("data/admin.key"),
            key_cache_ttl: Duration::from_secs(10),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            secure_cookies: false,
            max_failed_logins: 5,
            login_lockout: Duration::from_secs(15 * 60),
            metrics_token: None,
            public_metrics: false,
            limits: RoleLimits::default(),
            in_flight_retry_after: Duration::from_secs(1),
            redis_key_prefix: "alice:limits:v1".to_owned(),
        }
    }
}

impl AuthConfig {
    /// Every problem with the values, each named by its key (`auth.session_ttl: ...`); empty
    /// when the settings are usable. Whether `mode = "off"` fits the bind address is checked
    /// by [`super::Config::validate`], which sees both.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.key_cache_ttl <= Duration::from_secs(300),
            "auth.key_cache_ttl",
            "must be at most 5m (a revoked key keeps working this long)",
        );
        problems.check(
            self.session_ttl >= Duration::from_secs(60),
            "auth.session_ttl",
            "must be at least 1m",
        );
        problems.check(
            self.max_failed_logins >= 1,
            "auth.max_failed_logins",
            "must be at least 1",
        );
        if let Some(token) = &self.metrics_token {
            problems.check(
                token.len() >= 16,
                "auth.metrics_token",
                "must be at least 16 characters (it guards /metrics)",
            );
        }
        problems.check(
            self.in_flight_retry_after >= Duration::from_secs(1),
            "auth.in_flight_retry_after",
            "must be at least 1s (Retry-After counts whole seconds)",
        );
        problems.check(
            !self.redis_key_prefix.is_empty(),
            "auth.redis_key_prefix",
            "must not be empty",
        );
        problems.check(
            !self.admin_key_file.as_os_str().is_empty(),
            "auth.admin_key_file",
            "must name a file",
        );
        problems.into_list()
    }
}
