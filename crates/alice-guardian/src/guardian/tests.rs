#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::collections::VecDeque;
use std::time::Duration;

/// A sampler that plays a script, then repeats its last sample.
struct Script {
    samples: Arc<Mutex<VecDeque<Sample>>>,
    last: Sample,
}

impl Sampler for Script {
    fn sample(&mut self) -> Sample {
        if let Some(next) = self.samples.lock().unwrap().pop_front() {
            self.last = next;
        }
        self.last.clone()
    }
}

fn script(samples: Vec<Sample>) -> (Script, Arc<Mutex<VecDeque<Sample>>>) {
    let queue = Arc::new(Mutex::new(VecDeque::from(samples)));
    (
        Script {
            samples: queue.clone(),
            last: Sample::ram_cpu(0.1, 0.1),
        },
        queue,
    )
}

/// Lets the Guardian task take `n` more samples (the first tick fires at once).
/// Lets `n` samples happen (the first comes one interval after start) and land.
async fn ticks(n: u32) {
    for _ in 0..n {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Let the last sample's step land.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn it_samples_publishes_and_reports_transitions() {
    let (sampler, _) = script(vec![
        Sample::ram_cpu(0.85, 0.1),
        Sample::ram_cpu(0.85, 0.1),
        Sample::ram_cpu(0.85, 0.1),
    ]);
    let guardian = Guardian::start(GuardianConfig::default(), sampler);
    let mut events = guardian.events();
    let mut watch = guardian.subscribe();
    assert_eq!(guardian.state(), GuardianState::Normal);
    ticks(3).await;
    assert_eq!(guardian.state(), GuardianState::Brownout);
    assert!(watch.has_changed().unwrap());
    assert_eq!(watch.borrow_and_update().state(), GuardianState::Brownout);
    let GuardianEvent::Transition(t) = events.recv().await.unwrap() else {
        panic!("expected a transition");
    };
    assert_eq!(
        (t.from, t.to),
        (GuardianState::Normal, GuardianState::Brownout)
    );
    assert_eq!(guardian.preset().max_tokens, 1024);
    let status = guardian.status();
    assert_eq!(status.status, GuardianState::Brownout);
    assert!(status.hysteresis.measurement_window_full);
}

#[tokio::test(start_paused = true)]
async fn a_hard_reading_sends_a_kill_and_override_leaves_lockdown() {
    let config = GuardianConfig {
        kill_limit: 1,
        ..GuardianConfig::default()
    };
    let (sampler, _) = script(vec![Sample::ram_cpu(0.97, 0.1)]);
    let guardian = Guardian::start(config, sampler);
    let mut events = guardian.events();
    ticks(1).await;
    assert_eq!(guardian.state(), GuardianState::Lockdown);
    let mut saw_kill = false;
    while let Ok(event) = events.try_recv() {
        saw_kill |= matches!(event, GuardianEvent::Kill { .. });
    }
    assert!(saw_kill);
    assert!(guardian.override_lockdown(false).is_err());
    let t = guardian.override_lockdown(true).unwrap();
    assert_eq!(t.reason, crate::state::Reason::Override);
    assert_ne!(guardian.state(), GuardianState::Lockdown);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_sampler_counts_as_unknown() {
    struct Broken;
    impl Sampler for Broken {
        fn sample(&mut self) -> Sample {
            panic!("sampler bug");
        }
    }
    let guardian = Guardian::start(GuardianConfig::default(), Broken);
    ticks(2).await;
    assert_eq!(
        guardian.state(),
        GuardianState::Normal,
        "two strikes are ignored"
    );
    ticks(1).await;
    assert_eq!(guardian.state(), GuardianState::Degraded);
}

#[tokio::test(start_paused = true)]
async fn manual_brownout_is_a_floor() {
    let (sampler, _) = script(vec![]);
    let guardian = Guardian::start(GuardianConfig::default(), sampler);
    guardian.set_manual_brownout(Some((BrownoutLevel::Heavy, "load test".to_owned())));
    assert_eq!(guardian.snapshot().level(), BrownoutLevel::Heavy);
    assert_eq!(guardian.state(), GuardianState::Normal);
    guardian.set_manual_brownout(None);
    assert_eq!(guardian.snapshot().level(), BrownoutLevel::None);
}
