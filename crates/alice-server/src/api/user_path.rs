//! The `{user}` of a path such as `/api/users/{user}/memories`, checked as every user name is
//! ([`crate::service::usernames::check_username`]) before the handler runs.

use crate::error::ApiError;
use crate::service::usernames::check_username;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

/// A checked user name from the path.
pub struct UserPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(user) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("user", rejection.body_text()))?;
        check_username(&user)?;
        Ok(Self(user))
    }
}
