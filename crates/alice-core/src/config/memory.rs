//! `[memory]`: personal memories, stored on "kom ihåg att …" and added to later prompts.

use super::checks::Problems;
use serde::{Deserialize, Serialize};

/// Personal memories: "kom ihåg att …" stores one, later requests get the relevant ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Whether "kom ihåg" / "glöm" are acted on and memories are added to prompts.
    pub enabled: bool,
    /// Whether a memory may keep a Swedish personal identity number; when false it is masked
    /// before the memory is stored.
    pub allow_personal_numbers: bool,
    /// Longest memory, in characters.
    pub max_chars: usize,
    /// Most memories one user may have.
    pub max_per_user: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_personal_numbers: false,
            max_chars: 1000,
            max_per_user: 1000,
        }
    }
}

impl MemoryConfig {
    /// Every problem with the values, each named by its key (`memory.max_chars: ...`); empty
    /// when the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        problems.check(
            self.max_chars >= 10,
            "memory.max_chars",
            "must be at least 10",
        );
        problems.into_list()
    }
}
