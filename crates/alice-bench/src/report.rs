//! The results of a run: a JSON report for machines and a short summary for people.
//!
//! The report holds the configuration next to the figures, so a file found weeks later still
//! says what load produced it, and two reports (Alice and a peer) can be compared field by
//! field. Its shape is documented in `docs/bench.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::record::{LatencyStats, Percentile, SeriesPoint, Summary};
use crate::schedule::{Arrivals, StagePlan};
use crate::soak::Soak;
use crate::target::Api;
use crate::thresholds::Check;

/// The corpus a run drew from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusInfo {
    /// "built-in" or the file given with --corpus.
    pub source: String,
    pub items: usize,
    pub conversations: usize,
}

/// What the run was asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The URL requests were posted to.
    pub endpoint: String,
    pub api: Api,
    pub model: Option<String>,
    pub stream: bool,
    pub arrivals: Arrivals,
    pub seed: u64,
    pub stages: StagePlan,
    /// Mean rate the stages ask for.
    pub target_rate: f64,
    pub planned_duration_s: f64,
    pub max_in_flight: usize,
    pub timeout_s: f64,
    /// Length of one point of `series`.
    pub interval_s: f64,
    pub corpus: CorpusInfo,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub version: String,
    /// When the load started (RFC 3339, UTC).
    pub started_at: String,
    pub config: RunConfig,
    /// The run was stopped (Ctrl-C) before its schedule ended.
    pub interrupted: bool,
    pub summary: Summary,
    /// Latency by percentile, for the distribution plot.
    pub latency_distribution: Vec<Percentile>,
    /// One point per interval of intended send time.
    pub series: Vec<SeriesPoint>,
    /// Present in soak mode.
    pub soak: Option<Soak>,
    pub thresholds: Vec<Check>,
    /// Every threshold held.
    pub passed: bool,
}

impl Report {
    /// Writes the report as pretty JSON.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("cannot serialise the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the report to {}", path.display()))
    }

    /// A few lines for a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = self.write_human(&mut out);
        out
    }

    fn write_human(&self, out: &mut String) -> std::fmt::Result {
        let config = &self.config;
        let summary = &self.summary;
        let api = match config.api {
            Api::Alice => "Alice API",
            Api::Openai => "OpenAI API",
        };
        let streamed = if config.stream {
            "streamed"
        } else {
            "not streamed"
        };
        let arrivals = match config.arrivals {
            Arrivals::Constant => "constant",
            Arrivals::Poisson => "Poisson",
        };
        writeln!(
            out,
            "alice bench: {} ({api}, {streamed}), {arrivals} arrivals, seed {}",
            config.endpoint, config.seed
        )?;
        writeln!(
            out,
            "  schedule    {} -> {} requests{}",
            config.stages,
            summary.counts.scheduled,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        )?;
        let lag = summary
            .send_lag_ms
            .as_ref()
            .map_or_else(String::new, |l| format!("; send lag p99 {}", ms(l.p99)));
        writeln!(
            out,
            "  sent        {} at {:.2} req/s (target {:.2}); {} dropped by the generator{lag}",
            summary.counts.sent, summary.send_rate, config.target_rate, summary.counts.dropped
        )?;
        writeln!(
            out,
            "  answered    {} ok ({:.2}/s), {} errors ({:.2} %){}",
            summary.counts.ok,
            summary.ok_rate,
            summary.counts.errors,
            summary.error_rate * 100.0,
            if summary.unfinished > 0 {
                format!(", {} unfinished", summary.unfinished)
            } else {
                String::new()
            }
        )?;
        for (kind, tally) in &summary.errors_by_kind {
            writeln!(out, "    {kind} x{}: {}", tally.count, tally.example)?;
        }
        line(out, "latency", summary.latency_ms.as_ref())?;
        line(out, "ttft", summary.ttft_ms.as_ref())?;
        line(out, "token gap", summary.inter_token_ms.as_ref())?;
        for (route, latency) in &summary.latency_by_route_ms {
            line(out, &format!("  {route}"), Some(latency))?;
        }
        let conversations = &summary.conversations;
        if conversations.started > 0 {
            writeln!(
                out,
                "  dialogues   {} started, {} completed, {} abandoned after an error",
                conversations.started, conversations.completed, conversations.abandoned
            )?;
        }
        if let Some(soak) = &self.soak {
            write_soak(out, soak)?;
        }
        for check in &self.thresholds {
            let value = check
                .value
                .map_or_else(|| "not measured".to_owned(), |v| format!("{v:.3}"));
            writeln!(
                out,
                "  threshold   {} <= {}: {value} {}",
                check.name,
                check.limit,
                if check.passed { "ok" } else { "FAILED" }
            )?;
        }
        writeln!(
            out,
            "  result      {}",
            if self.passed {
                "PASS"
            } else {
                "FAIL: a threshold was broken"
            }
        )
    }
}

fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else {
        format!("{value:.1} ms")
    }
}

fn line(out: &mut String, name: &str, stats: Option<&LatencyStats>) -> std::fmt::Result {
    let Some(s) = stats else {
        return Ok(());
    };
    writeln!(
        out,
        "  {name:<11} p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}  mean {}",
        ms(s.p50),
        ms(s.p90),
        ms(s.p95),
        ms(s.p99),
        ms(s.p999),
        ms(s.max),
        ms(s.mean)
    )
}

fn write_soak(out: &mut String, soak: &Soak) -> std::fmt::Result {
    let mib = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}"));
    let count = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    writeln!(
        out,
        "  soak        {}: {} samples; RSS {} -> peak {} -> {} MiB at the end",
        soak.source,
        soak.samples.len(),
        mib(soak.rss_start_mib),
        mib(soak.rss_peak_mib),
        mib(soak.rss_end_mib)
    )?;
    writeln!(
        out,
        "              growth {} MiB/min under load; memory given back after: {}; fds {} -> {} -> {}{}",
        soak.growth_mib_per_min
            .map_or_else(|| "not measured".to_owned(), |g| format!("{g:.3}")),
        match soak.given_back {
            Some(true) => "yes",
            Some(false) => "no",
            None => "no cooldown",
        },
        count(soak.fds_start),
        count(soak.fds_peak),
        count(soak.fds_end),
        if soak.target_exited {
            "; THE TARGET EXITED"
        } else {
            ""
        }
    )
}
