//! Small pieces of request parsing shared by both APIs.

use serde::Deserialize;
use serde_json::Value;

use crate::answer::SimMessage;

/// A chat message as sent by a client. `content` may be a string, `null`
/// (assistant tool calls) or OpenAI's array of parts; only text is kept.
#[derive(Deserialize)]
pub(crate) struct WireMessage {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Value,
    #[serde(default)]
    tool_calls: Value,
    #[serde(default)]
    tool_call_id: Value,
    #[serde(default)]
    tool_name: Value,
}

impl WireMessage {
    pub(crate) fn into_sim(self) -> SimMessage {
        let text = |value: Value| value.as_str().map(str::to_owned);
        SimMessage {
            role: self.role,
            content: text_of(self.content),
            tool_calls: match self.tool_calls {
                Value::Array(calls) => calls,
                _ => Vec::new(),
            },
            tool_call_id: text(self.tool_call_id),
            tool_name: text(self.tool_name),
        }
    }
}

/// The names of the functions a request's `tools` offers (the same shape in both APIs).
pub(crate) fn offered_tools(tools: &[Value]) -> Vec<String> {
    tools
        .iter()
        .filter_map(|tool| tool.get("function")?.get("name")?.as_str())
        .map(str::to_owned)
        .collect()
}

fn text_of(content: Value) -> String {
    match content {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part {
                Value::String(s) => Some(s.as_str()),
                other => other.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

/// A positive whole number (`num_predict`, `max_tokens`); zero, negative
/// (Ollama's -1 "no limit") or non-numbers give `None`.
pub(crate) fn positive_int(value: &Value) -> Option<u64> {
    let n = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 1.0).map(|f| f as u64))?;
    (n > 0).then_some(n)
}

/// `stop` as a string or an array of strings.
pub(crate) fn stop_sequences(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: Value) -> SimMessage {
        serde_json::from_value::<WireMessage>(value)
            .unwrap()
            .into_sim()
    }

    #[test]
    fn content_forms() {
        assert_eq!(
            message(json!({"role":"user","content":"hej"})),
            SimMessage::new("user", "hej")
        );
        assert_eq!(
            message(json!({"role":"assistant","content":null,"tool_calls":[]})).content,
            ""
        );
        assert_eq!(
            message(json!({"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}]}))
                .content,
            "ab"
        );
        assert_eq!(message(json!({"content":"x"})).role, "");
    }

    #[test]
    fn limits_and_stops() {
        assert_eq!(positive_int(&json!(5)), Some(5));
        assert_eq!(positive_int(&json!(5.0)), Some(5));
        assert_eq!(positive_int(&json!(0)), None);
        assert_eq!(positive_int(&json!(-1)), None);
        assert_eq!(positive_int(&json!("5")), None);
        assert_eq!(stop_sequences(Some(&json!("\n"))), ["\n"]);
        assert_eq!(stop_sequences(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert!(stop_sequences(None).is_empty());
    }
}
