#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn retry(base_ms: u64, jitter: f64) -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        base_delay: Duration::from_millis(base_ms),
        jitter,
    }
}

#[test]
fn every_allowed_backend_is_tried_in_order() {
    assert_eq!(candidates(&[true, true, true], &[false; 3]), [0, 1, 2]);
}

#[test]
fn open_breakers_and_given_up_backends_are_skipped() {
    assert_eq!(candidates(&[false, true, true], &[false; 3]), [1, 2]);
    assert_eq!(
        candidates(&[true, true, true], &[true, false, false]),
        [1, 2]
    );
    assert_eq!(candidates(&[true, false, true], &[false, false, true]), [0]);
}

#[test]
fn with_every_breaker_open_the_first_not_given_up_is_tried_anyway() {
    assert_eq!(candidates(&[false, false, false], &[false; 3]), [0]);
    assert_eq!(
        candidates(&[false, false, false], &[true, false, false]),
        [1]
    );
    assert_eq!(
        candidates(&[true, false], &[true, false]),
        [1],
        "an allowed backend that gave up does not count"
    );
}

#[test]
fn when_every_backend_gave_up_there_is_nothing_to_try() {
    assert!(candidates(&[true, true], &[true, true]).is_empty());
    assert!(candidates(&[], &[]).is_empty());
}

#[test]
fn the_backoff_doubles_each_round_without_jitter() {
    let retry = retry(100, 0.0);
    let mut rng = StdRng::seed_from_u64(1);
    let pauses: Vec<Duration> = (1..=4)
        .map(|round| backoff(&retry, round, None, &mut rng))
        .collect();
    assert_eq!(
        pauses,
        [100, 200, 400, 800].map(Duration::from_millis),
        "base × 2^(round-1)"
    );
}

#[test]
fn retry_after_raises_the_pause_but_never_lowers_it() {
    let retry = retry(100, 0.0);
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(
        backoff(&retry, 1, Some(Duration::from_secs(2)), &mut rng),
        Duration::from_secs(2)
    );
    assert_eq!(
        backoff(&retry, 2, Some(Duration::from_millis(50)), &mut rng),
        Duration::from_millis(200)
    );
}

#[test]
fn jitter_spreads_the_pause_within_its_fraction() {
    let retry = retry(1000, 0.2);
    let mut rng = StdRng::seed_from_u64(7);
    let pauses: Vec<Duration> = (0..200)
        .map(|_| backoff(&retry, 2, None, &mut rng))
        .collect();
    let (low, high) = (Duration::from_millis(1600), Duration::from_millis(2400));
    assert!(
        pauses.iter().all(|p| (low..=high).contains(p)),
        "{pauses:?}"
    );
    let distinct: std::collections::HashSet<_> = pauses.iter().collect();
    assert!(
        distinct.len() > 100,
        "the pauses differ: {}",
        distinct.len()
    );
}
