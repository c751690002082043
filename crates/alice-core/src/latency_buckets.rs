//! The bucket layout shared by every latency histogram Alice exports.
//!
//! Prometheus estimates a quantile by interpolating inside the bucket it falls in, so the error of
//! a p99.9 read from a histogram is bounded by the ratio between neighbouring bucket bounds. Four
//! buckets per doubling keep that ratio at 2^(1/4) ≈ 1.19 everywhere from 25 µs (the gateway's
//! own overhead) to 104 s (beyond the longest deadline), in 89 buckets. One layout for every
//! series means quantiles from different series can be compared and aggregated.

/// Lower end of the layout, in seconds.
const FIRST_BOUND_SECONDS: f64 = 25e-6;
/// Buckets per doubling of latency.
const BUCKETS_PER_DOUBLING: i32 = 4;
/// 22 doublings above 25 µs reach 104 s.
const BUCKET_COUNT: i32 = 22 * BUCKETS_PER_DOUBLING + 1;

/// The upper bounds of the buckets, in seconds, ascending.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    (0..BUCKET_COUNT)
        .map(|i| FIRST_BOUND_SECONDS * 2f64.powf(f64::from(i) / f64::from(BUCKETS_PER_DOUBLING)))
}

#[cfg(test)]
mod tests {
    use super::latency_buckets;

    #[test]
    fn the_layout_covers_a_millisecond_to_a_minute_finely() {
        let bounds: Vec<f64> = latency_buckets().collect();
        assert!(bounds[0] <= 0.001 && *bounds.last().unwrap_or(&0.0) >= 60.0);
        for pair in bounds.windows(2) {
            let ratio = pair[1] / pair[0];
            assert!((ratio - 2f64.powf(0.25)).abs() < 1e-9, "ratio {ratio}");
        }
    }
}
