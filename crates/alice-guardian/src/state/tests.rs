#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::Utc;
use proptest::prelude::*;

/// A machine with the spec's defaults and a clock the test moves.
struct Rig {
    m: StateMachine,
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
            m: StateMachine::new(config, t0),
            t0,
            at: Duration::ZERO,
        }
    }

    fn now(&self) -> Instant {
        self.t0 + self.at
    }

    /// One sample one second after the previous one.
    fn feed(&mut self, sample: Sample) -> Outcome {
        self.at += Duration::from_secs(1);
        let now = self.now();
        self.m.step(sample, now)
    }

    fn rc(&mut self, ram: f64, cpu: f64) -> Outcome {
        self.feed(Sample::ram_cpu(ram, cpu))
    }

    /// Feeds `sample` once a second for `secs` seconds.
    fn hold_sample(&mut self, sample: &Sample, secs: u64) {
        for _ in 0..secs {
            self.feed(sample.clone());
        }
    }

    /// Feeds `(ram, cpu)` once a second for `secs` seconds.
    fn hold(&mut self, ram: f64, cpu: f64, secs: u64) {
        for _ in 0..secs {
            self.rc(ram, cpu);
        }
    }

    fn wait(&mut self, secs: u64) {
        self.at += Duration::from_secs(secs);
    }

    fn state(&self) -> GuardianState {
        self.m.state()
    }
}

use GuardianState::*;

#[test]
fn soft_trigger_needs_all_three_samples() {
    let mut r = Rig::new();
    r.rc(0.85, 0.1);
    r.rc(0.85, 0.1);
    assert_eq!(r.state(), Normal, "two samples are not a window");
    r.rc(0.79, 0.1);
    r.rc(0.85, 0.1);
    assert_eq!(r.state(), Normal, "0.79 in the window");
    r.rc(0.85, 0.1);
    assert_eq!(r.state(), Normal, "still 0.79 in the window");
    let out = r.rc(0.85, 0.1);
    let t = out.transition.unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (Normal, Brownout, Reason::SoftTrigger)
    );
    assert!(!out.kill);
}

#[test]
fn soft_trigger_on_cpu_alone() {
    let mut r = Rig::new();
    r.hold(0.2, 0.80, 3);
    assert_eq!(r.state(), Brownout);
}

#[test]
fn hard_triggers_fire_on_one_sample() {
    let cases = [
        Sample::ram_cpu(0.92, 0.1),
        Sample::ram_cpu(0.1, 0.92),
        Sample {
            disk_pct: Some(0.95),
            ..Sample::ram_cpu(0.1, 0.1)
        },
        Sample {
            temp_c: Some(90.0),
            ..Sample::ram_cpu(0.1, 0.1)
        },
    ];
    for sample in cases {
        let mut r = Rig::new();
        let out = r.feed(sample.clone());
        assert_eq!(r.state(), Emergency, "{sample:?}");
        assert!(out.kill, "an emergency asks for the kill");
        assert_eq!(out.transition.unwrap().reason, Reason::HardTrigger);
    }
    let mut r = Rig::new();
    r.feed(Sample {
        disk_pct: Some(0.94),
        temp_c: Some(89.9),
        ..Sample::ram_cpu(0.91, 0.91)
    });
    assert_eq!(r.state(), Normal, "just below every hard threshold");
}

#[test]
fn recovery_needs_calm_window_and_dwell() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 3);
    assert_eq!(r.state(), Brownout);
    r.hold(0.5, 0.5, 10);
    assert_eq!(r.state(), Brownout, "calm, but only 10 s in BROWNOUT");
    r.hold(0.5, 0.5, 34);
    assert_eq!(r.state(), Brownout, "44 s");
    let t = r.rc(0.5, 0.5).transition.unwrap();
    assert_eq!((t.to, t.reason), (Normal, Reason::Recovered));
    assert_eq!(r.m.previous_state(), Some(Brownout));
}

#[test]
fn recovery_thresholds_are_strict_and_both_needed() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 3);
    r.hold(0.70, 0.1, 60);
    assert_eq!(r.state(), Brownout, "RAM 0.70 is not below 0.70");
    r.hold(0.1, 0.75, 60);
    assert_eq!(r.state(), Brownout, "CPU 0.75 is not below 0.75");
    r.hold(0.69, 0.74, 3);
    assert_eq!(r.state(), Normal);
}

#[test]
fn alternating_around_the_soft_threshold_does_not_flap() {
    let mut r = Rig::new();
    for i in 0..600 {
        let out = r.rc(if i % 2 == 0 { 0.79 } else { 0.81 }, 0.1);
        assert!(out.transition.is_none(), "step {i}");
    }
    assert_eq!(r.state(), Normal);
    // Once in BROWNOUT the same alternation neither recovers nor worsens it.
    r.hold(0.81, 0.1, 3);
    assert_eq!(r.state(), Brownout);
    for i in 0..600 {
        let out = r.rc(if i % 2 == 0 { 0.79 } else { 0.81 }, 0.1);
        assert!(out.transition.is_none(), "step {i}");
    }
    assert_eq!(r.state(), Brownout);
    assert!(!r.m.flap_detected());
}

#[test]
fn persistent_soft_pressure_degrades_then_eases_back() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 3);
    assert_eq!(r.state(), Brownout);
    // The soft trigger began with the 3rd sample; DEGRADED 60 s later.
    r.hold(0.85, 0.1, 59);
    assert_eq!(r.state(), Brownout);
    let t = r.rc(0.85, 0.1).transition.unwrap();
    assert_eq!((t.to, t.reason), (Degraded, Reason::SoftPersisted));
    // In the band between soft and calm, after the dwell: back to BROWNOUT, not stuck.
    r.hold(0.75, 0.1, 44);
    assert_eq!(r.state(), Degraded);
    let t = r.rc(0.75, 0.1).transition.unwrap();
    assert_eq!((t.to, t.reason), (Brownout, Reason::Eased));
    // And calm from there goes home.
    r.hold(0.5, 0.1, 45);
    assert_eq!(r.state(), Normal);
}

#[test]
fn a_break_in_the_soft_trigger_restarts_the_degrade_clock() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 3);
    r.hold(0.85, 0.1, 40);
    r.rc(0.79, 0.1);
    r.hold(0.85, 0.1, 40);
    assert_eq!(r.state(), Brownout, "the soft trigger broke off 40 s ago");
}

#[test]
fn degraded_recovers_straight_to_normal_when_calm() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 63);
    assert_eq!(r.state(), Degraded);
    r.hold(0.3, 0.1, 45);
    assert_eq!(r.state(), Normal);
}

#[test]
fn emergency_eases_after_the_dwell_and_a_window_without_hard() {
    let mut r = Rig::new();
    r.rc(0.95, 0.1);
    assert_eq!(r.state(), Emergency);
    r.hold(0.95, 0.1, 60);
    assert_eq!(r.state(), Emergency, "still hard");
    r.hold(0.85, 0.1, 3);
    assert_eq!(r.state(), Degraded, "dwell long over, soft remains");

    let mut r = Rig::new();
    r.rc(0.95, 0.1);
    r.hold(0.75, 0.1, 44);
    assert_eq!(r.state(), Emergency, "44 s in EMERGENCY");
    let t = r.rc(0.75, 0.1).transition.unwrap();
    assert_eq!((t.to, t.reason), (Brownout, Reason::Eased));

    let mut r = Rig::new();
    r.rc(0.95, 0.1);
    r.hold(0.3, 0.1, 45);
    assert_eq!(r.state(), Normal, "calm after an emergency recovers fully");
}

#[test]
fn a_kill_inside_the_cooldown_falls_back_to_brownout() {
    let mut r = Rig::new();
    assert!(r.rc(0.95, 0.1).kill);
    r.hold(0.3, 0.1, 45);
    assert_eq!(r.state(), Normal);
    // 46 s after the kill: a new hard reading may not kill again.
    let out = r.rc(0.95, 0.1);
    assert!(!out.kill);
    let t = out.transition.unwrap();
    assert_eq!((t.to, t.reason), (Brownout, Reason::KillBlocked));
    let k = r.m.kill_status(r.now());
    assert!(!k.can_kill);
    assert!(k.reason.unwrap().starts_with("cooldown"));
    assert_eq!(k.kills_in_window, 1);
    // From BROWNOUT a blocked kill changes nothing (it never steps down).
    assert!(r.rc(0.95, 0.1).transition.is_none());
    // After the cooldown the next hard reading kills.
    r.wait(300);
    let out = r.rc(0.95, 0.1);
    assert!(out.kill);
    assert_eq!(r.state(), Emergency);
}

/// Drives one emergency kill and a full recovery; returns whether a kill was asked for.
fn emergency_and_recover(r: &mut Rig) -> bool {
    let kill = r.rc(0.95, 0.1).kill;
    r.hold(0.3, 0.1, 45);
    kill
}

#[test]
fn the_third_kill_in_the_window_locks_down_until_time_or_override() {
    let mut r = Rig::new();
    assert!(emergency_and_recover(&mut r));
    r.wait(300);
    assert!(emergency_and_recover(&mut r));
    r.wait(300);
    let out = r.rc(0.95, 0.1);
    assert!(out.kill, "the third kill still happens");
    let t = out.transition.unwrap();
    assert_eq!((t.to, t.reason), (Lockdown, Reason::KillLimit));
    let k = r.m.kill_status(r.now());
    assert_eq!(k.kills_in_window, 3);
    assert_eq!(k.reason.as_deref(), Some("lockdown"));

    // Calm readings do not end a lockdown, nor does a hard one kill again.
    r.hold(0.3, 0.1, 600);
    assert_eq!(r.state(), Lockdown);
    assert!(!r.rc(0.99, 0.1).kill);

    // Override needs the confirmation.
    let mut locked = r.m.clone();
    assert_eq!(
        locked.override_lockdown(false, r.now()),
        Err(OverrideError::NotConfirmed)
    );
    r.hold(0.3, 0.1, 3);
    let t = locked.override_lockdown(true, r.now()).unwrap();
    assert_eq!((t.from, t.reason), (Lockdown, Reason::Override));
    assert_eq!(locked.state(), Brownout, "the window held a hard reading");
    assert_eq!(locked.lockdown_until(), None);
    assert_eq!(
        locked.override_lockdown(true, r.now()),
        Err(OverrideError::NotInLockdown(Brownout))
    );

    // Without an override, time ends it: 3600 s after it began.
    let until = r.m.lockdown_until().unwrap();
    r.at = until - r.t0 - Duration::from_secs(2);
    r.rc(0.3, 0.1);
    assert_eq!(r.state(), Lockdown);
    let t = r.rc(0.3, 0.1).transition.unwrap();
    assert_eq!((t.to, t.reason), (Normal, Reason::LockdownExpired));
}

#[test]
fn override_goes_to_normal_when_calm() {
    let mut r = Rig::with(GuardianConfig {
        kill_limit: 1,
        ..GuardianConfig::default()
    });
    r.rc(0.95, 0.1);
    assert_eq!(r.state(), Lockdown);
    r.hold(0.2, 0.2, 3);
    let t = r.m.override_lockdown(true, r.now()).unwrap();
    assert_eq!(t.to, Normal);
}

#[test]
fn flap_detection_holds_steps_down_then_expires() {
    let mut r = Rig::with(GuardianConfig {
        // No degrade while the test moves in and out of BROWNOUT.
        degrade_after: Duration::from_secs(3600),
        ..GuardianConfig::default()
    });
    // NORMAL -> BROWNOUT -> NORMAL -> BROWNOUT -> NORMAL: four changes in ~100 s.
    let mut flap_set = false;
    for round in 0..2 {
        r.hold(0.85, 0.1, 3);
        assert_eq!(r.state(), Brownout, "round {round}");
        for _ in 0..45 {
            if let Some(true) = r.rc(0.3, 0.1).flap_changed {
                flap_set = true;
            }
        }
    }
    assert!(flap_set && r.m.flap_detected());
    assert_eq!(r.m.history().count(), 4);
    // Still NORMAL (the 4th change was the recovery). Pressure may still step up...
    assert_eq!(r.state(), Normal);
    r.hold(0.85, 0.1, 3);
    assert_eq!(r.state(), Brownout, "stepping up is never held");
    // ...but stepping down is held while the flap lasts, however calm it is.
    let mut held = false;
    for _ in 0..100 {
        held |= r.rc(0.3, 0.1).held == Some(Normal);
    }
    assert!(held);
    assert_eq!(r.state(), Brownout);
    // The flag clears once the old changes leave the 300 s window, and the machine moves again.
    let mut cleared_at = None;
    for i in 0..400 {
        let out = r.rc(0.3, 0.1);
        if out.flap_changed == Some(false) {
            cleared_at = Some(i);
        }
        if r.state() == Normal {
            break;
        }
    }
    assert!(cleared_at.is_some(), "flap detection expired");
    assert!(!r.m.flap_detected());
    assert_eq!(r.state(), Normal);
}

#[test]
fn flap_does_not_hold_protection() {
    let mut r = Rig::with(GuardianConfig {
        flap_transitions: 2,
        ..GuardianConfig::default()
    });
    r.hold(0.85, 0.1, 3);
    r.hold(0.3, 0.1, 45);
    assert!(r.m.flap_detected());
    assert!(r.rc(0.97, 0.1).kill, "an emergency is never held");
    assert_eq!(r.state(), Emergency);
}

#[test]
fn two_unknown_samples_are_ignored_the_third_degrades() {
    let mut r = Rig::new();
    r.hold(0.3, 0.1, 3);
    assert!(r.feed(Sample::unknown(Utc::now())).ignored_unknown);
    assert!(r.feed(Sample::unknown(Utc::now())).ignored_unknown);
    assert_eq!(r.state(), Normal);
    assert!(r.m.window_full(), "ignored samples leave the window alone");
    let out = r.feed(Sample::unknown(Utc::now()));
    assert!(!out.ignored_unknown);
    let t = out.transition.unwrap();
    assert_eq!((t.to, t.reason), (Degraded, Reason::UnknownReadings));
    assert!(!out.kill, "no kill on missing data");
    assert!(!r.m.window_full(), "stale readings are dropped");
    // Blind for a long time: still DEGRADED, never NORMAL, never worse.
    r.hold_sample(&Sample::unknown(Utc::now()), 600);
    assert_eq!(r.state(), Degraded);
    // Readings come back calm: a full window, then home.
    r.rc(0.3, 0.1);
    r.rc(0.3, 0.1);
    assert_eq!(r.state(), Degraded, "window not full yet");
    r.rc(0.3, 0.1);
    assert_eq!(r.state(), Normal);
}

#[test]
fn a_known_sample_resets_the_strikes() {
    let mut r = Rig::new();
    for _ in 0..10 {
        r.feed(Sample::unknown(Utc::now()));
        r.feed(Sample::unknown(Utc::now()));
        r.rc(0.3, 0.1);
    }
    assert_eq!(r.state(), Normal);
}

#[test]
fn half_known_samples_count_as_unknown_but_hard_readings_still_fire() {
    let mut r = Rig::new();
    let ram_only = |ram| Sample {
        ram_pct: Some(ram),
        ..Sample::unknown(Utc::now())
    };
    r.feed(ram_only(0.5));
    r.feed(ram_only(0.5));
    r.feed(ram_only(0.5));
    assert_eq!(r.state(), Degraded);
    let out = r.feed(ram_only(0.96));
    assert!(out.kill);
    assert_eq!(r.state(), Emergency);
}

#[test]
fn time_outside_normal_is_counted() {
    let mut r = Rig::new();
    r.hold(0.85, 0.1, 3);
    r.hold(0.3, 0.1, 45);
    assert_eq!(r.state(), Normal);
    assert_eq!(r.m.activations(), 1);
    assert_eq!(r.m.time_degraded(r.now()), Duration::from_secs(45));
    assert_eq!(r.m.degraded_since(), None);
}

/// One scripted reading for the property tests.
fn reading() -> impl Strategy<Value = Option<(f64, f64)>> {
    prop_oneof![
        1 => Just(None),
        8 => (0.0f64..1.0, 0.0f64..1.0).prop_map(Some),
    ]
}

proptest! {
    /// Whatever happened before, a calm machine is back in NORMAL within a bounded time: the
    /// worst case is a LOCKDOWN just begun (3600 s) plus a held flap (300 s) plus the dwell.
    #[test]
    fn calm_always_leads_back_to_normal(script in prop::collection::vec(reading(), 0..200)) {
        let mut r = Rig::new();
        for reading in script {
            match reading {
                Some((ram, cpu)) => r.rc(ram, cpu),
                None => r.feed(Sample::unknown(Utc::now())),
            };
        }
        for _ in 0..(3600 + 300 + 45 + 10) {
            r.rc(0.1, 0.1);
            if r.state() == Normal {
                break;
            }
        }
        prop_assert_eq!(r.state(), Normal);
        prop_assert!(!r.m.flap_detected() || r.m.history().count() > 0);
    }

    /// Readings in the hysteresis band never leave a state stuck above BROWNOUT (outside
    /// LOCKDOWN's own time) and never cause a kill.
    #[test]
    fn the_band_settles_in_brownout_or_normal(script in prop::collection::vec(reading(), 0..100),
                                             ram in 0.70f64..0.80, cpu in 0.0f64..0.80) {
        let mut r = Rig::new();
        for reading in script {
            match reading {
                Some((ram, cpu)) => r.rc(ram, cpu),
                None => r.feed(Sample::unknown(Utc::now())),
            };
        }
        let mut kills = 0;
        for _ in 0..(3600 + 300 + 45 + 10) {
            kills += usize::from(r.rc(ram, cpu).kill);
        }
        prop_assert_eq!(kills, 0);
        prop_assert!(r.state() <= Brownout, "{:?}", r.state());
    }
}

/// A sample whose pressure files read as the kernel writes them.
fn with_psi(
    ram: f64,
    cpu: f64,
    own: f64,
    cpu_file: &str,
    memory_file: &str,
    io_file: &str,
) -> Sample {
    use crate::pressure::{Pressure, parse};
    Sample {
        cpu_own_pct: Some(own),
        pressure: Some(Pressure {
            cpu: parse(cpu_file),
            memory: parse(memory_file),
            io: parse(io_file),
            source: crate::sampler::Source::Host,
        }),
        ..Sample::ram_cpu(ram, cpu)
    }
}

const NO_STALL: &str = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n\
                        full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

fn cpu_stall(percent: f64) -> String {
    format!("some avg10={percent:.2} avg60={percent:.2} avg300=0.00 total=1\n")
}

#[test]
fn cores_busy_with_alices_own_model_are_not_danger_where_psi_is_read() {
    let mut r = Rig::new();
    // Both cores at 100 %, 95 % of it Alice's inference, and little waiting for a core.
    r.hold_sample(
        &with_psi(0.4, 1.0, 0.95, &cpu_stall(8.0), NO_STALL, NO_STALL),
        120,
    );
    assert_eq!(r.state(), Normal);
    assert_eq!(
        r.m.judged_cpu_window().last(),
        Some((0.08, CpuSignal::Pressure))
    );
}

#[test]
fn cpu_pressure_browns_out_and_never_degrades_on_its_own() {
    let mut r = Rig::new();
    r.hold_sample(
        &with_psi(0.4, 1.0, 0.3, &cpu_stall(90.0), NO_STALL, NO_STALL),
        3,
    );
    assert_eq!(r.state(), Brownout);
    let detail = &r.m.history().last().unwrap().detail;
    assert!(detail.contains("cpu pressure >= 0.50"), "{detail}");
    r.hold_sample(
        &with_psi(0.4, 1.0, 0.3, &cpu_stall(90.0), NO_STALL, NO_STALL),
        180,
    );
    assert_eq!(
        r.state(),
        Brownout,
        "3 minutes of competition for the cores"
    );
    // Between recovery (0.25) and soft (0.50) nothing moves.
    r.hold_sample(
        &with_psi(0.4, 1.0, 0.3, &cpu_stall(30.0), NO_STALL, NO_STALL),
        60,
    );
    assert_eq!(r.state(), Brownout);
    r.hold_sample(
        &with_psi(0.4, 1.0, 0.3, &cpu_stall(10.0), NO_STALL, NO_STALL),
        3,
    );
    assert_eq!(r.state(), Normal, "calm and long past the dwell");
}

#[test]
fn memory_pressure_escalates_and_a_full_stall_is_an_emergency() {
    let mut r = Rig::new();
    let some_stall = "some avg10=20.00 avg60=5.00 avg300=0.00 total=1\n\
                      full avg10=2.00 avg60=0.50 avg300=0.00 total=1\n";
    r.hold_sample(
        &with_psi(0.6, 0.2, 0.1, &cpu_stall(1.0), some_stall, NO_STALL),
        3,
    );
    assert_eq!(r.state(), Brownout);
    r.hold_sample(
        &with_psi(0.6, 0.2, 0.1, &cpu_stall(1.0), some_stall, NO_STALL),
        60,
    );
    assert_eq!(r.state(), Degraded, "BROWNOUT did not relieve it in 60 s");

    let mut r = Rig::new();
    let thrashing = "some avg10=60.00 avg60=20.00 avg300=0.00 total=1\n\
                     full avg10=35.00 avg60=9.00 avg300=0.00 total=1\n";
    let out = r.feed(with_psi(
        0.7,
        0.2,
        0.1,
        &cpu_stall(1.0),
        thrashing,
        NO_STALL,
    ));
    assert_eq!(r.state(), Emergency);
    assert!(out.kill);
    let detail = &out.transition.unwrap().detail;
    assert!(
        detail.contains("memory pressure full 0.35 >= 0.10"),
        "{detail}"
    );
}

#[test]
fn io_pressure_browns_out_only() {
    let mut r = Rig::new();
    let io = "some avg10=70.00 avg60=50.00 avg300=0.00 total=1\n\
              full avg10=55.00 avg60=40.00 avg300=0.00 total=1\n";
    r.hold_sample(&with_psi(0.4, 0.3, 0.1, &cpu_stall(1.0), NO_STALL, io), 100);
    assert_eq!(r.state(), Brownout);
}

#[test]
fn a_new_oom_kill_is_an_emergency_and_old_ones_are_not() {
    let mut r = Rig::new();
    let kills = |n| Sample {
        oom_kills: Some(n),
        ..Sample::ram_cpu(0.5, 0.2)
    };
    r.feed(kills(4));
    r.feed(kills(4));
    assert_eq!(r.state(), Normal, "kills from before Alice started");
    let out = r.feed(kills(5));
    assert_eq!(r.state(), Emergency);
    assert!(out.transition.unwrap().detail.contains("1 new oom kill"));
}

#[test]
fn without_psi_alices_own_cpu_is_subtracted() {
    let mut r = Rig::new();
    let busy = |own| Sample {
        cpu_own_pct: Some(own),
        ..Sample::ram_cpu(0.4, 1.0)
    };
    r.hold_sample(&busy(0.9), 60);
    assert_eq!(r.state(), Normal, "Alice's own inference fills the cores");
    let (figure, signal) = r.m.judged_cpu_window().last().unwrap();
    assert!((figure - 0.1).abs() < 1e-9, "{figure}");
    assert_eq!(signal, CpuSignal::UseMinusOwn);
    r.feed(busy(0.0));
    assert_eq!(r.state(), Emergency, "the same use by someone else");
}

#[test]
fn usage_signals_are_the_seeds_rules() {
    let config = GuardianConfig {
        signals: alice_core::config::Signals::Usage,
        ..GuardianConfig::default()
    };
    let mut r = Rig::with(config);
    r.feed(with_psi(
        0.4,
        0.95,
        0.95,
        &cpu_stall(1.0),
        NO_STALL,
        NO_STALL,
    ));
    assert_eq!(
        r.state(),
        Emergency,
        "the whole use counts, pressure is not read"
    );
}

/// The host's pressure files, read on the 2-core development machine after 18 s of four
/// spinning processes (2026-12-04): the cores were contended, memory and I/O were not.
const RECORDED_HOG_CPU: &str = include_str!("recorded/cpu.pressure-hog");
const RECORDED_HOG_MEMORY: &str = include_str!("recorded/memory.pressure-hog");
const RECORDED_HOG_IO: &str = include_str!("recorded/io.pressure-hog");

#[test]
fn a_recorded_cpu_hog_browns_out_and_goes_no_further() {
    let mut r = Rig::new();
    r.hold_sample(
        &with_psi(
            0.3,
            1.0,
            0.0,
            RECORDED_HOG_CPU,
            RECORDED_HOG_MEMORY,
            RECORDED_HOG_IO,
        ),
        120,
    );
    assert_eq!(r.state(), Brownout);
    assert_eq!(r.m.history().count(), 1, "one step, NORMAL to BROWNOUT");
}
