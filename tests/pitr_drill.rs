//! The PostgreSQL point-in-time recovery drill (`scripts/pitr_drill.sh`), run as a test so CI
//! keeps it working. It builds a private cluster from the local PostgreSQL server binaries (on
//! its own port, never the system cluster), so it runs only when `ALICE_TEST_PITR_PG_BIN`
//! names their directory (`.ci/run` sets it when `/usr/lib/postgresql/*/bin/initdb` exists).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn point_in_time_recovery_stops_before_the_mistake() {
    let Ok(pg_bin) = std::env::var("ALICE_TEST_PITR_PG_BIN") else {
        eprintln!(
            "skipped point_in_time_recovery_stops_before_the_mistake: ALICE_TEST_PITR_PG_BIN \
             is not set"
        );
        return;
    };
    let output = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/pitr_drill.sh"
        ))
        .env("PG_BIN", &pg_bin)
        .env("PITR_DRILL_TIMEOUT", "120")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the drill failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("A=1000 B=500 C=0"), "{stdout}");
    assert!(stdout.contains("PASS"), "{stdout}");
}
