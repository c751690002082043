//! Brownout levels: how much Alice trims its answers while the machine is under pressure. The
//! levels are a domain type (config, the Guardian, the chat service and the API all name them);
//! what each level changes is the Guardian's preset table.

use serde::{Deserialize, Serialize};

/// The brownout levels, lightest first (the order is used to take the heavier of two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BrownoutLevel {
    None,
    Light,
    Moderate,
    Heavy,
    /// The spec's emergency row: what little is served under EMERGENCY or LOCKDOWN.
    Emergency,
}
