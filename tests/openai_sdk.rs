//! The official `openai` Python SDK against Alice's `/v1` API, end to end: Alice in front of the
//! upstream simulator, and `tests/sdk/openai_sdk_check.py` run by the interpreter named in
//! `ALICE_TEST_OPENAI_PYTHON` (`.ci/run` makes a venv with the SDK and sets it).
//!
//! Without the variable the test says it is skipped and passes, so `cargo test` needs no
//! Python; with it, a missing interpreter or SDK fails the test. The script also runs the SDK's
//! tool-calling loop, streamed and not, against the simulator's default of calling the first
//! offered tool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::child_process::run_to_end;
use common::{Alice, config, start_sim};
use std::process::Command;
use std::time::Duration;

const PYTHON_VAR: &str = "ALICE_TEST_OPENAI_PYTHON";
/// The script makes a handful of requests to a local simulator; a minute means it is stuck.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn openai_sdk_end_to_end() {
    let Some(python) = std::env::var_os(PYTHON_VAR) else {
        eprintln!("skipped openai_sdk_end_to_end: {PYTHON_VAR} is not set (.ci/run sets it)");
        return;
    };
    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = config(dir.path(), &sim.base_url());
    let limited = common::create_key_with(
        &settings,
        "lena",
        alice_identity::Role::User,
        alice_identity::KeyRequest {
            limits: alice_store::KeyLimits {
                requests_per_minute: Some(1),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let alice = Alice::start(settings).await;
    let base = format!("{}/v1", alice.base);
    let key = alice.admin_key.clone();

    // The script blocks; it runs on a blocking thread while this runtime serves Alice.
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_script(&python, &base, &key, &limited))
            .await
            .unwrap();
    alice.stop().await;
    assert!(
        status.success(),
        "the SDK check failed ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("openai sdk: 7 checks passed"),
        "unexpected output:\n{stdout}\n{stderr}"
    );
    eprintln!("{}", stdout.trim());
}

/// Runs the check script against `base`; its exit status and output. Panics if the interpreter
/// cannot be started or the script runs over [`SCRIPT_TIMEOUT`].
fn run_script(
    python: &std::ffi::OsStr,
    base: &str,
    key: &str,
    limited: &str,
) -> (std::process::ExitStatus, String, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk_check.py");
    let mut command = Command::new(python);
    command.arg(script).arg(base).arg(key).arg(limited);
    let what = format!(
        "the SDK check ({PYTHON_VAR}={}; point it at a Python with the openai package, as \
         .ci/run makes in target/sdk-venv)",
        python.to_string_lossy()
    );
    run_to_end(command, SCRIPT_TIMEOUT, &what)
}
