//! The `alice` command: a thin shell around the library crates.
//!
//! `alice serve` runs the assistant server; `alice serve --demo` runs it against the upstream
//! simulator started in-process, so the whole system can be tried without a model server;
//! `alice upstream-sim` runs the simulator alone (for load tests and manual fault injection);
//! `alice guardian` runs the Guardian as a daemon that several Alice processes can follow;
//! `alice bench` load- or soak-tests a running server (Alice or any OpenAI-compatible one);
//! `alice slo rules` writes the Prometheus rules that watch the objectives in `slo.toml`.

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
            let sampler = alice_guardian::ProcSampler::new(
                settings.root.clone(),
                Some(settings.data_dir.clone()),
            );
            let daemon = alice_server::guardian_daemon::start_daemon(settings, bind, sampler)
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
