//! What happened, as numbers: HDR histograms of latency and a time series per interval.
//!
//! Latency is recorded from each request's *intended* send time, so a request the generator
//! sent late (or a target that queues) shows its full wait. HDR histograms keep percentiles
//! exact to three significant digits from 1 µs to 120 s in fixed memory, whatever the count.
//! Each interval of the series gets its own, coarser histogram (two digits, 32-bit counts:
//! about 11 KB) for the latency-over-time plot; the number of intervals is capped by the
//! caller, so a long soak stays within a few megabytes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::target::Failure;

/// Histogram range: 1 µs to 120 s (longer values are recorded as 120 s).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 120_000_000;
/// Precision of the whole-run histograms (0.1 %).
const SIGFIG: u8 = 3;
/// Precision of the per-interval histograms (1 %): enough for a plot, a tenth of the memory.
const INTERVAL_SIGFIG: u8 = 2;
/// Last interval index; the caller sizes intervals to stay far below it, this only makes sure
/// a stray offset cannot allocate without bound.
const MAX_BINS: usize = 100_000;

/// Counters of requests by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Arrivals the schedule produced.
    pub scheduled: u64,
    /// Arrivals not sent because `--max-in-flight` requests were already open.
    pub dropped: u64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered in full.
    pub ok: u64,
    /// Requests that failed (see `errors_by_kind`).
    pub errors: u64,
}

/// How many of one kind of error, with the first message seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorTally {
    pub count: u64,
    pub example: String,
}

/// Multi-turn conversations: started with their first turn, completed with their last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversations {
    pub started: u64,
    pub completed: u64,
    /// A turn failed, so the rest of the conversation was not sent.
    pub abandoned: u64,
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One point of the percentile distribution plot.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    pub percentile: f64,
    pub latency_ms: f64,
}

/// Latency of the requests *sent* in one interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalLatency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One interval of the time series, keyed by intended send time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Start of the interval, seconds from the start of the run.
    pub t_s: f64,
    #[serde(flatten)]
    pub counts: Counts,
    /// `null` when no request sent in this interval was answered.
    pub latency_ms: Option<IntervalLatency>,
}

/// The run in figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The load window: the planned duration, or longer if the last send came late.
    pub duration_s: f64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Requests still unanswered when the run ended (only after an interrupt or a hang).
    pub unfinished: u64,
    /// Arrivals per second the schedule produced.
    pub offered_rate: f64,
    /// Requests per second actually sent.
    pub send_rate: f64,
    /// Answers per second.
    pub ok_rate: f64,
    /// Share of finished requests that failed.
    pub error_rate: f64,
    /// Share of arrivals dropped by the generator.
    pub drop_rate: f64,
    pub errors_by_kind: BTreeMap<String, ErrorTally>,
    /// From intended send time to the complete answer (answered requests only).
    pub latency_ms: Option<LatencyStats>,
    /// From actual send time to the complete answer: the server's view.
    pub service_ms: Option<LatencyStats>,
    /// How late the generator sent, against the schedule.
    pub send_lag_ms: Option<LatencyStats>,
    /// From intended send time to the first non-empty piece of text (streaming).
    pub ttft_ms: Option<LatencyStats>,
    /// Between consecutive pieces of text (streaming).
    pub inter_token_ms: Option<LatencyStats>,
    /// Latency (as `latency_ms`) by how Alice made the answer: "intent" and "tool" are her
    /// fast route, "model" the backends; empty for the OpenAI API, which does not say.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_by_route_ms: BTreeMap<String, LatencyStats>,
    pub conversations: Conversations,
}

/// Timings of one answered request.
#[derive(Clone, Copy, Debug)]
pub struct Answered<'a> {
    pub latency: Duration,
    pub service: Duration,
    pub ttft: Option<Duration>,
    pub gaps: &'a [Duration],
    /// The answer's route, when the API says it.
    pub route: Option<&'a str>,
}

struct Bin {
    counts: Counts,
    latency: Option<Histogram<u32>>,
}

/// Collects every request's fate; shared behind a mutex, held only to add a number.
pub struct Recorder {
    interval: Duration,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    send_lag: Histogram<u64>,
    ttft: Histogram<u64>,
    inter_token: Histogram<u64>,
    by_route: BTreeMap<String, Histogram<u64>>,
    bins: Vec<Bin>,
    /// An empty per-interval histogram, cloned for each interval that gets an answer.
    bin_template: Histogram<u32>,
    totals: Counts,
    errors: BTreeMap<String, ErrorTally>,
    last_send: Duration,
    conversations: Conversations,
}

fn histogram<T: hdrhistogram::Counter>(sigfig: u8) -> anyhow::Result<Histogram<T>> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, sigfig)
        .context("cannot set up a latency histogram")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(LOWEST_US, HIGHEST_US)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Recorder {
    /// A recorder whose series has one point per `interval` of intended send time.
    pub fn new(interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            interval: interval.max(Duration::from_millis(1)),
            latency: histogram(SIGFIG)?,
            service: histogram(SIGFIG)?,
            send_lag: histogram(SIGFIG)?,
            ttft: histogram(SIGFIG)?,
            inter_token: histogram(SIGFIG)?,
            by_route: BTreeMap::new(),
            bins: Vec::new(),
            bin_template: histogram(INTERVAL_SIGFIG)?,
            totals: Counts::default(),
            errors: BTreeMap::new(),
            last_send: Duration::ZERO,
            conversations: Conversations::default(),
        })
    }

    fn bin(&mut self, offset: Duration) -> &mut Bin {
        let index = self.bin_index(offset);
        &mut self.bins[index]
    }

    /// The index of the interval holding `offset`, creating the intervals up to it.
    fn bin_index(&mut self, offset: Duration) -> usize {
        let index = usize::try_from(offset.as_nanos() / self.interval.as_nanos().max(1))
            .unwrap_or(usize::MAX)
            .min(MAX_BINS);
        if self.bins.len() <= index {
            self.bins.resize_with(index + 1, || Bin {
                counts: Counts::default(),
                latency: None,
            });
        }
        index
    }

    /// An arrival at `offset`, sent or dropped.
    pub fn arrival(&mut self, offset: Duration, dropped: bool) {
        self.totals.scheduled += 1;
        self.totals.dropped += u64::from(dropped);
        let bin = self.bin(offset);
        bin.counts.scheduled += 1;
        bin.counts.dropped += u64::from(dropped);
    }

    /// The request meant for `intended` went out at `actual` (both from the start).
    pub fn sent(&mut self, intended: Duration, actual: Duration) {
        self.totals.sent += 1;
        self.last_send = self.last_send.max(actual);
        self.send_lag
            .saturating_record(micros(actual.saturating_sub(intended)));
        self.bin(intended).counts.sent += 1;
    }

    pub fn answered(&mut self, intended: Duration, timings: Answered<'_>) {
        self.totals.ok += 1;
        let latency = micros(timings.latency);
        self.latency.saturating_record(latency);
        self.service.saturating_record(micros(timings.service));
        if let Some(ttft) = timings.ttft {
            self.ttft.saturating_record(micros(ttft));
        }
        for gap in timings.gaps {
            self.inter_token.saturating_record(micros(*gap));
        }
        if let Some(route) = timings.route {
            if !self.by_route.contains_key(route)
                && let Ok(empty) = histogram(SIGFIG)
            {
                self.by_route.insert(route.to_owned(), empty);
            }
            if let Some(histogram) = self.by_route.get_mut(route) {
                histogram.saturating_record(latency);
            }
        }
        let index = self.bin_index(intended);
        let template = &self.bin_template;
        let bin = &mut self.bins[index];
        bin.counts.ok += 1;
        bin.latency
            .get_or_insert_with(|| template.clone())
            .saturating_record(latency);
    }

    pub fn failed(&mut self, intended: Duration, failure: &Failure) {
        self.totals.errors += 1;
        self.bin(intended).counts.errors += 1;
        self.errors
            .entry(failure.kind())
            .or_insert_with(|| ErrorTally {
                count: 0,
                example: failure.message(),
            })
            .count += 1;
    }

    pub fn conversation_started(&mut self) {
        self.conversations.started += 1;
    }

    pub fn conversation_completed(&mut self) {
        self.conversations.completed += 1;
    }

    pub fn conversation_abandoned(&mut self) {
        self.conversations.abandoned += 1;
    }

    /// The counters so far, for the progress bar.
    pub fn totals(&self) -> Counts {
        self.totals
    }

    /// The figures of the run; `planned` is the schedule's length.
    pub fn summary(&self, planned: Duration) -> Summary {
        let totals = self.totals;
        let window = planned.max(self.last_send).as_secs_f64();
        let per_second = |n: u64| if window > 0.0 { n as f64 / window } else { 0.0 };
        let share = |part: u64, whole: u64| {
            if whole > 0 {
                part as f64 / whole as f64
            } else {
                0.0
            }
        };
        let planned_s = planned.as_secs_f64();
        Summary {
            duration_s: window,
            counts: totals,
            unfinished: totals.sent.saturating_sub(totals.ok + totals.errors),
            offered_rate: if planned_s > 0.0 {
                totals.scheduled as f64 / planned_s
            } else {
                0.0
            },
            send_rate: per_second(totals.sent),
            ok_rate: per_second(totals.ok),
            error_rate: share(totals.errors, totals.ok + totals.errors),
            drop_rate: share(totals.dropped, totals.scheduled),
            errors_by_kind: self.errors.clone(),
            latency_ms: stats(&self.latency),
            service_ms: stats(&self.service),
            send_lag_ms: stats(&self.send_lag),
            ttft_ms: stats(&self.ttft),
            inter_token_ms: stats(&self.inter_token),
            latency_by_route_ms: self
                .by_route
                .iter()
                .filter_map(|(route, histogram)| Some((route.clone(), stats(histogram)?)))
                .collect(),
            conversations: self.conversations,
        }
    }

    /// The time series, one point per interval from the start to the last arrival.
    pub fn series(&self) -> Vec<SeriesPoint> {
        let step = self.interval.as_secs_f64();
        self.bins
            .iter()
            .enumerate()
            .map(|(index, bin)| SeriesPoint {
                t_s: index as f64 * step,
                counts: bin.counts,
                latency_ms: bin.latency.as_ref().map(|h| IntervalLatency {
                    p50: ms(h.value_at_quantile(0.5)),
                    p90: ms(h.value_at_quantile(0.9)),
                    p99: ms(h.value_at_quantile(0.99)),
                    max: ms(h.max()),
                }),
            })
            .collect()
    }

    /// Latency at percentiles spaced evenly in "nines" (0, 90, 99, 99.9, ...), as HDR plots
    /// show them, up to the largest the count can support, then the maximum.
    pub fn distribution(&self) -> Vec<Percentile> {
        let count = self.latency.len();
        if count == 0 {
            return Vec::new();
        }
        // Beyond 1/count the percentiles are all the maximum.
        let max_nines = (count as f64).log10().clamp(0.0, 6.0);
        let mut points: Vec<Percentile> = (0..)
            .map(|step| f64::from(step) / 10.0)
            .take_while(|nines| *nines <= max_nines)
            .map(|nines| {
                let quantile = 1.0 - 10f64.powf(-nines);
                Percentile {
                    percentile: quantile * 100.0,
                    latency_ms: ms(self.latency.value_at_quantile(quantile)),
                }
            })
            .collect();
        points.push(Percentile {
            percentile: 100.0,
            latency_ms: ms(self.latency.max()),
        });
        points
    }
}

fn stats(histogram: &Histogram<u64>) -> Option<LatencyStats> {
    if histogram.is_empty() {
        return None;
    }
    let at = |q: f64| ms(histogram.value_at_quantile(q));
    Some(LatencyStats {
        count: histogram.len(),
        min: ms(histogram.min()),
        mean: histogram.mean() / 1000.0,
        p50: at(0.5),
        p90: at(0.9),
        p95: at(0.95),
        p99: at(0.99),
        p999: at(0.999),
        max: ms(histogram.max()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn answered(latency_ms: u64) -> Answered<'static> {
        Answered {
            latency: Duration::from_millis(latency_ms),
            service: Duration::from_millis(latency_ms / 2),
            ttft: None,
            gaps: &[],
            route: None,
        }
    }

    #[test]
    fn answers_are_also_counted_by_route() {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        for (ms, route) in [(2, "intent"), (3, "intent"), (400, "model"), (500, "model")] {
            recorder.sent(Duration::ZERO, Duration::ZERO);
            let timings = Answered {
                route: Some(route),
                ..answered(ms)
            };
            recorder.answered(Duration::ZERO, timings);
        }
        recorder.sent(Duration::ZERO, Duration::ZERO);
        recorder.answered(Duration::ZERO, answered(7));
        let summary = recorder.summary(Duration::from_secs(1));
        let routes: Vec<_> = summary.latency_by_route_ms.keys().collect();
        assert_eq!(routes, ["intent", "model"]);
        let intent = summary.latency_by_route_ms["intent"];
        assert_eq!(intent.count, 2);
        assert!(intent.max < 3.1, "{intent:?}");
        assert_eq!(summary.latency_by_route_ms["model"].count, 2);
        assert_eq!(
            summary.latency_ms.unwrap().count,
            5,
            "every answer in the totals"
        );
    }

    #[test]
    fn percentiles_and_rates_come_out_of_the_counts() {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        for i in 0..100u64 {
            let offset = Duration::from_millis(i * 20); // 50 per second over 2 s
            recorder.arrival(offset, false);
            recorder.sent(offset, offset + Duration::from_micros(300));
            recorder.answered(offset, answered(i + 1));
        }
        recorder.arrival(Duration::from_millis(1999), true);
        recorder.arrival(Duration::from_millis(1999), false);
        recorder.sent(Duration::from_millis(1999), Duration::from_millis(1999));
        recorder.failed(
            Duration::from_millis(1999),
            &Failure::Status(503, "busy".into()),
        );

        let summary = recorder.summary(Duration::from_secs(2));
        assert_eq!(summary.counts.scheduled, 102);
        assert_eq!(summary.counts.sent, 101);
        assert_eq!(summary.counts.dropped, 1);
        assert_eq!(summary.counts.ok, 100);
        assert_eq!(summary.unfinished, 0);
        assert!((summary.send_rate - 50.5).abs() < 1e-9);
        assert!((summary.offered_rate - 51.0).abs() < 1e-9);
        assert!((summary.error_rate - 1.0 / 101.0).abs() < 1e-12);
        assert_eq!(summary.errors_by_kind["http_503"].count, 1);
        assert_eq!(summary.errors_by_kind["http_503"].example, "HTTP 503: busy");
        let latency = summary.latency_ms.unwrap();
        assert!((latency.p50 - 50.0).abs() < 0.1, "{latency:?}");
        assert!((latency.p99 - 99.0).abs() < 0.1, "{latency:?}");
        assert!((latency.max - 100.0).abs() < 0.1, "{latency:?}");
        assert!((latency.mean - 50.5).abs() < 0.1, "{latency:?}");
        let lag = summary.send_lag_ms.unwrap();
        assert!(lag.p50 > 0.29 && lag.p50 < 0.31, "{lag:?}");
        assert!(summary.ttft_ms.is_none());

        let series = recorder.series();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].counts.ok, 50);
        assert_eq!(series[1].counts.errors, 1);
        assert_eq!(series[1].counts.dropped, 1);
        let second = series[1].latency_ms.unwrap();
        assert!((second.max - 100.0).abs() < 1.0, "{second:?}");
    }

    #[test]
    fn the_send_window_stretches_when_the_generator_falls_behind() {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        for i in 0..10u64 {
            let offset = Duration::from_millis(i * 100);
            recorder.arrival(offset, false);
            // Every send happens at 2 s, whatever was planned: the rate halves.
            recorder.sent(offset, Duration::from_secs(2));
        }
        let summary = recorder.summary(Duration::from_secs(1));
        assert!((summary.send_rate - 5.0).abs() < 1e-9);
        assert_eq!(summary.unfinished, 10);
    }

    #[test]
    fn the_distribution_rises_to_the_maximum() {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        assert!(recorder.distribution().is_empty());
        for i in 1..=1000u64 {
            recorder.answered(Duration::ZERO, answered(i));
        }
        let points = recorder.distribution();
        assert_eq!(points.first().unwrap().percentile, 0.0);
        assert_eq!(points.last().unwrap().percentile, 100.0);
        // 0 to 3 nines in tenths, then the maximum.
        assert_eq!(points.len(), 32);
        assert!(
            points
                .windows(2)
                .all(|p| p[0].latency_ms <= p[1].latency_ms)
        );
        assert!((points.last().unwrap().latency_ms - 1000.0).abs() < 1.0);
    }

    #[test]
    fn values_outside_the_range_are_clamped_not_lost() {
        let mut recorder = Recorder::new(Duration::from_secs(1)).unwrap();
        recorder.answered(Duration::ZERO, answered(10 * 60 * 1000));
        recorder.answered(Duration::ZERO, answered(0));
        let latency = recorder.summary(Duration::from_secs(1)).latency_ms.unwrap();
        assert_eq!(latency.count, 2);
        assert!(latency.max >= 119_000.0 && latency.max <= 121_000.0);
    }
}
