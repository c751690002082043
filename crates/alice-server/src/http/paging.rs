//! Paging for the list endpoints: `?offset=&limit=`, and the one check of a page size that
//! message pages (`?after=&limit=`) share.

use crate::error::ApiError;
use alice_store::Page;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use serde::Deserialize;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// The query string of a list endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    offset: u32,
    #[serde(default)]
    limit: Option<u32>,
}

/// The page a query asks for, or a 422 that says what is wrong with it.
pub fn page(query: Result<Query<PageQuery>, QueryRejection>) -> Result<Page, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    Ok(Page {
        offset: query.offset,
        limit: checked_limit(query.limit, DEFAULT_LIMIT)?,
    })
}

/// A page size asked for (or `default`), checked to be 1 to [`MAX_LIMIT`].
pub fn checked_limit(asked: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(default);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// The offset of the next page, when this one was full.
pub fn next_offset(page: Page, returned: usize) -> Option<u32> {
    (returned == page.limit as usize).then(|| page.offset.saturating_add(page.limit))
}
