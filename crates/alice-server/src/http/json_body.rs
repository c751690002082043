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

/// Parses a JSON body, naming the field that is wrong ([`alice_request::json::parse`]).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    alice_request::json::parse(bytes).map_err(ApiError::from)
}
