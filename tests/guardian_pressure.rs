//! The Guardian under real outside load, read from the real /proc and cgroup files by the real
//! `alice serve` process:
//! - a CPU hog (two spinning processes per core) makes others compete for the cores: CPU
//!   pressure moves Alice to BROWNOUT, where chat is still answered, cheaper, and it never goes
//!   further; it is NORMAL again after the hog ends;
//! - a memory balloon fills a 512 MiB cgroup the test makes and runs Alice in (cgroup v2 where
//!   it has the memory controller, else a v1 memory group with a unified group beside it for
//!   pressure): Alice goes to EMERGENCY and refuses chat with 503 and Retry-After, and recovers
//!   after the balloon is gone. The pressure is the group's, never the whole machine's.
//!
//! Both are bounded in time (every load process ends by itself) and in size, and
//! each is skipped with a message where PSI or cgroups are missing. They take turns: both read
//! the machine's pressure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_guardian::cgroup::CgroupDirs;
use common::alice_process::{admin_http, in_cgroups, spawn_alice_in_cgroups};
use common::child_process::Running;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One test at a time: each measures the machine.
static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A quick Guardian: a sample every 250 ms, a 3-sample window, 3 s before a step down.
const GUARDIAN: [(&str, &str); 4] = [
    ("ALICE_GUARDIAN__ENABLED", "true"),
    ("ALICE_GUARDIAN__INTERVAL", "250ms"),
    ("ALICE_GUARDIAN__MIN_DWELL", "3s"),
    ("ALICE_GUARDIAN__FLAP_TRANSITIONS", "20"),
];

/// How long the machine may take to settle before a test starts, and to recover after it.
const SETTLE: Duration = Duration::from_secs(90);

async fn status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/api/guardian/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the status until its state is `want` on a full window, for at most `limit`; returns the status, or
/// panics naming `what` with the last status seen.
async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    want: &str,
    limit: Duration,
    what: &str,
) -> Value {
    let started = Instant::now();
    loop {
        let current = status(http, base).await;
        // A state counts once it rests on a full window of real readings.
        if current["status"] == want && current["hysteresis"]["measurement_window_full"] == true {
            return current;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not {want} within {} s; last status: {current:#}",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// States the Guardian has been in, from its transition history.
fn states_entered(status: &Value) -> Vec<String> {
    status["hysteresis"]["state_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap().to_owned())
        .collect()
}

fn last_transition_detail(status: &Value) -> String {
    let history = status["hysteresis"]["state_history"].as_array().unwrap();
    history.last().unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn chat(http: &reqwest::Client, base: &str, message: &str) -> reqwest::Response {
    http.post(format!("{base}/api/chat"))
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap()
}

/// A process that spins one core until it is killed or `limit` is over. It bounds itself, so
/// killing it (the drop) leaves nothing behind: a `timeout` wrapper would be killed alone.
fn spinner(limit: Duration) -> Running {
    let script = format!(
        "import time\nend = time.monotonic() + {}\nwhile time.monotonic() < end:\n    pass\n",
        limit.as_secs()
    );
    Running(
        Command::new("python3")
            .args(["-c", &script])
            .spawn()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_cpu_hog_browns_alice_out_without_refusing_anyone_and_it_recovers() {
    let _turn = MACHINE.lock().await;
    if !Path::new("/proc/pressure/cpu").exists() {
        eprintln!(
            "skipped a_cpu_hog_browns_alice_out_without_refusing_anyone_and_it_recovers: \
             this kernel reports no pressure stall information (/proc/pressure/cpu)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_alice, base, _lines) =
        spawn_alice_in_cgroups(dir.path(), &["serve", "--demo"], &GUARDIAN, &[]);
    let http = admin_http(dir.path());
    let calm = wait_for(&http, &base, "NORMAL", SETTLE, "before the hog").await;
    assert_eq!(calm["metrics"]["signals"]["cpu"], "pressure", "{calm:#}");

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hog: Vec<Running> = (0..2 * cores)
        .map(|_| spinner(Duration::from_secs(120)))
        .collect();
    let browned = wait_for(
        &http,
        &base,
        "BROWNOUT",
        Duration::from_secs(60),
        "under the hog",
    )
    .await;
    let detail = last_transition_detail(&browned);
    assert!(detail.contains("cpu pressure"), "{detail}");

    // Chat is answered, at the brownout level, for as long as the hog runs.
    let hog_started = Instant::now();
    while hog_started.elapsed() < Duration::from_secs(15) {
        let response = chat(&http, &base, "Hur mycket är klockan?").await;
        assert_eq!(response.status(), 200, "BROWNOUT refuses nobody");
        let reply: Value = response.json().await.unwrap();
        assert_ne!(reply["brownout_level"], "NONE", "{reply}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let during = status(&http, &base).await;
    assert_eq!(during["status"], "BROWNOUT", "{during:#}");
    drop(hog);

    let recovered = wait_for(&http, &base, "NORMAL", SETTLE, "after the hog").await;
    let entered = states_entered(&recovered);
    assert!(
        entered.iter().all(|s| s == "BROWNOUT" || s == "NORMAL"),
        "CPU pressure alone never goes past BROWNOUT: {entered:?}"
    );
}

/// A cgroup the test made, with a memory limit; removed when dropped (after its processes).
struct TestGroup {
    /// The `cgroup.procs` files a process is written to, to be in the group.
    procs: Vec<PathBuf>,
    /// Where the group's memory use is read.
    usage_file: PathBuf,
    dirs: Vec<PathBuf>,
}

impl TestGroup {
    /// A group with `limit` bytes of memory, or why none can be made here.
    fn create(limit: u64) -> Result<Self, String> {
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
        let cgroup = read("/proc/self/cgroup")?;
        let mountinfo = read("/proc/self/mountinfo")?;
        let found = CgroupDirs::from_files(&cgroup, &mountinfo);
        let name = format!("alice-test-{}", std::process::id());
        let unified_root = found.unified_mount.map(|m| Path::new("/").join(m));
        // cgroup v2 with the memory controller: a group at the hierarchy's root.
        if let Some(root) = &unified_root
            && std::fs::read_to_string(root.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
        {
            let dir = root.join(&name);
            make(&dir)?;
            let group = Self {
                procs: vec![dir.join("cgroup.procs")],
                usage_file: dir.join("memory.current"),
                dirs: vec![dir.clone()],
            };
            write(&dir.join("memory.max"), &limit.to_string())?;
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            return Ok(group);
        }
        // A hybrid system: the v1 memory controller below this process's own group, and a
        // unified group beside it for the pressure files.
        let Some(v1) = found.v1_memory else {
            return Err("no cgroup v2 memory controller and no v1 memory hierarchy".into());
        };
        let dir = Path::new("/").join(v1).join(&name);
        make(&dir)?;
        let mut group = Self {
            procs: vec![dir.join("cgroup.procs")],
            usage_file: dir.join("memory.usage_in_bytes"),
            dirs: vec![dir.clone()],
        };
        write(&dir.join("memory.limit_in_bytes"), &limit.to_string())?;
        if let Some(root) = unified_root {
            let pressure_dir = root.join(&name);
            if make(&pressure_dir).is_ok() {
                group.procs.push(pressure_dir.join("cgroup.procs"));
                group.dirs.push(pressure_dir);
            }
        }
        Ok(group)
    }

    fn usage(&self) -> u64 {
        std::fs::read_to_string(&self.usage_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The group's processes may take a moment to be gone after their kill.
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn make(dir: &Path) -> Result<(), String> {
    std::fs::create_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn write(file: &Path, value: &str) -> Result<(), String> {
    std::fs::write(file, value).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// A Python process in `group` that takes `bytes` of memory in 8 MiB steps (each page
/// touched), holds it, and ends by itself after `limit` (it is the shell's exec, so the drop
/// kills it).
fn balloon(group: &TestGroup, bytes: u64, limit: Duration) -> Running {
    let script = format!(
        "import time\nend = time.monotonic() + {limit}\nheld = []\nwhile len(held) * 8 < {mib} and time.monotonic() < end:\n    held.append(bytearray(8 << 20))\n    time.sleep(0.05)\ntime.sleep(max(0, end - time.monotonic()))\n",
        mib = bytes >> 20,
        limit = limit.as_secs()
    );
    Running(
        in_cgroups("python3", &group.procs)
            .args(["-c", &script])
            .spawn()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_memory_balloon_in_alices_cgroup_is_an_emergency_and_it_recovers() {
    let _turn = MACHINE.lock().await;
    const LIMIT: u64 = 512 << 20;
    let group = match TestGroup::create(LIMIT) {
        Ok(group) => group,
        Err(why) => {
            eprintln!(
                "skipped a_memory_balloon_in_alices_cgroup_is_an_emergency_and_it_recovers: \
                 no cgroup can be made here ({why})"
            );
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (alice, base, _lines) =
        spawn_alice_in_cgroups(dir.path(), &["serve", "--demo"], &GUARDIAN, &group.procs);
    let http = admin_http(dir.path());
    let calm = wait_for(&http, &base, "NORMAL", SETTLE, "before the balloon").await;
    assert_eq!(
        calm["metrics"]["ram_total_gb"],
        LIMIT as f64 / 1e9,
        "{calm:#}"
    );

    // Up to 97 % of what the limit leaves beside Alice.
    let room = LIMIT.saturating_sub(group.usage());
    let filling = balloon(&group, room / 100 * 97, Duration::from_secs(60));
    let emergency = wait_for(
        &http,
        &base,
        "EMERGENCY",
        Duration::from_secs(45),
        "in the balloon",
    )
    .await;
    let detail = last_transition_detail(&emergency);
    assert!(
        detail.contains("ram") || detail.contains("memory pressure") || detail.contains("oom kill"),
        "{detail}"
    );
    let refused = chat(&http, &base, "Hej Alice").await;
    assert_eq!(refused.status(), 503, "EMERGENCY refuses chat");
    assert!(refused.headers().contains_key("retry-after"));
    drop(filling);

    let recovered = wait_for(&http, &base, "NORMAL", SETTLE, "after the balloon").await;
    assert!(states_entered(&recovered).contains(&"EMERGENCY".to_owned()));
    assert_eq!(chat(&http, &base, "Hej igen").await.status(), 200);
    drop(alice);
    drop(group);
}
