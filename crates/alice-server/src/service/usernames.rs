//! User names as requests carry them: a short identifier, safe in logs and URLs, checked the
//! same way by every path that takes one.

use crate::error::ApiError;

/// A user name is a short identifier, safe in logs and URLs ([`alice_core::usernames`]).
pub fn check_username(user: &str) -> Result<(), ApiError> {
    alice_request::native::check_username(user).map_err(ApiError::from)
}

/// The 404 of a path naming a user the database does not hold.
pub fn unknown_user(user: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no user {user:?} in the database (users are created by their first chat turn or memory)"
    ))
}
