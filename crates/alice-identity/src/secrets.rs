//! The secrets Alice hands out, API keys and session tokens, and how they are kept: only as a
//! SHA-256 hash. A key is `alice_<id>_<secret>`: the recognisable prefix (secret scanners and
//! people both know it), a public lookup id of 48 random bits, and 256 random bits of secret,
//! all in lowercase hex. A key's secret is random, not chosen by a person, so one fast hash is
//! as safe as a slow one; checking a key costs a hash and a constant-time comparison, a couple
//! of microseconds, not an argon2 round.

use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every Alice API key starts with.
pub const KEY_PREFIX: &str = "alice_";

const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A new key: the whole key, shown once, and what is stored of it.
#[derive(Clone, Debug)]
pub struct IssuedKey {
    /// The key to give to the client: `alice_<id>_<secret>`.
    pub key: String,
    /// The public lookup id.
    pub id: String,
    /// SHA-256 of the secret part, in hex.
    pub secret_hash: String,
}

/// Makes a new key from `rng` (the thread's CSPRNG in Alice; a seeded one in tests).
pub fn issue_key(rng: &mut impl CryptoRng) -> IssuedKey {
    let id = random_hex(rng, ID_BYTES);
    let secret = random_hex(rng, SECRET_BYTES);
    IssuedKey {
        key: format!("{KEY_PREFIX}{id}_{secret}"),
        secret_hash: hash_secret(&secret),
        id,
    }
}

/// The lookup id and the secret of something that looks like an Alice key.
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let hex = |part: &str, bytes: usize| {
        part.len() == bytes * 2 && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex(id, ID_BYTES) && hex(secret, SECRET_BYTES)).then_some((id, secret))
}

/// A new session token (the page's cookie value), 256 random bits in hex.
pub fn new_session_token(rng: &mut impl CryptoRng) -> String {
    random_hex(rng, SECRET_BYTES)
}

/// SHA-256 of a secret, in hex: what is stored of keys and session tokens.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let hash = hash_secret(secret);
    hash.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

fn random_hex(rng: &mut impl CryptoRng, bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_key_parses_back_to_its_id_and_matches_its_hash() {
        let mut rng = StdRng::seed_from_u64(7);
        let issued = issue_key(&mut rng);
        assert!(issued.key.starts_with("alice_"));
        // 6 bytes of id and 32 bytes (256 bits) of secret, in hex.
        assert_eq!(issued.key.len(), "alice_".len() + 12 + 1 + 64);
        let (id, secret) = parse_key(&issued.key).unwrap_or_default();
        assert_eq!(id, issued.id);
        assert!(secret_matches(secret, &issued.secret_hash));
        let flipped = if secret.starts_with('0') { "1" } else { "0" };
        assert!(!secret_matches(
            &format!("{flipped}{}", &secret[1..]),
            &issued.secret_hash
        ));
        assert_ne!(issue_key(&mut rng).key, issued.key);
    }

    #[test]
    fn things_that_are_not_keys_do_not_parse() {
        for text in [
            "",
            "alice_",
            "sk-abc",
            "alice_0123456789ab",
            "alice_0123456789ab_short",
            "alice_0123456789AB_0000000000000000000000000000000000000000000000000000000000000000",
            "alice_0123456789ab_00000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(parse_key(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn a_wrong_secret_does_not_match() {
        let stored = hash_secret("right");
        assert!(secret_matches("right", &stored));
        assert!(!secret_matches("wrong", &stored));
        assert!(!secret_matches("right", ""));
    }
}
