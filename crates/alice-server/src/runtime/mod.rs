//! Background work that runs beside the HTTP server: the Guardian this process obeys (its own,
//! or a daemon it follows) and its emergency action, the latency brownout, the database's
//! housekeeping, the timer bell, the A/B experiments (their states, outcomes and guard rail), and the choice
//! of a backend when none is configured.

pub mod backend_choice;
pub mod emergency;
pub mod experiments;
pub mod guardian_link;
pub mod guardian_remote;
pub mod housekeeping;
pub mod latency_brownout;
pub mod timers;
