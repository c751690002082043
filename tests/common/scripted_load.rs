//! A machine whose RAM and CPU readings a test sets, for the Guardian inside Alice
//! (`alice_server::start_with_sampler`). By default it reports no pressure stall information,
//! so the Guardian judges the scripted CPU use (as on a kernel without PSI); a page test can ask
//! for fixed, calm pressure figures for the dashboard to show.

use alice_guardian::pressure::{Pressure, ResourcePressure, Stall};
use alice_guardian::sampler::Source;
use alice_guardian::{Sample, Sampler};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ScriptedLoad {
    readings: Arc<Mutex<(f64, f64)>>,
    pressure: Option<Pressure>,
}

impl ScriptedLoad {
    /// RAM and CPU use as fractions (0.4 = 40 %).
    pub fn new(ram: f64, cpu: f64) -> Self {
        Self {
            readings: Arc::new(Mutex::new((ram, cpu))),
            pressure: None,
        }
    }

    /// As [`ScriptedLoad::new`], with pressure figures well below every trigger: CPU 12 %,
    /// memory 0 %, I/O 3 % (`some`, avg10).
    pub fn with_calm_pressure(ram: f64, cpu: f64) -> Self {
        let some = |avg10| ResourcePressure {
            some: Some(Stall {
                avg10,
                avg60: avg10,
            }),
            full: Some(Stall {
                avg10: 0.0,
                avg60: 0.0,
            }),
        };
        Self {
            pressure: Some(Pressure {
                cpu: Some(some(0.12)),
                memory: Some(some(0.0)),
                io: Some(some(0.03)),
                source: Source::Host,
            }),
            ..Self::new(ram, cpu)
        }
    }

    pub fn set(&self, ram: f64, cpu: f64) {
        *self.readings.lock().unwrap() = (ram, cpu);
    }
}

impl Sampler for ScriptedLoad {
    fn sample(&mut self) -> Sample {
        let (ram, cpu) = *self.readings.lock().unwrap();
        Sample {
            pressure: self.pressure.clone(),
            ..Sample::ram_cpu(ram, cpu)
        }
    }
}
