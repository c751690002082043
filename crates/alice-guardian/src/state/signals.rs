//! What the triggers read from one sample, under `guardian.signals`.
//!
//! With `auto` and a kernel that reports pressure stall information, CPU is judged by its
//! *pressure* (the share of time some task waited for a core): busy cores running Alice's own
//! model are the job being done, while pressure says that work is being held up, typically by
//! something else competing. Memory adds its pressure to the headroom figure (RAM use), and I/O
//! its `full` pressure. Without PSI, CPU is judged by use minus the share of Alice and the model
//! server ([`crate::own_cpu`]); with `usage`, by the whole use, as the seed did.

use crate::config::GuardianConfig;
use crate::sampler::Sample;
use alice_core::config::Signals;
use serde::Serialize;

/// How the CPU figure of a sample is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuSignal {
    /// CPU pressure (`some`, avg10).
    Pressure,
    /// CPU use minus Alice's own and the model server's (no PSI on this kernel).
    UseMinusOwn,
    /// The whole CPU use (`guardian.signals = "usage"`).
    Use,
}

/// The figures of one complete sample (RAM and CPU known) that the window keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judged {
    pub ram: f64,
    /// The whole CPU use, as measured (shown; judged only under [`CpuSignal::Use`]).
    pub cpu_use: f64,
    /// The CPU figure the triggers judge, and how it was made.
    pub cpu: f64,
    pub cpu_signal: CpuSignal,
    /// Memory pressure `some`, avg10, where PSI is read.
    pub memory_some: Option<f64>,
    /// I/O pressure `full`, avg10, where PSI is read.
    pub io_full: Option<f64>,
}

impl Judged {
    /// `None` when RAM or CPU use is unknown (the 3-strike rule counts those).
    pub fn of(sample: &Sample, config: &GuardianConfig) -> Option<Self> {
        let (ram, cpu_use) = (sample.ram_pct?, sample.cpu_pct?);
        let (cpu, cpu_signal) = cpu_figure(sample, config, cpu_use);
        let pressure = pressure_read(sample, config);
        Some(Self {
            ram,
            cpu_use,
            cpu,
            cpu_signal,
            memory_some: pressure
                .and_then(|p| p.memory)
                .and_then(|m| m.some)
                .map(|s| s.avg10),
            io_full: pressure
                .and_then(|p| p.io)
                .and_then(|io| io.full)
                .map(|s| s.avg10),
        })
    }

    /// The thresholds (soft, recover) the CPU figure is judged against.
    pub fn cpu_thresholds(&self, config: &GuardianConfig) -> (f64, f64) {
        match self.cpu_signal {
            CpuSignal::Pressure => (config.soft_cpu_pressure, config.recover_cpu_pressure),
            CpuSignal::UseMinusOwn | CpuSignal::Use => (config.soft_cpu, config.recover_cpu),
        }
    }

    /// Whether it is below every recovery threshold.
    pub fn calm(&self, config: &GuardianConfig) -> bool {
        let (_, recover_cpu) = self.cpu_thresholds(config);
        self.ram < config.recover_ram
            && self.cpu < recover_cpu
            && self
                .memory_some
                .is_none_or(|v| v < config.recover_memory_pressure)
            && self.io_full.is_none_or(|v| v < config.recover_io_pressure)
    }
}

/// The sample's pressure, when the rules read it.
fn pressure_read<'a>(
    sample: &'a Sample,
    config: &GuardianConfig,
) -> Option<&'a crate::pressure::Pressure> {
    match config.signals {
        Signals::Auto => sample.pressure.as_ref(),
        Signals::Usage => None,
    }
}

/// The CPU figure judged, and how it was made.
fn cpu_figure(sample: &Sample, config: &GuardianConfig, cpu_use: f64) -> (f64, CpuSignal) {
    if config.signals == Signals::Usage {
        return (cpu_use, CpuSignal::Use);
    }
    let pressure = pressure_read(sample, config)
        .and_then(|p| p.cpu)
        .and_then(|cpu| cpu.some);
    match pressure {
        Some(stall) => (stall.avg10, CpuSignal::Pressure),
        None => {
            let own = sample.cpu_own_pct.unwrap_or(0.0);
            ((cpu_use - own).max(0.0), CpuSignal::UseMinusOwn)
        }
    }
}

/// The hard CPU trigger's figure for one sample, even when RAM is unknown: CPU pressure never
/// triggers hard (contention slows answers, it does not endanger the machine), use does.
pub fn hard_cpu_figure(sample: &Sample, config: &GuardianConfig) -> Option<f64> {
    let cpu_use = sample.cpu_pct?;
    match cpu_figure(sample, config, cpu_use) {
        (_, CpuSignal::Pressure) => None,
        (figure, _) => Some(figure),
    }
}

/// Memory pressure `full`, avg10, for the hard trigger.
pub fn memory_full(sample: &Sample, config: &GuardianConfig) -> Option<f64> {
    pressure_read(sample, config)?
        .memory?
        .full
        .map(|stall| stall.avg10)
}
