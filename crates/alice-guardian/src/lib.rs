//! Alice's Guardian: it watches the machine's RAM, CPU, disk and temperature and turns them into
//! a protection state (NORMAL, BROWNOUT, DEGRADED, EMERGENCY, LOCKDOWN) that the admission gate
//! and the chat service read.
//!
//! - [`sampler`]: the readings, from /proc, /sys and the process's cgroup (behind the
//!   [`Sampler`] trait);
//! - [`cgroup`]: which cgroup directories hold this process;
//! - [`own_cpu`]: the CPU time of Alice itself and the local model server, which is not danger;
//! - [`pressure`]: Linux pressure stall information, one of the readings;
//! - [`state`]: the state machine with its window, hysteresis, flap detection and kill limits;
//! - [`brownout`]: what a degraded answer looks like at each level;
//! - [`latency`]: the brownout level this Alice's own time to first token and queue wait ask
//!   for;
//! - [`status`]: the status JSON of the spec;
//! - [`guardian`]: the background task that ties them together and publishes the state.

pub mod brownout;
pub mod cgroup;
pub mod config;
pub mod guardian;
pub mod latency;
pub mod own_cpu;
pub mod pressure;
pub mod sampler;
pub mod state;
pub mod status;

pub use brownout::{BrownoutLevel, Preset};
pub use config::GuardianConfig;
pub use guardian::{Guardian, GuardianEvent, Snapshot};
pub use latency::{LatencyChange, LatencyController, LatencyView};
pub use sampler::{ProcSampler, Sample, Sampler};
pub use state::{GuardianState, Outcome, OverrideError, Reason, StateMachine, Transition};
pub use status::GuardianStatus;
