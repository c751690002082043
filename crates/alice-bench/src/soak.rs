//! Soak mode: watch the target's memory and open files while a steady load runs, and after.
//!
//! A leak shows as memory that climbs for as long as the load lasts and stays up when it stops;
//! a cache or a pool warming up climbs early, levels off and may be given back. So the target's
//! resident memory (RSS) and open file descriptors are sampled at a fixed interval, from
//! `/proc/PID` or from a Prometheus endpoint; growth is the least-squares slope of RSS over the
//! load (MiB per minute), and sampling goes on for a cooldown to see whether memory comes back.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::record::SeriesPoint;

const MIB: f64 = 1024.0 * 1024.0;
/// Growth below this (MiB) counts as "nothing to give back".
const NEGLIGIBLE_GROWTH_MIB: f64 = 1.0;
/// Longest wait for one read of `--metrics-url`; a sample that takes longer is recorded as
/// failed rather than delaying the next one.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// Where readings come from.
#[derive(Clone, Debug)]
pub enum Probe {
    /// `/proc/PID/status` (VmRSS) and `/proc/PID/fd`.
    Proc { pid: u32, root: PathBuf },
    /// A Prometheus text endpoint with the standard process metrics.
    Metrics {
        url: String,
        client: reqwest::Client,
    },
}

/// One reading of the target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub rss_bytes: u64,
    pub fds: Option<u64>,
}

/// Why a reading failed.
#[derive(Debug)]
pub enum ProbeError {
    /// The process is not there (any more).
    Gone(String),
    Other(String),
}

impl ProbeError {
    fn message(&self) -> &str {
        match self {
            Self::Gone(m) | Self::Other(m) => m,
        }
    }
}

impl Probe {
    pub fn pid(pid: u32) -> Self {
        Self::Proc {
            pid,
            root: PathBuf::from("/proc"),
        }
    }

    pub fn metrics(url: &str, api_key: Option<&str>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .default_headers(crate::target::bearer_headers(api_key)?)
            .timeout(METRICS_TIMEOUT)
            .build()
            .context("cannot set up the HTTP client for --metrics-url")?;
        Ok(Self::Metrics {
            url: url.to_owned(),
            client,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Proc { pid, .. } => format!("pid {pid}"),
            Self::Metrics { url, .. } => url.clone(),
        }
    }

    pub async fn read(&self) -> Result<Reading, ProbeError> {
        match self {
            Self::Proc { pid, root } => read_proc(&root.join(pid.to_string())).await,
            Self::Metrics { url, client } => {
                let response = client.get(url).send().await.map_err(|e| {
                    let message = format!("cannot read {url}: {e}");
                    // A refused connection on the target's own port means it is not running.
                    if e.is_connect() {
                        ProbeError::Gone(message)
                    } else {
                        ProbeError::Other(message)
                    }
                })?;
                if !response.status().is_success() {
                    return Err(ProbeError::Other(format!(
                        "{url} answered HTTP {}",
                        response.status().as_u16()
                    )));
                }
                let text = response
                    .text()
                    .await
                    .map_err(|e| ProbeError::Other(format!("cannot read {url}: {e}")))?;
                parse_metrics(&text).map_err(|e| ProbeError::Other(format!("{url}: {e}")))
            }
        }
    }
}

async fn read_proc(dir: &std::path::Path) -> Result<Reading, ProbeError> {
    let status_path = dir.join("status");
    let status = match tokio::fs::read_to_string(&status_path).await {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProbeError::Gone(format!(
                "no process at {}: it has exited, or the pid is wrong",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(ProbeError::Other(format!(
                "cannot read {}: {e}",
                status_path.display()
            )));
        }
    };
    let rss_bytes = parse_vm_rss(&status).ok_or_else(|| {
        ProbeError::Other(format!(
            "{} has no VmRSS line (a kernel thread?)",
            status_path.display()
        ))
    })?;
    // Listing another user's fds needs privileges; memory alone is still worth having.
    let fds = count_entries(&dir.join("fd")).await.ok();
    Ok(Reading { rss_bytes, fds })
}

async fn count_entries(dir: &std::path::Path) -> std::io::Result<u64> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    let mut count = 0;
    while entries.next_entry().await?.is_some() {
        count += 1;
    }
    Ok(count)
}

/// `VmRSS:     12345 kB` → bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    let factor = match fields.next().unwrap_or("kB") {
        "kB" => 1024,
        "mB" | "MB" => 1024 * 1024,
        _ => 1,
    };
    Some(value * factor)
}

/// Whether a metric is the standard process metric `standard`, bare or under a namespace:
/// Alice's registry exports `alice_process_resident_memory_bytes`.
fn is_metric(name: &str, standard: &str) -> bool {
    name.strip_suffix(standard)
        .is_some_and(|prefix| prefix.is_empty() || prefix.ends_with('_'))
}

/// Reads `process_resident_memory_bytes` and `process_open_fds` (bare or namespaced, as
/// `alice_process_…`) from Prometheus or OpenMetrics text.
fn parse_metrics(text: &str) -> anyhow::Result<Reading> {
    let mut rss = None;
    let mut fds = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name);
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        // Metric values are non-negative counts carried as floats.
        let whole = value.max(0.0).round() as u64;
        if is_metric(name, "process_resident_memory_bytes") {
            rss = Some(whole);
        } else if is_metric(name, "process_open_fds") {
            fds = Some(whole);
        }
    }
    match rss {
        Some(rss_bytes) => Ok(Reading { rss_bytes, fds }),
        None => bail!(
            "no process_resident_memory_bytes metric; the endpoint must export the standard \
             process metrics, bare or namespaced (Alice's /metrics does), or use --pid"
        ),
    }
}

/// Whether a sample was taken under load or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Load,
    Cooldown,
}

/// One sample of the target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds from the start of the run.
    pub t_s: f64,
    pub phase: Phase,
    pub rss_mib: Option<f64>,
    pub fds: Option<u64>,
    /// Latency of the requests sent in the interval that ended at this sample.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Why the reading failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The soak verdict's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Soak {
    /// What was watched ("pid 1234" or the metrics URL).
    pub source: String,
    pub sample_interval_s: f64,
    pub cooldown_s: f64,
    /// When the load stopped (seconds from the start); later samples are the cooldown.
    pub load_end_s: f64,
    pub samples: Vec<Sample>,
    /// Least-squares slope of RSS over the load samples; `null` with fewer than two.
    pub growth_mib_per_min: Option<f64>,
    pub rss_start_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub rss_end_of_load_mib: Option<f64>,
    /// RSS at the end of the cooldown (the last sample).
    pub rss_end_mib: Option<f64>,
    /// Peak minus end: how much came back after the load.
    pub returned_mib: Option<f64>,
    /// Whether at least half of the growth came back by the end of the cooldown (or there was
    /// under 1 MiB of growth); `null` without a cooldown.
    pub given_back: Option<bool>,
    pub fds_start: Option<u64>,
    pub fds_peak: Option<u64>,
    pub fds_end: Option<u64>,
    /// The target disappeared during the soak: a crash, or it was stopped.
    pub target_exited: bool,
}

/// Collects samples over a run.
pub struct Watch {
    probe: Probe,
    start: Instant,
    samples: Vec<Sample>,
    exited: bool,
}

/// Sampling that runs by itself while the load runs.
pub struct LoadSampling {
    stop: oneshot::Sender<()>,
    task: JoinHandle<(Vec<Sample>, bool)>,
}

impl Watch {
    /// Takes the first sample, before any load; an unreadable target stops the run here.
    pub async fn begin(probe: Probe, start: Instant) -> anyhow::Result<Self> {
        let reading = probe.read().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot sample {} for --soak: {}",
                probe.describe(),
                e.message()
            )
        })?;
        let mut watch = Self {
            probe,
            start,
            samples: Vec::new(),
            exited: false,
        };
        watch
            .samples
            .push(sample(Duration::ZERO, Phase::Load, Ok(reading)));
        Ok(watch)
    }

    /// Samples every `interval` (from the start) until [`Watch::end_load`].
    pub fn during_load(&self, interval: Duration) -> LoadSampling {
        let (stop, mut stopped) = oneshot::channel();
        let probe = self.probe.clone();
        let start = self.start;
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut exited = false;
            for tick in 1u32.. {
                let due = start + interval * tick;
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep_until(due) => {}
                }
                let (taken, gone) = observe(&probe, start, Phase::Load).await;
                exited |= gone;
                samples.push(taken);
            }
            (samples, exited)
        });
        LoadSampling { stop, task }
    }

    /// Stops the load sampling and takes the end-of-load sample.
    pub async fn end_load(&mut self, sampling: LoadSampling) {
        let _ = sampling.stop.send(());
        if let Ok((samples, exited)) = sampling.task.await {
            self.samples.extend(samples);
            self.exited |= exited;
        }
        self.take(Phase::Load).await;
    }

    /// Samples every `interval` for `length` after the load, ending with one at `length`.
    pub async fn cooldown(&mut self, interval: Duration, length: Duration) {
        let began = Instant::now();
        let end = began + length;
        for tick in 1u32.. {
            let due = (began + interval * tick).min(end);
            tokio::time::sleep_until(due).await;
            self.take(Phase::Cooldown).await;
            if due >= end {
                break;
            }
        }
    }

    async fn take(&mut self, phase: Phase) {
        let (taken, gone) = observe(&self.probe, self.start, phase).await;
        self.exited |= gone;
        self.samples.push(taken);
    }

    /// The figures, with each sample's latency taken from the series.
    pub fn finish(
        mut self,
        interval: Duration,
        cooldown: Duration,
        load_end: Duration,
        series: &[SeriesPoint],
        series_interval: Duration,
    ) -> Soak {
        for sample in &mut self.samples {
            if sample.phase != Phase::Load || sample.t_s <= 0.0 {
                continue;
            }
            let index = series_index(sample.t_s, interval, series_interval);
            if let Some(latency) = series.get(index).and_then(|p| p.latency_ms) {
                sample.latency_p50_ms = Some(latency.p50);
                sample.latency_p99_ms = Some(latency.p99);
            }
        }
        analyse(
            self.probe.describe(),
            self.samples,
            interval,
            cooldown,
            load_end,
            self.exited,
        )
    }
}

/// The series point holding the requests sent in the sampling interval that ended at `t_s`.
///
/// Samples are taken a little after their tick (`k · interval`), so half an interval back from
/// the sample lands inside the interval it closes, however late the reading came.
fn series_index(t_s: f64, interval: Duration, series_interval: Duration) -> usize {
    let step = series_interval.as_secs_f64().max(1e-3);
    let middle = t_s - interval.as_secs_f64() / 2.0;
    (middle / step).floor().max(0.0) as usize
}

/// Reads the target now: the sample, and whether the target is gone.
async fn observe(probe: &Probe, start: Instant, phase: Phase) -> (Sample, bool) {
    let reading = probe.read().await;
    let gone = matches!(reading, Err(ProbeError::Gone(_)));
    let at = Instant::now().saturating_duration_since(start);
    (sample(at, phase, reading), gone)
}

fn sample(at: Duration, phase: Phase, reading: Result<Reading, ProbeError>) -> Sample {
    let (rss_mib, fds, error) = match reading {
        Ok(reading) => (Some(reading.rss_bytes as f64 / MIB), reading.fds, None),
        Err(e) => (None, None, Some(e.message().to_owned())),
    };
    Sample {
        t_s: at.as_secs_f64(),
        phase,
        rss_mib,
        fds,
        latency_p50_ms: None,
        latency_p99_ms: None,
        error,
    }
}

/// Least-squares slope of `y` over `x`; `None` with fewer than two distinct `x`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn analyse(
    source: String,
    samples: Vec<Sample>,
    interval: Duration,
    cooldown: Duration,
    load_end: Duration,
    target_exited: bool,
) -> Soak {
    let rss = |phase: Option<Phase>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter(|s| phase.is_none_or(|p| s.phase == p))
            .filter_map(|s| s.rss_mib.map(|r| (s.t_s, r)))
            .collect()
    };
    let all = rss(None);
    let load: Vec<(f64, f64)> = rss(Some(Phase::Load))
        .into_iter()
        .map(|(t, r)| (t / 60.0, r))
        .collect();
    let cooled = rss(Some(Phase::Cooldown));
    let start = all.first().map(|p| p.1);
    let peak = all.iter().map(|p| p.1).reduce(f64::max);
    let end_of_load = load.last().map(|p| p.1);
    let end = all.last().map(|p| p.1);
    let given_back = match (cooled.last(), start, peak) {
        (Some(&(_, last)), Some(start), Some(peak)) => {
            let growth = peak - start;
            Some(growth < NEGLIGIBLE_GROWTH_MIB || last <= start + growth / 2.0)
        }
        _ => None,
    };
    let fds: Vec<u64> = samples.iter().filter_map(|s| s.fds).collect();
    Soak {
        source,
        sample_interval_s: interval.as_secs_f64(),
        cooldown_s: cooldown.as_secs_f64(),
        load_end_s: load_end.as_secs_f64(),
        growth_mib_per_min: slope(&load),
        rss_start_mib: start,
        rss_peak_mib: peak,
        rss_end_of_load_mib: end_of_load,
        rss_end_mib: end,
        returned_mib: peak.zip(end).map(|(p, e)| p - e),
        given_back,
        fds_start: fds.first().copied(),
        fds_peak: fds.iter().copied().max(),
        fds_end: fds.last().copied(),
        target_exited,
        samples,
    }
}

#[cfg(test)]
mod tests;
