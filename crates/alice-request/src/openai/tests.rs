#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use alice_core::{ToolChoice, ToolSpec};
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
    let plain = plan(body(json!({"n": 1, "tools": [], "tool_choice": "none"}))).unwrap();
    assert!(plain.tools.is_empty() && plain.tool_choice.is_none());
    assert!(plan(body(json!({"tools": null, "tool_choice": "auto"}))).is_ok());
    let (param, message, code) = refused(body(json!({"functions": [{"name": "f"}]})));
    assert_eq!(
        (param.as_str(), code),
        ("functions", "unsupported_parameter")
    );
    assert!(message.contains("send the functions as tools"), "{message}");
    assert_eq!(
        refused(body(json!({"function_call": "auto"}))).0,
        "function_call"
    );
}

fn with(extra: Value) -> Value {
    let mut body = json!({"model": "x", "messages": [{"role": "user", "content": "Vädret?"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "weather", "description": "Vädret",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
}

#[test]
fn tools_and_tool_choice_are_checked_and_passed_on() {
    let planned = plan(with(
        json!({"tools": [weather_tool()], "tool_choice": "required"}),
    ))
    .unwrap();
    assert_eq!(
        planned.tools,
        [ToolSpec {
            name: "weather".into(),
            description: "Vädret".into(),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }]
    );
    assert_eq!(planned.tool_choice, Some(ToolChoice::Required));
    let named = json!({"type": "function", "function": {"name": "weather"}});
    assert_eq!(
        plan(with(
            json!({"tools": [weather_tool()], "tool_choice": named})
        ))
        .unwrap()
        .tool_choice,
        Some(ToolChoice::Function("weather".into()))
    );
    let other = json!({"type": "function", "function": {"name": "clock"}});
    assert_eq!(
        refused(with(
            json!({"tools": [weather_tool()], "tool_choice": other})
        ))
        .0,
        "tool_choice"
    );
    assert_eq!(
        refused(with(json!({"tool_choice": "required"}))).0,
        "tool_choice"
    );
    assert_eq!(
        refused(with(
            json!({"tools": [weather_tool()], "tool_choice": "sometimes"})
        ))
        .0,
        "tool_choice"
    );
    assert_eq!(
        refused(with(json!({"tools": [weather_tool(), weather_tool()]}))).0,
        "tools[1].function.name"
    );
    assert_eq!(
        refused(with(
            json!({"tools": [{"type": "function", "function": {"name": "väder"}}]})
        ))
        .0,
        "tools[0].function.name"
    );
    let (param, _, code) = refused(with(
        json!({"tools": [{"type": "web_search", "function": {"name": "w"}}]}),
    ));
    assert_eq!(
        (param.as_str(), code),
        ("tools[0].type", "unsupported_value")
    );
}

#[test]
fn a_tool_round_keeps_the_calls_and_results_after_the_question() {
    let plan = plan(with(json!({
        "tools": [weather_tool()],
        "messages": [
            {"role": "user", "content": "Förra frågan"},
            {"role": "assistant", "content": "Förra svaret"},
            {"role": "user", "content": "Vädret i Umeå?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\":\"Umeå\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Snö, -8"},
        ]
    })))
    .unwrap();
    let roles: Vec<Role> = plan.prompt.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::Tool
        ]
    );
    assert_eq!(
        plan.prompt[4],
        ChatMessage::tool_calls(
            "",
            vec![alice_core::ToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                arguments: r#"{"city":"Umeå"}"#.into(),
            }]
        )
    );
    assert_eq!(
        plan.prompt[5],
        ChatMessage::tool_result("call_1", "Snö, -8")
    );
}

#[test]
fn tool_messages_are_checked() {
    let call = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]});
    let messages = |rest: Vec<Value>| {
        let mut all = vec![json!({"role": "user", "content": "Vädret?"})];
        all.extend(rest);
        refused(with(json!({"messages": all})))
    };
    assert_eq!(
        messages(vec![
            call.clone(),
            json!({"role": "tool", "content": "Snö"})
        ])
        .0,
        "messages[2].tool_call_id"
    );
    assert_eq!(
        messages(vec![
            json!({"role": "tool", "tool_call_id": "call_1", "content": "Snö"})
        ])
        .0,
        "messages[1].role"
    );
    assert_eq!(messages(vec![call.clone()]).0, "messages[1].role");
    let user_calls = json!({"role": "user", "content": "x", "tool_calls": [
        {"id": "c", "function": {"name": "f"}}]});
    assert_eq!(messages(vec![user_calls]).0, "messages[1].tool_calls");
    let nameless = json!({"role": "assistant", "tool_calls": [
        {"id": "c", "function": {"name": ""}}]});
    assert_eq!(
        messages(vec![nameless]).0,
        "messages[1].tool_calls[0].function.name"
    );
}

#[test]
fn history_trimmed_in_a_tool_round_leaves_no_result_without_its_call() {
    let call = |id: &str| {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": "weather", "arguments": "{}"}}]})
    };
    let mut prompt = plan(with(json!({"messages": [
        {"role": "user", "content": "a"},
        call("c1"),
        {"role": "tool", "tool_call_id": "c1", "content": "r1"},
        {"role": "assistant", "content": "svar"},
        {"role": "user", "content": "b"},
        call("c2"),
        {"role": "tool", "tool_call_id": "c2", "content": "r2"},
    ]})))
    .unwrap()
    .prompt;
    // Two messages of history kept would start at the first round's result.
    let dropped = crate::context_budget::keep_recent(&mut prompt, 2);
    let roles: Vec<Role> = prompt.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::Tool
        ]
    );
    assert_eq!(dropped, 3);
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
        one(json!({"role": "function", "content": "x"})).2,
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
