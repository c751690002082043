//! The `{user}` of a path such as `/api/users/{user}/memories`, checked as every user name is
//! ([`crate::service::usernames::check_username`]), and checked to be the caller's own (or
//! the caller an admin; anyone else's is a 404), before the handler runs.

use crate::error::ApiError;
use crate::service::usernames::check_username;
use alice_identity::Caller;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use std::collections::HashMap;

/// A checked user name from the path, whose data the caller may use.
pub struct UserPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid("user", rejection.body_text()))?;
        let user = params
            .remove("user")
            .ok_or_else(|| ApiError::invalid("user", "the path names no user"))?;
        check_username(&user)?;
        let caller = parts.extensions.get::<Caller>().ok_or_else(|| {
            ApiError::Unauthorized("send an API key as \"Authorization: Bearer alice_…\"".into())
        })?;
        // Another user's data answers as if they did not exist: a key must not learn which
        // user names are taken.
        if !caller.may_act_for(&user) {
            return Err(ApiError::NotFound(format!(
                "no user {user:?} whose data this key may use; a user's key reaches \
                 /api/users/{}/… only (an admin's key reaches anyone's)",
                caller.username
            )));
        }
        Ok(Self(user))
    }
}
