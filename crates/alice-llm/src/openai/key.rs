//! The API key of an OpenAI-compatible backend: read once from the environment variable the
//! configuration names, and made a sensitive `Authorization` header so no log prints it.

use reqwest::header::HeaderValue;
use std::env::VarError;

/// Reads the API key from `variable` and makes it a sensitive `Authorization` value. A missing,
/// empty or unusable key is logged (never the key itself) and the backend goes on without one.
pub(super) fn read_key(backend: &str, variable: &str) -> Option<HeaderValue> {
    let key = match std::env::var(variable) {
        Ok(key) if !key.trim().is_empty() => key,
        Ok(_) | Err(VarError::NotPresent) => {
            tracing::warn!(
                evt = "backend_key_missing",
                backend = %backend,
                variable = %variable,
                "the API key variable is not set; the backend is tried without a key"
            );
            return None;
        }
        Err(VarError::NotUnicode(_)) => {
            tracing::warn!(
                evt = "backend_key_invalid",
                backend = %backend,
                variable = %variable,
                "the API key variable is not valid UTF-8; the backend is tried without a key"
            );
            return None;
        }
    };
    // Keys pasted from files often carry a trailing newline, which no header can.
    match HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Some(value)
        }
        Err(_) => {
            tracing::warn!(
                evt = "backend_key_invalid",
                backend = %backend,
                variable = %variable,
                "the API key holds characters an HTTP header cannot carry; the backend is tried \
                 without a key"
            );
            None
        }
    }
}
