//! PostgreSQL backups: `pg_dump --format=custom` of Alice's schema, taken from a snapshot that a
//! REPEATABLE READ transaction exports and keeps open while it counts and checksums the same
//! data; restores with `pg_restore` into the same schema of an empty database.
//!
//! The external tools get the connection through libpq's environment (`PGHOST`, `PGPORT`,
//! `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`), so a password never shows in a process
//! list, and `--no-password`, so they fail instead of prompting. They get exactly the password
//! of the session Alice opens, never a `PGPASSWORD` of Alice's own environment.
//!
//! A backup's manifest names the server it came from, and anyone who can write a backup
//! directory can write its manifest. Verifying on that server (no server configured) therefore
//! sends no password at all: neither the configured one nor `PGPASSWORD`.

mod urls;

use super::checksum::{compare, hex};
use super::{
    BOOKKEEPING_TABLES, BackupError, MIGRATIONS_TABLE, Manifest, PendingErasures, Snapshot,
    TableSummary, random_suffix,
};
use crate::engine::postgres::url::without_password;
use crate::engine::quote_identifier;
use crate::engine::rows::tombstone_from;
use crate::erasure_log::{Applied, Tombstone};
use alice_core::config::DatabaseConfig;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgExecutor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use urls::{display_url, percent_decode, with_database};

/// Each row's text (`row::text`, under fixed output settings) hashed with md5; the two 64-bit
/// halves of the hashes summed as `numeric`; sha256 of "rows:sum1:sum2".
pub(super) const CHECKSUM_ALGORITHM: &str = "postgres-rowtext-md5-sum-v1";

/// Session settings that make a row's text the same in every session (time zone, date, float
/// and bytea output), so checksums compare across sessions and servers.
const STABLE_OUTPUT: [(&str, &str); 4] = [
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("bytea_output", "hex"),
];

pub(super) async fn create(
    config: &DatabaseConfig,
    data_path: &Path,
) -> Result<Snapshot, BackupError> {
    let options = connect_options(&config.url, config.schema.as_deref())?;
    let source = display_url(&options);
    let mut connection = connect(&options, &source).await?;
    let schema = match &config.schema {
        Some(schema) => schema.clone(),
        None => current_schema(&mut connection, &source).await?,
    };
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
    )
    .bind(&schema)
    .fetch_one(&mut connection)
    .await
    .map_err(BackupError::db(format!(
        "cannot read the schemas of {source}"
    )))?;
    if !exists {
        return Err(BackupError::Other(format!(
            "schema {schema:?} does not exist in {source}: there is nothing to back up (check \
             database.url and database.schema)"
        )));
    }
    let mut transaction = connection
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(BackupError::db(format!(
            "cannot start a snapshot on {source}"
        )))?;
    let (snapshot, taken_at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT pg_export_snapshot(), now()")
            .fetch_one(&mut *transaction)
            .await
            .map_err(BackupError::db(format!(
                "cannot export a snapshot on {source}"
            )))?;
    // pg_dump imports the snapshot, so the dump and the counts below see the same data; the
    // transaction stays open until both are done.
    let data_file = data_path.to_string_lossy().into_owned();
    let dump = run_tool(
        "pg_dump",
        vec![
            "--format=custom".into(),
            format!("--file={data_file}"),
            format!("--snapshot={snapshot}"),
            format!("--schema={}", quote_identifier(&schema)),
            "--no-password".into(),
        ],
        libpq_env(&options),
    );
    let summary = async {
        let (schema_version, tables) = read_summary(&mut transaction, &schema).await?;
        let tombstones = if tables.contains_key("erasures") {
            read_tombstones(&mut transaction, &schema).await?
        } else {
            Vec::new()
        };
        Ok::<_, BackupError>((schema_version, tables, tombstones))
    };
    let (dumped, summary) = tokio::join!(dump, summary);
    let _ = transaction.rollback().await;
    let _ = connection.close().await;
    dumped?;
    let (schema_version, tables, tombstones) = summary?;
    Ok(Snapshot {
        taken_at,
        source,
        postgres_schema: Some(schema),
        schema_version,
        tables,
        tombstones,
    })
}

/// The erasure log in the snapshot being backed up.
async fn read_tombstones(
    connection: &mut PgConnection,
    schema: &str,
) -> Result<Vec<Tombstone>, BackupError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, subject, key_id, erased_at, erased_by, counts FROM {}.erasures \
         ORDER BY erased_at, id",
        quote_identifier(schema)
    )))
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
    let backup_schema = backup_schema(manifest)?;
    let options = connect_options(&target.url, target.schema.as_deref())?;
    let url = display_url(&options);
    let mut connection = connect(&options, &url).await?;
    let schema = match &target.schema {
        Some(schema) => schema.clone(),
        None => current_schema(&mut connection, &url).await?,
    };
    let target_name = format!("{url} (schema {schema})");
    if schema != backup_schema {
        let _ = connection.close().await;
        return Err(BackupError::SchemaMismatch {
            backup: backup_schema.to_owned(),
            target: schema,
        });
    }
    let existing = refuse_unless_empty(&mut connection, &schema, &target_name).await;
    let _ = connection.close().await;
    // Empty tables (a fresh `alice serve` migrated the database) are replaced by the dump's.
    let had_tables = existing?;
    load_dump(data_path, &options, &schema, had_tables).await?;
    let mut connection = connect(&options, &url).await?;
    let summary = read_summary(&mut connection, &schema).await;
    let _ = connection.close().await;
    let (_, tables) = summary?;
    compare("restore", &manifest.tables, &tables)?;
    match erasures.apply_to(target).await {
        Ok(applied) => Ok((target_name, tables, applied)),
        Err(error) => {
            // Nothing may use a database in which an erased person is back: the restored
            // tables go again (the target was empty before the restore).
            let mut connection = connect(&options, &url).await?;
            let dropped = drop_tables(&mut connection, &schema).await;
            let _ = connection.close().await;
            if let Err(drop_error) = dropped {
                tracing::error!(evt = "restore_drop_failed", error = %drop_error);
                return Err(BackupError::Other(format!(
                    "{error}; and the restored tables could not be dropped ({drop_error}): \
                     drop every table of schema {schema} by hand before Alice starts"
                )));
            }
            Err(error)
        }
    }
}

/// Drops every table of Alice's schema (after a restore that must not be used).
async fn drop_tables(connection: &mut PgConnection, schema: &str) -> Result<(), BackupError> {
    let names = tables(&mut *connection, schema).await?;
    for table in names {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {}.{} CASCADE",
            quote_identifier(schema),
            quote_identifier(&table)
        )))
        .execute(&mut *connection)
        .await
        .map_err(BackupError::db(format!("cannot drop table {table}")))?;
    }
    Ok(())
}

pub(super) async fn verify(
    data_path: &Path,
    manifest: &Manifest,
    server_url: Option<&str>,
    erasures: &PendingErasures,
) -> Result<(String, BTreeMap<String, TableSummary>, Vec<Applied>), BackupError> {
    let schema = backup_schema(manifest)?.to_owned();
    if server_url.is_none() && erasures.any() {
        // Applying them means opening a store on the scratch database, with a password from
        // the environment: never for a server named only by the backup.
        return Err(BackupError::Other(
            "the erasure log holds erasures newer than this backup, and they are applied to the \
             scratch database, which needs a server Alice may log in to: set database.url to a \
             PostgreSQL server (with its password) and verify there"
                .into(),
        ));
    }
    let server = match server_url {
        Some(url) => connect_options(url, None)?,
        None => manifest_server_options(&manifest.source)?,
    };
    let server_name = display_url(&server);
    let mut maintenance =
        connect(&server, &server_name)
            .await
            .map_err(|error| match server_url {
                Some(_) => error,
                None => BackupError::Other(format!(
                    "{error}. The backup names this server, and Alice sends no password to a \
                 server named only by a backup: set database.url to a PostgreSQL server (with \
                 its password) and verify there"
                )),
            })?;
    let scratch = format!("alice_verify_{}", random_suffix());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        quote_identifier(&scratch)
    )))
    .execute(&mut maintenance)
    .await
    .map_err(|error| {
        BackupError::Other(format!(
            "cannot create the scratch database {scratch} on {server_name} to verify the backup \
             ({error}): verification needs a user with the CREATEDB privilege there, or name \
             another server"
        ))
    })?;
    let scratch_options = server
        .clone()
        .database(&scratch)
        .options([("search_path", schema.as_str())]);
    let scratch_name = display_url(&scratch_options);
    let result = async {
        load_dump(data_path, &scratch_options, &schema, false).await?;
        let mut connection = connect(&scratch_options, &scratch_name).await?;
        let summary = read_summary(&mut connection, &schema).await;
        let _ = connection.close().await;
        let (_, tables) = summary?;
        compare("verify", &manifest.tables, &tables)?;
        let scratch_database = DatabaseConfig {
            url: with_database(server_url.unwrap_or_default(), &scratch),
            schema: Some(schema.clone()),
            ..DatabaseConfig::default()
        };
        let applied = erasures.apply_to(&scratch_database).await?;
        Ok((tables, applied))
    }
    .await;
    // Always dropped, whatever the outcome; FORCE ends a session a failed step may have left.
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(&scratch)
    )))
    .execute(&mut maintenance)
    .await;
    let _ = maintenance.close().await;
    match (result, dropped) {
        (Ok((tables, applied)), Ok(_)) => Ok((scratch_name, tables, applied)),
        (Ok(_), Err(error)) => Err(BackupError::Other(format!(
            "the backup verified, but the scratch database {scratch} on {server_name} could not \
             be dropped ({error}): drop it by hand (DROP DATABASE {scratch})"
        ))),
        (Err(error), Ok(_)) => Err(error),
        (Err(error), Err(drop_error)) => {
            tracing::warn!(
                evt = "backup_scratch_left",
                database = %scratch,
                error = %drop_error,
                "drop the scratch database by hand"
            );
            Err(error)
        }
    }
}

fn backup_schema(manifest: &Manifest) -> Result<&str, BackupError> {
    manifest
        .postgres_schema
        .as_deref()
        .ok_or_else(|| BackupError::NotABackup {
            dir: PathBuf::from(&manifest.data_file),
            problem: "its PostgreSQL manifest names no schema".into(),
        })
}

/// Connection options for the server a manifest names: its address and user, and no password,
/// whatever the manifest or `PGPASSWORD` says.
fn manifest_server_options(source: &str) -> Result<PgConnectOptions, BackupError> {
    Ok(connect_options(&without_password(source), None)?.password(""))
}

/// Connection options for our own sessions: the URL, Alice's schema first on the search path
/// when one is configured, and output settings that keep row text stable.
fn connect_options(url: &str, schema: Option<&str>) -> Result<PgConnectOptions, BackupError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| BackupError::Url {
            url: without_password(url),
            problem: error.to_string(),
        })?
        .application_name("alice-backup")
        .extra_float_digits(3)
        .options(STABLE_OUTPUT);
    Ok(match schema {
        Some(schema) => options.options([("search_path", schema)]),
        None => options,
    })
}

async fn connect(options: &PgConnectOptions, name: &str) -> Result<PgConnection, BackupError> {
    options
        .connect()
        .await
        .map_err(BackupError::db(format!("cannot connect to {name}")))
}

async fn current_schema(connection: &mut PgConnection, name: &str) -> Result<String, BackupError> {
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(connection)
        .await
        .map_err(BackupError::db(format!("cannot read the schema of {name}")))?;
    schema.ok_or_else(|| {
        BackupError::Other(format!(
            "{name} has no schema on its search_path: set database.schema"
        ))
    })
}

/// Refuses a schema that holds a table with rows (the migrations table aside); returns whether
/// it holds any table at all.
async fn refuse_unless_empty(
    connection: &mut PgConnection,
    schema: &str,
    target_name: &str,
) -> Result<bool, BackupError> {
    let names = tables(&mut *connection, schema).await?;
    for table in names
        .iter()
        .filter(|name| !BOOKKEEPING_TABLES.contains(&name.as_str()))
    {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.{}",
            quote_identifier(schema),
            quote_identifier(table)
        )))
        .fetch_one(&mut *connection)
        .await
        .map_err(BackupError::db(format!("cannot count the rows of {table}")))?;
        if rows > 0 {
            return Err(BackupError::TargetNotEmpty {
                target: target_name.to_owned(),
                table: table.clone(),
                rows: u64::try_from(rows).unwrap_or(0),
            });
        }
    }
    Ok(!names.is_empty())
}

/// Creates the schema when missing and restores the dump into it in one transaction. The
/// dump's own CREATE SCHEMA (and schema comment) are left out, so an existing schema is used
/// as it is, owned by whoever owns it. `clean` drops the dump's objects first (empty tables
/// already there).
async fn load_dump(
    data_path: &Path,
    options: &PgConnectOptions,
    schema: &str,
    clean: bool,
) -> Result<(), BackupError> {
    let name = display_url(options);
    let mut connection = connect(options, &name).await?;
    let created = sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_identifier(schema)
    )))
    .execute(&mut connection)
    .await
    .map_err(BackupError::db(format!(
        "cannot create schema {schema} in {name}"
    )));
    let _ = connection.close().await;
    created?;
    let data_file = data_path.to_string_lossy().into_owned();
    let list = run_tool(
        "pg_restore",
        vec!["--list".into(), data_file.clone()],
        Vec::new(),
    )
    .await?;
    let list_path = std::env::temp_dir().join(format!("alice-restore-{}.list", random_suffix()));
    let _cleanup = RemoveOnDrop(list_path.clone());
    tokio::fs::write(&list_path, without_schema_entries(&list))
        .await
        .map_err(BackupError::io(format!(
            "cannot write {}",
            list_path.display()
        )))?;
    let mut args = vec![
        "--exit-on-error".to_owned(),
        "--single-transaction".into(),
        "--no-owner".into(),
        "--no-acl".into(),
        "--no-password".into(),
        format!("--use-list={}", list_path.display()),
        // A conninfo string, so that any database name is taken as a name.
        format!(
            "--dbname=dbname='{}'",
            options
                .get_database()
                .unwrap_or(options.get_username())
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
        ),
    ];
    if clean {
        args.extend(["--clean".into(), "--if-exists".into()]);
    }
    args.push(data_file);
    run_tool("pg_restore", args, libpq_env(options)).await?;
    Ok(())
}

/// A `pg_restore --list` with the SCHEMA entries (and comments on schemas) commented out.
fn without_schema_entries(list: &str) -> String {
    let mut out = String::with_capacity(list.len());
    for line in list.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let is_entry = fields.first().is_some_and(|id| id.ends_with(';'));
        let on_schema = fields.get(3) == Some(&"SCHEMA")
            || (fields.get(3) == Some(&"COMMENT") && fields.get(5) == Some(&"SCHEMA"));
        if is_entry && on_schema {
            out.push(';');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Alice's tables in the schema: ordinary and partitioned tables, not partitions (their parent
/// covers their rows).
async fn tables<'c>(
    executor: impl PgExecutor<'c>,
    schema: &str,
) -> Result<Vec<String>, BackupError> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         ORDER BY c.relname",
    )
    .bind(schema)
    .fetch_all(executor)
    .await
    .map_err(BackupError::db(format!(
        "cannot list the tables of schema {schema}"
    )))
}

/// The schema version and every table's rows and checksum, as this session sees them.
async fn read_summary(
    connection: &mut PgConnection,
    schema: &str,
) -> Result<(Option<i64>, BTreeMap<String, TableSummary>), BackupError> {
    let names = tables(&mut *connection, schema).await?;
    let schema_version = if names.iter().any(|name| name == MIGRATIONS_TABLE) {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT max(version) FROM {}.{MIGRATIONS_TABLE}",
            quote_identifier(schema)
        )))
        .fetch_one(&mut *connection)
        .await
        .map_err(BackupError::db("cannot read the schema version"))?
    } else {
        None
    };
    let mut summaries = BTreeMap::new();
    for table in names {
        // The alias is the whole row; a name no column will have, since a column of that name
        // would take precedence over the row.
        let (rows, high, low): (i64, String, String) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT count(*),
                        coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
                        coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
                 FROM (SELECT md5(alice_backup_row__::text) AS h
                       FROM {}.{} AS alice_backup_row__) AS hashes",
                quote_identifier(schema),
                quote_identifier(&table)
            )))
            .fetch_one(&mut *connection)
            .await
            .map_err(BackupError::db(format!("cannot checksum table {table}")))?;
        let checksum = hex(&Sha256::digest(format!("{rows}:{high}:{low}")));
        summaries.insert(
            table,
            TableSummary {
                rows: u64::try_from(rows).unwrap_or(0),
                checksum,
            },
        );
    }
    Ok((schema_version, summaries))
}

/// Runs a PostgreSQL client tool; returns its standard output.
async fn run_tool(
    program: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> Result<String, BackupError> {
    let output = tokio::process::Command::new(program)
        .args(&args)
        // Only the password of the session the tool stands for (in `env`), if it has one.
        .env_remove("PGPASSWORD")
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::ToolMissing { program });
        }
        Err(source) => {
            return Err(BackupError::Io {
                context: format!("cannot run {program}"),
                source,
            });
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        // The end says what failed; a long report is cut from the front.
        let start = stderr
            .char_indices()
            .rev()
            .nth(2000)
            .map_or(0, |(index, _)| index);
        return Err(BackupError::ToolFailed {
            program,
            status: output.status.to_string(),
            stderr: stderr[start..].to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// libpq environment for the tools, from the same options our own sessions use.
fn libpq_env(options: &PgConnectOptions) -> Vec<(&'static str, String)> {
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    let mut env = vec![
        ("PGHOST", host),
        ("PGPORT", options.get_port().to_string()),
        ("PGUSER", options.get_username().to_owned()),
        ("PGAPPNAME", "alice-backup".to_owned()),
        (
            "PGSSLMODE",
            match options.get_ssl_mode() {
                PgSslMode::Disable => "disable",
                PgSslMode::Allow => "allow",
                PgSslMode::Prefer => "prefer",
                PgSslMode::Require => "require",
                PgSslMode::VerifyCa => "verify-ca",
                PgSslMode::VerifyFull => "verify-full",
            }
            .to_owned(),
        ),
    ];
    if let Some(database) = options.get_database() {
        env.push(("PGDATABASE", database.to_owned()));
    }
    match options.to_url_lossy().password().filter(|p| !p.is_empty()) {
        Some(password) => env.push(("PGPASSWORD", percent_decode(password))),
        // No password for this session: nor one from ~/.pgpass, which sqlx has already read
        // for the servers Alice is configured with.
        None => env.push(("PGPASSFILE", "/dev/null".to_owned())),
    }
    env
}

/// Removes a temporary file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests;
