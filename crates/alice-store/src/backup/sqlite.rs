//! SQLite backups: `VACUUM INTO` a new file on a connection of its own (a consistent snapshot
//! while other connections go on writing, in WAL mode without blocking them), and a restore that
//! copies the file into place atomically.

use super::checksum::{RowDigest, compare};
use super::{
    BOOKKEEPING_TABLES, BackupError, MIGRATIONS_TABLE, Manifest, PendingErasures, Snapshot,
    TableSummary, random_suffix, run_blocking, sync_dir,
};
use crate::engine::quote_identifier;
use crate::engine::rows::tombstone_from;
use crate::engine::sql;
use crate::erasure_log::{Applied, Tombstone};
use alice_core::config::DatabaseConfig;
use futures_util::TryStreamExt as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Each row as SQLite's `quote()` of every column joined by ',' (unambiguous: text is quoted,
/// blobs are hex), sha256 per row, summed modulo 2^256.
pub(super) const CHECKSUM_ALGORITHM: &str = "sqlite-quote-sha256-sum-v1";

pub(super) async fn create(
    config: &DatabaseConfig,
    data_path: &Path,
) -> Result<Snapshot, BackupError> {
    let source_path = database_path(&config.url)?;
    if !tokio::fs::try_exists(&source_path).await.unwrap_or(false) {
        return Err(BackupError::NoDatabase { path: source_path });
    }
    // Its own connection, never the server's pool: VACUUM INTO reads in one transaction, a
    // snapshot that concurrent writers (WAL) do not disturb and that does not block them.
    let options = SqliteConnectOptions::from_str(&config.url)
        .map_err(|source| url_error(&config.url, &source))?
        .create_if_missing(false)
        .busy_timeout(config.busy_timeout);
    let mut connection = options
        .connect()
        .await
        .map_err(BackupError::db(format!("cannot open {}", config.url)))?;
    let taken_at = chrono::Utc::now();
    let target = data_path.to_string_lossy().into_owned();
    let vacuum = sqlx::query("VACUUM INTO $1")
        .bind(&target)
        .execute(&mut connection)
        .await
        .map_err(BackupError::db(format!(
            "cannot copy {} into {target} (VACUUM INTO)",
            source_path.display()
        )));
    let _ = connection.close().await;
    vacuum?;
    let file = data_path.to_path_buf();
    run_blocking(move || {
        let context = format!("cannot sync {}", file.display());
        std::fs::File::open(&file)
            .and_then(|f| f.sync_all())
            .map_err(BackupError::io(context))
    })
    .await?;
    // Counted from the copy itself, so the manifest describes exactly what the backup holds.
    let (schema_version, tables, tombstones) = {
        let mut copy = open_file(data_path, true).await?;
        let result = async {
            let (schema_version, tables) = read_summary(&mut copy).await?;
            let tombstones = if tables.contains_key("erasures") {
                read_tombstones(&mut copy).await?
            } else {
                Vec::new()
            };
            Ok::<_, BackupError>((schema_version, tables, tombstones))
        }
        .await;
        let _ = copy.close().await;
        result?
    };
    Ok(Snapshot {
        taken_at,
        source: config.url.clone(),
        postgres_schema: None,
        schema_version,
        tables,
        tombstones,
    })
}

/// The erasure log a backup copy holds.
async fn read_tombstones(connection: &mut SqliteConnection) -> Result<Vec<Tombstone>, BackupError> {
    let rows = sqlx::query(sql::ERASURE_LOG)
        .fetch_all(&mut *connection)
        .await
        .map_err(BackupError::db("cannot read the erasure log"))?;
    rows.iter()
        .map(tombstone_from)
        .collect::<Result<_, _>>()
        .map_err(|error| BackupError::Other(format!("the erasure log is damaged: {error}")))
}

pub(super) async fn restore(
    data_path: &Path,
    manifest: &Manifest,
    target: &DatabaseConfig,
    erasures: &PendingErasures,
) -> Result<(String, BTreeMap<String, TableSummary>, Vec<Applied>), BackupError> {
    let target_path = database_path(&target.url)?;
    if target_path.as_os_str() == ":memory:" || target_path.as_os_str().is_empty() {
        return Err(BackupError::Url {
            url: target.url.clone(),
            problem: "a restore needs a database file, not an in-memory database".into(),
        });
    }
    let target_name = target_path.display().to_string();
    if tokio::fs::try_exists(&target_path).await.unwrap_or(false) {
        refuse_unless_empty(&target_path, &target_name).await?;
    }
    let dir = match target_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(BackupError::io(format!("cannot create {}", dir.display())))?;
    let file_name = target_path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "alice.db".into());
    // Copied next to the target and checked there; only a copy that matches the manifest is
    // renamed into place.
    let temporary = dir.join(format!(".{file_name}.restore-{}", random_suffix()));
    let _cleanup = RemoveOnDrop(temporary.clone());
    copy_synced(data_path, &temporary).await?;
    let tables = {
        let mut copy = open_file(&temporary, true).await?;
        let result = read_summary(&mut copy).await;
        let _ = copy.close().await;
        result?.1
    };
    compare("restore", &manifest.tables, &tables)?;
    // The erasure log is applied to the copy, so the target only ever holds a database in which
    // everyone erased since the backup is erased again.
    let copy = DatabaseConfig {
        url: format!("sqlite://{}", temporary.display()),
        ..target.clone()
    };
    let applied = erasures.apply_to(&copy).await?;
    let _copy_journal = [
        RemoveOnDrop(suffixed(&temporary, "-wal")),
        RemoveOnDrop(suffixed(&temporary, "-shm")),
    ];
    let (from, to) = (temporary.clone(), target_path.clone());
    run_blocking(move || {
        let context = |what: &str| format!("cannot {what} {}", to.display());
        // A -wal left by the old file would be replayed into the new one: remove it first.
        for suffix in ["-wal", "-shm", "-journal"] {
            let stale = suffixed(&to, suffix);
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(BackupError::Io {
                        context: format!("cannot remove {}", stale.display()),
                        source,
                    });
                }
            }
        }
        std::fs::rename(&from, &to).map_err(BackupError::io(context(
            "move the restored database into place at",
        )))?;
        sync_dir(&dir).map_err(BackupError::io(context("sync the directory of")))
    })
    .await?;
    Ok((target_name, tables, applied))
}

/// `path` with `suffix` appended to its file name (SQLite's `-wal` and `-shm` files).
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub(super) async fn verify(
    data_path: &Path,
    manifest: &Manifest,
    erasures: &PendingErasures,
) -> Result<(String, String, BTreeMap<String, TableSummary>, Vec<Applied>), BackupError> {
    let scratch_dir = std::env::temp_dir().join(format!("alice-verify-{}", random_suffix()));
    tokio::fs::create_dir_all(&scratch_dir)
        .await
        .map_err(BackupError::io(format!(
            "cannot create the scratch directory {}",
            scratch_dir.display()
        )))?;
    let _cleanup = RemoveDirOnDrop(scratch_dir.clone());
    let scratch = scratch_dir.join("alice.db");
    copy_synced(data_path, &scratch).await?;
    let mut connection = open_file(&scratch, false).await?;
    let result = async {
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut connection)
            .await
            .map_err(|source| BackupError::Integrity {
                report: source.to_string(),
            })?;
        if integrity != ["ok"] {
            return Err(BackupError::Integrity {
                report: integrity.join("; "),
            });
        }
        let (_, tables) = read_summary(&mut connection).await?;
        compare("verify", &manifest.tables, &tables)?;
        Ok(tables)
    }
    .await;
    let _ = connection.close().await;
    let tables = result?;
    let copy = DatabaseConfig {
        url: format!("sqlite://{}", scratch.display()),
        ..DatabaseConfig::default()
    };
    let applied = erasures.apply_to(&copy).await?;
    Ok((
        scratch.display().to_string(),
        "ok".to_owned(),
        tables,
        applied,
    ))
}

/// The file a `sqlite://` URL names.
fn database_path(url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|source| url_error(url, &source))?;
    Ok(options.get_filename().to_path_buf())
}

fn url_error(url: &str, source: &sqlx::Error) -> BackupError {
    BackupError::Url {
        url: url.to_owned(),
        problem: source.to_string(),
    }
}

/// Opens a database file on its own. `read_only` opens it immutable too: nothing is written
/// beside it (no -wal or -shm), right for a backup file nobody else uses.
async fn open_file(path: &Path, read_only: bool) -> Result<SqliteConnection, BackupError> {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .immutable(read_only)
        .connect()
        .await
        .map_err(BackupError::db(format!(
            "cannot open the SQLite file {}",
            path.display()
        )))
}

/// Refuses a target that another process has open (a running Alice) or that holds a table
/// with rows (the migrations table aside).
async fn refuse_unless_empty(path: &Path, target_name: &str) -> Result<(), BackupError> {
    // An exclusive lock, not waited for: any other connection to the file (a running Alice
    // holds some even when idle) makes it fail at once.
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::ZERO)
        .pragma("locking_mode", "EXCLUSIVE")
        .connect()
        .await
        .map_err(|source| in_use_or(source, target_name))?;
    if let Err(source) = sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut connection)
        .await
    {
        let _ = connection.close().await;
        return Err(in_use_or(source, target_name));
    }
    let result = async {
        // Ordinary tables only: the shadow tables of a full-text index hold bookkeeping rows
        // (its configuration) even when the index is empty.
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM pragma_table_list
             WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
             ORDER BY name",
        )
        .fetch_all(&mut connection)
        .await
        .map_err(BackupError::db(format!(
            "cannot list the tables of {target_name}"
        )))?;
        for table in names {
            if BOOKKEEPING_TABLES.contains(&table.as_str()) {
                continue;
            }
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {}",
                quote_identifier(&table)
            )))
            .fetch_one(&mut connection)
            .await
            .map_err(BackupError::db(format!("cannot count the rows of {table}")))?;
            if rows > 0 {
                return Err(BackupError::TargetNotEmpty {
                    target: target_name.to_owned(),
                    table,
                    rows: u64::try_from(rows).unwrap_or(0),
                });
            }
        }
        Ok(())
    }
    .await;
    let _ = sqlx::query("ROLLBACK").execute(&mut connection).await;
    let _ = connection.close().await;
    result
}

/// "Database is locked" means another process uses the target; anything else is reported as
/// it is.
fn in_use_or(source: sqlx::Error, target_name: &str) -> BackupError {
    let locked = source
        .as_database_error()
        .and_then(|error| error.code())
        .is_some_and(|code| code == "5" || code == "6");
    if locked {
        BackupError::TargetInUse {
            target: target_name.to_owned(),
        }
    } else {
        BackupError::Database {
            context: format!(
                "cannot open the restore target {target_name} to check that it is empty"
            ),
            source,
        }
    }
}

/// The tables a backup covers: ordinary tables, FTS shadow tables included, without SQLite's
/// own and without virtual tables (whose rows live in their shadow or content tables).
async fn tables(connection: &mut SqliteConnection) -> Result<Vec<String>, BackupError> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
           AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%'
         ORDER BY name",
    )
    .fetch_all(connection)
    .await
    .map_err(BackupError::db("cannot list the tables"))
}

/// The schema version and every table's rows and checksum.
async fn read_summary(
    connection: &mut SqliteConnection,
) -> Result<(Option<i64>, BTreeMap<String, TableSummary>), BackupError> {
    let names = tables(connection).await?;
    let schema_version = if names.iter().any(|name| name == MIGRATIONS_TABLE) {
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut *connection)
            .await
            .map_err(BackupError::db("cannot read the schema version"))?
    } else {
        None
    };
    let mut summaries = BTreeMap::new();
    for table in names {
        let summary = table_summary(connection, &table).await?;
        summaries.insert(table, summary);
    }
    Ok((schema_version, summaries))
}

async fn table_summary(
    connection: &mut SqliteConnection,
    table: &str,
) -> Result<TableSummary, BackupError> {
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
        .bind(table)
        .fetch_all(&mut *connection)
        .await
        .map_err(BackupError::db(format!(
            "cannot read the columns of {table}"
        )))?;
    let row_text = if columns.is_empty() {
        "''".to_owned()
    } else {
        columns
            .iter()
            .map(|column| format!("quote({})", quote_identifier(column)))
            .collect::<Vec<_>>()
            .join(" || ',' || ")
    };
    let query = format!("SELECT {row_text} FROM {}", quote_identifier(table));
    let mut digest = RowDigest::new();
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(query)).fetch(&mut *connection);
    let context = format!("cannot read the rows of {table}");
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(BackupError::db(context.clone()))?
    {
        let text: Option<String> = row.try_get(0).map_err(BackupError::db(context.clone()))?;
        digest.add_row(text.unwrap_or_default().as_bytes());
    }
    Ok(digest.finish())
}

async fn copy_synced(from: &Path, to: &Path) -> Result<(), BackupError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    run_blocking(move || {
        let context = format!("cannot copy {} to {}", from.display(), to.display());
        std::fs::copy(&from, &to).map_err(BackupError::io(context.clone()))?;
        std::fs::File::open(&to)
            .and_then(|file| file.sync_all())
            .map_err(BackupError::io(context))
    })
    .await
}

/// Removes a temporary file when dropped, whatever happened (a no-op once it was renamed).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes a scratch directory and what it holds when dropped.
struct RemoveDirOnDrop(PathBuf);

impl Drop for RemoveDirOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
