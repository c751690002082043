//! The real `alice` binary as a child process: started on a free port with its data in a temp
//! dir (optionally inside cgroups the test made), its NDJSON stdout read line by line, stopped
//! with SIGTERM.

use super::child_process::Running;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ALICE: &str = env!("CARGO_BIN_EXE_alice");

/// `alice ARGS` with extra environment, on a free port with its database in `dir`; returns the
/// process, its address and a channel of its stdout lines. The Guardian is off unless `envs`
/// turns it on: a busy test machine must not make it shed the test's requests.
pub fn spawn_alice(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Running, String, mpsc::Receiver<String>) {
    spawn_alice_in_cgroups(dir, args, envs, &[])
}

/// As [`spawn_alice`], with the process put in the cgroups whose `cgroup.procs` files are
/// given before it runs a line of Alice (a shell writes its pid there and then execs Alice).
pub fn spawn_alice_in_cgroups(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    cgroup_procs: &[PathBuf],
) -> (Running, String, mpsc::Receiver<String>) {
    let mut command = in_cgroups(ALICE, cgroup_procs);
    let mut child = Running(
        command
            .args(args)
            .current_dir(dir)
            .env("ALICE_GUARDIAN__ENABLED", "false")
            .envs(envs.iter().copied())
            .env("ALICE_SERVER__BIND", "127.0.0.1:0")
            .env_remove("ALICE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    // Every line goes to `lines`; the listening address also goes to `addr`, so lines logged
    // before it (a probe can be quicker) are not lost to the caller.
    let (addr_tx, addr) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(parsed) = serde_json::from_str::<Value>(&line)
                && parsed["evt"] == "listening"
            {
                let _ = addr_tx.send(parsed["addr"].as_str().unwrap_or_default().to_owned());
            }
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(20))
        .expect("alice should log that it listens");
    (child, format!("http://{addr}"), lines)
}

/// A command for `program` that runs inside the cgroups whose `cgroup.procs` files are given
/// from its first instruction: a shell writes its own pid there, then execs the program (so the
/// child is the program itself, and killing it leaves nothing behind). No files: the program
/// as it is.
pub fn in_cgroups(program: &str, cgroup_procs: &[PathBuf]) -> Command {
    if cgroup_procs.is_empty() {
        return Command::new(program);
    }
    let files: Vec<String> = cgroup_procs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(r#"for f in $ALICE_TEST_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@""#)
        .arg("sh")
        .arg(program)
        .env("ALICE_TEST_CGROUP_PROCS", files.join(" "));
    shell
}

/// A client with the admin key that an `alice serve` started in `dir` wrote on its first start
/// (the default `auth.admin_key_file`, data/admin.key, as the README's curl reads it).
pub fn admin_http(dir: &Path) -> reqwest::Client {
    super::client_with_key(&super::read_admin_key(&dir.join("data/admin.key")))
}

/// Sends SIGTERM and waits up to 5 s for the exit.
pub fn terminate(Running(child): &mut Running) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap();
    panic!("alice did not stop within 5 s of SIGTERM");
}
