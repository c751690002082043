//! `alice user add|list|password` and `alice key create|list|revoke`: users and their API keys,
//! working on the database directly (Alice may be running; a revoked key stops working there
//! within `auth.key_cache_ttl`).

use alice_core::Config;
use alice_identity::{Directory, IdentityError, KeyRequest, Role};
use alice_store::{KeyLimits, Store};
use anyhow::Context;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// What `alice key create` is asked for.
pub struct NewKey {
    pub user: String,
    pub label: Option<String>,
    pub expires: Option<Duration>,
    pub limits: KeyLimits,
    pub priority: alice_core::Priority,
}

async fn open(config: &Config) -> anyhow::Result<(Store, Directory)> {
    let store = Store::open(&config.database).await?;
    let directory = Directory::new(store.identity(), &config.auth);
    Ok((store, directory))
}

pub async fn add_user(
    config: &Config,
    user: &str,
    admin: bool,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let (store, directory) = open(config).await?;
    let role = if admin { Role::Admin } else { Role::User };
    let added = directory.add_user(user, display_name, role).await;
    store.close().await;
    let account = added.map_err(|error| match error {
        IdentityError::UserExists(_) => anyhow::anyhow!(
            "user {user:?} exists already; give them a key with `alice key create {user}`"
        ),
        other => other.into(),
    })?;
    crate::write_stdout(
        format!(
            "added {} ({}); create a key with `alice key create {}`\n",
            account.username, account.role, account.username
        )
        .as_bytes(),
    )
}

pub async fn list_users(config: &Config) -> anyhow::Result<()> {
    let (store, directory) = open(config).await?;
    let users = directory.users().await;
    store.close().await;
    let mut out = String::from("USER\tROLE\tPASSWORD\tCREATED\tDISPLAY NAME\n");
    for account in users? {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            account.username,
            account.role,
            if account.has_password { "set" } else { "-" },
            account.created_at.format("%Y-%m-%d"),
            account.display_name.as_deref().unwrap_or(""),
        ));
    }
    crate::write_stdout(out.as_bytes())
}

/// Sets a user's web password, read from the terminal without echo, or as one line of
/// standard input when it is not a terminal (`printf '%s\n' "$PW" | alice user password anna`).
pub async fn set_password(config: &Config, user: &str) -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {user}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ; nothing was changed"
        );
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    let (store, directory) = open(config).await?;
    let set = directory.set_password(user, &password).await;
    store.close().await;
    set?;
    crate::write_stdout(format!("password set for {user}\n").as_bytes())
}

/// Creates a key and prints it alone on the last line of standard output: the only time it is
/// shown.
pub async fn create_key(config: &Config, key: NewKey) -> anyhow::Result<()> {
    let expires_at = match key.expires {
        Some(after) => Some(
            chrono::Utc::now()
                + chrono::Duration::from_std(after).context("--expires is too far away")?,
        ),
        None => None,
    };
    let (store, directory) = open(config).await?;
    let created = directory
        .create_key(
            &key.user,
            KeyRequest {
                label: key.label.unwrap_or_default(),
                expires_at,
                limits: key.limits,
                priority: key.priority,
            },
        )
        .await;
    store.close().await;
    let issued = created.map_err(|error| match error {
        IdentityError::NoSuchUser(user) => {
            anyhow::anyhow!("no user {user:?}; add them first with `alice user add {user}`")
        }
        other => other.into(),
    })?;
    let expiry = expires_at.map_or("never expires".to_owned(), |at| {
        format!("expires {}", at.format("%Y-%m-%d %H:%M UTC"))
    });
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "key {} for {} ({expiry}); it is shown once, below. Send it as \
         \"Authorization: Bearer <key>\".",
        issued.id, key.user
    );
    crate::write_stdout(format!("{}\n", issued.key).as_bytes())
}

pub async fn list_keys(config: &Config, user: Option<&str>) -> anyhow::Result<()> {
    let (store, directory) = open(config).await?;
    let keys = directory.keys(user).await;
    store.close().await;
    let now = chrono::Utc::now();
    let mut out = String::from("KEY ID\tUSER\tROLE\tSTATE\tCREATED\tEXPIRES\tPRIORITY\tLABEL\n");
    for key in keys? {
        let state = match (key.revoked_at, key.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "active",
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{state}\t{}\t{}\t{}\t{}\n",
            key.id,
            key.username,
            key.role,
            key.created_at.format("%Y-%m-%d"),
            key.expires_at
                .map_or("never".to_owned(), |at| at.format("%Y-%m-%d").to_string()),
            key.priority,
            key.label,
        ));
    }
    crate::write_stdout(out.as_bytes())
}

pub async fn revoke_key(config: &Config, id: &str) -> anyhow::Result<()> {
    let (store, directory) = open(config).await?;
    let revoked = directory.revoke_key(id).await;
    store.close().await;
    anyhow::ensure!(
        revoked?,
        "no active key {id:?} (see `alice key list`; a key id is the part after alice_ and before the next _)"
    );
    crate::write_stdout(
        format!(
            "revoked {id}; a running Alice refuses it within {} s (auth.key_cache_ttl)\n",
            config.auth.key_cache_ttl.as_secs()
        )
        .as_bytes(),
    )
}
