//! OpenAI's wire format: the request body and the model list as they are on the wire, and
//! OpenAI's error body (`{"error": {"message", "type", "code"}}`) with the other shapes
//! compatible servers send instead. (The streamed chunks are `alice-decode`'s.)

use crate::http::{ErrorText, clip};
use crate::tool_wire::WireTool;
use alice_core::{ChatMessage, ToolChoice, ToolSpec};
use alice_decode::text::error_value_text;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error body in OpenAI's shape, or what the server sent instead.
pub(super) fn error_text(body: &[u8]) -> ErrorText {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => match map.get("error") {
            Some(error) => error_value_text(error),
            // Some compatible servers put the message at the top level.
            None => match map.get("message").and_then(Value::as_str) {
                Some(message) => ErrorText {
                    message: clip(message),
                    code: None,
                },
                None => raw_text(&text),
            },
        },
        _ => raw_text(&text),
    }
}

/// A body in no known shape, trimmed and clipped.
fn raw_text(text: &str) -> ErrorText {
    let text = text.trim();
    ErrorText {
        message: if text.is_empty() {
            "(empty body)".to_owned()
        } else {
            clip(text)
        },
        code: None,
    }
}

#[derive(Serialize)]
pub(super) struct ChatBody<'a> {
    pub(super) model: &'a str,
    pub(super) messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<WireTool<'a>>,
    /// Sent only with tools: OpenAI refuses a `tool_choice` without them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<Value>,
    pub(super) stream: bool,
    pub(super) stream_options: StreamOptions,
    pub(super) max_tokens: u32,
    pub(super) temperature: f32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) stop: &'a [String],
}

/// A message as OpenAI's chat API takes it.
#[derive(Serialize)]
pub(super) struct WireMessage<'a> {
    role: &'static str,
    /// `null` for an assistant message that only calls tools, as OpenAI sends it.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// The conversation in OpenAI's shape.
pub(super) fn wire_messages(messages: &[ChatMessage]) -> Vec<WireMessage<'_>> {
    messages
        .iter()
        .map(|message| WireMessage {
            role: message.role.as_str(),
            content: (!message.content.is_empty() || message.tool_calls.is_empty())
                .then_some(message.content.as_str()),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireCall {
                    id: &call.id,
                    kind: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: &call.arguments,
                    },
                })
                .collect(),
            tool_call_id: message.tool_call_id.as_deref(),
        })
        .collect()
}

/// `tool_choice` as OpenAI spells it, when tools are offered.
pub(super) fn tool_choice(tools: &[ToolSpec], choice: Option<&ToolChoice>) -> Option<Value> {
    if tools.is_empty() {
        return None;
    }
    Some(match choice? {
        ToolChoice::Auto => Value::from("auto"),
        ToolChoice::None => Value::from("none"),
        ToolChoice::Required => Value::from("required"),
        ToolChoice::Function(name) => {
            serde_json::json!({"type": "function", "function": {"name": name}})
        }
    })
}

#[derive(Serialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: bool,
}

#[derive(Deserialize)]
pub(super) struct ModelList {
    #[serde(default)]
    pub(super) data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
pub(super) struct ModelEntry {
    pub(super) id: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use alice_decode::text::MAX_RAW_DETAIL_CHARS;

    #[test]
    fn error_bodies_are_read_in_their_several_shapes() {
        let openai = error_text(
            br#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        );
        assert_eq!(openai.message, "The model `x` does not exist");
        assert_eq!(openai.code.as_deref(), Some("model_not_found"));
        assert_eq!(
            openai.to_string(),
            "The model `x` does not exist (code model_not_found)"
        );
        assert_eq!(error_text(br#"{"error":"bad key"}"#).message, "bad key");
        assert_eq!(
            error_text(br#"{"message":"no such route","code":404}"#).message,
            "no such route"
        );
        assert_eq!(
            error_text(b"  <html>502 Bad Gateway</html>\n").message,
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(error_text(b"").message, "(empty body)");
        let long = "x".repeat(MAX_RAW_DETAIL_CHARS * 2);
        assert_eq!(
            error_text(long.as_bytes()).message.chars().count(),
            MAX_RAW_DETAIL_CHARS + 1
        );
    }

    #[test]
    fn the_request_body_is_openais() {
        let messages = [ChatMessage::new(alice_core::Role::User, "Hej")];
        let body = ChatBody {
            model: "m",
            messages: wire_messages(&messages),
            tools: Vec::new(),
            tool_choice: None,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 5,
            temperature: 0.5,
            stop: &[],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "Hej"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 5,
                "temperature": 0.5,
            })
        );
    }

    #[test]
    fn tools_calls_and_results_go_in_openais_shape() {
        use alice_core::{Role, ToolCall};
        let tools = [ToolSpec {
            name: "weather".into(),
            description: String::new(),
            parameters: serde_json::json!({"type": "object"}),
        }];
        let messages = [
            ChatMessage::new(Role::User, "Vädret?"),
            ChatMessage::tool_calls(
                "",
                vec![ToolCall {
                    id: "call_1".into(),
                    name: "weather".into(),
                    arguments: r#"{"city":"Umeå"}"#.into(),
                }],
            ),
            ChatMessage::tool_result("call_1", "Snö"),
        ];
        let body = ChatBody {
            model: "m",
            messages: wire_messages(&messages),
            tools: crate::tool_wire::wire_tools(&tools),
            tool_choice: tool_choice(&tools, Some(&ToolChoice::Function("weather".into()))),
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 5,
            temperature: 0.5,
            stop: &[],
        };
        let body = serde_json::to_value(&body).unwrap();
        assert_eq!(
            body["messages"],
            serde_json::json!([
                {"role": "user", "content": "Vädret?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "weather", "arguments": "{\"city\":\"Umeå\"}"}},
                ]},
                {"role": "tool", "content": "Snö", "tool_call_id": "call_1"},
            ])
        );
        assert_eq!(body["tools"][0]["function"]["name"], "weather");
        assert_eq!(
            body["tool_choice"],
            serde_json::json!({"type": "function", "function": {"name": "weather"}})
        );
        assert_eq!(tool_choice(&[], Some(&ToolChoice::Required)), None);
        assert_eq!(tool_choice(&tools, None), None);
    }
}
