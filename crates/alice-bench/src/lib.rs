//! `alice bench`: open-loop load and soak generation for Alice and any OpenAI-compatible server.
//!
//! Requests go out at a fixed arrival rate (requests per second, in stages that ramp and hold,
//! evenly spaced or Poisson), each at its scheduled time whatever the earlier ones are doing,
//! and latency counts from that scheduled time. So a slow server neither lowers the load nor
//! hides the time requests spent waiting ("coordinated omission"). The requests are everyday
//! Swedish assistant questions and multi-turn conversations. A run ends with a summary on
//! stdout, optionally a JSON report and an SVG plot, and an exit code set by thresholds.
//! Soak mode adds samples of the target's memory and open files, and judges memory growth.
//!
//! ## Module map
//! - [`args`]: the command line ([`BenchArgs`]) and its checks.
//! - [`schedule`]: stages and arrival times.
//! - [`corpus`]: the request corpus (built-in Swedish, or a JSONL file).
//! - [`target`]: speaking Alice's `/api/chat` or OpenAI's `/v1/chat/completions`.
//! - `sse`: reading streamed answers event by event.
//! - `engine`: the open-loop sender.
//! - [`record`]: HDR histograms and the time series.
//! - [`soak`]: sampling the target's memory and file descriptors.
//! - [`thresholds`]: the limits that set the exit code.
//! - [`report`]: the JSON report and the summary for people.
//! - [`plot`]: the SVG.
//! - `progress`: the progress bar.
//!
//! ## Example
//! ```no_run
//! # async fn demo(args: alice_bench::BenchArgs) -> anyhow::Result<()> {
//! let outcome = alice_bench::run(args).await?;
//! println!("p99: {:?}", outcome.report.summary.latency_ms.map(|l| l.p99));
//! std::process::exit(i32::from(outcome.exit_status()));
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod args;
pub mod corpus;
mod engine;
pub mod plot;
mod progress;
pub mod record;
pub mod report;
pub mod schedule;
pub mod soak;
mod sse;
pub mod target;
pub mod thresholds;

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

pub use args::BenchArgs;
use corpus::Corpus;
use engine::Engine;
use progress::Progress;
use record::Recorder;
use report::{CorpusInfo, Report, RunConfig};
use schedule::ArrivalClock;
use soak::{Probe, Watch};
use target::{Target, TargetSpec};

/// How a run ended, for the exit code.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
}

impl Outcome {
    /// Exit status when a threshold was broken; 1 stays "the run could not be done" and 2 is
    /// clap's "bad command line".
    pub const THRESHOLD_EXIT: u8 = 3;

    pub fn passed(&self) -> bool {
        self.report.passed
    }

    /// 0 when every threshold held, [`Outcome::THRESHOLD_EXIT`] otherwise.
    pub fn exit_status(&self) -> u8 {
        if self.passed() {
            0
        } else {
            Self::THRESHOLD_EXIT
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_status())
    }
}

/// Runs `alice bench` with its summary on stdout; Ctrl-C ends it early and still reports what
/// was measured.
pub async fn run(args: BenchArgs) -> anyhow::Result<Outcome> {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    run_until(args, ctrl_c, &mut std::io::stdout()).await
}

/// Runs `alice bench` until its schedule (and soak cooldown) ends or `stop` resolves, writes
/// the summary for people to `out` and the files the flags ask for.
pub async fn run_until(
    args: BenchArgs,
    stop: impl Future<Output = ()> + Send + 'static,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Outcome> {
    args.check()?;
    let plan = args.plan()?;
    let corpus = match &args.corpus {
        Some(path) => Corpus::load(path)?,
        None => Corpus::built_in()?,
    };
    let target = Target::new(
        TargetSpec {
            base: args.target.clone(),
            api: args.api,
            model: args.model.clone(),
            user: args.user.clone(),
            api_key: args.api_key.clone(),
            max_tokens: args.max_tokens,
            stream: args.stream,
            allow_remote: args.allow_remote,
        },
        args.max_in_flight,
        args.timeout,
    )?;
    target.check_reachable().await?;
    let probe = match (&args.pid, &args.metrics_url) {
        _ if !args.soak => None,
        (Some(pid), _) => Some(Probe::pid(*pid)),
        (None, Some(url)) => Some(Probe::metrics(url, args.api_key.as_deref())?),
        (None, None) => None,
    };
    let seed = args
        .seed
        .unwrap_or_else(|| u64::from(rand::random::<u32>()));
    let total = plan.total();
    let interval = args.series_interval(total);
    let config = RunConfig {
        endpoint: target.endpoint().to_string(),
        api: args.api,
        model: args.model.clone(),
        stream: args.stream,
        arrivals: args.arrivals,
        seed,
        stages: plan.clone(),
        target_rate: plan.mean_rate(),
        planned_duration_s: total.as_secs_f64(),
        max_in_flight: args.max_in_flight,
        timeout_s: args.timeout.as_secs_f64(),
        interval_s: interval.as_secs_f64(),
        corpus: CorpusInfo {
            source: corpus.source().to_owned(),
            items: corpus.len(),
            conversations: corpus.conversations(),
        },
    };
    let engine = Engine::new(
        target,
        corpus,
        Recorder::new(interval)?,
        args.timeout,
        args.max_in_flight,
    );

    // Every phase (sending, waiting for answers, the cooldown) ends early on `stop`.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopper = tokio::spawn(async move {
        stop.await;
        stop_tx.send_replace(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        if rx.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    };

    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let start = Instant::now();
    let mut watch = match probe {
        Some(probe) => Some(Watch::begin(probe, start).await?),
        None => None,
    };
    let sampling = watch.as_ref().map(|w| w.during_load(args.sample_interval));
    let progress = Progress::start(args.quiet, total, &engine, start);
    let clock = ArrivalClock::new(plan.clone(), args.arrivals, seed);
    engine
        .drive(clock, start, seed, stopped(stop_rx.clone()))
        .await;
    // Rates are per second of the load window: the whole schedule, or as far as it got when
    // the run was stopped while still sending.
    let window = if *stop_rx.borrow() {
        start.elapsed().min(total)
    } else {
        total
    };

    progress.phase("waiting for the last answers");
    // Each request gives up after --timeout, so this only guards against a stuck task.
    let drain = engine.drain(args.timeout + Duration::from_secs(1));
    tokio::select! {
        () = drain => {}
        () = stopped(stop_rx.clone()) => {}
    }
    let load_end = start.elapsed();
    if let (Some(watch), Some(sampling)) = (&mut watch, sampling) {
        watch.end_load(sampling).await;
        progress.phase("cooldown: watching memory after the load");
        tokio::select! {
            () = watch.cooldown(args.sample_interval, args.cooldown) => {}
            () = stopped(stop_rx.clone()) => {}
        }
    }
    progress.finish();
    stopper.abort();
    let interrupted = *stop_rx.borrow();

    let (summary, series, latency_distribution) = {
        let recorder = engine.recorder();
        (
            recorder.summary(window),
            recorder.series(),
            recorder.distribution(),
        )
    };
    let soak = watch.map(|w| {
        w.finish(
            args.sample_interval,
            args.cooldown,
            load_end,
            &series,
            interval,
        )
    });
    let thresholds = thresholds::evaluate(&args, &summary, soak.as_ref());
    let passed = thresholds.iter().all(|c| c.passed);
    let report = Report {
        tool: "alice bench".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        config,
        interrupted,
        summary,
        latency_distribution,
        series,
        soak,
        thresholds,
        passed,
    };
    // The summary is a courtesy; a closed stdout must not lose the report and the exit code.
    let _ = out.write_all(report.human().as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.report {
        report.write(path)?;
    }
    if let Some(path) = &args.plot {
        plot::write(&report, path)?;
    }
    Ok(Outcome { report })
}
