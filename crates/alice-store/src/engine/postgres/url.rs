//! PostgreSQL URLs as error messages, logs and manifests show them: never with their password.

/// The URL with its password (if any) masked: `postgres://alice:***@db/alice`.
pub(crate) fn redact_password(url: &str) -> String {
    match split_at_password(url) {
        Some((before, after)) => format!("{before}:***{after}"),
        None => url.to_owned(),
    }
}

/// The URL with its password (if any) left out: `postgres://alice@db/alice`.
pub(crate) fn without_password(url: &str) -> String {
    match split_at_password(url) {
        Some((before, after)) => format!("{before}{after}"),
        None => url.to_owned(),
    }
}

/// A URL that has a password, cut around it: up to the user name, and from the `@` after the
/// password on. None for a URL without a password.
fn split_at_password(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let colon = rest[..at].find(':')?;
    let start = scheme.len() + "://".len();
    Some((&url[..start + colon], &url[start + at..]))
}

#[cfg(test)]
mod tests {
    use super::{redact_password, without_password};

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://alice:hemligt@db:5432/alice?sslmode=require"),
            "postgres://alice:***@db:5432/alice?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://alice@db/alice"),
            "postgres://alice@db/alice"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }

    #[test]
    fn passwords_are_left_out() {
        assert_eq!(
            without_password("postgres://alice:hemligt@db:5432/alice?sslmode=require"),
            "postgres://alice@db:5432/alice?sslmode=require"
        );
        assert_eq!(
            without_password("postgres://db/alice"),
            "postgres://db/alice"
        );
        assert_eq!(
            without_password("postgres://a:b:c@d@db/alice"),
            "postgres://a@db/alice"
        );
    }
}
