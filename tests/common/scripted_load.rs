//! A machine whose RAM and CPU readings a test sets, for the Guardian inside Alice
//! (`alice_server::start_with_sampler`). Pressure stall figures, which no trigger reads, are
//! the real machine's, so the dashboard shows them as in production.

use alice_guardian::{ProcSampler, Sample, Sampler};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ScriptedLoad(Arc<Mutex<(f64, f64)>>);

impl ScriptedLoad {
    /// RAM and CPU use as fractions (0.4 = 40 %).
    pub fn new(ram: f64, cpu: f64) -> Self {
        Self(Arc::new(Mutex::new((ram, cpu))))
    }

    pub fn set(&self, ram: f64, cpu: f64) {
        *self.0.lock().unwrap() = (ram, cpu);
    }
}

impl Sampler for ScriptedLoad {
    fn sample(&mut self) -> Sample {
        let (ram, cpu) = *self.0.lock().unwrap();
        Sample {
            pressure: ProcSampler::new("/", None).sample().pressure,
            ..Sample::ram_cpu(ram, cpu)
        }
    }
}
