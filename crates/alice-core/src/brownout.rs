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

impl BrownoutLevel {
    /// The level's name as the API and the config spell it (`"MODERATE"`), for log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            BrownoutLevel::None => "NONE",
            BrownoutLevel::Light => "LIGHT",
            BrownoutLevel::Moderate => "MODERATE",
            BrownoutLevel::Heavy => "HEAVY",
            BrownoutLevel::Emergency => "EMERGENCY",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_spelled_as_in_the_api() {
        for level in [
            BrownoutLevel::None,
            BrownoutLevel::Light,
            BrownoutLevel::Moderate,
            BrownoutLevel::Heavy,
            BrownoutLevel::Emergency,
        ] {
            let name =
                serde::de::value::StrDeserializer::<serde::de::value::Error>::new(level.as_str());
            assert_eq!(BrownoutLevel::deserialize(name).unwrap(), level);
        }
    }
}
