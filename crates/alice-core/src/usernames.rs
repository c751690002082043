//! What a user name may be: a short identifier, safe in logs, URLs and file names. Checked
//! where a user is created (`alice_identity::Directory::add_user`) and wherever a request
//! names one (`alice-request`, the server's user paths).

/// Longest user name, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// What a user name is, to say when one is refused.
pub const USERNAME_RULE: &str = "a user name is 1 to 64 letters, digits or . _ - @ (no spaces)";

/// Whether `name` is a valid user name.
pub fn is_valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

#[cfg(test)]
mod tests {
    use super::is_valid_username;

    #[test]
    fn user_names() {
        assert!(is_valid_username("anna.svensson@example.se"));
        assert!(is_valid_username("Åsa_1"));
        assert!(!is_valid_username(""));
        assert!(!is_valid_username("two words"));
        assert!(!is_valid_username(&"a".repeat(65)));
    }
}
