//! The `POST /v1/chat/completions` body: parsed (`alice_request::json::parse`) and planned
//! (`alice_request::openai::Plan::from_body`) under the default chat settings and tight ones.
//!
//! - no input panics, and every refusal names a field and says something;
//! - an accepted plan keeps OpenAI's rules and Alice's limits: the prompt ends with the user's
//!   message or a tool's result, holds at most one system message and only at the start, and fits the context
//!   window with the answer's tokens (by the estimate Alice plans with); the token limit is
//!   1 to `chat.max_tokens`, the temperature 0 to 2, and there are at most four stop
//!   sequences, none empty.
#![no_main]

use alice_core::Role;
use alice_core::config::ChatConfig;
use alice_request::context_budget::estimate_tokens;
use alice_request::openai::{CompletionBody, Plan};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SETTINGS: LazyLock<[ChatConfig; 2]> = LazyLock::new(|| {
    let tight = ChatConfig {
        num_ctx: 96,
        max_tokens: 32,
        max_message_chars: 64,
        system_prompt: String::new(),
        ..ChatConfig::default()
    };
    [ChatConfig::default(), tight]
});

fuzz_target!(|data: &[u8]| {
    for settings in SETTINGS.iter() {
        let body: CompletionBody = match alice_request::json::parse(data) {
            Ok(body) => body,
            Err(invalid) => {
                assert!(!invalid.field.is_empty() && !invalid.detail.is_empty());
                return;
            }
        };
        match Plan::from_body(body, settings) {
            Ok(plan) => check_plan(&plan, settings),
            Err(invalid) => {
                assert!(!invalid.field.is_empty() && !invalid.detail.is_empty());
            }
        }
    }
});

fn check_plan(plan: &Plan, settings: &ChatConfig) {
    let Some(last) = plan.prompt.last() else {
        panic!("an empty prompt was planned");
    };
    assert!(
        matches!(last.role, Role::User | Role::Tool),
        "the prompt ends with neither the user nor a tool's result"
    );
    let systems: Vec<usize> = (0..plan.prompt.len())
        .filter(|&i| plan.prompt[i].role == Role::System)
        .collect();
    assert!(
        systems.is_empty() || systems == [0],
        "system messages at {systems:?}"
    );
    assert!((1..=settings.max_tokens).contains(&plan.max_tokens));
    assert!((0.0..=2.0).contains(&plan.temperature));
    assert!(plan.stop.len() <= 4 && plan.stop.iter().all(|s| !s.is_empty()));
    let estimated: usize = plan.prompt.iter().map(estimate_tokens).sum();
    let available = (settings.num_ctx as usize).saturating_sub(plan.max_tokens as usize);
    assert!(
        estimated <= available,
        "{estimated} tokens planned, {available} available"
    );
}
