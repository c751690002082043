//! The chat request bodies of Alice's HTTP API, parsed and checked as plain data.
//!
//! - [`json`]: a JSON body into its type, an error naming the offending field;
//! - [`native`]: the `POST /api/chat` body and its checks (the message, the named user);
//! - [`openai`]: the `POST /v1/chat/completions` body turned into a [`openai::Plan`]: the
//!   prompt, token limit, temperature and stop sequences the backend is asked for;
//! - [`context_budget`]: fitting a conversation into the model's context window.
//!
//! None of it needs a request, a store or a backend, so it lives apart from `alice-server`:
//! the server maps an [`Invalid`] to its own error shapes (Alice's 422, OpenAI's 400), and the
//! fuzz targets in `fuzz/` build this crate without axum and sqlx.

pub mod context_budget;
pub mod json;
pub mod native;
pub mod openai;

/// A request the API refuses: which field is wrong, and what to send instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The field, as a path into the body ("messages[2].content"), or "body".
    pub field: String,
    pub detail: String,
    /// OpenAI's error code where it is not the plain invalid-input one
    /// ("unsupported_parameter", "context_length_exceeded", ...).
    pub code: Option<&'static str>,
}

impl Invalid {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
            code: None,
        }
    }

    /// The same refusal under OpenAI's `code`.
    pub fn with_code(self, code: &'static str) -> Self {
        Self {
            code: Some(code),
            ..self
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid {}: {}", self.field, self.detail)
    }
}

impl std::error::Error for Invalid {}
