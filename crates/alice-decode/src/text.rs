//! A backend's free text as it goes into an error's detail: clipped, and read from the error
//! shapes OpenAI-compatible servers send (in an error body, or in the stream as an event).

use serde_json::Value;

/// Most characters of a backend's free text (a body in no known shape, a line that is not its
/// protocol) kept in an error's detail, which goes to the log.
pub const MAX_RAW_DETAIL_CHARS: usize = 500;

/// At most [`MAX_RAW_DETAIL_CHARS`] characters of a text, marked when cut.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_RAW_DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What a backend's error said, read in the backend's own wire format.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorText {
    pub message: String,
    /// A machine-readable error code, where the format has one (OpenAI's `code`).
    pub code: Option<String>,
}

impl std::fmt::Display for ErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The value of an OpenAI `error` field: OpenAI's object, or a bare string some servers send.
pub fn error_value_text(error: &Value) -> ErrorText {
    match error {
        Value::String(message) => ErrorText {
            message: clip(message),
            code: None,
        },
        Value::Object(fields) => ErrorText {
            message: fields
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| clip(&error.to_string()), clip),
            // `code` is a string at OpenAI, a number at some others.
            code: fields.get("code").and_then(|code| match code {
                Value::String(code) => Some(code.clone()),
                Value::Number(code) => Some(code.to_string()),
                _ => None,
            }),
        },
        other => ErrorText {
            message: other.to_string(),
            code: None,
        },
    }
}
