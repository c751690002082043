//! Backups taken while a writer keeps inserting, then verified and restored; damaged backups and
//! non-empty targets refused with messages that say what to do.
//!
//! The databases are made with plain sqlx (tables shaped like Alice's, a `_sqlx_migrations`
//! table), so these tests do not depend on the store's own code. PostgreSQL tests run when
//! `ALICE_TEST_POSTGRES_URL` is set (e.g. postgres://postgres@127.0.0.1:5432/test); each uses a
//! schema and databases of its own and drops them at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use alice_core::config::DatabaseConfig;
use alice_store::backup::{self, BackupError, Manifest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// SQLite

/// An erasure log that does not exist: these databases have had no erasure.
fn no_erasure_log() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "alice-no-erasure-log-{}.ndjson",
        std::process::id()
    ))
}

fn sqlite_config(path: &Path) -> DatabaseConfig {
    DatabaseConfig {
        url: format!("sqlite://{}", path.display()),
        ..DatabaseConfig::default()
    }
}

/// A WAL-mode database shaped like Alice's: migrations, users, conversations, messages, and a
/// full-text index (a virtual table with shadow tables).
async fn sqlite_database(path: &Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    pool.execute(
        "CREATE TABLE _sqlx_migrations (
             version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (1, 'conversations', 1, x'00', 1), (2, 'memories', 1, x'01', 1);
         CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE);
         CREATE TABLE conversations (
             id TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), title TEXT);
         CREATE TABLE messages (
             id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id),
             seq INTEGER NOT NULL, content TEXT NOT NULL, score REAL, raw BLOB);
         CREATE VIRTUAL TABLE notes_fts USING fts5(body);
         INSERT INTO users (username) VALUES ('anna'), ('björn');
         INSERT INTO notes_fts (body) VALUES ('kom ihåg mjölk'), ('tandläkare på tisdag');",
    )
    .await
    .unwrap();
    pool
}

/// One turn: a conversation and its two messages, in one transaction (so a consistent
/// snapshot always holds twice as many messages as conversations).
async fn sqlite_turn(pool: &SqlitePool, n: u64) {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
    let conversation = format!("c{n}");
    sqlx::query("INSERT INTO conversations (id, user_id, title) VALUES (?, 1 + ? % 2, ?)")
        .bind(&conversation)
        .bind(i64::try_from(n).unwrap())
        .bind(format!("Samtal {n} – åäö"))
        .execute(&mut *tx)
        .await
        .unwrap();
    for seq in 1..=2_i64 {
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, content, score, raw)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(format!("m{n}-{seq}"))
        .bind(&conversation)
        .bind(seq)
        .bind(format!("meddelande {n}/{seq} {}", "x".repeat(400)))
        .bind(n as f64 / 3.0)
        .bind(vec![u8::try_from(n % 251).unwrap(); 16])
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Writes turns until told to stop; counts them.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start<F, Fut>(first: u64, turn: F) -> Writer
    where
        F: Fn(u64) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, written) = (stop.clone(), written.clone());
            async move {
                let mut n = first;
                while !stop.load(Ordering::Relaxed) {
                    turn(n).await;
                    n += 1;
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Writer {
            stop,
            written,
            task,
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    async fn wait_for(&self, at_least: u64) {
        tokio::time::timeout(Duration::from_secs(60), async {
            while self.written() < at_least {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the writer should keep writing");
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        self.written.load(Ordering::Relaxed)
    }
}

fn rows(manifest: &Manifest, table: &str) -> u64 {
    manifest.tables.get(table).map_or_else(
        || panic!("{table} missing from {:?}", manifest.tables.keys()),
        |t| t.rows,
    )
}

async fn sqlite_counts(path: &Path) -> BTreeMap<String, u64> {
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for table in ["users", "conversations", "messages", "_sqlx_migrations"] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut connection)
                .await
                .unwrap();
        counts.insert(table.to_owned(), u64::try_from(n).unwrap());
    }
    counts
}

fn flip_bytes(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_taken_under_writes_verifies_and_restores_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("live/alice.db");
    std::fs::create_dir_all(source.parent().unwrap()).unwrap();
    let pool = sqlite_database(&source).await;
    for n in 0..300 {
        sqlite_turn(&pool, n).await;
    }
    let writer = Writer::start(300, {
        let pool = pool.clone();
        move |n| {
            let pool = pool.clone();
            async move { sqlite_turn(&pool, n).await }
        }
    });
    writer.wait_for(20).await;

    let before = writer.written();
    let backup_dir = dir.path().join("backups/2025-01-01");
    let manifest = backup::create(&sqlite_config(&source), &backup_dir)
        .await
        .unwrap();
    let during = writer.written() - before;
    // The backup holds everyone's data: only its owner may read it, whatever the umask.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backup_dir), 0o700);
    for file in [manifest.data_file.as_str(), "manifest.json"] {
        assert_eq!(mode(&backup_dir.join(file)), 0o600, "{file}");
    }
    writer.wait_for(writer.written() + 20).await;
    let total = 300 + writer.stop().await;
    pool.close().await;
    println!("turns written while the backup ran: {during}; in all: {total}");

    // The snapshot is one consistent point: whole turns only, fewer than were written in all.
    let conversations = rows(&manifest, "conversations");
    assert!(conversations >= 320, "{conversations}");
    assert!(conversations < total, "{conversations} of {total}");
    assert_eq!(rows(&manifest, "messages"), 2 * conversations);
    assert_eq!(rows(&manifest, "users"), 2);
    assert_eq!(manifest.schema_version, Some(2));
    assert_eq!(manifest.engine, backup::Engine::Sqlite);
    assert_eq!(manifest.data_file, "alice.db");
    assert_eq!(manifest.data_sha256.len(), 64);
    assert!(chrono::DateTime::parse_from_rfc3339(&manifest.created_at).is_ok());
    // FTS shadow tables are data and are covered; the virtual table and SQLite's own are not.
    assert!(manifest.tables.contains_key("notes_fts_data"));
    assert!(!manifest.tables.contains_key("notes_fts"));
    assert!(manifest.tables.keys().all(|t| !t.starts_with("sqlite_")));
    // The manifest on disk is the one returned.
    assert_eq!(Manifest::read(&backup_dir).unwrap(), manifest);
    // Nothing but the three files: no -wal or -shm next to the backup.
    let mut files: Vec<String> = std::fs::read_dir(&backup_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["alice.db", "erasures.ndjson", "manifest.json"]);
    let copy = manifest.erasure_log.as_ref().unwrap();
    assert_eq!(
        copy.tombstones, 0,
        "a database without an erasure log has none"
    );

    let verified = backup::verify(&backup_dir, &no_erasure_log())
        .await
        .unwrap();
    assert_eq!(verified.tables, manifest.tables);
    assert_eq!(verified.integrity_check.as_deref(), Some("ok"));
    assert!(
        !Path::new(&verified.scratch).exists(),
        "the scratch copy is removed"
    );

    let target = dir.path().join("restored/alice.db");
    let restored = backup::restore(&backup_dir, &sqlite_config(&target))
        .await
        .unwrap();
    assert_eq!(restored.tables, manifest.tables);
    assert_eq!(restored.schema_version, Some(2));
    let counts = sqlite_counts(&target).await;
    for (table, n) in &counts {
        assert_eq!(*n, rows(&manifest, table), "{table}");
    }
    // The restored copy is a working database: Alice can write to it.
    let pool = sqlite_database_at(&target).await;
    sqlite_turn(&pool, 1_000_000).await;
    pool.close().await;
}

async fn sqlite_database_at(path: &Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_damaged_sqlite_backup_is_refused_by_restore_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("alice.db");
    let pool = sqlite_database(&source).await;
    for n in 0..200 {
        sqlite_turn(&pool, n).await;
    }
    pool.close().await;
    let backup_dir = dir.path().join("backup");
    backup::create(&sqlite_config(&source), &backup_dir)
        .await
        .unwrap();
    flip_bytes(&backup_dir.join("alice.db"));

    let target = dir.path().join("restored/alice.db");
    let error = backup::restore(&backup_dir, &sqlite_config(&target))
        .await
        .unwrap_err();
    assert!(matches!(error, BackupError::DataChecksum { .. }), "{error}");
    let message = error.to_string();
    for part in [
        "alice.db does not match its manifest checksum",
        "the backup is damaged; use another backup",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(!target.exists(), "nothing was restored");
    let error = backup::verify(&backup_dir, &no_erasure_log())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not match its manifest checksum"),
        "{error}"
    );

    // A backup whose data changed before its checksum was taken (the manifest's sha256 fixed
    // up to match): verify still finds the difference, and names the table.
    let backup_dir = dir.path().join("backup-2");
    backup::create(&sqlite_config(&source), &backup_dir)
        .await
        .unwrap();
    let data = backup_dir.join("alice.db");
    let mut connection = SqliteConnectOptions::new()
        .filename(&data)
        .connect()
        .await
        .unwrap();
    sqlx::query("UPDATE messages SET content = 'ändrad' WHERE id = 'm7-1'")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let mut manifest = Manifest::read(&backup_dir).unwrap();
    manifest.data_sha256 = sha256_hex(&data);
    std::fs::write(
        backup_dir.join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let error = backup::verify(&backup_dir, &no_erasure_log())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("table messages"), "{error}");
    assert!(error.contains("checksum"), "{error}");

    // Not a backup at all.
    let error = backup::verify(dir.path(), &no_erasure_log())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not an Alice backup"), "{error}");
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_sqlite_restore_into_a_database_with_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("alice.db");
    let pool = sqlite_database(&source).await;
    for n in 0..10 {
        sqlite_turn(&pool, n).await;
    }
    let backup_dir = dir.path().join("backup");
    backup::create(&sqlite_config(&source), &backup_dir)
        .await
        .unwrap();
    sqlite_turn(&pool, 10).await;

    // While another process (here: a pool) has the database open, it is not touched.
    let error = backup::restore(&backup_dir, &sqlite_config(&source))
        .await
        .unwrap_err();
    assert!(matches!(error, BackupError::TargetInUse { .. }), "{error}");
    assert!(error.to_string().contains("is Alice running?"), "{error}");
    pool.close().await;

    let error = backup::restore(&backup_dir, &sqlite_config(&source))
        .await
        .unwrap_err();
    assert!(
        matches!(error, BackupError::TargetNotEmpty { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(&source.display().to_string()), "{message}");
    assert!(
        message.contains("restore only into an empty database"),
        "{message}"
    );
    assert_eq!(
        sqlite_counts(&source).await["conversations"],
        11,
        "the target is untouched"
    );

    // A database with Alice's tables but no rows (a fresh `alice serve`) may be replaced.
    let fresh = dir.path().join("fresh.db");
    let pool = sqlite_database(&fresh).await;
    pool.execute("DELETE FROM notes_fts; DELETE FROM users")
        .await
        .unwrap();
    pool.close().await;
    let restored = backup::restore(&backup_dir, &sqlite_config(&fresh))
        .await
        .unwrap();
    assert_eq!(restored.tables["conversations"].rows, 10);
    assert_eq!(sqlite_counts(&fresh).await["messages"], 20);
    assert!(!dir.path().join("fresh.db-wal").exists());

    // A backup never writes into a directory that holds something.
    let error = backup::create(&sqlite_config(&source), &backup_dir)
        .await
        .unwrap_err();
    assert!(matches!(error, BackupError::DirNotEmpty { .. }), "{error}");
    // Nor backs up a database that does not exist (it would create an empty one).
    let missing = dir.path().join("saknas.db");
    let error = backup::create(&sqlite_config(&missing), &dir.path().join("b3"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(!missing.exists());
    assert!(
        !dir.path().join("b3").exists(),
        "a failed backup leaves no directory behind"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// The server to test against, or None (the test prints that it is skipped).
fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("ALICE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped {test}: ALICE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// `url` with its database replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{server}/{database}{query}")
}

fn random_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Drops the test's schema and databases when the test ends, passed or failed.
struct PgCleanup {
    url: String,
    schemas: Vec<String>,
    databases: Vec<String>,
}

impl Drop for PgCleanup {
    fn drop(&mut self) {
        let url = self.url.clone();
        let schemas = std::mem::take(&mut self.schemas);
        let databases = std::mem::take(&mut self.databases);
        // A thread with its own runtime: Drop may run inside the test's runtime.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut connection = PgConnectOptions::from_str(&url)
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
                for schema in schemas {
                    connection
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS {schema} CASCADE"
                        )))
                        .await
                        .unwrap();
                }
                for database in databases {
                    connection
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                        )))
                        .await
                        .unwrap();
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn pg_pool(url: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url).unwrap();
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .unwrap_or_else(|error| {
            panic!("ALICE_TEST_POSTGRES_URL is set but {url} is unreachable: {error}")
        })
}

async fn pg_tables(pool: &PgPool, schema: &str) {
    pool.execute(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA {schema};
         SET search_path TO {schema};
         CREATE TABLE _sqlx_migrations (
             version BIGINT PRIMARY KEY, description TEXT NOT NULL,
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
             checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL);
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (1, 'conversations', true, '\\x00', 1), (3, 'memories', true, '\\x01', 1);
         CREATE TABLE users (id BIGSERIAL PRIMARY KEY, username TEXT NOT NULL UNIQUE);
         CREATE TABLE conversations (
             id TEXT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id),
             title TEXT, started_at TIMESTAMPTZ NOT NULL DEFAULT now());
         CREATE TABLE messages (
             id TEXT PRIMARY KEY,
             conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
             seq INTEGER NOT NULL, content TEXT NOT NULL, score DOUBLE PRECISION, raw BYTEA,
             metadata JSONB NOT NULL DEFAULT '{{}}');
         CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
         INSERT INTO users (username) VALUES ('anna'), ('björn');
         RESET search_path;"
    )))
    .await
    .unwrap();
}

async fn pg_turn(pool: &PgPool, schema: &str, n: u64) {
    let mut tx = pool.begin().await.unwrap();
    let conversation = format!("c{n}");
    let n = i64::try_from(n).unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.conversations (id, user_id, title) VALUES ($1, 1 + $2 % 2, $3)"
    )))
    .bind(&conversation)
    .bind(n)
    .bind(format!("Samtal {n} – åäö"))
    .execute(&mut *tx)
    .await
    .unwrap();
    for seq in 1..=2_i32 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.messages (id, conversation_id, seq, content, score, raw, metadata)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        )))
        .bind(format!("m{n}-{seq}"))
        .bind(&conversation)
        .bind(seq)
        .bind(format!("meddelande {n}/{seq} {}", "x".repeat(200)))
        .bind(n as f64 / 3.0)
        .bind(vec![u8::try_from(n % 251).unwrap(); 16])
        .bind(format!("{{\"n\": {n}}}"))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn pg_count(pool: &PgPool, schema: &str, table: &str) -> u64 {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.{table}"
    )))
    .fetch_one(pool)
    .await
    .unwrap();
    u64::try_from(n).unwrap()
}

async fn database_exists(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_taken_under_writes_verifies_and_restores_exactly() {
    let Some(url) =
        postgres_url("a_postgres_backup_taken_under_writes_verifies_and_restores_exactly")
    else {
        return;
    };
    let schema = random_name("alice_test_backup");
    let restore_db = random_name("alice_test_backup_restore");
    let _cleanup = PgCleanup {
        url: url.clone(),
        schemas: vec![schema.clone()],
        databases: vec![restore_db.clone()],
    };
    let pool = pg_pool(&url).await;
    pg_tables(&pool, &schema).await;
    for n in 0..300 {
        pg_turn(&pool, &schema, n).await;
    }
    let writer = Writer::start(300, {
        let (pool, schema) = (pool.clone(), schema.clone());
        move |n| {
            let (pool, schema) = (pool.clone(), schema.clone());
            async move { pg_turn(&pool, &schema, n).await }
        }
    });
    writer.wait_for(20).await;
    let config = DatabaseConfig {
        url: url.clone(),
        schema: Some(schema.clone()),
        ..DatabaseConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let backup_dir = dir.path().join("backup");
    let before = writer.written();
    let manifest = backup::create(&config, &backup_dir).await.unwrap();
    let during = writer.written() - before;
    // The backup holds everyone's data: only its owner may read it, whatever the umask.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backup_dir), 0o700);
    for file in [manifest.data_file.as_str(), "manifest.json"] {
        assert_eq!(mode(&backup_dir.join(file)), 0o600, "{file}");
    }
    writer.wait_for(writer.written() + 20).await;
    let total = 300 + writer.stop().await;
    println!("turns written while the backup ran: {during}; in all: {total}");

    let conversations = rows(&manifest, "conversations");
    assert!(conversations >= 320, "{conversations}");
    assert!(conversations < total, "{conversations} of {total}");
    assert_eq!(rows(&manifest, "messages"), 2 * conversations);
    assert_eq!(rows(&manifest, "users"), 2);
    assert_eq!(manifest.schema_version, Some(3));
    assert_eq!(manifest.engine, backup::Engine::Postgres);
    assert_eq!(manifest.data_file, "alice.dump");
    assert_eq!(manifest.postgres_schema.as_deref(), Some(schema.as_str()));
    assert!(
        manifest.source.starts_with("postgres://"),
        "{}",
        manifest.source
    );

    let verified = backup::verify(&backup_dir, &no_erasure_log())
        .await
        .unwrap();
    assert_eq!(verified.tables, manifest.tables);
    let scratch_db = verified
        .scratch
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert!(scratch_db.starts_with("alice_verify_"), "{scratch_db}");
    assert!(
        !database_exists(&pool, &scratch_db).await,
        "the scratch database is dropped"
    );

    // Restored into a new, empty database, in the same schema.
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {restore_db}")))
        .await
        .unwrap();
    let restore_url = with_database(&url, &restore_db);
    let target = DatabaseConfig {
        url: restore_url.clone(),
        schema: Some(schema.clone()),
        ..DatabaseConfig::default()
    };
    let restored = backup::restore(&backup_dir, &target).await.unwrap();
    assert_eq!(restored.tables, manifest.tables);
    let restored_pool = pg_pool(&restore_url).await;
    for table in ["users", "conversations", "messages", "_sqlx_migrations"] {
        assert_eq!(
            pg_count(&restored_pool, &schema, table).await,
            rows(&manifest, table),
            "{table}"
        );
    }
    // Sequences came along: the next user gets a fresh id.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.users (username) VALUES ('cecilia')"
    )))
    .execute(&restored_pool)
    .await
    .unwrap();

    // The restored database now has rows: a second restore is refused, naming the target.
    let error = backup::restore(&backup_dir, &target).await.unwrap_err();
    assert!(
        matches!(error, BackupError::TargetNotEmpty { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(&restore_db), "{message}");
    assert!(
        message.contains("restore only into an empty database"),
        "{message}"
    );
    restored_pool.close().await;

    // A dump restores only into the schema it was made from.
    let other = DatabaseConfig {
        schema: Some("alice_other".into()),
        ..target.clone()
    };
    let error = backup::restore(&backup_dir, &other).await.unwrap_err();
    assert!(
        matches!(error, BackupError::SchemaMismatch { .. }),
        "{error}"
    );
    pool.close().await;
}

#[tokio::test]
async fn a_damaged_postgres_backup_is_refused_and_an_empty_schema_takes_a_restore() {
    let Some(url) =
        postgres_url("a_damaged_postgres_backup_is_refused_and_an_empty_schema_takes_a_restore")
    else {
        return;
    };
    let schema = random_name("alice_test_backup");
    let restore_db = random_name("alice_test_backup_restore");
    let _cleanup = PgCleanup {
        url: url.clone(),
        schemas: vec![schema.clone()],
        databases: vec![restore_db.clone()],
    };
    let pool = pg_pool(&url).await;
    pg_tables(&pool, &schema).await;
    for n in 0..50 {
        pg_turn(&pool, &schema, n).await;
    }
    let config = DatabaseConfig {
        url: url.clone(),
        schema: Some(schema.clone()),
        ..DatabaseConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let manifest = backup::create(&config, &good).await.unwrap();
    assert_eq!(rows(&manifest, "messages"), 100);

    // The target database already has Alice's tables, empty (as `alice serve` leaves them):
    // the dump replaces them.
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {restore_db}")))
        .await
        .unwrap();
    let restore_url = with_database(&url, &restore_db);
    let target_pool = pg_pool(&restore_url).await;
    pg_tables(&target_pool, &schema).await;
    target_pool
        .execute(sqlx::AssertSqlSafe(format!("DELETE FROM {schema}.users")))
        .await
        .unwrap();
    let target = DatabaseConfig {
        url: restore_url.clone(),
        schema: Some(schema.clone()),
        ..DatabaseConfig::default()
    };

    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for file in ["manifest.json", "alice.dump"] {
        std::fs::copy(good.join(file), damaged.join(file)).unwrap();
    }
    flip_bytes(&damaged.join("alice.dump"));
    let error = backup::restore(&damaged, &target).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("alice.dump does not match its manifest checksum"),
        "{message}"
    );
    assert!(message.contains("use another backup"), "{message}");
    assert_eq!(
        pg_count(&target_pool, &schema, "users").await,
        0,
        "untouched"
    );
    let error = backup::verify(&damaged, &no_erasure_log())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not match its manifest checksum"),
        "{error}"
    );

    let restored = backup::restore(&good, &target).await.unwrap();
    assert_eq!(restored.tables, manifest.tables);
    assert_eq!(pg_count(&target_pool, &schema, "messages").await, 100);
    target_pool.close().await;
    pool.close().await;
}
