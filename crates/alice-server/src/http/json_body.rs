//! A JSON body extractor whose errors name the offending field.
//!
//! axum's own `Json` answers malformed bodies with plain-text 400/415/422 responses; Alice
//! promises 422 with `{error, detail, field, request_id}`, and 413 for bodies over the limit.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

pub struct JsonBody<T>(pub T);

/// The body limit in force (`server.body_limit_bytes`), put in each request's extensions so
/// the error can name it.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = body_limit(&request);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::invalid("body", format!("the body could not be read: {rejection}"))
                }
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// The limit in force, for the error message.
fn body_limit(request: &Request) -> usize {
    request
        .extensions()
        .get::<BodyLimit>()
        .map_or(0, |limit| limit.0)
}

/// Parses a JSON body, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
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
            return ApiError::invalid("body", format!("the body is not valid JSON: {inner}"));
        }
        let field = if path == "." || path.is_empty() {
            // serde names an unknown or missing field only in its message.
            quoted_field(&inner.to_string()).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        ApiError::invalid(field, inner.to_string())
    })
}

/// The first name in backticks in a serde message such as "missing field `message`".
fn quoted_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
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
        match parse::<Body>(json.as_bytes()).unwrap_err() {
            ApiError::InvalidInput { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
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
}
