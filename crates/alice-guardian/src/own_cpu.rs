//! CPU time spent by the work Alice is there to do: this process (its embedded model's threads
//! included) and the local model server's processes (Ollama, llama-server), found by name.
//!
//! On a machine that runs its own model, a busy CPU is mostly that model generating; it says
//! nothing about danger. Where the kernel has pressure stall information the Guardian's CPU
//! triggers read pressure instead of use, but on kernels without PSI the triggers fall back to
//! use and subtract this share, so that only *other* work competing for the cores counts.
//!
//! Read from `/proc/self/stat` and `/proc/PID/stat` (utime + stime, in clock ticks; children
//! that ended are left out, a model server's worker threads are in its own figure). A process
//! counted once is followed by its pid; the `/proc` scan for the names runs every
//! [`RESCAN_EVERY`] readings so a restarted model server is found again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Readings between two scans of `/proc` for the model server's processes.
const RESCAN_EVERY: u32 = 10;

/// A model server process: its ticks when it was found and at the latest reading.
struct Watched {
    found_at: u64,
    latest: u64,
}

impl Watched {
    /// Ticks since it was found: the time it spent before is in no window Alice measures.
    fn counted(&self) -> u64 {
        self.latest.saturating_sub(self.found_at)
    }
}

/// Cumulative CPU ticks of the watched processes.
pub struct OwnCpu {
    proc_dir: PathBuf,
    names: Vec<String>,
    own_pid: Option<String>,
    /// Watched pids (the model server's).
    watched: BTreeMap<String, Watched>,
    readings_since_scan: u32,
    /// Ticks counted for processes that have ended: their share stays in the total.
    ended: u64,
}

impl OwnCpu {
    /// Watches this process and those whose `comm` is one of `names`, below `root`'s /proc.
    /// Outside the real root (a fake tree, a mounted host) "this process" is not in that
    /// tree's `/proc/self`, so only the names count there.
    pub fn new(root: &Path, names: &[String]) -> Self {
        let proc_dir = root.join("proc");
        let own_pid = (root == Path::new("/")).then(|| std::process::id().to_string());
        Self {
            proc_dir,
            names: names.to_vec(),
            own_pid,
            watched: BTreeMap::new(),
            readings_since_scan: RESCAN_EVERY,
            ended: 0,
        }
    }

    /// Total ticks of the watched processes so far (monotonic while they run; a process that
    /// ends keeps its share up to its last reading). `None` when not even this process can be
    /// read.
    pub fn ticks(&mut self) -> Option<u64> {
        if self.readings_since_scan >= RESCAN_EVERY {
            self.rescan();
        }
        self.readings_since_scan += 1;
        let mut gone = Vec::new();
        for (pid, process) in &mut self.watched {
            match read_ticks(&self.proc_dir.join(pid).join("stat")) {
                Some(now) => process.latest = now.max(process.latest),
                None => gone.push(pid.clone()),
            }
        }
        for pid in gone {
            if let Some(process) = self.watched.remove(&pid) {
                self.ended += process.counted();
            }
        }
        let own = match &self.own_pid {
            Some(pid) => read_ticks(&self.proc_dir.join(pid).join("stat"))?,
            None => 0,
        };
        let servers: u64 = self.watched.values().map(Watched::counted).sum();
        Some(own + servers + self.ended)
    }

    fn rescan(&mut self) {
        self.readings_since_scan = 0;
        if self.names.is_empty() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.proc_dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(pid) = name.to_str() else { continue };
            if !pid.bytes().all(|b| b.is_ascii_digit())
                || self.own_pid.as_deref() == Some(pid)
                || self.watched.contains_key(pid)
            {
                continue;
            }
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if self.names.iter().any(|n| n == comm.trim_end())
                && let Some(found_at) = read_ticks(&entry.path().join("stat"))
            {
                let latest = found_at;
                self.watched
                    .insert(pid.to_owned(), Watched { found_at, latest });
            }
        }
    }
}

/// utime + stime of a `/proc/PID/stat` file. The command name (field 2) is in parentheses and
/// may hold spaces, so fields are counted after its closing parenthesis.
fn read_ticks(stat: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(stat).ok()?;
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(14) stime(15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stat_line(pid: u32, comm: &str, utime: u64, stime: u64) -> String {
        format!("{pid} ({comm}) S 1 1 1 0 -1 4194560 10 0 0 0 {utime} {stime} 0 0 20 0 4 0 1 1 1\n")
    }

    fn process(root: &Path, pid: u32, comm: &str, utime: u64, stime: u64) {
        let dir = root.join("proc").join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(dir.join("stat"), stat_line(pid, comm, utime, stime)).unwrap();
    }

    #[test]
    fn the_stat_line_is_read_after_the_name_even_with_spaces_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, stat_line(7, "tokio worker) x", 120, 30)).unwrap();
        assert_eq!(read_ticks(&path), Some(150));
    }

    #[test]
    fn named_processes_count_from_when_they_are_found_and_keep_their_share_when_they_end() {
        let dir = tempfile::tempdir().unwrap();
        process(dir.path(), 10, "ollama", 1000, 0);
        process(dir.path(), 11, "bash", 500, 0);
        let mut own = OwnCpu::new(dir.path(), &["ollama".to_owned()]);
        let first = own.ticks().unwrap();
        process(dir.path(), 10, "ollama", 1300, 50);
        process(dir.path(), 11, "bash", 900, 0);
        let second = own.ticks().unwrap();
        assert_eq!(second - first, 350, "only ollama's new ticks count");
        std::fs::remove_dir_all(dir.path().join("proc/10")).unwrap();
        assert_eq!(
            own.ticks().unwrap(),
            second,
            "an ended process keeps its share"
        );
    }

    #[test]
    fn this_process_is_counted_on_the_real_root() {
        let mut own = OwnCpu::new(Path::new("/"), &[]);
        let before = own.ticks().unwrap();
        // Spin until a tick (10 ms) shows, for at most 5 s of wall time on a busy machine.
        let started = std::time::Instant::now();
        let mut after = before;
        while after == before && started.elapsed() < std::time::Duration::from_secs(5) {
            std::hint::black_box((0..10_000u64).sum::<u64>());
            after = own.ticks().unwrap();
        }
        assert!(after > before, "spinning shows as ticks of this process");
    }
}
