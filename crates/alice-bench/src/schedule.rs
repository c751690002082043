//! When each request is meant to be sent: the arrival process, computed from the stages alone.
//!
//! An open-loop generator decides its send times without looking at responses; otherwise a slow
//! target would slow the load down and hide its own slowness (coordinated omission). This module
//! turns stages (`30s:0->200,60s:200`) and an arrival kind into a finite iterator of send offsets
//! from the start of the run, so nothing about the target can influence it.
//!
//! Both arrival kinds go through the cumulative rate Λ(t) = ∫₀ᵗ λ(s) ds of the piecewise-linear
//! rate λ: the k-th *constant* arrival is at Λ⁻¹(k + ½), and *Poisson* arrivals are at
//! Λ⁻¹(E₁ + … + Eₖ) with Eᵢ ~ Exp(1), which is the time-rescaling construction of an
//! inhomogeneous Poisson process. One inversion therefore serves ramps and holds of both kinds,
//! and arrivals are made one at a time, so a day-long soak needs no memory for its schedule.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One stage: the rate goes linearly from `from` to `to` requests per second over `duration`
/// (a hold when both are equal).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    #[serde(rename = "duration_s", with = "seconds")]
    pub duration: Duration,
    #[serde(rename = "from_rps")]
    pub from: f64,
    #[serde(rename = "to_rps")]
    pub to: f64,
}

impl Stage {
    /// Expected number of arrivals in this stage: the area under its rate.
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.duration.as_secs_f64()
    }

    /// The time into the stage at which the cumulative rate reaches `x` (0 ≤ x ≤ area).
    ///
    /// Solves `from·t + (to−from)·t²/(2D) = x` in the form `2x / (from + √(from² + 2(to−from)x/D))`,
    /// which has no cancellation and covers holds, ramps up from zero and ramps down alike.
    fn time_at(&self, x: f64) -> f64 {
        let length = self.duration.as_secs_f64();
        if x <= 0.0 || length <= 0.0 {
            return 0.0;
        }
        let slope = (self.to - self.from) / length;
        let root = (self.from * self.from + 2.0 * slope * x).max(0.0).sqrt();
        let denominator = self.from + root;
        if denominator <= 0.0 {
            return length;
        }
        (2.0 * x / denominator).min(length)
    }
}

/// The whole load shape: stages run one after another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StagePlan(pub Vec<Stage>);

impl StagePlan {
    /// A single hold at `rate` for `duration`.
    pub fn hold(rate: f64, duration: Duration) -> Result<Self, String> {
        Self::checked(vec![Stage {
            duration,
            from: rate,
            to: rate,
        }])
    }

    /// Parses `30s:0->200,60s:200`: comma-separated `DURATION:RATE` (hold) or
    /// `DURATION:FROM->TO` (linear ramp), durations as `500ms`, `30s`, `2m`, `1h30m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut stages = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (duration, rates) = part.split_once(':').ok_or_else(|| {
                format!("stage {part:?} needs DURATION:RATE or DURATION:FROM->TO, e.g. 30s:0->200")
            })?;
            let duration = humantime::parse_duration(duration.trim())
                .map_err(|e| format!("stage {part:?}: duration {duration:?}: {e}"))?;
            let (from, to) = match rates.split_once("->") {
                Some((from, to)) => (parse_rate(part, from)?, parse_rate(part, to)?),
                None => {
                    let rate = parse_rate(part, rates)?;
                    (rate, rate)
                }
            };
            stages.push(Stage { duration, from, to });
        }
        Self::checked(stages)
    }

    fn checked(stages: Vec<Stage>) -> Result<Self, String> {
        if stages.is_empty() {
            return Err("no stages given; write e.g. 30s:0->200,60s:200".to_owned());
        }
        for stage in &stages {
            for rate in [stage.from, stage.to] {
                if !rate.is_finite() || rate < 0.0 {
                    return Err(format!(
                        "a rate must be a number of requests per second ≥ 0, got {rate}"
                    ));
                }
            }
        }
        let plan = Self(stages);
        if plan.total().is_zero() {
            return Err("the stages last no time; give each a duration like 30s".to_owned());
        }
        if plan.expected_requests() <= 0.0 {
            return Err("every stage has rate 0, so nothing would be sent".to_owned());
        }
        Ok(plan)
    }

    /// How long the load lasts.
    pub fn total(&self) -> Duration {
        self.0.iter().map(|s| s.duration).sum()
    }

    /// Expected number of requests (exact, give or take one, for constant arrivals).
    pub fn expected_requests(&self) -> f64 {
        self.0.iter().map(Stage::area).sum()
    }

    /// Mean offered rate over the whole plan.
    pub fn mean_rate(&self) -> f64 {
        let seconds = self.total().as_secs_f64();
        if seconds > 0.0 {
            self.expected_requests() / seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for StagePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, stage) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            let duration = humantime::format_duration(stage.duration);
            if stage.from == stage.to {
                write!(f, "{duration} at {} req/s", stage.from)?;
            } else {
                write!(f, "{duration} from {} to {} req/s", stage.from, stage.to)?;
            }
        }
        Ok(())
    }
}

fn parse_rate(part: &str, text: &str) -> Result<f64, String> {
    text.trim().parse::<f64>().map_err(|_| {
        format!("stage {part:?}: rate {text:?} is not a number of requests per second")
    })
}

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: the k-th request exactly where the rate says.
    Constant,
    /// Independent random arrivals (exponential gaps), as from many unrelated users.
    Poisson,
}

/// The send offsets of one run, in order, made on demand.
pub struct ArrivalClock {
    plan: StagePlan,
    arrivals: Arrivals,
    rng: StdRng,
    /// Arrivals handed out so far.
    count: u64,
    /// Cumulative rate of the last Poisson arrival.
    poisson_level: f64,
    /// The stage the last arrival fell in, its start time and the cumulative rate before it.
    stage: usize,
    stage_start: f64,
    level_before_stage: f64,
}

impl ArrivalClock {
    pub fn new(plan: StagePlan, arrivals: Arrivals, seed: u64) -> Self {
        Self {
            plan,
            arrivals,
            rng: StdRng::seed_from_u64(seed),
            count: 0,
            poisson_level: 0.0,
            stage: 0,
            stage_start: 0.0,
            level_before_stage: 0.0,
        }
    }

    /// The time (seconds from the start) at which the cumulative rate reaches `level`, or
    /// `None` past the end of the plan. `level` never decreases between calls.
    fn time_at_level(&mut self, level: f64) -> Option<f64> {
        while let Some(stage) = self.plan.0.get(self.stage) {
            let area = stage.area();
            if level < self.level_before_stage + area {
                return Some(self.stage_start + stage.time_at(level - self.level_before_stage));
            }
            self.level_before_stage += area;
            self.stage_start += stage.duration.as_secs_f64();
            self.stage += 1;
        }
        None
    }
}

impl Iterator for ArrivalClock {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let level = match self.arrivals {
            // Precision note: u64 → f64 is exact below 2⁵³ arrivals.
            Arrivals::Constant => self.count as f64 + 0.5,
            Arrivals::Poisson => {
                // 1 − U lies in (0, 1], so the logarithm is finite.
                let uniform: f64 = self.rng.random();
                self.poisson_level += -(1.0 - uniform).ln();
                self.poisson_level
            }
        };
        let seconds = self.time_at_level(level)?;
        self.count += 1;
        Some(Duration::from_secs_f64(seconds.max(0.0)))
    }
}

/// Serialises a [`Duration`] as fractional seconds, the unit the report uses for spans of time.
pub(crate) mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn secs(offsets: &[Duration]) -> Vec<f64> {
        offsets.iter().map(Duration::as_secs_f64).collect()
    }

    #[test]
    fn parses_ramps_and_holds() {
        let plan = StagePlan::parse("30s:0->200, 1m:200,500ms:5").unwrap();
        assert_eq!(plan.0.len(), 3);
        assert_eq!(plan.0[0].duration, Duration::from_secs(30));
        assert_eq!((plan.0[0].from, plan.0[0].to), (0.0, 200.0));
        assert_eq!((plan.0[1].from, plan.0[1].to), (200.0, 200.0));
        assert_eq!(plan.0[2].duration, Duration::from_millis(500));
        assert_eq!(plan.total(), Duration::from_millis(90_500));
        assert!((plan.expected_requests() - (3000.0 + 12_000.0 + 2.5)).abs() < 1e-9);
        assert_eq!(
            plan.to_string(),
            "30s from 0 to 200 req/s, 1m at 200 req/s, 500ms at 5 req/s"
        );
    }

    #[test]
    fn rejects_what_cannot_run() {
        for bad in [
            "", "30s", "x:10", "10s:fast", "10s:-1", "0s:10", "10s:0", "5s:0->0",
        ] {
            assert!(StagePlan::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(StagePlan::hold(f64::NAN, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced_at_the_rate() {
        let plan = StagePlan::hold(200.0, Duration::from_secs(3)).unwrap();
        let offsets: Vec<Duration> = ArrivalClock::new(plan, Arrivals::Constant, 1).collect();
        assert_eq!(offsets.len(), 600);
        let times = secs(&offsets);
        assert!((times[0] - 0.0025).abs() < 1e-9);
        for pair in times.windows(2) {
            assert!((pair[1] - pair[0] - 0.005).abs() < 1e-9);
        }
        assert!(times[599] < 3.0);
    }

    #[test]
    fn a_ramp_places_arrivals_under_its_rate() {
        // 0 -> 100 req/s over 2 s (100 requests: 25 in the first second, 75 in the second),
        // then 1 s at 100 req/s.
        let plan = StagePlan::parse("2s:0->100,1s:100").unwrap();
        let times = secs(&ArrivalClock::new(plan, Arrivals::Constant, 1).collect::<Vec<_>>());
        assert_eq!(times.len(), 200);
        let in_window = |a: f64, b: f64| times.iter().filter(|&&t| t >= a && t < b).count();
        assert_eq!(in_window(0.0, 1.0), 25);
        assert_eq!(in_window(1.0, 2.0), 75);
        assert_eq!(in_window(2.0, 3.0), 100);
        assert!(times.windows(2).all(|p| p[0] <= p[1]));
    }

    #[test]
    fn a_ramp_down_ends_at_the_right_count() {
        let plan = StagePlan::parse("4s:100->0").unwrap();
        let times = secs(&ArrivalClock::new(plan, Arrivals::Constant, 1).collect::<Vec<_>>());
        assert_eq!(times.len(), 200);
        let first_half = times.iter().filter(|&&t| t < 2.0).count();
        assert_eq!(first_half, 150);
        assert!(times.iter().all(|&t| t <= 4.0));
    }

    #[test]
    fn poisson_arrivals_repeat_with_the_seed_and_differ_without_it() {
        let plan = StagePlan::hold(50.0, Duration::from_secs(2)).unwrap();
        let a: Vec<Duration> = ArrivalClock::new(plan.clone(), Arrivals::Poisson, 7).collect();
        let b: Vec<Duration> = ArrivalClock::new(plan.clone(), Arrivals::Poisson, 7).collect();
        let c: Vec<Duration> = ArrivalClock::new(plan, Arrivals::Poisson, 8).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Over 20 seeds × 60 s at 200 req/s (12,000 expected arrivals each), the count of a Poisson
    /// process has standard deviation √12,000 ≈ 110 (0.9 %); each run must land within 4σ, and the
    /// gaps must look exponential: mean 5 ms, coefficient of variation ≈ 1 (it is 0 for constant
    /// arrivals), and about e⁻¹ ≈ 36.8 % of gaps longer than the mean.
    #[test]
    fn poisson_arrivals_have_the_rate_and_the_spread_of_a_poisson_process() {
        let plan = StagePlan::hold(200.0, Duration::from_secs(60)).unwrap();
        let expected = plan.expected_requests();
        let sigma = expected.sqrt();
        let mut gaps = Vec::new();
        for seed in 0..20 {
            let times =
                secs(&ArrivalClock::new(plan.clone(), Arrivals::Poisson, seed).collect::<Vec<_>>());
            let count = times.len() as f64;
            assert!(
                (count - expected).abs() < 4.0 * sigma,
                "seed {seed}: {count} arrivals, expected {expected} ± {}",
                4.0 * sigma
            );
            gaps.extend(times.windows(2).map(|p| p[1] - p[0]));
        }
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let variance = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n;
        let cv = variance.sqrt() / mean;
        let longer = gaps.iter().filter(|&&g| g > mean).count() as f64 / n;
        assert!((mean - 0.005).abs() < 0.005 * 0.01, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.02, "coefficient of variation {cv}");
        assert!(
            (longer - (-1.0f64).exp()).abs() < 0.01,
            "share above mean {longer}"
        );
    }
}
