//! The load is open loop: `alice bench` sends at the rate it was given, measured where the
//! requests arrive (the simulator), whether the target is fast, slow, or falling behind, and
//! the latency it reports includes the time the target kept requests waiting.
//!
//! These tests measure time, so they take turns (one lock) rather than share two cores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use alice_bench::Outcome;
use alice_upstream_sim::{Faults, SimHandle};
use common::{ArrivalWatch, bench, openai_flags, start_sim};
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Largest relative difference from the target rate a run may show.
const RATE_TOLERANCE: f64 = 0.02;

/// Asserts that `who` saw `measured` req/s, within [`RATE_TOLERANCE`] of `target`.
fn assert_rate(who: &str, measured: f64, target: f64) {
    println!("{who} saw {measured:.2} req/s");
    assert!(
        (measured - target).abs() / target < RATE_TOLERANCE,
        "{who} saw {measured:.1} req/s, not {target}"
    );
}

/// Loads a simulator with `faults` at 200 req/s for 3 s and checks the rate, as the simulator
/// saw it over the middle of the run and as the tool reports it, and that all 600 requests went
/// out and were answered.
async fn load_at_200_for_3s(faults: Faults) -> (SimHandle, Outcome) {
    let sim = start_sim(faults).await;
    let url = sim.base_url();
    let arrivals = ArrivalWatch::start(&sim);

    let (outcome, _) = bench(&openai_flags(&url, "200", "3s")).await;

    let seen = arrivals
        .rate(Duration::from_millis(300), Duration::from_millis(2300))
        .await;
    assert_rate("the simulator", seen, 200.0);
    let summary = &outcome.report.summary;
    assert_rate("the tool", summary.send_rate, 200.0);
    assert_eq!(summary.counts.sent, 600);
    assert_eq!(summary.counts.dropped, 0);
    assert_eq!(summary.counts.ok, 600, "{:?}", summary.errors_by_kind);
    (sim, outcome)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_rate_is_within_two_percent_of_the_target_against_the_simulator() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (sim, outcome) = load_at_200_for_3s(Faults::default()).await;
    assert_eq!(outcome.report.summary.counts.scheduled, 600);
    assert_eq!(sim.stats().received, 600);
    assert!(outcome.passed());
    assert_eq!(outcome.exit_status(), 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_does_not_lower_the_offered_rate() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Every answer takes half a second: at 200 req/s about 100 requests are open at any time.
    // A tool that waited for answers would send at most (users / 0.5 s).
    let (sim, outcome) = load_at_200_for_3s(Faults {
        latency_ms: 500,
        ..Faults::default()
    })
    .await;
    let stats = sim.stats();
    assert!(
        stats.max_in_flight_seen >= 90,
        "only {} requests were open at once at the target",
        stats.max_in_flight_seen
    );
    // The half second the target took is in every latency figure.
    let latency = outcome.report.summary.latency_ms.unwrap();
    assert!(latency.min >= 500.0, "{latency:?}");
    assert!(latency.p50 < 600.0, "{latency:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_falls_behind_still_gets_the_rate_and_its_queue_shows_in_latency() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // One request at a time, 20 ms each: the target serves 50 req/s and gets 100. Its queue
    // grows by 50 requests a second, so the last requests of a 2 s run wait about 2 s. A
    // closed-loop tool would report ~20 ms here, and send 50 req/s.
    let sim = start_sim(Faults {
        latency_ms: 20,
        max_concurrent: Some(1),
        max_queue: 1000,
        ..Faults::default()
    })
    .await;
    let url = sim.base_url();
    let arrivals = ArrivalWatch::start(&sim);

    let mut flags = openai_flags(&url, "100", "2s");
    flags.extend(["--interval", "500ms", "--timeout", "20s"]);
    let (outcome, _) = bench(&flags).await;

    let seen = arrivals
        .rate(Duration::from_millis(200), Duration::from_millis(1600))
        .await;
    assert_rate("the simulator", seen, 100.0);
    let summary = &outcome.report.summary;
    assert_eq!(summary.counts.sent, 200);
    assert_eq!(summary.counts.ok, 200, "{:?}", summary.errors_by_kind);
    let latency = summary.latency_ms.unwrap();
    assert!(latency.max > 1500.0, "the queue is missing: {latency:?}");
    assert!(latency.p50 > 500.0, "the queue is missing: {latency:?}");
    // Latency over time climbs as the queue does.
    let series = &outcome.report.series;
    let first = series.first().unwrap().latency_ms.unwrap().p50;
    let last = series.last().unwrap().latency_ms.unwrap().p50;
    assert!(last > first + 1000.0, "first {first} ms, last {last} ms");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_then_hold() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let sim = start_sim(Faults::default()).await;
    let url = sim.base_url();
    // 0 -> 100 req/s over 1 s (50 requests), then 1 s at 100 (100 requests).
    let (outcome, _) = bench(&[
        "--target",
        &url,
        "--api",
        "openai",
        "--model",
        common::MODEL,
        "--stages",
        "1s:0->100,1s:100",
        "--interval",
        "500ms",
        "--quiet",
    ])
    .await;
    let summary = &outcome.report.summary;
    assert_eq!(summary.counts.sent, 150);
    assert_eq!(sim.stats().received, 150);
    let sent: Vec<u64> = outcome
        .report
        .series
        .iter()
        .map(|p| p.counts.sent)
        .collect();
    // A quarter of the ramp's requests come in its first half.
    assert_eq!(sent, [12, 38, 50, 50]);
    assert!((outcome.report.config.target_rate - 75.0).abs() < 1e-9);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_arrivals_reach_the_target_as_scheduled() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let sim = start_sim(Faults::default()).await;
    let url = sim.base_url();
    let mut flags = openai_flags(&url, "100", "2s");
    flags.extend(["--arrivals", "poisson"]);
    let (first, _) = bench(&flags).await;
    let (second, _) = bench(&flags).await;
    let count = first.report.summary.counts.sent;
    // The seed fixes the schedule; 200 expected, with a standard deviation of about 14.
    assert_eq!(count, second.report.summary.counts.sent);
    assert!((140..=260).contains(&count), "{count}");
    assert_eq!(sim.stats().received, 2 * usize::try_from(count).unwrap());
    sim.shutdown().await;
}
