//! PostgreSQL URLs as error messages, logs and manifests show them: never with their password.

/// The URL with its password (if any) masked: `postgres://alice:***@db/alice`. A password
/// given as a query parameter (`?password=…`, which sqlx reads too) is masked as well.
pub fn redact_password(url: &str) -> String {
    let url = match split_at_password(url) {
        Some((before, after)) => format!("{before}:***{after}"),
        None => url.to_owned(),
    };
    without_password_parameter(&url, Some("***"))
}

/// The URL with its password (if any) left out: `postgres://alice@db/alice`.
pub(crate) fn without_password(url: &str) -> String {
    let url = match split_at_password(url) {
        Some((before, after)) => format!("{before}{after}"),
        None => url.to_owned(),
    };
    without_password_parameter(&url, None)
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

/// The URL with the value of every `password` query parameter replaced by `mask`, or the
/// parameter left out when there is no mask.
fn without_password_parameter(url: &str, mask: Option<&str>) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let parameters: Vec<String> = query
        .split('&')
        .filter_map(|parameter| {
            let name = parameter
                .split_once('=')
                .map_or(parameter, |(name, _)| name);
            if !name.eq_ignore_ascii_case("password") {
                return Some(parameter.to_owned());
            }
            mask.map(|mask| format!("{name}={mask}"))
        })
        .collect();
    let mut out = base.to_owned();
    if !parameters.is_empty() {
        out.push('?');
        out.push_str(&parameters.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
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
        assert_eq!(
            redact_password("postgres://alice@db/alice?sslmode=require&password=hemligt"),
            "postgres://alice@db/alice?sslmode=require&password=***"
        );
        assert_eq!(
            redact_password("postgres://alice:p%40ss@db/alice?PASSWORD=x"),
            "postgres://alice:***@db/alice?PASSWORD=***"
        );
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
        assert_eq!(
            without_password("postgres://a@db/alice?password=x&sslmode=disable"),
            "postgres://a@db/alice?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://a@db/alice?password=x"),
            "postgres://a@db/alice"
        );
    }
}
