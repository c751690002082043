//! Backups: make one while Alice serves, restore one into an empty database, and verify one by
//! restoring it into a scratch database.
//!
//! A backup is a directory with three files:
//! - the data file: `alice.db` (SQLite, written by `VACUUM INTO`) or `alice.dump` (PostgreSQL,
//!   `pg_dump --format=custom`);
//! - `erasures.ndjson`: the erasure log as the snapshot held it ([`crate::erasure_log`]);
//! - `manifest.json` ([`Manifest`]): when it was made, the engine, the schema version (the
//!   highest version in `_sqlx_migrations`), the row count and a content checksum of every table,
//!   and the sha256 of the data file and of the erasure log's copy.
//!
//! A restore and a verification apply the erasure log to what they restore: every tombstone
//! erased after the backup was taken, from the configured `database.erasure_log` and from the
//! backups beside this one, is applied before the database is put in place (or, for
//! PostgreSQL, before the restore reports success; on failure the restored tables are dropped
//! again), so an erased person does not come back with an old backup.
//!
//! The counts and checksums describe exactly the data in the backup, also when other connections
//! write while it is made: for SQLite they are computed from the backup file itself; for
//! PostgreSQL inside the REPEATABLE READ transaction whose exported snapshot `pg_dump` dumps.
//!
//! Tables are found at run time, so the backup follows the schema as migrations change it.
//! SQLite: every ordinary table in `sqlite_master` except SQLite's own (`sqlite_%`); virtual
//! tables (FTS5) are skipped, since their data lives in their shadow tables (`memories_fts_data`,
//! …), which are ordinary tables and so are counted and checksummed like any other.
//! PostgreSQL: every ordinary or partitioned table (not the partitions, which their parent
//! covers) in Alice's schema.
//!
//! A table's checksum does not depend on row order: each row is hashed on its own and the row
//! hashes are added up (modulo 2^256 for SQLite, in two 64-bit halves summed as `numeric` by
//! PostgreSQL), so it streams through a table of any size without sorting it. The two engines
//! hash differently (the manifest names the algorithm); a backup is only ever compared with a
//! database of its own engine.

mod checksum;
mod manifest;
mod postgres;
mod sqlite;

pub use crate::engine::Engine;
pub use manifest::{
    ErasureLogCopy, FORMAT_VERSION, MANIFEST_FILE, Manifest, POSTGRES_DATA_FILE, SQLITE_DATA_FILE,
    TableSummary,
};

use crate::erasure_log::{self, Applied, ErasureLogError, Tombstone};
use alice_core::config::DatabaseConfig;
use checksum::sha256_file;
use manifest::write_manifest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a restore did.
#[derive(Clone, Debug)]
pub struct RestoreReport {
    /// The database restored into (without password).
    pub target: String,
    pub engine: Engine,
    pub schema_version: Option<i64>,
    /// The restored tables, as counted and checksummed after the restore (equal to the
    /// manifest's), before the erasure log was applied.
    pub tables: BTreeMap<String, TableSummary>,
    /// The erasures applied to the restored database: every tombstone newer than the backup.
    pub erasures: Vec<Applied>,
}

impl RestoreReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

/// What a verification found (always a match: a difference is an error).
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub engine: Engine,
    /// Where the backup was restored for the check (now removed).
    pub scratch: String,
    pub schema_version: Option<i64>,
    /// The data file's sha256, as checked against the manifest.
    pub data_sha256: String,
    /// SQLite: the result of `PRAGMA integrity_check` ("ok"); None for PostgreSQL.
    pub integrity_check: Option<String>,
    pub tables: BTreeMap<String, TableSummary>,
    /// The erasures a restore of this backup would apply (they were applied to the scratch
    /// database).
    pub erasures: Vec<Applied>,
}

impl VerifyReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

/// What can go wrong with a backup. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the backup directory {} already exists and is not empty: give a new or empty directory \
         (a backup never overwrites files)",
        .dir.display()
    )]
    DirNotEmpty { dir: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Database {
        context: String,
        source: sqlx::Error,
    },
    #[error("invalid database URL {url}: {problem}")]
    Url { url: String, problem: String },
    #[error(
        "the SQLite database {} does not exist: there is nothing to back up (check database.url)",
        .path.display()
    )]
    NoDatabase { path: PathBuf },
    #[error(
        "{} is not an Alice backup: {problem} (a backup is the directory `alice backup` wrote)",
        .dir.display()
    )]
    NotABackup { dir: PathBuf, problem: String },
    #[error(
        "the backup's manifest has format version {found}, newer than this Alice reads \
         ({FORMAT_VERSION}): restore it with the Alice version that made it, or a newer one"
    )]
    NewerFormat { found: u32 },
    #[error(
        "the backup's data file {file} is missing: the backup is incomplete; use another backup"
    )]
    MissingData { file: String },
    #[error(
        "the backup's data file {file} does not match its manifest checksum (expected {expected}, \
         found {found}): the backup is damaged; use another backup"
    )]
    DataChecksum {
        file: String,
        expected: String,
        found: String,
    },
    #[error(
        "the target database {target} is not empty: table {table} holds {rows} rows; restore \
         only into an empty database (point database.url at a new file or database, or remove \
         the data there first)"
    )]
    TargetNotEmpty {
        target: String,
        table: String,
        rows: u64,
    },
    #[error(
        "the target database {target} is in use by another process (is Alice running?): stop \
         it, then restore"
    )]
    TargetInUse { target: String },
    #[error(
        "this is a {backup} backup and the target database is {target}: restore into a database \
         of the same engine"
    )]
    EngineMismatch { backup: Engine, target: Engine },
    #[error(
        "the backup holds PostgreSQL schema {backup:?} and the target uses schema {target:?}: a \
         dump restores into the schema it was made from; set database.schema = \"{backup}\" for \
         the restore (in another database if that schema is taken)"
    )]
    SchemaMismatch { backup: String, target: String },
    #[error(
        "{stage}: table {table} does not match the manifest: {problem}; the backup is damaged or \
         was restored incompletely; use another backup"
    )]
    Mismatch {
        stage: &'static str,
        table: String,
        problem: String,
    },
    #[error(
        "SQLite's integrity check of the restored backup failed ({report}): the backup is \
         damaged; use another backup"
    )]
    Integrity { report: String },
    #[error(
        "`{program}` was not found: install the PostgreSQL client tools (apt-get install \
         postgresql-client), in a version at least the server's"
    )]
    ToolMissing { program: &'static str },
    #[error("`{program}` failed ({status}): {stderr}")]
    ToolFailed {
        program: &'static str,
        status: String,
        stderr: String,
    },
    #[error(
        "the restored database was not put to use, because the erasure log could not be applied \
         to it: {0}"
    )]
    Erasures(#[from] ErasureLogError),
    #[error("{0}")]
    Other(String),
}

impl BackupError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Io { context, source }
    }

    fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BackupError {
        let context = context.into();
        move |source| BackupError::Database { context, source }
    }
}

/// Makes a backup of the configured database in `dir`, which is created and must be new or
/// empty, while Alice may go on serving. Returns the manifest it wrote.
pub async fn create(config: &DatabaseConfig, dir: &Path) -> Result<Manifest, BackupError> {
    let created_dir = prepare_dir(dir).await?;
    let engine = Engine::of(config);
    let data_path = dir.join(engine.data_file());
    let result = create_in(config, dir, engine, &data_path).await;
    if result.is_err() {
        // A failed backup leaves nothing behind that could pass for one: the directory is as
        // it was, so the same command can simply be run again.
        let _ = tokio::fs::remove_file(&data_path).await;
        let _ = tokio::fs::remove_file(dir.join(erasure_log::BACKUP_FILE)).await;
        let _ = tokio::fs::remove_file(dir.join(format!("{MANIFEST_FILE}.tmp"))).await;
        if created_dir {
            let _ = tokio::fs::remove_dir(dir).await;
        }
    }
    result
}

async fn create_in(
    config: &DatabaseConfig,
    dir: &Path,
    engine: Engine,
    data_path: &Path,
) -> Result<Manifest, BackupError> {
    // The data file is made owner-only before anything is written to it (VACUUM INTO takes
    // an empty file, pg_dump truncates one), and again after, in case a tool replaced it.
    let data_file = data_path.to_path_buf();
    run_blocking(move || {
        crate::private_file::create(&data_file)
            .map(drop)
            .map_err(BackupError::io(format!(
                "cannot create {}",
                data_file.display()
            )))
    })
    .await?;
    let snapshot = match engine {
        Engine::Sqlite => sqlite::create(config, data_path).await?,
        Engine::Postgres => postgres::create(config, data_path).await?,
    };
    crate::private_file::restrict(data_path).map_err(BackupError::io(format!(
        "cannot make {} readable by its owner alone",
        data_path.display()
    )))?;
    let (data_sha256, data_bytes) = sha256_file(data_path).await?;
    let erasure_log = write_erasure_copy(dir, snapshot.tombstones).await?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at: snapshot
            .taken_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        alice_version: env!("CARGO_PKG_VERSION").to_owned(),
        engine,
        schema_version: snapshot.schema_version,
        source: snapshot.source,
        postgres_schema: snapshot.postgres_schema,
        data_file: engine.data_file().to_owned(),
        data_sha256,
        data_bytes,
        checksum_algorithm: match engine {
            Engine::Sqlite => sqlite::CHECKSUM_ALGORITHM,
            Engine::Postgres => postgres::CHECKSUM_ALGORITHM,
        }
        .to_owned(),
        tables: snapshot.tables,
        erasure_log: Some(erasure_log),
    };
    write_manifest(dir, &manifest).await?;
    Ok(manifest)
}

/// Writes the snapshot's erasure log beside the manifest.
async fn write_erasure_copy(
    dir: &Path,
    tombstones: Vec<Tombstone>,
) -> Result<ErasureLogCopy, BackupError> {
    let path = dir.join(erasure_log::BACKUP_FILE);
    let count = u64::try_from(tombstones.len()).unwrap_or(u64::MAX);
    let file = path.clone();
    run_blocking(move || Ok(erasure_log::write(&file, &tombstones)?)).await?;
    let (sha256, _) = sha256_file(&path).await?;
    Ok(ErasureLogCopy {
        file: erasure_log::BACKUP_FILE.to_owned(),
        tombstones: count,
        sha256,
    })
}

/// The erasures a restore of a backup must apply: the tombstones gathered for it, and when the
/// backup was taken (only those erased later are applied).
pub(super) struct PendingErasures {
    tombstones: Vec<Tombstone>,
    taken_at: chrono::DateTime<chrono::Utc>,
}

impl PendingErasures {
    fn gather(
        backup_dir: &Path,
        manifest: &Manifest,
        log_file: &Path,
    ) -> Result<Self, BackupError> {
        if let Some(copy) = &manifest.erasure_log {
            check_erasure_copy(backup_dir, copy)?;
        }
        Ok(Self {
            tombstones: erasure_log::gather(backup_dir, log_file)?,
            taken_at: manifest.taken_at()?,
        })
    }

    /// Whether any tombstone is newer than the backup (and so may have to be applied).
    fn any(&self) -> bool {
        self.tombstones
            .iter()
            .any(|tombstone| tombstone.erased_at > self.taken_at)
    }

    /// Opens the restored database (applying pending migrations) and applies the erasures.
    /// With none newer than the backup there is nothing to apply, and the database is left
    /// as restored (its migrations run when Alice next opens it).
    async fn apply_to(&self, database: &DatabaseConfig) -> Result<Vec<Applied>, BackupError> {
        if !self.any() {
            return Ok(Vec::new());
        }
        let store = crate::Store::open(database)
            .await
            .map_err(ErasureLogError::from)?;
        let applied = erasure_log::apply(&store, &self.tombstones, self.taken_at).await;
        store.close().await;
        if let Ok(applied) = &applied {
            for erasure in applied {
                tracing::info!(
                    evt = "restore_erasure_applied",
                    tombstone = %erasure.tombstone,
                    users = erasure.users,
                    messages = erasure.erased.messages,
                );
            }
        }
        Ok(applied?)
    }
}

/// Checks the erasure log's copy in a backup against the manifest.
fn check_erasure_copy(backup_dir: &Path, copy: &ErasureLogCopy) -> Result<(), BackupError> {
    let path = backup_dir.join(&copy.file);
    let bytes = std::fs::read(&path).map_err(BackupError::io(format!(
        "cannot read the backup's erasure log {}",
        path.display()
    )))?;
    let found = checksum::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if found != copy.sha256 {
        return Err(BackupError::DataChecksum {
            file: copy.file.clone(),
            expected: copy.sha256.clone(),
            found,
        });
    }
    Ok(())
}

/// Restores the backup in `backup_dir` into the target database, which must be empty (no
/// table with rows; migrations bookkeeping aside), then checks the restored tables against the
/// manifest.
pub async fn restore(
    backup_dir: &Path,
    target: &DatabaseConfig,
) -> Result<RestoreReport, BackupError> {
    let manifest = Manifest::read(backup_dir)?;
    let data_path = check_data_file(backup_dir, &manifest).await?;
    let engine = Engine::of(target);
    if engine != manifest.engine {
        return Err(BackupError::EngineMismatch {
            backup: manifest.engine,
            target: engine,
        });
    }
    let erasures = PendingErasures::gather(backup_dir, &manifest, &target.erasure_log)?;
    let (target, tables, erasures) = match engine {
        Engine::Sqlite => sqlite::restore(&data_path, &manifest, target, &erasures).await?,
        Engine::Postgres => postgres::restore(&data_path, &manifest, target, &erasures).await?,
    };
    Ok(RestoreReport {
        target,
        engine,
        schema_version: manifest.schema_version,
        tables,
        erasures,
    })
}

/// Verifies a backup: checks the data file against the manifest, restores it into a scratch
/// database, checks it (SQLite: `PRAGMA integrity_check`) and compares every table's rows and
/// checksum with the manifest. The scratch database is removed afterwards, also on failure.
///
/// SQLite restores into a temporary file (under `TMPDIR`). PostgreSQL creates a database
/// `alice_verify_<random>` on the server the backup was made from (the manifest's `source`,
/// which has no password: give it through `PGPASSWORD` or `~/.pgpass`, or use
/// [`verify_on_server`]); the user needs the CREATEDB privilege.
pub async fn verify(backup_dir: &Path, erasure_log: &Path) -> Result<VerifyReport, BackupError> {
    verify_inner(backup_dir, None, erasure_log).await
}

/// [`verify`], with the PostgreSQL scratch database created through `server_url` (a
/// `postgres://` URL, password allowed, naming any database the user may connect to) instead of
/// the manifest's source. Ignored for SQLite backups.
pub async fn verify_on_server(
    backup_dir: &Path,
    server_url: &str,
    erasure_log: &Path,
) -> Result<VerifyReport, BackupError> {
    verify_inner(backup_dir, Some(server_url), erasure_log).await
}

async fn verify_inner(
    backup_dir: &Path,
    server_url: Option<&str>,
    erasure_log: &Path,
) -> Result<VerifyReport, BackupError> {
    let manifest = Manifest::read(backup_dir)?;
    let data_path = check_data_file(backup_dir, &manifest).await?;
    let erasures = PendingErasures::gather(backup_dir, &manifest, erasure_log)?;
    let (scratch, integrity_check, tables, erasures) = match manifest.engine {
        Engine::Sqlite => {
            let (scratch, integrity, tables, applied) =
                sqlite::verify(&data_path, &manifest, &erasures).await?;
            (scratch, Some(integrity), tables, applied)
        }
        Engine::Postgres => {
            let (scratch, tables, applied) =
                postgres::verify(&data_path, &manifest, server_url, &erasures).await?;
            (scratch, None, tables, applied)
        }
    };
    Ok(VerifyReport {
        engine: manifest.engine,
        scratch,
        schema_version: manifest.schema_version,
        data_sha256: manifest.data_sha256.clone(),
        integrity_check,
        tables,
        erasures,
    })
}

/// What an engine's backup step hands back for the manifest.
struct Snapshot {
    taken_at: chrono::DateTime<chrono::Utc>,
    source: String,
    postgres_schema: Option<String>,
    schema_version: Option<i64>,
    tables: BTreeMap<String, TableSummary>,
    /// The erasure log as the snapshot held it.
    tombstones: Vec<Tombstone>,
}

/// The migrations table.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";
/// Tables a freshly migrated, empty database already has rows in (the migrations' own record,
/// and the erasure key a migration makes), so their rows do not make a restore target "not
/// empty".
const BOOKKEEPING_TABLES: [&str; 2] = [MIGRATIONS_TABLE, "erasure_key"];

/// Creates `dir` (and its parents) or accepts it when it exists and is empty; returns whether
/// it created it.
async fn prepare_dir(dir: &Path) -> Result<bool, BackupError> {
    match tokio::fs::read_dir(dir).await {
        Ok(mut entries) => {
            let first = entries
                .next_entry()
                .await
                .map_err(BackupError::io(format!("cannot list {}", dir.display())))?;
            if first.is_some() {
                return Err(BackupError::DirNotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
            Ok(false)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(BackupError::io(format!(
                    "cannot create the backup directory {}",
                    dir.display()
                )))?;
            crate::private_file::restrict_dir(dir).map_err(BackupError::io(format!(
                "cannot make the backup directory {} usable by its owner alone",
                dir.display()
            )))?;
            Ok(true)
        }
        Err(source) => Err(BackupError::Io {
            context: format!("cannot open the backup directory {}", dir.display()),
            source,
        }),
    }
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Runs blocking file work off the async threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| BackupError::Io {
            context: "a file task failed".into(),
            source: std::io::Error::other(error),
        })?
}

/// Checks the data file named by the manifest against the manifest's sha256; returns its path.
async fn check_data_file(backup_dir: &Path, manifest: &Manifest) -> Result<PathBuf, BackupError> {
    let path = backup_dir.join(&manifest.data_file);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(BackupError::MissingData {
            file: path.display().to_string(),
        });
    }
    let (found, _) = sha256_file(&path).await?;
    if found != manifest.data_sha256 {
        return Err(BackupError::DataChecksum {
            file: manifest.data_file.clone(),
            expected: manifest.data_sha256.clone(),
            found,
        });
    }
    Ok(path)
}

/// A short random name part for scratch databases and temporary files.
fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
