//! `POST /api/render` (any caller): Markdown texts, such as a conversation's answers, as HTML
//! the web page may insert as it is ([`alice_markdown::render`]: raw HTML shown as text, no
//! script, styles, event handlers or images, links only to `http`, `https` and `mailto`).
//!
//! It exists so that the page never parses Markdown or sanitises HTML itself: one place, on
//! the server, decides what markup reaches the page. The page calls it once when a
//! conversation is loaded (all its answers at once) and once per finished answer.
//!
//! Body `{"texts": ["…", …]}`, answer `{"html": ["…", …]}` in the same order. Limits:
//! - at most [`MAX_TEXTS`] (200) texts, each at most [`MAX_TEXT_CHARS`] (100 000) characters:
//!   a fixed bound rather than `chat.max_message_chars`, which bounds questions, not the
//!   answers (up to `chat.max_tokens` tokens, or longer under earlier settings) that are most
//!   of what is rendered; over either, 422 `invalid_input` naming the field (`texts`, or
//!   `texts[i]`), as for every body that breaks a limit;
//! - the whole body at most `server.body_limit_bytes` (1 MiB by default), else 413
//!   `payload_too_large`: a long conversation is sent in several calls.

use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use axum::Json;
use serde::{Deserialize, Serialize};

/// Most texts one call may render.
pub const MAX_TEXTS: usize = 200;
/// Longest text one call may render, in characters.
pub const MAX_TEXT_CHARS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    texts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Rendered {
    /// The HTML of each text, in the order sent.
    html: Vec<String>,
}

pub async fn render(JsonBody(body): JsonBody<RenderBody>) -> Result<Json<Rendered>, ApiError> {
    let texts = body.texts;
    if texts.len() > MAX_TEXTS {
        return Err(ApiError::invalid(
            "texts",
            format!(
                "{} texts; at most {MAX_TEXTS} in one call: send the rest in another",
                texts.len()
            ),
        ));
    }
    if let Some((index, chars)) = texts
        .iter()
        .map(|text| text.chars().count())
        .enumerate()
        .find(|(_, chars)| *chars > MAX_TEXT_CHARS)
    {
        return Err(ApiError::invalid(
            format!("texts[{index}]"),
            format!("{chars} characters; a text may have at most {MAX_TEXT_CHARS}"),
        ));
    }
    // Up to a megabyte of Markdown through an HTML parser: off the async workers.
    let html = tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|text| alice_markdown::render(text))
            .collect()
    })
    .await
    .map_err(|error| {
        tracing::error!(evt = "render_failed", %error);
        ApiError::Internal
    })?;
    Ok(Json(Rendered { html }))
}
