//! A JSON body into its type, with an error that names the offending field: Alice promises
//! `{error, detail, field}` rather than serde's bare message.

use crate::Invalid;
use serde::de::DeserializeOwned;

/// Parses a JSON body, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Invalid> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Invalid::new(
            "body",
            "the body is empty; send a JSON object with this path's fields (see the README)",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            // Broken JSON is the body's fault, whatever field the parser was inside.
            return Invalid::new("body", format!("the body is not valid JSON: {inner}"));
        }
        let field = if path == "." || path.is_empty() {
            // serde names an unknown or missing field only in its message.
            quoted_field(&inner.to_string()).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        Invalid::new(field, inner.to_string())
    })
}

/// The field a serde message at the top level names: "missing field `message`", "unknown
/// field `mesage`, expected ...", "duplicate field `user`". Other messages are about the body
/// as a whole, and the backticks in them may be the client's own text
/// (`"invalid type: string \"`x`\""`), so they name no field.
fn quoted_field(message: &str) -> Option<String> {
    let quoted = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))?;
    let name = &quoted[..quoted.find('`')?];
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        message: String,
        conversation_id: Option<uuid::Uuid>,
    }

    fn field_of(json: &str) -> String {
        parse::<Body>(json.as_bytes()).unwrap_err().field
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(r#"{"message": 5}"#), "message");
        assert_eq!(
            field_of(r#"{"message": "hej", "conversation_id": "x"}"#),
            "conversation_id"
        );
        assert_eq!(field_of(r#"{}"#), "message");
        assert_eq!(field_of(r#"{"message": "hej", "mesage": "x"}"#), "mesage");
        assert_eq!(field_of(r#"{"message": "#), "body");
        assert_eq!(field_of("  "), "body");
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/native_body.rs`, `openai_body.rs`): a body that
    /// is a JSON string with backticks in it had the text between them taken for the field,
    /// and `{"": 1}` named the field "", which the OpenAI error shows as `param: ""`.
    #[test]
    fn only_a_named_field_is_a_field() {
        assert_eq!(field_of(r#""see `message`""#), "body");
        assert_eq!(field_of(r#""dev,``""#), "body");
        assert_eq!(field_of(r#"{"": 1, "message": "hej"}"#), "body");
        assert_eq!(field_of(r#"{"message": "a", "message": "b"}"#), "message");
    }
}
