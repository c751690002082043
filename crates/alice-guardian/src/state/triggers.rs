//! The three conditions each step evaluates (the module doc of [`super`] lists them): a hard
//! trigger on one sample, a soft trigger over the full window, and calm.

use super::StateMachine;
use super::signals::{self, CpuSignal, Judged};
use crate::sampler::{Sample, Source};

/// A soft trigger that holds: what it is, and whether it may escalate past BROWNOUT.
#[derive(Clone, Debug)]
pub(super) struct Soft {
    pub(super) detail: String,
    pub(super) escalates: bool,
}

impl StateMachine {
    pub(super) fn hard_trigger(&self, s: &Sample) -> Option<String> {
        let c = &self.config;
        let checks = [
            ("ram", s.ram_pct, c.hard_ram),
            ("cpu", signals::hard_cpu_figure(s, c), c.hard_cpu),
            (
                "memory pressure full",
                signals::memory_full(s, c),
                c.hard_memory_pressure,
            ),
            ("disk", s.disk_pct, c.hard_disk),
            ("temp_c", s.temp_c, c.hard_temp_c),
        ];
        let mut hits: Vec<String> = checks
            .iter()
            .filter_map(|(name, value, limit)| {
                value
                    .filter(|v| v >= limit)
                    .map(|v| format!("{name} {v:.2} >= {limit:.2}"))
            })
            .collect();
        if let (Some(before), Some(now)) = (self.oom_kills_seen, s.oom_kills)
            && now > before
        {
            let place = match s.ram_source {
                Some(Source::Cgroup) => "Alice's cgroup",
                _ => "this machine",
            };
            hits.push(format!("{} new oom kill(s) in {place}", now - before));
        }
        (!hits.is_empty()).then(|| hits.join(", "))
    }

    pub(super) fn soft_trigger(&self) -> Option<Soft> {
        if !self.window_full() {
            return None;
        }
        let c = &self.config;
        let n = c.window;
        let all = |test: &dyn Fn(&Judged) -> bool| self.window.iter().all(test);
        let mut escalating = Vec::new();
        let mut brownout_only = Vec::new();
        if all(&|j| j.ram >= c.soft_ram) {
            escalating.push(format!("ram >= {:.2} in {n} samples", c.soft_ram));
        }
        if all(&|j| j.cpu >= j.cpu_thresholds(c).0) {
            if all(&|j| j.cpu_signal == CpuSignal::Pressure) {
                brownout_only.push(format!(
                    "cpu pressure >= {:.2} in {n} samples",
                    c.soft_cpu_pressure
                ));
            } else {
                escalating.push(format!("cpu >= {:.2} in {n} samples", c.soft_cpu));
            }
        }
        if all(&|j| j.memory_some.is_some_and(|v| v >= c.soft_memory_pressure)) {
            escalating.push(format!(
                "memory pressure >= {:.2} in {n} samples",
                c.soft_memory_pressure
            ));
        }
        if all(&|j| j.io_full.is_some_and(|v| v >= c.soft_io_pressure)) {
            brownout_only.push(format!(
                "io pressure full >= {:.2} in {n} samples",
                c.soft_io_pressure
            ));
        }
        let escalates = !escalating.is_empty();
        escalating.extend(brownout_only);
        (!escalating.is_empty()).then(|| Soft {
            detail: escalating.join(", "),
            escalates,
        })
    }

    pub(super) fn calm(&self) -> bool {
        self.window_full() && self.window.iter().all(|j| j.calm(&self.config))
    }
}
