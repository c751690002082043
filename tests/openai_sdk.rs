//! The official `openai` Python SDK against Alice's `/v1` API, end to end: Alice in front of the
//! upstream simulator, and `tests/sdk/openai_sdk_check.py` run by the interpreter named in
//! `ALICE_TEST_OPENAI_PYTHON` (`.ci/run` makes a venv with the SDK and sets it).
//!
//! Without the variable the test says it is skipped and passes, so `cargo test` needs no
//! Python; with it, a missing interpreter or SDK fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::{Alice, config, start_sim};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PYTHON_VAR: &str = "ALICE_TEST_OPENAI_PYTHON";
/// The script makes a handful of requests to a local simulator; a minute means it is stuck.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills the script if the test ends (or panics) while it still runs.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

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
        stdout.contains("openai sdk: 5 checks passed"),
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
    let child = Command::new(python)
        .arg(script)
        .arg(base)
        .arg(key)
        .arg(limited)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "{PYTHON_VAR}={} cannot be run: {error}; point it at a Python with the openai \
                 package (.ci/run makes one in target/sdk-venv)",
                python.to_string_lossy()
            )
        });
    let mut running = Running(child);
    // Read both pipes on their own threads, so a chatty script never blocks on a full pipe.
    let stdout = drain(running.0.stdout.take());
    let stderr = drain(running.0.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            let _ = running.0.kill();
            let _ = running.0.wait();
            panic!(
                "the SDK check ran over {} s and was killed; stderr so far:\n{}",
                SCRIPT_TIMEOUT.as_secs(),
                collected(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, collected(&stdout), collected(&stderr))
}

/// Reads a pipe to its end on a thread of its own; the text arrives on the channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        let _ = sender.send(text);
    });
    receiver
}

/// What a pipe held, waiting a little: a process the script started may still hold the pipe
/// open after the script is gone, and the test must not hang on it.
fn collected(output: &mpsc::Receiver<String>) -> String {
    output
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| "(output not available: the pipe is still open)".to_owned())
}
