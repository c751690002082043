//! The statistics of the report: percentiles, the Wilson interval of a proportion, the
//! two-proportion z-test and the Mann-Whitney U test, as plain functions over numbers.
//!
//! The normal distribution is statrs's (`Normal::sf`, computed from `erfc`, so a small p-value
//! keeps its digits instead of vanishing in `1 - cdf`). The tests themselves are written here:
//! statrs 0.19 has no Wilson interval or two-proportion test, and its `mannwhitneyu` first
//! compares every pair of values to check that they are comparable (O(n²): minutes for the
//! tens of thousands of latencies of a busy experiment) and works out its p-value as
//! `1 - cdf`. The one below sorts once (O(n log n)), with the same formulas as scipy's
//! `mannwhitneyu(method="asymptotic")`: average ranks for ties, the tie-corrected variance,
//! the continuity correction. Its tests compare with values scipy 1.17 computed.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// The z of a two-sided 95 % interval: the standard normal's 97.5th percentile.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A closed interval of a proportion, both ends in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The outcome of a two-sided test: its statistic (z for the proportions; U of the first
/// sample for Mann-Whitney) and the p-value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// The upper tail of the standard normal, P(Z > z).
fn normal_sf(z: f64) -> f64 {
    Normal::standard().sf(z)
}

/// The two-sided p-value of a standard normal statistic.
fn two_sided(z: f64) -> f64 {
    (2.0 * normal_sf(z.abs())).clamp(0.0, 1.0)
}

/// The `q`-th percentile (0 to 100) of `sorted` (ascending) by nearest rank: the smallest value
/// with at least `q` % of the values at or below it, so always a value that was observed.
/// `None` for no values.
pub fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // q · n first: exact for whole percents, so 95 % of 20 values is rank 19, not 19.000…1.
    let rank = (q * sorted.len() as f64 / 100.0).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The Wilson score interval of `successes` out of `trials` at 95 %: unlike the plain
/// p ± 1.96·se, it stays inside [0, 1] and is honest for small counts and shares near 0 or 1.
/// `None` for no trials.
pub fn wilson(successes: u64, trials: u64) -> Option<Interval> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The two-sided two-proportion z-test (pooled variance) of `s1` of `n1` against `s2` of
/// `n2`; z is positive when the first share is the larger. `None` when a side has no trials.
/// Two shares that are both 0 or both 1 do not differ: z 0, p 1.
pub fn two_proportion(s1: u64, n1: u64, s2: u64, n2: u64) -> Option<TestResult> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (a, b) = (n1 as f64, n2 as f64);
    let (p1, p2) = (s1.min(n1) as f64 / a, s2.min(n2) as f64 / b);
    let pooled = (s1.min(n1) + s2.min(n2)) as f64 / (a + b);
    let se = (pooled * (1.0 - pooled) * (1.0 / a + 1.0 / b)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return Some(TestResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = (p1 - p2) / se;
    Some(TestResult {
        statistic: z,
        p_value: two_sided(z),
    })
}

/// The two-sided Mann-Whitney U test of `x` against `y` by its normal approximation, with
/// average ranks for ties, the tie correction of the variance and the continuity correction
/// (scipy's `mannwhitneyu(x, y, method="asymptotic")`). The statistic is U of `x`: the number
/// of pairs in which the `x` value is the larger (ties count a half), so below n1·n2/2 when
/// `x` tends to be smaller. `None` when a side is empty.
pub fn mann_whitney(x: &[u64], y: &[u64]) -> Option<TestResult> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let n = n1 + n2;
    // Every value with the sample it came from, sorted by value.
    let mut all: Vec<(u64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_unstable_by_key(|&(v, _)| v);
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < all.len() {
        let value = all[start].0;
        let end = start + all[start..].iter().take_while(|(v, _)| *v == value).count();
        let t = (end - start) as f64;
        // Ranks start+1 ..= end share their average.
        let rank = (start + 1 + end) as f64 / 2.0;
        let from_x = all[start..end].iter().filter(|(_, in_x)| *in_x).count() as f64;
        rank_sum_x += rank * from_x;
        tie_term += t * t * t - t;
        start = end;
    }
    let u1 = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let mu = n1 * n2 / 2.0;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if variance <= 0.0 || !variance.is_finite() {
        // Every value the same: no evidence of a difference.
        return Some(TestResult {
            statistic: u1,
            p_value: 1.0,
        });
    }
    let z = (u1.max(u2) - mu - 0.5) / variance.sqrt();
    Some(TestResult {
        statistic: u1,
        p_value: (2.0 * normal_sf(z)).clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 0.0), Some(1));
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&twenty, 95.0), Some(19));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn wilson_matches_known_intervals() {
        // 8 of 10: the textbook [0.490, 0.943] (Newcombe 1998; R's prop.test without the
        // continuity correction, binom::binom.wilson).
        let i = wilson(8, 10).unwrap();
        assert!(
            close(i.low, 0.4901625, 1e-6) && close(i.high, 0.9433178, 1e-6),
            "{i:?}"
        );
        // 0 of 10 and 10 of 10 stay inside [0, 1].
        let zero = wilson(0, 10).unwrap();
        assert!(
            close(zero.low, 0.0, 1e-12) && close(zero.high, 0.2775328, 1e-6),
            "{zero:?}"
        );
        let all = wilson(10, 10).unwrap();
        assert!(
            close(all.low, 0.7224672, 1e-6) && close(all.high, 1.0, 1e-12),
            "{all:?}"
        );
        // 183 of 300 (scipy's binomtest(183, 300).proportion_ci(method="wilson")).
        let big = wilson(183, 300).unwrap();
        assert!(
            close(big.low, 0.5537486, 1e-6) && close(big.high, 0.6634700, 1e-6),
            "{big:?}"
        );
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn two_proportion_matches_scipy() {
        // z = (p1 - p2) / sqrt(p(1-p)(1/n1 + 1/n2)), p = 2 * norm.sf(|z|) with scipy 1.17; the
        // p-values agree with chi2_contingency(correction=False).
        let r = two_proportion(183, 300, 180, 300).unwrap();
        assert!(close(r.statistic, 0.2505356, 1e-6), "{r:?}");
        assert!(close(r.p_value, 0.8021732, 1e-6), "{r:?}");
        let r = two_proportion(45, 100, 60, 100).unwrap();
        assert!(close(r.statistic, -2.1239769, 1e-6), "{r:?}");
        assert!(close(r.p_value, 0.0336721, 1e-6), "{r:?}");
        assert_eq!(two_proportion(0, 10, 0, 20).map(|r| r.p_value), Some(1.0));
        assert_eq!(two_proportion(1, 0, 0, 20), None);
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu(x, y, method="asymptotic") (continuity correction on).
        let x = [19, 22, 16, 29, 24];
        let y = [20, 11, 17, 12];
        let r = mann_whitney(&x, &y).unwrap();
        assert_eq!(r.statistic, 17.0);
        assert!(close(r.p_value, 0.1113469, 1e-6), "{r:?}");
        // With ties across and within the samples.
        let x = [1, 2, 2, 3, 3, 3, 4, 5, 5, 9];
        let y = [3, 4, 4, 5, 6, 6, 7, 8, 8, 9, 10];
        let r = mann_whitney(&x, &y).unwrap();
        assert_eq!(r.statistic, 20.0);
        assert!(close(r.p_value, 0.0144068, 1e-6), "{r:?}");
        // All the same: no difference.
        assert_eq!(
            mann_whitney(&[5, 5, 5], &[5, 5]).map(|r| r.p_value),
            Some(1.0)
        );
        assert_eq!(mann_whitney(&[], &[1]), None);
    }
}
