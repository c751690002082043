//! OpenAI's wire format: the request body and the model list as they are on the wire, and
//! OpenAI's error body (`{"error": {"message", "type", "code"}}`) with the other shapes
//! compatible servers send instead. (The streamed chunks are `alice-decode`'s.)

use crate::http::{ErrorText, clip};
use alice_core::ChatMessage;
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
    pub(super) messages: &'a [ChatMessage],
    pub(super) stream: bool,
    pub(super) stream_options: StreamOptions,
    pub(super) max_tokens: u32,
    pub(super) temperature: f32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) stop: &'a [String],
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
            messages: &messages,
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
}
