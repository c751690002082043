//! The manifest (`manifest.json`) that describes a backup: what it was made from, its data
//! file and that file's checksum, and every table's rows and content checksum. Written last and
//! atomically, so a directory with a manifest is a whole backup.

use super::{BackupError, run_blocking, sync_dir};
use crate::engine::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The manifest's file name in a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The data file of a SQLite backup.
pub const SQLITE_DATA_FILE: &str = "alice.db";
/// The data file of a PostgreSQL backup.
pub const POSTGRES_DATA_FILE: &str = "alice.dump";
/// The manifest format this Alice writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

impl Engine {
    /// The data file a backup of this engine holds.
    pub(super) fn data_file(self) -> &'static str {
        match self {
            Engine::Sqlite => SQLITE_DATA_FILE,
            Engine::Postgres => POSTGRES_DATA_FILE,
        }
    }
}

/// A table's row count and content checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    pub rows: u64,
    pub checksum: String,
}

/// What `manifest.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// When the backup's snapshot was taken, RFC 3339 in UTC.
    pub created_at: String,
    /// The version of Alice that made it.
    pub alice_version: String,
    pub engine: Engine,
    /// The highest migration version applied (`max(version)` of `_sqlx_migrations`); None when
    /// the database had no migrations table.
    pub schema_version: Option<i64>,
    /// The database the backup was made from, without any password: the SQLite URL, or
    /// `postgres://USER@HOST:PORT/DATABASE`.
    pub source: String,
    /// PostgreSQL: the schema that was dumped (and that a restore recreates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_schema: Option<String>,
    /// The data file's name inside the backup directory.
    pub data_file: String,
    /// sha256 of the data file, lowercase hex.
    pub data_sha256: String,
    /// The data file's size in bytes.
    pub data_bytes: u64,
    /// How the table checksums were computed.
    pub checksum_algorithm: String,
    /// Every table, by name: its rows and checksum.
    pub tables: BTreeMap<String, TableSummary>,
    /// The copy of the erasure log beside the manifest ([`crate::erasure_log::BACKUP_FILE`]);
    /// absent in backups made before Alice kept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure_log: Option<ErasureLogCopy>,
}

/// The erasure log's copy in a backup: its file, how many tombstones and its sha256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureLogCopy {
    pub file: String,
    pub tombstones: u64,
    pub sha256: String,
}

impl Manifest {
    /// Rows in all tables together.
    pub fn total_rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }

    /// When the backup's snapshot was taken.
    pub fn taken_at(&self) -> Result<chrono::DateTime<chrono::Utc>, BackupError> {
        chrono::DateTime::parse_from_rfc3339(&self.created_at)
            .map(|time| time.with_timezone(&chrono::Utc))
            .map_err(|error| {
                BackupError::Other(format!(
                    "the manifest's created_at {:?} is not a time ({error}): the backup is damaged",
                    self.created_at
                ))
            })
    }

    /// Reads and checks `manifest.json` in a backup directory.
    pub fn read(backup_dir: &Path) -> Result<Manifest, BackupError> {
        let path = backup_dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::NotABackup {
                    dir: backup_dir.to_path_buf(),
                    problem: format!("it has no {MANIFEST_FILE}"),
                });
            }
            Err(source) => {
                return Err(BackupError::Io {
                    context: format!("cannot read {}", path.display()),
                    source,
                });
            }
        };
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|error| BackupError::NotABackup {
                dir: backup_dir.to_path_buf(),
                problem: format!("{MANIFEST_FILE} is not a valid manifest ({error})"),
            })?;
        if manifest.format_version > FORMAT_VERSION {
            return Err(BackupError::NewerFormat {
                found: manifest.format_version,
            });
        }
        if manifest.data_file != manifest.engine.data_file() {
            return Err(BackupError::NotABackup {
                dir: backup_dir.to_path_buf(),
                problem: format!(
                    "its manifest names data file {:?}, a {} backup has {}",
                    manifest.data_file,
                    manifest.engine,
                    manifest.engine.data_file()
                ),
            });
        }
        Ok(manifest)
    }
}

pub(super) async fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let mut text = serde_json::to_string_pretty(manifest).map_err(|error| BackupError::Io {
        context: "cannot serialise the manifest".into(),
        source: std::io::Error::other(error),
    })?;
    text.push('\n');
    let path = dir.join(MANIFEST_FILE);
    let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
    let dir = dir.to_path_buf();
    run_blocking(move || {
        let context = format!("cannot write {}", path.display());
        write_synced(&temporary, text.as_bytes()).map_err(BackupError::io(context.clone()))?;
        std::fs::rename(&temporary, &path).map_err(BackupError::io(context.clone()))?;
        sync_dir(&dir).map_err(BackupError::io(context))
    })
    .await
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = crate::private_file::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
