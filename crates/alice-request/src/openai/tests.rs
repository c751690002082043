#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use serde_json::json;

fn settings() -> ChatConfig {
    ChatConfig::default()
}

fn plan(body: Value) -> Result<Plan, Invalid> {
    let body: CompletionBody = serde_json::from_value(body).unwrap();
    Plan::from_body(body, &settings())
}

/// The refusal as OpenAI's error body shows it: param, message and code.
fn refused(body: Value) -> (String, String, &'static str) {
    let error = plan(body).unwrap_err();
    let param = if error.field == "body" {
        String::new()
    } else {
        error.field.clone()
    };
    let message = format!("{}: {}", error.field, error.detail);
    (param, message, error.code.unwrap_or("invalid_input"))
}

#[test]
fn defaults_come_from_the_config_and_alices_prompt_is_used() {
    let plan =
        plan(json!({"model": "x", "messages": [{"role": "user", "content": "Hej"}]})).unwrap();
    assert_eq!(plan.max_tokens, 2048);
    assert_eq!(plan.temperature, 0.3);
    assert!(plan.stop.is_empty() && !plan.stream && !plan.include_usage);
    assert_eq!(plan.prompt.len(), 2);
    assert_eq!(plan.prompt[0].content, settings().system_prompt);
    assert_eq!(plan.prompt[1], ChatMessage::new(Role::User, "Hej"));
}

#[test]
fn client_system_messages_replace_alices_and_go_first() {
    let plan = plan(json!({"model": "x", "messages": [
        {"role": "user", "content": "a"},
        {"role": "system", "content": "S1"},
        {"role": "assistant", "content": "b"},
        {"role": "developer", "content": "S2"},
        {"role": "user", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]},
    ]}))
    .unwrap();
    let roles: Vec<Role> = plan.prompt.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::User]
    );
    assert_eq!(plan.prompt[0].content, "S1\n\nS2");
    assert_eq!(plan.prompt[3].content, "c\nd");
}

#[test]
fn token_limits_are_capped_and_the_newer_name_wins() {
    let body = |extra: Value| {
        let mut body = json!({"model": "x", "messages": [{"role": "user", "content": "Hej"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    assert_eq!(plan(body(json!({"max_tokens": 3}))).unwrap().max_tokens, 3);
    assert_eq!(
        plan(body(json!({"max_tokens": 99999}))).unwrap().max_tokens,
        2048
    );
    assert_eq!(
        plan(body(json!({"max_tokens": 3, "max_completion_tokens": 5})))
            .unwrap()
            .max_tokens,
        5
    );
    assert_eq!(refused(body(json!({"max_tokens": 0}))).0, "max_tokens");
    assert_eq!(refused(body(json!({"temperature": 2.5}))).0, "temperature");
    assert_eq!(
        plan(body(json!({"stop": ["a", "", "b"]}))).unwrap().stop,
        ["a", "b"]
    );
    assert_eq!(plan(body(json!({"stop": "x"}))).unwrap().stop, ["x"]);
    assert_eq!(
        refused(body(json!({"stop": ["1", "2", "3", "4", "5"]}))).0,
        "stop"
    );
    assert_eq!(refused(body(json!({"stop": [1]}))).0, "stop");
    let (param, _, code) = refused(body(json!({"n": 2})));
    assert_eq!((param.as_str(), code), ("n", "unsupported_value"));
    assert!(plan(body(json!({"n": 1, "tools": [], "tool_choice": "none"}))).is_ok());
    assert_eq!(
        refused(body(json!({"tool_choice": "auto"}))).0,
        "tool_choice"
    );
    let (param, message, code) = refused(body(json!({"tools": [{"type": "function"}]})));
    assert_eq!((param.as_str(), code), ("tools", "unsupported_parameter"));
    assert!(message.contains("tools are not supported yet"), "{message}");
}

#[test]
fn messages_are_checked() {
    let one = |message: Value| refused(json!({"model": "x", "messages": [message]}));
    assert_eq!(refused(json!({"model": "x", "messages": []})).0, "messages");
    let (param, message, code) = one(json!({"role": "user", "content": [
        {"type": "text", "text": "Vad är detta?"},
        {"type": "image_url", "image_url": {"url": "data:..."}},
    ]}));
    assert_eq!(param, "messages[0].content");
    assert_eq!(code, "unsupported_value");
    assert!(message.contains("image_url"), "{message}");
    assert_eq!(one(json!({"role": "user"})).0, "messages[0].content");
    assert_eq!(
        one(json!({"role": "user", "content": 5})).0,
        "messages[0].content"
    );
    assert_eq!(
        one(json!({"role": "robot", "content": "x"})).0,
        "messages[0].role"
    );
    assert_eq!(
        one(json!({"role": "tool", "content": "x"})).2,
        "unsupported_value"
    );
    assert_eq!(
        one(json!({"role": "assistant", "content": "x"})).0,
        "messages[0].role"
    );
}

#[test]
fn a_prompt_that_cannot_fit_is_context_length_exceeded_and_history_is_trimmed() {
    let big = "ord ".repeat(2200);
    let (param, _, code) =
        refused(json!({"model": "x", "messages": [{"role": "user", "content": big}]}));
    assert_eq!(
        (param.as_str(), code),
        ("messages", "context_length_exceeded")
    );

    let mut messages: Vec<Value> = (0..12)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "x".repeat(2000)}))
        .collect();
    messages.push(json!({"role": "user", "content": "Hej"}));
    let plan = plan(json!({"model": "x", "messages": messages})).unwrap();
    assert!(plan.dropped > 0);
    assert_eq!(plan.prompt.len() + plan.dropped, 14);
    assert_eq!(plan.prompt.last().unwrap().content, "Hej");

    let (param, message, _) = refused(json!({"model": "x", "messages": [
        {"role": "system", "content": "x".repeat(20000)},
        {"role": "user", "content": "x".repeat(20000)},
    ]}));
    assert_eq!(param, "messages");
    assert!(message.contains("32000"), "{message}");
}
