#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// A controller with the defaults (targets 2 s / 1 s, window 60 s, 5 answers, dwell 10 s,
/// band 0.5, max HEAVY) and a clock the test moves.
struct Rig {
    c: LatencyController,
    t0: Instant,
    at: Duration,
}

impl Rig {
    fn new() -> Self {
        Self::with(GuardianConfig::default())
    }

    fn with(config: GuardianConfig) -> Self {
        let t0 = Instant::now();
        Self {
            c: LatencyController::new(&config, t0),
            t0,
            at: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + self.at
    }

    /// `n` answers received now with this time to first token and queue wait (in ms).
    fn answers(&mut self, n: usize, ttft_ms: u64, queue_ms: u64) {
        for _ in 0..n {
            let now = self.now();
            self.c.observe(
                now,
                Duration::from_millis(ttft_ms),
                Duration::from_millis(queue_ms),
            );
        }
    }

    /// Moves the clock on by `secs` seconds, then evaluates.
    fn after(&mut self, secs: u64) -> Option<LatencyChange> {
        self.at += Duration::from_secs(secs);
        let now = self.now();
        self.c.evaluate(now)
    }

    /// One second of traffic (`n` answers), then an evaluation.
    fn second(&mut self, n: usize, ttft_ms: u64, queue_ms: u64) -> Option<LatencyChange> {
        self.answers(n, ttft_ms, queue_ms);
        self.after(1)
    }
}

#[test]
fn slow_first_tokens_step_the_level_up_after_the_dwell() {
    let mut r = Rig::new();
    for _ in 0..9 {
        assert_eq!(
            r.second(2, 3000, 0),
            None,
            "no change within the first dwell"
        );
    }
    let change = r.second(2, 3000, 0).expect("10 s after start: a step up");
    assert_eq!(
        (change.from, change.to),
        (BrownoutLevel::None, BrownoutLevel::Light)
    );
    assert_eq!(change.reason, "ttft p95 3.0 s > 2.0 s over 20 answers");
    assert_eq!(r.c.level(), BrownoutLevel::Light);
    let view = r.c.view();
    assert_eq!(view.ttft_p95_ms, Some(3000));
    assert_eq!(view.answers, 20);
}

#[test]
fn a_long_queue_steps_up_too_and_says_so() {
    let mut r = Rig::new();
    r.answers(10, 300, 1500);
    let change = r.after(10).unwrap();
    assert_eq!(change.to, BrownoutLevel::Light);
    assert_eq!(
        change.reason,
        "queue wait p95 1.5 s > 1.0 s over 10 answers"
    );
}

#[test]
fn it_holds_during_the_dwell_and_judges_only_answers_since_the_change() {
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    assert_eq!(r.after(10).unwrap().to, BrownoutLevel::Light);
    // The slow answers from before the change are still in the window but are not judged:
    // with no new answers there is nothing to decide, even after the dwell.
    assert_eq!(r.after(10), None);
    assert_eq!(r.c.level(), BrownoutLevel::Light);
    // New slow answers: held until the dwell since the change has passed...
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    r.after(10).unwrap();
    for _ in 0..9 {
        assert_eq!(r.second(1, 3000, 0), None);
    }
    // ...then one more step.
    assert_eq!(r.second(1, 3000, 0).unwrap().to, BrownoutLevel::Moderate);
}

#[test]
fn it_never_steps_above_the_maximum() {
    let mut r = Rig::new();
    let mut levels = Vec::new();
    for _ in 0..100 {
        if let Some(change) = r.second(2, 5000, 2000) {
            levels.push(change.to);
        }
    }
    assert_eq!(
        levels,
        [
            BrownoutLevel::Light,
            BrownoutLevel::Moderate,
            BrownoutLevel::Heavy
        ]
    );
    let mut r = Rig::with(GuardianConfig {
        latency_max_level: BrownoutLevel::Light,
        ..GuardianConfig::default()
    });
    for _ in 0..60 {
        r.second(2, 5000, 0);
    }
    assert_eq!(r.c.level(), BrownoutLevel::Light);
}

#[test]
fn the_band_between_the_recovery_fraction_and_the_target_holds_the_level() {
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    assert_eq!(r.after(10).unwrap().to, BrownoutLevel::Light);
    // 1.5 s is under the 2 s target (no step up) but above 1 s, half of it (no step down).
    for _ in 0..60 {
        assert_eq!(r.second(2, 1500, 0), None);
    }
    assert_eq!(r.c.level(), BrownoutLevel::Light);
    // The queue wait alone in its band holds it as well.
    let mut r = Rig::new();
    r.answers(10, 300, 1500);
    assert_eq!(r.after(10).unwrap().to, BrownoutLevel::Light);
    for _ in 0..60 {
        assert_eq!(r.second(2, 100, 700), None);
    }
    assert_eq!(r.c.level(), BrownoutLevel::Light);
}

#[test]
fn it_steps_down_one_level_at_a_time_once_calm_for_the_dwell() {
    let mut r = Rig::new();
    for _ in 0..30 {
        r.second(2, 4000, 0);
    }
    assert_eq!(r.c.level(), BrownoutLevel::Heavy);
    let mut downs = Vec::new();
    for second in 1..=60 {
        if let Some(change) = r.second(2, 200, 10) {
            downs.push((second, change.to));
        }
    }
    // Every step needs a dwell of calm answers of its own, so the steps are 10 s apart.
    assert_eq!(
        downs,
        [
            (10, BrownoutLevel::Moderate),
            (20, BrownoutLevel::Light),
            (30, BrownoutLevel::None)
        ]
    );
    assert_eq!(
        r.c.view().reason,
        "ttft p95 0.2 s < 1.0 s and queue wait p95 0.0 s < 0.5 s over 20 answers"
    );
}

#[test]
fn the_calm_must_last_a_dwell_after_the_last_answers_in_the_band() {
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    r.after(10).unwrap();
    // Five seconds in the band, then a flood of fast answers that takes a while to push the
    // p95 below the band.
    for _ in 0..5 {
        assert_eq!(r.second(2, 1500, 0), None);
    }
    let mut last_in_band = 0;
    let mut down = None;
    for second in 1..=40 {
        let change = r.second(40, 200, 0);
        if r.c.view().ttft_p95_ms >= Some(1000) {
            last_in_band = second;
        }
        if change.is_some() {
            down = Some(second);
            break;
        }
    }
    assert!(last_in_band > 0, "the band held the p95 for a while");
    assert_eq!(down, Some(last_in_band + 10));
    assert_eq!(r.c.level(), BrownoutLevel::None);
}

#[test]
fn too_few_answers_decide_nothing() {
    let mut r = Rig::new();
    r.answers(4, 10_000, 5000);
    for _ in 0..30 {
        assert_eq!(r.after(1), None, "4 answers are fewer than 5");
    }
    assert_eq!(r.c.view().answers, 0);
    assert_eq!(r.c.view().ttft_p95_ms, None);
    let mut r = Rig::with(GuardianConfig {
        latency_min_answers: 4,
        ..GuardianConfig::default()
    });
    r.answers(4, 10_000, 0);
    assert_eq!(r.after(10).unwrap().to, BrownoutLevel::Light);
}

#[test]
fn without_traffic_the_level_holds_and_a_trickle_is_judged_on_its_last_answers() {
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    assert_eq!(r.after(10).unwrap().to, BrownoutLevel::Light);
    // No answers: nothing says the backend is fast again (slow ones may still be on the way).
    for _ in 0..120 {
        assert_eq!(r.after(1), None);
    }
    assert_eq!(r.c.level(), BrownoutLevel::Light);
    // One fast answer every 20 s: never 5 in a 60 s window, but the newest 5 are kept.
    let mut down = None;
    for answer in 1..=6 {
        r.answers(1, 200, 0);
        for _ in 0..20 {
            if let Some(change) = r.after(1) {
                down = Some((answer, change.to));
            }
        }
    }
    assert_eq!(down, Some((5, BrownoutLevel::None)));
}

#[test]
fn old_answers_leave_the_window_when_newer_ones_are_enough() {
    let mut r = Rig::new();
    r.answers(10, 3000, 0);
    assert_eq!(r.after(5), None, "within the first dwell");
    r.at += Duration::from_secs(56);
    r.answers(10, 200, 0);
    // 66 s on, the slow answers are out of the 60 s window and ten fast ones are in it.
    assert_eq!(r.after(5), None);
    assert_eq!(r.c.level(), BrownoutLevel::None);
    assert_eq!(r.c.answers.len(), 10);
    assert_eq!(r.c.view().ttft_p95_ms, Some(200));
}

#[test]
fn the_p95_is_the_nearest_rank() {
    let ms = |v: &[u64]| p95(v.iter().map(|&m| Duration::from_millis(m)));
    assert_eq!(ms(&[]), Duration::ZERO);
    assert_eq!(ms(&[7]), Duration::from_millis(7));
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(ms(&hundred), Duration::from_millis(95));
    // One slow answer in twenty is the p95; one in twenty-one is not.
    let mut twenty = vec![100; 19];
    twenty.push(5000);
    assert_eq!(ms(&twenty), Duration::from_millis(100));
    let mut nineteen = vec![100; 18];
    nineteen.push(5000);
    assert_eq!(ms(&nineteen), Duration::from_millis(5000));
}
