//! `alice backup DIR`, `alice backup verify DIR` and `alice restore DIR`: the backup library
//! (`alice_store::backup`) from the command line, with reports of every table and of the
//! erasure log applied.

use crate::{BackupArgs, BackupCommand};
use alice_core::Config;
use std::path::PathBuf;

pub async fn backup(config_path: Option<PathBuf>, args: BackupArgs) -> anyhow::Result<()> {
    use alice_store::backup;
    use std::io::Write as _;
    let config = Config::load(config_path.as_deref())?;
    let database = &config.database;
    let mut out = Vec::new();
    match (args.command, args.dir) {
        (Some(BackupCommand::Verify { dir }), _) => {
            let report = if database.is_postgres() {
                backup::verify_on_server(&dir, &database.url, &database.erasure_log).await?
            } else {
                backup::verify(&dir, &database.erasure_log).await?
            };
            let integrity = report
                .integrity_check
                .as_deref()
                .map(|result| format!(", integrity_check {result}"))
                .unwrap_or_default();
            writeln!(
                out,
                "backup {} is good: restored into a scratch database ({}{integrity}, now \
                 removed), every table matches the manifest",
                dir.display(),
                report.engine
            )?;
            write_tables(&mut out, &report.tables)?;
            writeln!(
                out,
                "{} tables, {} rows, schema version {}; data file sha256 {}",
                report.tables.len(),
                report.total_rows(),
                version(report.schema_version),
                report.data_sha256
            )?;
            write_erasures(&mut out, &report.erasures, "a restore would apply")?;
        }
        (None, Some(dir)) => {
            let manifest = backup::create(database, &dir).await?;
            writeln!(
                out,
                "backup written to {} ({}, taken {})",
                dir.display(),
                manifest.engine,
                manifest.created_at
            )?;
            write_tables(&mut out, &manifest.tables)?;
            writeln!(
                out,
                "{} tables, {} rows, schema version {}; {} ({} bytes) sha256 {}",
                manifest.tables.len(),
                manifest.total_rows(),
                version(manifest.schema_version),
                manifest.data_file,
                manifest.data_bytes,
                manifest.data_sha256
            )?;
        }
        (None, None) => anyhow::bail!("name the backup directory: alice backup DIR"),
    }
    crate::write_stdout(&out)
}

pub async fn restore(config_path: Option<PathBuf>, dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let config = Config::load(config_path.as_deref())?;
    let report = alice_store::backup::restore(dir, &config.database).await?;
    let mut out = Vec::new();
    writeln!(
        out,
        "restored {} into {} ({}), every table matches the manifest",
        dir.display(),
        report.target,
        report.engine
    )?;
    write_tables(&mut out, &report.tables)?;
    writeln!(
        out,
        "{} tables, {} rows, schema version {}",
        report.tables.len(),
        report.total_rows(),
        version(report.schema_version)
    )?;
    write_erasures(&mut out, &report.erasures, "applied")?;
    crate::write_stdout(&out)
}

/// The erasure log's part of a restore or verification: each tombstone newer than the backup,
/// and what it erased from the restored database.
fn write_erasures(
    out: &mut Vec<u8>,
    erasures: &[alice_store::erasure_log::Applied],
    verb: &str,
) -> std::io::Result<()> {
    use std::io::Write as _;
    if erasures.is_empty() {
        return writeln!(out, "erasure log: no erasure newer than the backup");
    }
    writeln!(
        out,
        "erasure log: {} erasures newer than the backup {verb}:",
        erasures.len()
    )?;
    for erasure in erasures {
        writeln!(
            out,
            "  tombstone {} (erased {}): {} users, {} conversations, {} messages, {} memories",
            erasure.tombstone,
            erasure
                .erased_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            erasure.users,
            erasure.erased.conversations,
            erasure.erased.messages,
            erasure.erased.memories
        )?;
    }
    Ok(())
}

fn write_tables(
    out: &mut Vec<u8>,
    tables: &std::collections::BTreeMap<String, alice_store::backup::TableSummary>,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let width = tables.keys().map(String::len).max().unwrap_or(5).max(5);
    writeln!(out, "  {:width$}  {:>10}  checksum", "table", "rows")?;
    for (table, summary) in tables {
        writeln!(
            out,
            "  {table:width$}  {:>10}  {}",
            summary.rows,
            summary.checksum.get(..16).unwrap_or(&summary.checksum)
        )?;
    }
    Ok(())
}

fn version(schema_version: Option<i64>) -> String {
    schema_version.map_or_else(|| "none".to_owned(), |v| v.to_string())
}
