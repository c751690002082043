//! The limits a run is judged by, which set the exit code.
//!
//! A benchmark in CI is only useful if it can fail: each `--max-…` flag becomes one check, and
//! any failed check makes `alice bench` exit with [`crate::Outcome::THRESHOLD_EXIT`]. A figure
//! that cannot be measured (a p99 with no answered request) fails its check rather than pass
//! by default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::args::BenchArgs;
use crate::record::Summary;
use crate::soak::Soak;

/// One limit and how the run did against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// e.g. `latency_p99_ms`, `error_rate`, `growth_mib_per_min`.
    pub name: String,
    /// The largest value that passes.
    pub limit: f64,
    /// What was measured; `null` when it could not be.
    pub value: Option<f64>,
    pub passed: bool,
}

impl Check {
    fn new(name: &str, limit: f64, value: Option<f64>) -> Self {
        Self {
            name: name.to_owned(),
            limit,
            value,
            passed: value.is_some_and(|v| v <= limit),
        }
    }
}

fn millis(limit: Duration) -> f64 {
    limit.as_secs_f64() * 1000.0
}

/// The checks the flags ask for (none without `--max-…` flags, except that a soak always
/// fails when its target exits).
pub fn evaluate(args: &BenchArgs, summary: &Summary, soak: Option<&Soak>) -> Vec<Check> {
    let mut checks = Vec::new();
    let latency = summary.latency_ms.as_ref();
    let percentiles = [
        ("latency_p50_ms", args.max_p50, latency.map(|l| l.p50)),
        ("latency_p95_ms", args.max_p95, latency.map(|l| l.p95)),
        ("latency_p99_ms", args.max_p99, latency.map(|l| l.p99)),
        ("latency_p999_ms", args.max_p999, latency.map(|l| l.p999)),
        (
            "ttft_p99_ms",
            args.max_ttft_p99,
            summary.ttft_ms.as_ref().map(|l| l.p99),
        ),
    ];
    for (name, limit, value) in percentiles {
        if let Some(limit) = limit {
            checks.push(Check::new(name, millis(limit), value));
        }
    }
    let finished = summary.counts.ok + summary.counts.errors;
    if let Some(limit) = args.max_error_rate {
        let value = (finished > 0).then_some(summary.error_rate);
        checks.push(Check::new("error_rate", limit, value));
    }
    if let Some(limit) = args.max_drop_rate {
        let value = (summary.counts.scheduled > 0).then_some(summary.drop_rate);
        checks.push(Check::new("drop_rate", limit, value));
    }
    if let Some(soak) = soak {
        if let Some(limit) = args.max_growth_mib_per_min {
            checks.push(Check::new(
                "growth_mib_per_min",
                limit,
                soak.growth_mib_per_min,
            ));
        }
        checks.push(Check::new(
            "target_exits",
            0.0,
            Some(if soak.target_exited { 1.0 } else { 0.0 }),
        ));
    }
    checks
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::record::{Answered, Recorder};
    use clap::Parser;

    fn args(flags: &[&str]) -> BenchArgs {
        BenchArgs::try_parse_from(std::iter::once("bench").chain(flags.iter().copied())).unwrap()
    }

    fn summary(latencies_ms: &[u64], errors: u64) -> Summary {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        for &ms in latencies_ms {
            recorder.arrival(Duration::ZERO, false);
            recorder.sent(Duration::ZERO, Duration::ZERO);
            recorder.answered(
                Duration::ZERO,
                Answered {
                    latency: Duration::from_millis(ms),
                    service: Duration::from_millis(ms),
                    ttft: None,
                    gaps: &[],
                    route: None,
                },
            );
        }
        for _ in 0..errors {
            recorder.arrival(Duration::ZERO, false);
            recorder.sent(Duration::ZERO, Duration::ZERO);
            recorder.failed(Duration::ZERO, &crate::target::Failure::Timeout);
        }
        recorder.summary(Duration::from_secs(1))
    }

    #[test]
    fn each_flag_is_one_check() {
        let run = summary(&(1..=100).collect::<Vec<_>>(), 1);
        let checks = evaluate(
            &args(&[
                "--max-p50",
                "60ms",
                "--max-p99",
                "50ms",
                "--max-error-rate",
                "0.05",
            ]),
            &run,
            None,
        );
        let by_name = |n: &str| checks.iter().find(|c| c.name == n).unwrap();
        assert!(by_name("latency_p50_ms").passed);
        assert!(!by_name("latency_p99_ms").passed);
        assert_eq!(by_name("latency_p99_ms").limit, 50.0);
        assert!(by_name("error_rate").passed);
        assert_eq!(checks.len(), 3);
        assert!(evaluate(&args(&[]), &run, None).is_empty());
    }

    #[test]
    fn what_cannot_be_measured_fails() {
        let nothing_answered = summary(&[], 3);
        let checks = evaluate(&args(&["--max-p99", "10s"]), &nothing_answered, None);
        assert_eq!(checks[0].value, None);
        assert!(!checks[0].passed);
        let checks = evaluate(
            &args(&["--stream", "--max-ttft-p99", "1s"]),
            &summary(&[5], 0),
            None,
        );
        assert!(!checks[0].passed, "no streamed answer, no TTFT");
    }
}
