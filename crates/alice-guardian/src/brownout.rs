//! Brownout presets: what a degraded answer looks like at each level.
//!
//! The original Guardian's brownout changed nothing; here a level is a concrete [`Preset`] the
//! chat service applies to the request (history kept, memory top_k, max tokens, temperature,
//! model, system prompt, tools). The table is `seed-behaviours.md`'s "Brownout presets":
//!
//! | level | history msgs | RAG top_k | max tokens | temperature | model | prompt | tools off |
//! |---|---|---|---|---|---|---|---|
//! | NONE | 8 | 8 | 4096 | 0.7 | primary | normal | - |
//! | LIGHT | 6 | 6 | 2048 | 0.6 | primary | normal | code_interpreter |
//! | MODERATE | 3 | 3 | 1024 | 0.5 | smaller | short (<= 50 ord) | + file_search, web_search |
//! | HEAVY | 2 | 2 | 512 | 0.3 | smaller | short | + calendar, email |
//! | EMERGENCY | 2 | 2 | 256 | 0.3 | smallest | short | as HEAVY |
//!
//! Which level a Guardian state serves:
//!
//! | state | level |
//! |---|---|
//! | NORMAL | NONE |
//! | BROWNOUT | `guardian.brownout_level` (default MODERATE: the spec's brownout prompt lives there) |
//! | DEGRADED | HEAVY (what still passes the gate is served as cheaply as possible) |
//! | EMERGENCY, LOCKDOWN | EMERGENCY (only what the gate lets through, e.g. control actions) |
//!
//! A manual brownout (Brain API) is a floor: the served level is the heavier of the manual one
//! and the state's, so an operator can make answers cheaper but never override the Guardian
//! into serving full answers on an overloaded machine.

use crate::state::GuardianState;
use serde::Serialize;

pub use alice_core::BrownoutLevel;

/// Which configured model serves a level; the chat service maps these to model names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelChoice {
    Primary,
    Smaller,
    Smallest,
}

/// The system prompt outside brownout.
pub const NORMAL_PROMPT: &str =
    "Du är Alice, en hjälpsam svensk AI-assistent. Svara kort och vänligt på svenska.";
/// The short-answer system prompt of MODERATE and heavier levels.
pub const BROWNOUT_PROMPT: &str =
    "Du är Alice. Svara MYCKET kort och koncist på svenska (max 50 ord).";

const TOOLS_OFF_LIGHT: &[&str] = &["code_interpreter"];
const TOOLS_OFF_MODERATE: &[&str] = &["code_interpreter", "file_search", "web_search"];
const TOOLS_OFF_HEAVY: &[&str] = &[
    "code_interpreter",
    "file_search",
    "web_search",
    "calendar",
    "email",
];

/// The settings a request is served with at one level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Preset {
    pub level: BrownoutLevel,
    /// Most history/context messages sent to the model.
    pub history_messages: usize,
    /// Memories (RAG hits) added to the prompt.
    pub rag_top_k: usize,
    pub max_tokens: u32,
    pub temperature: f32,
    pub model: ModelChoice,
    pub system_prompt: &'static str,
    /// Tools that may not be used at this level.
    pub tools_off: &'static [&'static str],
}

impl Preset {
    /// Whether `tool` may be used at this level.
    pub fn allows_tool(&self, tool: &str) -> bool {
        !self.tools_off.contains(&tool)
    }
}

/// The level's row of the preset table.
pub const fn preset(level: BrownoutLevel) -> Preset {
    let (history_messages, max_tokens, temperature, model, system_prompt, tools_off) = match level {
        BrownoutLevel::None => (
            8,
            4096,
            0.7,
            ModelChoice::Primary,
            NORMAL_PROMPT,
            &[] as &[&str],
        ),
        BrownoutLevel::Light => (
            6,
            2048,
            0.6,
            ModelChoice::Primary,
            NORMAL_PROMPT,
            TOOLS_OFF_LIGHT,
        ),
        BrownoutLevel::Moderate => (
            3,
            1024,
            0.5,
            ModelChoice::Smaller,
            BROWNOUT_PROMPT,
            TOOLS_OFF_MODERATE,
        ),
        BrownoutLevel::Heavy => (
            2,
            512,
            0.3,
            ModelChoice::Smaller,
            BROWNOUT_PROMPT,
            TOOLS_OFF_HEAVY,
        ),
        BrownoutLevel::Emergency => (
            2,
            256,
            0.3,
            ModelChoice::Smallest,
            BROWNOUT_PROMPT,
            TOOLS_OFF_HEAVY,
        ),
    };
    Preset {
        level,
        history_messages,
        // The spec's table keeps RAG top_k equal to the history count at every level.
        rag_top_k: history_messages,
        max_tokens,
        temperature,
        model,
        system_prompt,
        tools_off,
    }
}

/// A brownout an operator switched on through the Brain API.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ManualBrownout {
    pub level: BrownoutLevel,
    pub reason: String,
    /// When it was switched on.
    #[serde(skip)]
    pub since: tokio::time::Instant,
}

/// The level a state serves by itself (see the table in the module doc).
pub fn level_for_state(state: GuardianState, brownout_level: BrownoutLevel) -> BrownoutLevel {
    match state {
        GuardianState::Normal => BrownoutLevel::None,
        GuardianState::Brownout => brownout_level,
        GuardianState::Degraded => BrownoutLevel::Heavy,
        GuardianState::Emergency | GuardianState::Lockdown => BrownoutLevel::Emergency,
    }
}

/// The level served: the heavier of the state's and a manual brownout's.
pub fn effective_level(
    state: GuardianState,
    brownout_level: BrownoutLevel,
    manual: Option<BrownoutLevel>,
) -> BrownoutLevel {
    let automatic = level_for_state(state, brownout_level);
    manual.map_or(automatic, |m| m.max(automatic))
}

/// The preset served: see [`effective_level`].
pub fn preset_for(
    state: GuardianState,
    brownout_level: BrownoutLevel,
    manual: Option<BrownoutLevel>,
) -> Preset {
    preset(effective_level(state, brownout_level, manual))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_table_matches_the_spec() {
        let rows: Vec<_> = [
            BrownoutLevel::None,
            BrownoutLevel::Light,
            BrownoutLevel::Moderate,
            BrownoutLevel::Heavy,
            BrownoutLevel::Emergency,
        ]
        .into_iter()
        .map(|l| {
            let p = preset(l);
            (p.history_messages, p.rag_top_k, p.max_tokens, p.temperature)
        })
        .collect();
        assert_eq!(
            rows,
            vec![
                (8, 8, 4096, 0.7),
                (6, 6, 2048, 0.6),
                (3, 3, 1024, 0.5),
                (2, 2, 512, 0.3),
                (2, 2, 256, 0.3)
            ]
        );
        assert_eq!(preset(BrownoutLevel::Moderate).model, ModelChoice::Smaller);
        assert_eq!(
            preset(BrownoutLevel::Emergency).model,
            ModelChoice::Smallest
        );
        assert_eq!(preset(BrownoutLevel::Light).system_prompt, NORMAL_PROMPT);
        assert!(
            preset(BrownoutLevel::Moderate)
                .system_prompt
                .contains("max 50 ord")
        );
    }

    #[test]
    fn tools_are_switched_off_cumulatively() {
        assert!(preset(BrownoutLevel::None).allows_tool("code_interpreter"));
        assert!(!preset(BrownoutLevel::Light).allows_tool("code_interpreter"));
        assert!(preset(BrownoutLevel::Light).allows_tool("web_search"));
        assert!(!preset(BrownoutLevel::Moderate).allows_tool("web_search"));
        assert!(preset(BrownoutLevel::Moderate).allows_tool("email"));
        assert!(!preset(BrownoutLevel::Heavy).allows_tool("email"));
        assert!(!preset(BrownoutLevel::Heavy).allows_tool("code_interpreter"));
    }

    #[test]
    fn states_map_to_levels_and_manual_is_a_floor() {
        let m = BrownoutLevel::Moderate;
        assert_eq!(
            preset_for(GuardianState::Normal, m, None).level,
            BrownoutLevel::None
        );
        assert_eq!(preset_for(GuardianState::Brownout, m, None).level, m);
        assert_eq!(
            preset_for(GuardianState::Degraded, m, None).level,
            BrownoutLevel::Heavy
        );
        assert_eq!(
            preset_for(GuardianState::Lockdown, m, None).level,
            BrownoutLevel::Emergency
        );
        assert_eq!(
            preset_for(GuardianState::Normal, m, Some(BrownoutLevel::Light)).level,
            BrownoutLevel::Light
        );
        assert_eq!(
            preset_for(GuardianState::Degraded, m, Some(BrownoutLevel::Light)).level,
            BrownoutLevel::Heavy,
            "a manual level never lightens what the state demands"
        );
        assert_eq!(
            serde_json::to_value(BrownoutLevel::Moderate).unwrap(),
            "MODERATE"
        );
    }
}
