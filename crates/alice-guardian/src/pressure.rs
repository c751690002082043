//! Linux pressure stall information (PSI): the share of time tasks waited for a CPU, for memory
//! or for I/O, over the last 10 and 60 seconds. Unlike "the CPU is busy", pressure says that
//! work is being held up: a machine whose cores are busy with Alice's own model shows little
//! CPU pressure, while one where a build competes for the cores shows a lot; memory pressure
//! comes before an OOM kill. Read from the cgroup's `{cpu,memory,io}.pressure` inside a cgroup
//! v2 child, else from `/proc/pressure/`. Kernels without PSI (before 4.20, or booted with
//! `psi=0`) have neither, and the reading is `None`.
//!
//! These readings are shown (status JSON, dashboard); the Guardian's triggers do not use them
//! yet.

use crate::sampler::Source;
use serde::{Deserialize, Serialize};

/// Time stalled, as fractions 0-1 (the kernel writes percent).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub avg10: f64,
    pub avg60: f64,
}

/// One resource's pressure: `some` (at least one task stalled) and `full` (all non-idle tasks
/// stalled at once; the kernel reports it for memory and I/O, and for CPU only in a cgroup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourcePressure {
    pub some: Option<Stall>,
    pub full: Option<Stall>,
}

/// The three resources' pressure, and where it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub cpu: Option<ResourcePressure>,
    pub memory: Option<ResourcePressure>,
    pub io: Option<ResourcePressure>,
    pub source: Source,
}

/// Parses a pressure file: lines like `some avg10=1.53 avg60=0.87 avg300=0.30 total=123`.
/// `None` when neither line can be read.
pub fn parse(text: &str) -> Option<ResourcePressure> {
    let mut pressure = ResourcePressure::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let mut avg10 = None;
        let mut avg60 = None;
        for word in words {
            match word.split_once('=') {
                Some(("avg10", value)) => avg10 = value.parse::<f64>().ok(),
                Some(("avg60", value)) => avg60 = value.parse::<f64>().ok(),
                _ => {}
            }
        }
        let stall = match (avg10, avg60) {
            (Some(avg10), Some(avg60))
                if (0.0..=100.0).contains(&avg10) && (0.0..=100.0).contains(&avg60) =>
            {
                Some(Stall {
                    avg10: fraction(avg10),
                    avg60: fraction(avg60),
                })
            }
            _ => None,
        };
        match kind {
            Some("some") => pressure.some = stall,
            Some("full") => pressure.full = stall,
            _ => {}
        }
    }
    (pressure.some.is_some() || pressure.full.is_some()).then_some(pressure)
}

/// Percent with the kernel's two decimals as a fraction, without float noise (0.45 → 0.0045).
fn fraction(percent: f64) -> f64 {
    (percent * 100.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_lines_are_read_as_fractions() {
        let text = "some avg10=12.50 avg60=3.00 avg300=1.00 total=2513962\n\
                    full avg10=0.40 avg60=0.10 avg300=0.00 total=1288013\n";
        let pressure = parse(text).unwrap();
        assert_eq!(
            pressure.some,
            Some(Stall {
                avg10: 0.125,
                avg60: 0.03
            })
        );
        assert_eq!(
            pressure.full,
            Some(Stall {
                avg10: 0.004,
                avg60: 0.001
            })
        );
    }

    #[test]
    fn the_hosts_cpu_file_has_only_some() {
        let pressure = parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert!(pressure.some.is_some());
        assert_eq!(pressure.full, None);
    }

    #[test]
    fn nonsense_is_no_reading() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("some avg10=abc avg60=1\n"), None);
        assert_eq!(parse("some avg10=250 avg60=1\n"), None);
        assert_eq!(parse("hello world\n"), None);
    }
}
