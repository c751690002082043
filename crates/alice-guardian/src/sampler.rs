//! Reading how loaded the machine is: RAM, CPU, disk and temperature.
//!
//! The state machine never reads the system itself; it is fed [`Sample`]s from a [`Sampler`], so
//! tests script samples and the daemon can watch another machine's /proc tree. [`ProcSampler`]
//! is the real one. It reads below a root directory (normally "/") so its tests run over a fake
//! tree in a temp dir:
//!
//! | reading | in a memory- or CPU-limited cgroup | on a host |
//! |---|---|---|
//! | RAM | working set (`memory.current` minus `inactive_file`) / `memory.max`; on a hybrid system the v1 `memory.usage_in_bytes` / `memory.limit_in_bytes` | `1 - MemAvailable / MemTotal` of `/proc/meminfo` |
//! | OOM kills | `oom_kill` of the group's `memory.events` (v1: `memory.oom_control`) | `oom_kill` of `/proc/vmstat` |
//! | CPU | delta of `cpu.stat` `usage_usec` over the wall time, against the `cpu.max` quota (or all CPUs when it is `max`) | delta of busy / total jiffies of `/proc/stat`'s `cpu` line |
//! | own CPU | Alice's and the model server's share of the same capacity ([`crate::own_cpu`]) | same |
//! | pressure | the group's `{cpu,memory,io}.pressure` | `/proc/pressure/*` |
//! | disk | `statvfs` of the data directory (df's "used / (used + available)") | same |
//! | temp | hottest `/sys/class/thermal/thermal_zone*/temp` (millidegrees), `None` without sensors | same |
//!
//! The group is the one this process is in ([`crate::cgroup`]). The original Guardian compared
//! a container's usage with the *host's* totals, which never fired inside a memory-limited
//! container; hence a limited group is read, and when both a limit and the host are known the
//! tighter of the two (fewer bytes left) is the RAM figure: a roomy limit on a full host is
//! no headroom. Page
//! cache that can be dropped (`inactive_file`) is not counted as used. A reading the sampler
//! cannot make is `None`, never 0: the state machine treats unknowns by its 3-strike rule
//! instead of as "all is well".

use crate::cgroup::CgroupDirs;
use crate::own_cpu::OwnCpu;
use crate::pressure::{self, Pressure};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where RAM, CPU or pressure figures came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The limits of the cgroup (v2) the process runs in.
    Cgroup,
    /// The whole host's /proc figures.
    Host,
}

/// One reading of the machine. Fractions are 0-1; `None` means the reading could not be made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    pub timestamp: DateTime<Utc>,
    pub ram_pct: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub temp_c: Option<f64>,
    pub ram_bytes_used: Option<u64>,
    pub ram_bytes_total: Option<u64>,
    pub ram_source: Option<Source>,
    pub cpu_source: Option<Source>,
    /// The part of `cpu_pct` used by Alice itself and the local model server: the job being
    /// done, not competition for the cores.
    pub cpu_own_pct: Option<f64>,
    /// OOM kills so far in the group the RAM figure comes from (the host's when it is the
    /// host's); the state machine watches it grow.
    pub oom_kills: Option<u64>,
    /// Pressure stall information; `None` where the kernel has none.
    pub pressure: Option<Pressure>,
}

impl Sample {
    /// A sample with every reading unknown, stamped `timestamp`.
    pub fn unknown(timestamp: DateTime<Utc>) -> Self {
        Self {
            timestamp,
            ram_pct: None,
            cpu_pct: None,
            disk_pct: None,
            temp_c: None,
            ram_bytes_used: None,
            ram_bytes_total: None,
            ram_source: None,
            cpu_source: None,
            cpu_own_pct: None,
            oom_kills: None,
            pressure: None,
        }
    }

    /// A sample with only RAM and CPU known, for scripted tests and simulations.
    pub fn ram_cpu(ram: f64, cpu: f64) -> Self {
        Self {
            ram_pct: Some(ram),
            cpu_pct: Some(cpu),
            ..Self::unknown(Utc::now())
        }
    }
}

/// Something that can read the machine's load. Called from a blocking thread, once per interval.
/// Fewest jiffies (all CPUs together) a host CPU figure may be computed over.
const MIN_CPU_JIFFIES: u64 = 10;
/// Shortest wall time a cgroup CPU figure may be computed over.
const MIN_CPU_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

pub trait Sampler: Send + 'static {
    fn sample(&mut self) -> Sample;
}

/// A previous CPU counter reading, to take the next delta against.
#[derive(Clone, Copy, Debug)]
struct CpuCounter {
    machine: MachineCpu,
    /// Clock ticks of Alice and the model server ([`OwnCpu`]).
    own_ticks: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
enum MachineCpu {
    /// Jiffies of `/proc/stat`'s first line.
    Host { busy: u64, total: u64 },
    /// `usage_usec` of the cgroup's `cpu.stat` and when it was read.
    Cgroup { usage_usec: u64, at: Instant },
}

/// Used and total bytes of memory, where they come from, and the OOM kills counted there.
#[derive(Clone, Copy, Debug)]
struct MemoryReading {
    used: u64,
    total: u64,
    source: Source,
    oom_kills: Option<u64>,
}

impl MemoryReading {
    fn fraction(&self) -> f64 {
        self.used as f64 / self.total as f64
    }

    fn headroom(&self) -> u64 {
        self.total.saturating_sub(self.used)
    }
}

/// A cgroup v1 memory limit at or above this is "no limit" (the kernel writes the largest
/// page-aligned i64 there).
const V1_UNLIMITED: u64 = 1 << 62;

/// The sampler that reads /proc, /sys and statvfs.
pub struct ProcSampler {
    root: PathBuf,
    data_dir: Option<PathBuf>,
    cgroups: CgroupDirs,
    own: OwnCpu,
    ticks_per_second: f64,
    clock: Box<dyn FnMut() -> Instant + Send>,
    previous_cpu: Option<CpuCounter>,
}

impl ProcSampler {
    /// Reads below `root` ("/" normally); watches the volume holding `data_dir` when given.
    /// Takes a first CPU reading at once so the first sample already has a CPU figure.
    pub fn new(root: impl Into<PathBuf>, data_dir: Option<PathBuf>) -> Self {
        Self::with_clock(root, data_dir, Instant::now)
    }

    /// As [`ProcSampler::new`], with the monotonic clock used for cgroup CPU deltas given.
    pub fn with_clock(
        root: impl Into<PathBuf>,
        data_dir: Option<PathBuf>,
        clock: impl FnMut() -> Instant + Send + 'static,
    ) -> Self {
        let root = root.into();
        let mut sampler = Self {
            cgroups: CgroupDirs::discover(&root),
            own: OwnCpu::new(&root, &[]),
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            root,
            data_dir,
            clock: Box::new(clock),
            previous_cpu: None,
        };
        sampler.previous_cpu = sampler.read_cpu_counter();
        sampler
    }

    /// Also counts the processes with these names (`/proc/PID/comm`, e.g. "ollama") as Alice's
    /// own CPU use, beside this process.
    pub fn counting_as_own(mut self, process_names: &[String]) -> Self {
        self.own = OwnCpu::new(&self.root, process_names);
        self.previous_cpu = self.read_cpu_counter();
        self
    }

    fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    fn read(&self, relative: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.path(relative)).ok()
    }

    /// A file of the process's unified (v2) group.
    fn read_unified(&self, file: &str) -> Option<String> {
        self.read(self.cgroups.unified.as_ref()?.join(file))
    }

    /// A file of the process's v1 memory group (hybrid systems).
    fn read_v1_memory(&self, file: &str) -> Option<String> {
        self.read(self.cgroups.v1_memory.as_ref()?.join(file))
    }

    /// Pressure of the group the process runs in when it is a group of its own (below the
    /// hierarchy's root, or a container's root with a `cpu.max`), else of the host.
    fn pressure(&self) -> Option<Pressure> {
        let own_group = self
            .cgroups
            .unified
            .as_ref()
            .filter(|_| self.cgroups.unified_is_child || self.cgroup_cpus().is_some());
        own_group
            .and_then(|dir| {
                self.pressure_from(|r| dir.join(format!("{r}.pressure")), Source::Cgroup)
            })
            .or_else(|| {
                self.pressure_from(
                    |r| PathBuf::from(format!("proc/pressure/{r}")),
                    Source::Host,
                )
            })
    }

    /// The three pressure files named by `file_of(resource)`; `None` when none can be read.
    fn pressure_from(&self, file_of: impl Fn(&str) -> PathBuf, source: Source) -> Option<Pressure> {
        let read = |resource| {
            self.read(file_of(resource))
                .as_deref()
                .and_then(pressure::parse)
        };
        let (cpu, memory, io) = (read("cpu"), read("memory"), read("io"));
        (cpu.is_some() || memory.is_some() || io.is_some()).then_some(Pressure {
            cpu,
            memory,
            io,
            source,
        })
    }

    /// The tighter of the group's memory limit and the host's memory: the one with fewer bytes
    /// left (a 512 MiB group on a roomy host is short of memory long before the host is).
    fn memory(&self) -> Option<MemoryReading> {
        let host = self.host_memory();
        match (self.cgroup_memory(), host) {
            (Some(group), Some(host)) if host.headroom() < group.headroom() => {
                Some(MemoryReading {
                    oom_kills: group.oom_kills,
                    ..host
                })
            }
            (Some(group), _) => Some(group),
            (None, host) => host,
        }
    }

    /// A memory-limited group's working set and limit: v2 first, then a v1 memory group.
    fn cgroup_memory(&self) -> Option<MemoryReading> {
        let number = |text: Option<String>| text?.trim().parse::<u64>().ok();
        if let (Some(max), Some(current)) = (
            number(self.read_unified("memory.max")),
            number(self.read_unified("memory.current")),
        ) && max > 0
        {
            let inactive = self
                .read_unified("memory.stat")
                .and_then(|stat| counter(&stat, "inactive_file"))
                .unwrap_or(0);
            return Some(MemoryReading {
                used: current.saturating_sub(inactive),
                total: max,
                source: Source::Cgroup,
                oom_kills: self
                    .read_unified("memory.events")
                    .and_then(|events| counter(&events, "oom_kill")),
            });
        }
        let limit = number(self.read_v1_memory("memory.limit_in_bytes"))?;
        let usage = number(self.read_v1_memory("memory.usage_in_bytes"))?;
        if limit == 0 || limit >= V1_UNLIMITED {
            return None;
        }
        let inactive = self.read_v1_memory("memory.stat").and_then(|stat| {
            counter(&stat, "total_inactive_file").or_else(|| counter(&stat, "inactive_file"))
        });
        Some(MemoryReading {
            used: usage.saturating_sub(inactive.unwrap_or(0)),
            total: limit,
            source: Source::Cgroup,
            oom_kills: self
                .read_v1_memory("memory.oom_control")
                .and_then(|control| counter(&control, "oom_kill")),
        })
    }

    fn host_memory(&self) -> Option<MemoryReading> {
        let meminfo = self.read("proc/meminfo")?;
        let field = |name: &str| -> Option<u64> {
            let line = meminfo.lines().find(|l| l.starts_with(name))?;
            let kib = line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            Some(kib * 1024)
        };
        let total = field("MemTotal:")?;
        let available = field("MemAvailable:")?;
        (total > 0).then(|| MemoryReading {
            used: total.saturating_sub(available),
            total,
            source: Source::Host,
            oom_kills: self
                .read("proc/vmstat")
                .and_then(|vmstat| counter(&vmstat, "oom_kill")),
        })
    }

    /// CPUs the cgroup may use: quota / period from `cpu.max`, or every CPU when it is "max".
    /// `None` when there is no `cpu.max` (not in a cgroup v2 child, e.g. on the host).
    fn cgroup_cpus(&self) -> Option<f64> {
        let max = self.read_unified("cpu.max")?;
        let mut parts = max.split_whitespace();
        let quota = parts.next()?;
        let period = parts.next().and_then(|p| p.parse::<f64>().ok())?;
        match quota {
            "max" => self.host_cpu_count().map(|n| n as f64),
            q => {
                let quota = q.parse::<f64>().ok()?;
                (period > 0.0 && quota > 0.0).then_some(quota / period)
            }
        }
    }

    fn host_cpu_count(&self) -> Option<usize> {
        let stat = self.read("proc/stat")?;
        let n = stat
            .lines()
            .filter(|l| {
                l.strip_prefix("cpu")
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count();
        (n > 0).then_some(n)
    }

    fn read_cpu_counter(&mut self) -> Option<CpuCounter> {
        let machine = self.read_machine_cpu()?;
        Some(CpuCounter {
            machine,
            own_ticks: self.own.ticks(),
        })
    }

    fn read_machine_cpu(&mut self) -> Option<MachineCpu> {
        if self.cgroup_cpus().is_some() {
            let stat = self.read_unified("cpu.stat")?;
            let usage_usec = counter(&stat, "usage_usec")?;
            let at = (self.clock)();
            return Some(MachineCpu::Cgroup { usage_usec, at });
        }
        let stat = self.read("proc/stat")?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
        // already inside user/nice, so only the first eight count.
        if values.len() < 4 {
            return None;
        }
        let counted = &values[..values.len().min(8)];
        let total: u64 = counted.iter().sum();
        let idle = values[3] + values.get(4).copied().unwrap_or(0);
        Some(MachineCpu::Host {
            busy: total.saturating_sub(idle),
            total,
        })
    }

    /// CPU use since the previous call: (fraction, source, own fraction). A window too short
    /// to measure (fewer than [`MIN_CPU_JIFFIES`] or [`MIN_CPU_WINDOW`]) gives no figure and
    /// keeps the old starting point: one busy jiffy out of one is "100 %", a false alarm.
    fn cpu(&mut self) -> Option<CpuFigure> {
        let now = self.read_cpu_counter();
        let before = std::mem::replace(&mut self.previous_cpu, now);
        let figure = self.cpu_between(before, now);
        if figure.is_none() {
            self.previous_cpu = before.or(now);
        }
        figure
    }

    fn cpu_between(
        &self,
        before: Option<CpuCounter>,
        now: Option<CpuCounter>,
    ) -> Option<CpuFigure> {
        let (before, now) = (before?, now?);
        let own_ticks = match (before.own_ticks, now.own_ticks) {
            (Some(b), Some(n)) => Some(n.saturating_sub(b) as f64),
            _ => None,
        };
        match (before.machine, now.machine) {
            (
                MachineCpu::Host {
                    busy: b0,
                    total: t0,
                },
                MachineCpu::Host {
                    busy: b1,
                    total: t1,
                },
            ) => {
                let total = t1.checked_sub(t0)?;
                if total < MIN_CPU_JIFFIES {
                    return None;
                }
                let busy = b1.saturating_sub(b0);
                // Jiffies and process ticks are both USER_HZ.
                Some(CpuFigure {
                    used: (busy as f64 / total as f64).clamp(0.0, 1.0),
                    source: Source::Host,
                    own: own_ticks.map(|own| (own / total as f64).clamp(0.0, 1.0)),
                })
            }
            (
                MachineCpu::Cgroup {
                    usage_usec: u0,
                    at: a0,
                },
                MachineCpu::Cgroup {
                    usage_usec: u1,
                    at: a1,
                },
            ) => {
                let elapsed = a1.checked_duration_since(a0)?;
                if elapsed < MIN_CPU_WINDOW {
                    return None;
                }
                let elapsed_usec = elapsed.as_micros() as f64;
                let cpus = self.cgroup_cpus()?;
                if elapsed_usec <= 0.0 || cpus <= 0.0 {
                    return None;
                }
                let capacity_usec = elapsed_usec * cpus;
                let used = u1.saturating_sub(u0) as f64;
                let usec_per_tick = 1e6 / self.ticks_per_second.max(1.0);
                Some(CpuFigure {
                    used: (used / capacity_usec).clamp(0.0, 1.0),
                    source: Source::Cgroup,
                    own: own_ticks.map(|own| (own * usec_per_tick / capacity_usec).clamp(0.0, 1.0)),
                })
            }
            // The process moved between a cgroup and the host between two readings.
            _ => None,
        }
    }

    fn disk(&self) -> Option<f64> {
        let dir = self.data_dir.as_deref()?;
        disk_fraction(dir)
    }

    fn temperature(&self) -> Option<f64> {
        let zones = std::fs::read_dir(self.path("sys/class/thermal")).ok()?;
        zones
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
            .filter_map(|e| std::fs::read_to_string(e.path().join("temp")).ok())
            .filter_map(|t| t.trim().parse::<f64>().ok())
            .map(|milli| milli / 1000.0)
            .reduce(f64::max)
    }
}

/// A CPU reading: the used fraction of the capacity, where it was read, and the part of it
/// that is Alice's own and the model server's.
#[derive(Clone, Copy, Debug)]
struct CpuFigure {
    used: f64,
    source: Source,
    own: Option<f64>,
}

/// The number after `name ` on a line of a `key value` file (cpu.stat, memory.stat,
/// memory.events, vmstat).
fn counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// The used fraction of the volume holding `dir`, as `df` computes it. While `dir` does not
/// exist yet, its nearest existing ancestor is measured (it will live on that volume).
pub fn disk_fraction(dir: &Path) -> Option<f64> {
    let existing = dir
        .ancestors()
        .find(|p| p.exists() && !p.as_os_str().is_empty());
    let target = existing.unwrap_or(Path::new("."));
    let stat = rustix::fs::statvfs(target).ok()?;
    let used = stat.f_blocks.saturating_sub(stat.f_bfree);
    let usable = used + stat.f_bavail;
    (usable > 0).then(|| used as f64 / usable as f64)
}

impl Sampler for ProcSampler {
    fn sample(&mut self) -> Sample {
        let memory = self.memory();
        let cpu = self.cpu();
        Sample {
            timestamp: Utc::now(),
            ram_pct: memory.map(|m| m.fraction()),
            cpu_pct: cpu.map(|c| c.used),
            disk_pct: self.disk(),
            temp_c: self.temperature(),
            ram_bytes_used: memory.map(|m| m.used),
            ram_bytes_total: memory.map(|m| m.total),
            ram_source: memory.map(|m| m.source),
            cpu_source: cpu.map(|c| c.source),
            cpu_own_pct: cpu.and_then(|c| c.own),
            oom_kills: memory.and_then(|m| m.oom_kills),
            pressure: self.pressure(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const MEMINFO: &str =
        "MemTotal:       8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    2000000 kB\n";

    fn stat(user: u64, idle: u64) -> String {
        format!(
            "cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1\n"
        )
    }

    /// A clock the test moves by hand.
    fn manual_clock() -> (
        Arc<Mutex<Instant>>,
        impl FnMut() -> Instant + Send + 'static,
    ) {
        let now = Arc::new(Mutex::new(Instant::now()));
        let shared = now.clone();
        (now, move || *shared.lock().unwrap())
    }

    #[test]
    fn host_ram_and_cpu_come_from_proc() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/meminfo", MEMINFO);
        write(dir.path(), "proc/stat", &stat(100, 900));
        let mut s = ProcSampler::new(dir.path(), None);
        // 60 busy of 100 jiffies since the first reading.
        write(dir.path(), "proc/stat", &stat(160, 940));
        let sample = s.sample();
        assert_eq!(sample.ram_source, Some(Source::Host));
        assert!((sample.ram_pct.unwrap() - 0.75).abs() < 1e-9);
        assert_eq!(sample.ram_bytes_total, Some(8_000_000 * 1024));
        assert_eq!(sample.ram_bytes_used, Some(6_000_000 * 1024));
        assert_eq!(sample.cpu_source, Some(Source::Host));
        assert!((sample.cpu_pct.unwrap() - 0.6).abs() < 1e-9);
        assert_eq!(sample.temp_c, None, "no thermal zones");
        assert_eq!(sample.disk_pct, None, "no data dir given");
    }

    #[test]
    fn unchanged_counters_are_unknown_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/stat", &stat(100, 900));
        let mut s = ProcSampler::new(dir.path(), None);
        let sample = s.sample();
        assert_eq!(sample.cpu_pct, None);
        assert_eq!(sample.ram_pct, None, "no meminfo");
    }

    #[test]
    fn a_window_too_short_to_measure_gives_no_figure_and_keeps_its_start() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/stat", &stat(100, 900));
        let mut s = ProcSampler::new(dir.path(), None);
        // One busy jiffy of one: "100 %" over a blink is noise, not load.
        write(dir.path(), "proc/stat", &stat(101, 900));
        assert_eq!(s.sample().cpu_pct, None);
        // The next figure covers the whole time since the first reading: 30 of 100.
        write(dir.path(), "proc/stat", &stat(130, 970));
        assert!((s.sample().cpu_pct.unwrap() - 0.3).abs() < 1e-9);
    }

    #[test]
    fn pressure_comes_from_the_cgroup_inside_one_and_from_the_host_outside() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/meminfo", MEMINFO);
        write(
            dir.path(),
            "proc/pressure/memory",
            "some avg10=1.00 avg60=0.50 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        );
        write(
            dir.path(),
            "proc/pressure/cpu",
            "some avg10=40.00 avg60=20.00 avg300=0.00 total=1\n",
        );
        let host = ProcSampler::new(dir.path(), None)
            .sample()
            .pressure
            .unwrap();
        assert_eq!(host.source, Source::Host);
        assert_eq!(host.cpu.unwrap().some.unwrap().avg10, 0.4);
        assert_eq!(host.memory.unwrap().some.unwrap().avg60, 0.005);
        assert_eq!(host.io, None, "no io file, no io reading");

        // In a cgroup v2 child its own pressure files win.
        write(dir.path(), "sys/fs/cgroup/cpu.max", "50000 100000\n");
        write(dir.path(), "sys/fs/cgroup/cpu.stat", "usage_usec 1\n");
        write(
            dir.path(),
            "sys/fs/cgroup/memory.pressure",
            "some avg10=30.00 avg60=10.00 avg300=0.00 total=1\nfull avg10=5.00 avg60=1.00 avg300=0.00 total=1\n",
        );
        let cgroup = ProcSampler::new(dir.path(), None)
            .sample()
            .pressure
            .unwrap();
        assert_eq!(cgroup.source, Source::Cgroup);
        assert_eq!(cgroup.memory.unwrap().full.unwrap().avg10, 0.05);
        assert_eq!(cgroup.cpu, None);
    }

    #[test]
    fn a_kernel_without_psi_gives_no_pressure() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/meminfo", MEMINFO);
        assert_eq!(ProcSampler::new(dir.path(), None).sample().pressure, None);
    }

    #[test]
    fn a_limited_cgroup_wins_over_the_host() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/meminfo", MEMINFO);
        write(dir.path(), "proc/stat", &stat(100, 900));
        write(dir.path(), "sys/fs/cgroup/memory.max", "1073741824\n");
        write(dir.path(), "sys/fs/cgroup/memory.current", "966367641\n");
        write(dir.path(), "sys/fs/cgroup/cpu.max", "50000 100000\n");
        write(
            dir.path(),
            "sys/fs/cgroup/cpu.stat",
            "usage_usec 1000000\nuser_usec 1\n",
        );
        let (now, clock) = manual_clock();
        let mut s = ProcSampler::with_clock(dir.path(), None, clock);
        // 0.4 s of CPU in 1 s against a quota of half a CPU: 80 %.
        *now.lock().unwrap() += Duration::from_secs(1);
        write(
            dir.path(),
            "sys/fs/cgroup/cpu.stat",
            "usage_usec 1400000\nuser_usec 1\n",
        );
        let sample = s.sample();
        assert_eq!(sample.ram_source, Some(Source::Cgroup));
        assert!((sample.ram_pct.unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(sample.ram_bytes_total, Some(1_073_741_824));
        assert_eq!(sample.cpu_source, Some(Source::Cgroup));
        assert!((sample.cpu_pct.unwrap() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn an_unlimited_cgroup_reads_host_ram_and_all_cpus() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "proc/meminfo", MEMINFO);
        write(dir.path(), "proc/stat", &stat(100, 900));
        write(dir.path(), "sys/fs/cgroup/memory.max", "max\n");
        write(dir.path(), "sys/fs/cgroup/memory.current", "1\n");
        write(dir.path(), "sys/fs/cgroup/cpu.max", "max 100000\n");
        write(dir.path(), "sys/fs/cgroup/cpu.stat", "usage_usec 0\n");
        let (now, clock) = manual_clock();
        let mut s = ProcSampler::with_clock(dir.path(), None, clock);
        // 1 s of CPU in 1 s on a 2-CPU machine: 50 %.
        *now.lock().unwrap() += Duration::from_secs(1);
        write(dir.path(), "sys/fs/cgroup/cpu.stat", "usage_usec 1000000\n");
        let sample = s.sample();
        assert_eq!(sample.ram_source, Some(Source::Host));
        assert!((sample.ram_pct.unwrap() - 0.75).abs() < 1e-9);
        assert_eq!(sample.cpu_source, Some(Source::Cgroup));
        assert!((sample.cpu_pct.unwrap() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn temperature_is_the_hottest_zone() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "sys/class/thermal/thermal_zone0/temp",
            "45000\n",
        );
        write(
            dir.path(),
            "sys/class/thermal/thermal_zone1/temp",
            "71500\n",
        );
        write(
            dir.path(),
            "sys/class/thermal/cooling_device0/temp",
            "99000\n",
        );
        let mut s = ProcSampler::new(dir.path(), None);
        assert_eq!(s.sample().temp_c, Some(71.5));
    }

    #[test]
    fn disk_is_measured_on_the_nearest_existing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/created");
        let mut s = ProcSampler::new(dir.path(), Some(missing));
        let disk = s.sample().disk_pct.unwrap();
        assert!((0.0..=1.0).contains(&disk), "{disk}");
    }

    #[test]
    fn the_real_machine_can_be_read() {
        let mut s = ProcSampler::new("/", Some(PathBuf::from(".")));
        std::thread::sleep(Duration::from_millis(50));
        let sample = s.sample();
        if Path::new("/proc/meminfo").exists() {
            let ram = sample.ram_pct.unwrap();
            assert!((0.0..=1.0).contains(&ram));
        }
        assert!(sample.disk_pct.is_some());
    }
}
