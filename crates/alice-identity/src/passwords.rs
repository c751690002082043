//! Web passwords, for the page's login: chosen by people, so hashed slowly, with argon2id (the
//! crate's default parameters: 19 MiB, 2 passes), in the PHC string form that carries its own
//! salt and parameters.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The argon2id hash of a new password.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| PasswordError::Hash(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PasswordError::Hash(error.to_string()))
}

/// Whether `password` is the one `stored` was made from. A malformed stored hash matches
/// nothing.
pub fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_its_hash_and_nothing_else() {
        let Ok(stored) = hash_password("korrekt häst batteri") else {
            panic!("hashing failed");
        };
        assert!(stored.starts_with("$argon2id$"));
        assert!(password_matches("korrekt häst batteri", &stored));
        assert!(!password_matches("korrekt hast batteri", &stored));
        assert!(!password_matches("korrekt häst batteri", "not a hash"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(
            hash_password("kort"),
            Err(PasswordError::TooShort)
        ));
    }
}
