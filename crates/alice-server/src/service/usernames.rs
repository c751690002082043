//! User names as requests carry them: a short identifier, safe in logs and URLs, checked the
//! same way by every path that takes one.

use crate::error::ApiError;

const MAX_USERNAME_CHARS: usize = 64;

/// A user name is a short identifier, safe in logs and URLs.
pub fn check_username(user: &str) -> Result<(), ApiError> {
    let fine = !user.is_empty()
        && user.chars().count() <= MAX_USERNAME_CHARS
        && user
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if fine {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "user",
            format!(
                "a user name is 1 to {MAX_USERNAME_CHARS} letters, digits or . _ - @ \
                 (no spaces)"
            ),
        ))
    }
}

/// The 404 of a path naming a user the database does not hold.
pub fn unknown_user(user: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no user {user:?} in the database (users are created by their first chat turn or memory)"
    ))
}

#[cfg(test)]
mod tests {
    use super::check_username;

    #[test]
    fn user_names() {
        assert!(check_username("anna.svensson@example.se").is_ok());
        assert!(check_username("Åsa_1").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("two words").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
    }
}
