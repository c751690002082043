//! The `tools` a request offers, in the shape Ollama's and OpenAI's chat APIs share:
//! `[{"type": "function", "function": {name, description, parameters}}]`. Each client sends its
//! own messages (the two protocols differ in how a call's arguments and a result's reference
//! look), but this part is the same, so it is written once.

use alice_core::ToolSpec;
use serde::Serialize;
use serde_json::Value;

/// One offered tool on the wire.
#[derive(Serialize)]
pub(crate) struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    /// Both servers want a schema object; a tool sent without one takes no arguments.
    parameters: &'a Value,
}

/// The schema of a tool that takes no arguments.
static NO_PARAMETERS: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| serde_json::json!({"type": "object", "properties": {}}));

/// `tools` as the request's field; empty when none are offered (and then left out).
pub(crate) fn wire_tools(tools: &[ToolSpec]) -> Vec<WireTool<'_>> {
    tools
        .iter()
        .map(|tool| WireTool {
            kind: "function",
            function: WireFunction {
                name: &tool.name,
                description: &tool.description,
                parameters: if tool.parameters.is_null() {
                    &NO_PARAMETERS
                } else {
                    &tool.parameters
                },
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_have_the_function_shape_and_a_schema() {
        let tools = [
            ToolSpec {
                name: "weather".into(),
                description: "Vädret i en stad".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            },
            ToolSpec {
                name: "clock".into(),
                description: String::new(),
                parameters: Value::Null,
            },
        ];
        assert_eq!(
            serde_json::to_value(wire_tools(&tools)).unwrap(),
            json!([
                {"type": "function", "function": {"name": "weather", "description": "Vädret i en stad",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "clock",
                    "parameters": {"type": "object", "properties": {}}}},
            ])
        );
    }
}
