#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn at(t_s: f64, phase: Phase, rss_mib: f64) -> Sample {
    Sample {
        t_s,
        phase,
        rss_mib: Some(rss_mib),
        fds: Some(10),
        latency_p50_ms: None,
        latency_p99_ms: None,
        error: None,
    }
}

#[test]
fn reads_proc_status_and_prometheus_text() {
    let status = "Name:\talice\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
    assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
    assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
    let text = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                # TYPE process_resident_memory_bytes gauge\n\
                process_resident_memory_bytes 1.2582912e+07\n\
                process_open_fds{pid=\"1\"} 42\n";
    assert_eq!(
        parse_metrics(text).unwrap(),
        Reading {
            rss_bytes: 12_582_912,
            fds: Some(42)
        }
    );
    assert!(parse_metrics("process_open_fds 3\n").is_err());
    // Alice's registry namespaces them; a look-alike name is not taken for them.
    let alice = "# TYPE alice_process_resident_memory_bytes gauge\n\
                 alice_process_resident_memory_bytes 2097152\n\
                 alice_process_open_fds 17\n\
                 myprocess_open_fds 99\n\
                 # EOF\n";
    assert_eq!(
        parse_metrics(alice).unwrap(),
        Reading {
            rss_bytes: 2_097_152,
            fds: Some(17)
        }
    );
}

#[tokio::test]
async fn reads_this_process_and_knows_a_missing_one() {
    let reading = Probe::pid(std::process::id()).read().await.unwrap();
    assert!(reading.rss_bytes > 1024 * 1024);
    assert!(reading.fds.unwrap() >= 3);
    let missing = Probe::Proc {
        pid: 1,
        root: PathBuf::from("/nonexistent-proc"),
    };
    assert!(matches!(missing.read().await, Err(ProbeError::Gone(_))));
}

#[test]
fn growth_is_the_least_squares_slope_per_minute() {
    // 2 MiB per minute over 5 minutes of load, with noise that cancels out, then a cooldown
    // back to near the start.
    let noise = [0.3, -0.3, 0.0, 0.3, -0.3, 0.0];
    let mut samples: Vec<Sample> = (0..6)
        .map(|m| {
            at(
                f64::from(m) * 60.0,
                Phase::Load,
                100.0 + 2.0 * f64::from(m) + noise[m as usize],
            )
        })
        .collect();
    samples.push(at(360.0, Phase::Cooldown, 104.0));
    samples.push(at(420.0, Phase::Cooldown, 101.0));
    let soak = analyse(
        "pid 1".into(),
        samples,
        Duration::from_secs(60),
        Duration::from_secs(120),
        Duration::from_secs(300),
        false,
    );
    let growth = soak.growth_mib_per_min.unwrap();
    assert!((growth - 2.0).abs() < 0.1, "{growth}");
    assert_eq!(soak.rss_start_mib, Some(100.3));
    assert_eq!(soak.rss_peak_mib, Some(110.0));
    assert_eq!(soak.rss_end_mib, Some(101.0));
    assert_eq!(soak.given_back, Some(true));
    assert!((soak.returned_mib.unwrap() - 9.0).abs() < 1e-9);
}

#[test]
fn a_sample_takes_the_latency_of_the_interval_it_closes() {
    let three = Duration::from_secs(3);
    // On the tick, a few ms late, and the end-of-load sample after the drain.
    assert_eq!(series_index(3.0, three, three), 0);
    assert_eq!(series_index(3.004, three, three), 0);
    assert_eq!(series_index(6.01, three, three), 1);
    assert_eq!(series_index(30.1, three, three), 9);
    // A long soak whose series points are longer than the sampling interval.
    let minute = Duration::from_secs(60);
    assert_eq!(series_index(60.0, minute, Duration::from_secs(72)), 0);
    assert_eq!(series_index(120.0, minute, Duration::from_secs(72)), 1);
}

#[test]
fn memory_kept_after_the_load_is_not_given_back() {
    let samples = vec![
        at(0.0, Phase::Load, 100.0),
        at(60.0, Phase::Load, 150.0),
        at(120.0, Phase::Load, 200.0),
        at(180.0, Phase::Cooldown, 190.0),
    ];
    let soak = analyse(
        "pid 1".into(),
        samples.clone(),
        Duration::from_secs(60),
        Duration::from_secs(60),
        Duration::from_secs(120),
        false,
    );
    assert_eq!(soak.given_back, Some(false));
    assert!((soak.growth_mib_per_min.unwrap() - 50.0).abs() < 1e-9);
    let no_cooldown = analyse(
        "pid 1".into(),
        samples[..3].to_vec(),
        Duration::from_secs(60),
        Duration::ZERO,
        Duration::from_secs(120),
        false,
    );
    assert_eq!(no_cooldown.given_back, None);
    assert_eq!(slope(&[(1.0, 5.0)]), None);
}
