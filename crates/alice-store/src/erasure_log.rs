//! The erasure log: what keeps an erased person erased after a backup is restored.
//!
//! Backups are kept as they were made (rewriting them would make them useless as evidence of
//! what was restored), so a backup taken before an erasure still holds the person. Instead,
//! every erasure leaves a [`Tombstone`], and every restore applies the tombstones newer than the
//! backup before the restored database is used ([`apply`]).
//!
//! A tombstone holds no personal data: the person is named only by the HMAC-SHA256 of their
//! username under the database's erasure key (made once by a migration, 256 random bits in
//! SQLite, 244 in PostgreSQL), so the log says *that* someone was erased, when, by whom and how
//! many rows went, but not who. The key travels with the database and so with each backup;
//! [`Tombstone::key_id`] names the key a tombstone was made with, and a restore refuses to
//! finish when a backup's key is another one (the tombstone could not be matched).
//!
//! Tombstones are kept in three places, so that losing one is survivable:
//! - the `erasures` table, written in the erasure's own transaction;
//! - the file `database.erasure_log` (NDJSON, 0600), appended after the erasure commits;
//! - `erasures.ndjson` beside the manifest of every backup made later ([`BACKUP_FILE`]).
//!
//! A restore reads the configured file and the `erasures.ndjson` of the backup and of every
//! backup beside it (the other directories of its parent), and applies each tombstone erased
//! after the backup was taken that the restored database does not hold yet.

use crate::model::ErasureCounts;
use crate::{Store, StoreError};
use chrono::{DateTime, SubsecRound as _, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The tombstones' file beside a backup's manifest.
pub const BACKUP_FILE: &str = "erasures.ndjson";

/// One erasure, without the person: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: Uuid,
    /// HMAC-SHA256 of the username under the erasure key, lowercase hex.
    pub subject: String,
    /// Which erasure key made `subject` ([`ErasureKey::id`]).
    pub key_id: String,
    pub erased_at: DateTime<Utc>,
    /// Who asked: `cli`, `api:<username>`.
    pub erased_by: String,
    pub counts: ErasureCounts,
}

/// A database's erasure key (see the module documentation).
#[derive(Clone)]
pub struct ErasureKey(Vec<u8>);

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ErasureKey").field(&self.id()).finish()
    }
}

impl ErasureKey {
    /// The key stored as hex in the `erasure_key` table.
    pub fn from_hex(hex: &str) -> Result<Self, StoreError> {
        let bytes = decode_hex(hex)
            .filter(|bytes| bytes.len() >= 16)
            .ok_or_else(|| StoreError::Corrupt("erasure_key.key_hex is not a hex key".into()))?;
        Ok(Self(bytes))
    }

    /// The key's public name: the first 16 hex digits of a SHA-256 of it. Says which key a
    /// tombstone was made with and reveals nothing of the key.
    pub fn id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"alice erasure key id\0");
        hasher.update(&self.0);
        hex(&hasher.finalize()[..8])
    }

    /// The keyed hash that names `username` in a tombstone.
    pub fn subject(&self, username: &str) -> String {
        // HMAC takes a key of any length; new_from_slice cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(username.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A new tombstone for erasing `username` now.
    pub fn tombstone(&self, username: &str, erased_by: &str, counts: ErasureCounts) -> Tombstone {
        Tombstone {
            id: Uuid::new_v4(),
            subject: self.subject(username),
            key_id: self.id(),
            // Microseconds: what both databases keep, so a tombstone reads back as written.
            erased_at: Utc::now().trunc_subsecs(6),
            erased_by: erased_by.to_owned(),
            counts,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// The tombstone an erasure records: a new one made with the database's key (stored as hex)
/// for an erasure asked for now, or the replayed erasure's own.
pub(crate) fn tombstone_for(
    cause: &crate::ErasureCause,
    key_hex: &str,
    username: &str,
    counts: &ErasureCounts,
) -> Result<Tombstone, StoreError> {
    Ok(match cause {
        crate::ErasureCause::Request { by } => {
            ErasureKey::from_hex(key_hex)?.tombstone(username, by, counts.clone())
        }
        crate::ErasureCause::Replay(tombstone) => tombstone.clone(),
    })
}

/// What can go wrong reading or applying tombstones. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ErasureLogError {
    #[error("cannot read the erasure log {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "line {line} of the erasure log {} is not a tombstone ({problem}): the log is damaged; \
         repair or remove that line by hand (keep a copy), then run the restore again",
        .path.display()
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("cannot write the erasure log {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "tombstone {tombstone} (erased {erased_at}) was made with erasure key {tombstone_key}, \
         and this database's key is {database_key}: the person it names cannot be found in this \
         backup, so the restore does not finish (was the backup made from another database, or \
         before Alice kept an erasure log? restore a backup made since)"
    )]
    KeyMismatch {
        tombstone: Uuid,
        erased_at: DateTime<Utc>,
        tombstone_key: String,
        database_key: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Appends a tombstone to the log file (created 0600 with its directory when missing), and
/// makes it durable before returning.
pub fn append(path: &Path, tombstone: &Tombstone) -> Result<(), ErasureLogError> {
    let error = |source| ErasureLogError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut file = crate::private_file::append(path).map_err(error)?;
    let mut line =
        serde_json::to_vec(tombstone).map_err(|problem| error(std::io::Error::other(problem)))?;
    line.push(b'\n');
    file.write_all(&line).map_err(error)?;
    file.sync_all().map_err(error)
}

/// Writes `tombstones` as a new log file at `path` (0600), durably: a backup's copy.
pub fn write(path: &Path, tombstones: &[Tombstone]) -> Result<(), ErasureLogError> {
    let error = |source| ErasureLogError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = Vec::new();
    for tombstone in tombstones {
        serde_json::to_writer(&mut text, tombstone)
            .map_err(|problem| error(std::io::Error::other(problem)))?;
        text.push(b'\n');
    }
    let mut file = crate::private_file::create(path).map_err(error)?;
    file.write_all(&text).map_err(error)?;
    file.sync_all().map_err(error)
}

/// The tombstones in a log file; none when the file does not exist.
pub fn read(path: &Path) -> Result<Vec<Tombstone>, ErasureLogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ErasureLogError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|problem| ErasureLogError::Malformed {
                path: path.to_path_buf(),
                line: index + 1,
                problem: problem.to_string(),
            })
        })
        .collect()
}

/// Every tombstone a restore of `backup_dir` must consider: those of the configured log file
/// (`log_file`), of the backup itself and of the backups beside it (the directories next to
/// it that hold [`BACKUP_FILE`]), each once.
pub fn gather(backup_dir: &Path, log_file: &Path) -> Result<Vec<Tombstone>, ErasureLogError> {
    let mut files = vec![log_file.to_path_buf(), backup_dir.join(BACKUP_FILE)];
    let parent = backup_dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.flatten() {
            let candidate = entry.path().join(BACKUP_FILE);
            if candidate.is_file() {
                files.push(candidate);
            }
        }
    }
    let mut by_id = BTreeMap::new();
    for file in files {
        for tombstone in read(&file)? {
            by_id.entry(tombstone.id).or_insert(tombstone);
        }
    }
    Ok(by_id.into_values().collect())
}

/// One tombstone a restore applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub tombstone: Uuid,
    pub erased_at: DateTime<Utc>,
    /// Users of the restored database it named (0 when the person was not in the backup).
    pub users: u64,
    /// What went from the restored database.
    pub erased: ErasureCounts,
}

/// Applies to a restored database every tombstone erased after `taken_at` (the backup's time)
/// that it does not hold yet: each person it names is erased again, and the tombstone is
/// recorded, so the restored database's own log is whole. Refuses (before erasing anything)
/// when a tombstone was made with another erasure key than the database's.
pub async fn apply(
    store: &Store,
    tombstones: &[Tombstone],
    taken_at: DateTime<Utc>,
) -> Result<Vec<Applied>, ErasureLogError> {
    let key = store.erasure_key().await?;
    let held: std::collections::HashSet<Uuid> = store
        .erasure_log()
        .await?
        .into_iter()
        .map(|tombstone| tombstone.id)
        .collect();
    let pending: Vec<&Tombstone> = tombstones
        .iter()
        .filter(|tombstone| tombstone.erased_at > taken_at && !held.contains(&tombstone.id))
        .collect();
    let key_id = key.id();
    if let Some(other) = pending.iter().find(|tombstone| tombstone.key_id != key_id) {
        return Err(ErasureLogError::KeyMismatch {
            tombstone: other.id,
            erased_at: other.erased_at,
            tombstone_key: other.key_id.clone(),
            database_key: key_id,
        });
    }
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_subject: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for account in store.identity().accounts().await? {
        by_subject
            .entry(key.subject(&account.username))
            .or_default()
            .push(account.username);
    }
    let mut applied = Vec::with_capacity(pending.len());
    for tombstone in pending {
        let mut erased = ErasureCounts::default();
        let mut users = 0;
        for username in by_subject.remove(&tombstone.subject).unwrap_or_default() {
            if let Some(report) = store
                .erase_user(&username, &crate::ErasureCause::Replay(tombstone.clone()))
                .await?
            {
                users += 1;
                erased.add(&report.tombstone.counts);
            }
        }
        if users == 0 {
            store.record_tombstone(tombstone).await?;
        }
        applied.push(Applied {
            tombstone: tombstone.id,
            erased_at: tombstone.erased_at,
            users,
            erased,
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn key() -> ErasureKey {
        ErasureKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn the_subject_is_keyed_and_names_one_username() {
        let other = ErasureKey::from_hex(&"cd".repeat(32)).unwrap();
        assert_eq!(key().subject("anna"), key().subject("anna"));
        assert_ne!(key().subject("anna"), key().subject("anne"));
        assert_ne!(key().subject("anna"), other.subject("anna"));
        assert_ne!(key().id(), other.id());
        assert_eq!(key().subject("anna").len(), 64);
        assert!(!key().subject("anna").contains("anna"));
    }

    #[test]
    fn a_key_that_is_not_hex_is_refused() {
        assert!(ErasureKey::from_hex("zz").is_err());
        assert!(ErasureKey::from_hex("abc").is_err());
        assert!(
            ErasureKey::from_hex("abab").is_err(),
            "too short to be a key"
        );
    }

    #[test]
    fn tombstones_round_trip_through_a_file_and_gather_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("data/erasures.ndjson");
        let first = key().tombstone("anna", "cli", ErasureCounts::default());
        let second = key().tombstone("bertil", "api:admin", ErasureCounts::default());
        append(&log, &first).unwrap();
        append(&log, &second).unwrap();
        assert_eq!(read(&log).unwrap(), vec![first.clone(), second.clone()]);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let backups = dir.path().join("backups");
        let old = backups.join("monday");
        let newer = backups.join("tuesday");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::create_dir_all(&newer).unwrap();
        write(&newer.join(BACKUP_FILE), std::slice::from_ref(&first)).unwrap();
        let mut gathered = gather(&old, &log).unwrap();
        gathered.sort_by_key(|tombstone| tombstone.erased_at);
        assert_eq!(gathered, vec![first, second]);
        assert!(read(&dir.path().join("missing.ndjson")).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("erasures.ndjson");
        std::fs::write(&log, "{\"id\": 1}\n").unwrap();
        let message = read(&log).unwrap_err().to_string();
        assert!(message.contains("line 1"), "{message}");
        assert!(message.contains("erasures.ndjson"), "{message}");
    }
}
