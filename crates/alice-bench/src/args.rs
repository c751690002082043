//! The command line of `alice bench`, and turning it into a checked plan.
//!
//! The flags live in the library (not in the `alice` binary) so tests drive exactly what a
//! user types, and `docs/bench.md` describes one struct.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::schedule::{Arrivals, StagePlan};
use crate::target::Api;

/// Load (and soak) test a chat server with everyday Swedish requests at a fixed arrival rate.
///
/// `Parser` (which includes `Args`) so the `alice` binary can take it as its `bench` subcommand
/// and tests can parse a command line as a user types it with [`clap::Parser::try_parse_from`].
#[derive(Clone, Debug, clap::Parser)]
#[command(
    about = "Load or soak test a chat server at a fixed arrival rate (open loop)",
    long_about = "Load or soak test a chat server at a fixed arrival rate (open loop).\n\n\
        Requests go out on a schedule that does not wait for answers, and latency is measured \
        from each request's intended send time, so a slow server cannot slow the load down or \
        hide its queueing. Targets this machine only unless --allow-remote is given. \
        See docs/bench.md.\n\n\
        Exit codes: 0 all thresholds held, 1 the run could not be done, 2 bad command line, \
        3 a threshold was broken."
)]
pub struct BenchArgs {
    /// Server to load: Alice's base URL, or an OpenAI-compatible base (…/v1 is fine).
    #[arg(long, default_value = "http://127.0.0.1:8000", value_name = "URL")]
    pub target: String,

    /// Which API to speak: Alice's /api/chat or OpenAI's /v1/chat/completions.
    #[arg(long, value_enum, default_value_t = Api::Alice)]
    pub api: Api,

    /// Model to ask for (needed with --api openai).
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,

    /// Value of `user` in Alice's requests (conversations then belong to that user; naming
    /// another user than the key's own needs an admin's key).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// API key sent as `Authorization: Bearer KEY` (Alice's data/admin.key, or any key the
    /// target wants); also sent to --metrics-url.
    #[arg(
        long,
        env = "ALICE_BENCH_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub api_key: Option<String>,

    /// `max_tokens` in OpenAI requests.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// Requests per second (a new request each 1/R s on average, whatever the answers do).
    #[arg(long, value_name = "R", conflicts_with = "stages")]
    pub rate: Option<f64>,

    /// How long to send at --rate.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, conflicts_with = "stages")]
    pub duration: Duration,

    /// Load shape instead of --rate/--duration: DURATION:FROM->TO ramps, DURATION:RATE holds,
    /// e.g. "30s:0->200,60s:200".
    #[arg(long, value_name = "STAGES", value_parser = StagePlan::parse)]
    pub stages: Option<StagePlan>,

    /// Spacing of arrivals: even (constant) or random like independent users (poisson).
    #[arg(long, value_enum, default_value_t = Arrivals::Constant)]
    pub arrivals: Arrivals,

    /// Seed for Poisson gaps and the choice of requests (default: random, shown in the report).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Stream answers and measure time to first token and the gaps between tokens.
    #[arg(long)]
    pub stream: bool,

    /// JSONL corpus of requests (default: the built-in Swedish corpus).
    #[arg(long, value_name = "PATH")]
    pub corpus: Option<PathBuf>,

    /// At most this many requests open at once; an arrival beyond it is dropped and counted,
    /// never delayed (delaying it would make the load closed-loop).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_in_flight: usize,

    /// Give up on a request after this long (counted as a timeout error).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Length of one point of the time series (made longer for long runs, to at most 1000
    /// points; in soak mode the series follows --sample-interval).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,

    /// Write an SVG plot here: latency over time, latency by percentile (and memory in soak).
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,

    /// Fail (exit 3) if the median latency is above this (e.g. 500ms).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_p50: Option<Duration>,

    /// Fail if the 95th percentile latency is above this.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_p95: Option<Duration>,

    /// Fail if the 99th percentile latency is above this (e.g. 2s).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_p99: Option<Duration>,

    /// Fail if the 99.9th percentile latency is above this.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub max_p999: Option<Duration>,

    /// Fail if the 99th percentile time to first token is above this (needs --stream).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION", requires = "stream")]
    pub max_ttft_p99: Option<Duration>,

    /// Fail if more than this share of finished requests failed (e.g. 0.005).
    #[arg(long, value_name = "SHARE")]
    pub max_error_rate: Option<f64>,

    /// Fail if more than this share of arrivals was dropped by --max-in-flight.
    #[arg(long, value_name = "SHARE")]
    pub max_drop_rate: Option<f64>,

    /// Soak mode: sample the target's memory, open files and latency while the load runs and
    /// during --cooldown after it, and report memory growth. Needs --pid or --metrics-url.
    #[arg(long)]
    pub soak: bool,

    /// Process to watch in soak mode (reads /proc/PID/status and /proc/PID/fd).
    #[arg(long, requires = "soak", conflicts_with = "metrics_url")]
    pub pid: Option<u32>,

    /// Prometheus text endpoint to read process_resident_memory_bytes and process_open_fds
    /// (bare or namespaced, e.g. Alice's http://127.0.0.1:8000/metrics) from in soak mode,
    /// instead of /proc.
    #[arg(long, value_name = "URL", requires = "soak")]
    pub metrics_url: Option<String>,

    /// Time between soak samples.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, requires = "soak")]
    pub sample_interval: Duration,

    /// How long to keep sampling after the load stops, to see whether memory is given back.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, requires = "soak")]
    pub cooldown: Duration,

    /// Fail if memory grows faster than this during the load (MiB per minute, least squares).
    #[arg(long, value_name = "MIB", requires = "soak")]
    pub max_growth_mib_per_min: Option<f64>,

    /// Allow a target that is not on this machine. Only load-test servers you run or may test.
    #[arg(long)]
    pub allow_remote: bool,

    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Rate used when neither --rate nor --stages is given: gentle enough for a laptop.
pub const DEFAULT_RATE: f64 = 10.0;
/// The series has at most this many points; longer runs get longer intervals.
pub const MAX_SERIES_POINTS: u32 = 1000;

impl BenchArgs {
    /// The load shape from --stages, or a hold at --rate for --duration.
    pub fn plan(&self) -> anyhow::Result<StagePlan> {
        match &self.stages {
            Some(plan) => Ok(plan.clone()),
            None => StagePlan::hold(self.rate.unwrap_or(DEFAULT_RATE), self.duration)
                .map_err(|e| anyhow::anyhow!("--rate/--duration: {e}")),
        }
    }

    /// Checks what clap cannot: ranges and the flags soak mode needs.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.max_in_flight == 0 {
            bail!("--max-in-flight must be at least 1");
        }
        if self.timeout.is_zero() {
            bail!("--timeout must be longer than 0");
        }
        if self.interval.is_zero() {
            bail!("--interval must be longer than 0");
        }
        for (flag, value) in [
            ("--max-error-rate", self.max_error_rate),
            ("--max-drop-rate", self.max_drop_rate),
        ] {
            if let Some(share) = value
                && !(0.0..=1.0).contains(&share)
            {
                bail!("{flag} is a share between 0 and 1 (0.005 = 0.5 %), got {share}");
            }
        }
        if let Some(limit) = self.max_growth_mib_per_min
            && !limit.is_finite()
        {
            bail!("--max-growth-mib-per-min must be a number of MiB per minute");
        }
        if self.soak {
            if self.pid.is_none() && self.metrics_url.is_none() {
                bail!(
                    "--soak needs the target's process to watch: --pid PID (e.g. --pid $(pgrep -n \
                     alice)) or --metrics-url URL"
                );
            }
            if self.sample_interval.is_zero() {
                bail!("--sample-interval must be longer than 0");
            }
        }
        Ok(())
    }

    /// Length of one series point: --interval (or --sample-interval in soak mode), made
    /// longer when the run would otherwise have more than [`MAX_SERIES_POINTS`].
    pub fn series_interval(&self, total: Duration) -> Duration {
        let asked = if self.soak {
            self.sample_interval
        } else {
            self.interval
        };
        asked.max(total / MAX_SERIES_POINTS)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(line: &[&str]) -> Result<BenchArgs, clap::Error> {
        BenchArgs::try_parse_from(std::iter::once("bench").chain(line.iter().copied()))
    }

    #[test]
    fn defaults_are_a_gentle_local_run() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.target, "http://127.0.0.1:8000");
        assert_eq!(args.api, Api::Alice);
        assert_eq!(args.arrivals, Arrivals::Constant);
        let plan = args.plan().unwrap();
        assert_eq!(plan.total(), Duration::from_secs(30));
        assert!((plan.mean_rate() - DEFAULT_RATE).abs() < 1e-9);
        assert!(args.check().is_ok());
    }

    #[test]
    fn flags_parse_into_the_plan_and_thresholds() {
        let args = parse(&[
            "--api",
            "openai",
            "--model",
            "llama3.2:3b",
            "--stages",
            "10s:0->50,20s:50",
            "--arrivals",
            "poisson",
            "--seed",
            "7",
            "--stream",
            "--max-p99",
            "2s",
            "--max-ttft-p99",
            "800ms",
            "--max-error-rate",
            "0.005",
        ])
        .unwrap();
        assert_eq!(args.plan().unwrap().total(), Duration::from_secs(30));
        assert_eq!(args.max_p99, Some(Duration::from_secs(2)));
        assert_eq!(args.max_ttft_p99, Some(Duration::from_millis(800)));
        assert_eq!(args.seed, Some(7));
        assert!(args.check().is_ok());
    }

    #[test]
    fn contradictions_are_refused() {
        assert!(parse(&["--rate", "5", "--stages", "1s:5"]).is_err());
        assert!(parse(&["--pid", "1"]).is_err(), "--pid needs --soak");
        assert!(parse(&["--max-ttft-p99", "1s"]).is_err(), "needs --stream");
        let soak_without_process = parse(&["--soak"]).unwrap();
        assert!(
            soak_without_process
                .check()
                .unwrap_err()
                .to_string()
                .contains("--pid")
        );
        let bad_share = parse(&["--max-error-rate", "5"]).unwrap();
        assert!(bad_share.check().is_err());
        let zero_rate = parse(&["--rate", "0"]).unwrap();
        assert!(zero_rate.plan().is_err());
    }

    #[test]
    fn long_runs_get_coarser_series() {
        let args = parse(&["--duration", "10h"]).unwrap();
        assert_eq!(
            args.series_interval(Duration::from_secs(36_000)),
            Duration::from_secs(36)
        );
        let soak = parse(&["--soak", "--pid", "1", "--sample-interval", "5s"]).unwrap();
        assert_eq!(
            soak.series_interval(Duration::from_secs(60)),
            Duration::from_secs(5)
        );
    }
}
