//! Database URLs as the PostgreSQL backup writes them: where a session goes, shown without its
//! password, and a URL pointed at another database (the scratch database of a verification).

use sqlx::postgres::PgConnectOptions;

/// `url` naming database `name` instead of its own (its user, password, host and parameters
/// kept).
pub(super) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut out = format!("{}/{}", &base[..path_start], percent_encode(name));
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `postgres://USER@HOST:PORT/DATABASE`: where a session goes, without its password.
pub(super) fn display_url(options: &PgConnectOptions) -> String {
    let user = percent_encode(options.get_username());
    let database = percent_encode(options.get_database().unwrap_or(options.get_username()));
    let port = options.get_port();
    match options.get_socket() {
        Some(socket) => format!(
            "postgres://{user}@/{database}?host={}&port={port}",
            percent_encode(&socket.display().to_string())
        ),
        None => {
            let host = options.get_host();
            if host.contains(':') {
                format!("postgres://{user}@[{host}]:{port}/{database}")
            } else {
                format!("postgres://{user}@{host}:{port}/{database}")
            }
        }
    }
}

fn percent_encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                match (
                    char::from(*high).to_digit(16),
                    char::from(*low).to_digit(16),
                ) {
                    (Some(high), Some(low)) => u8::try_from(high * 16 + low).ok(),
                    _ => None,
                }
            }
            _ => None,
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn another_database_keeps_the_rest_of_the_url() {
        assert_eq!(
            with_database(
                "postgres://anna:hemligt@db:5433/alice?sslmode=disable",
                "scratch_1"
            ),
            "postgres://anna:hemligt@db:5433/scratch_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://anna@db", "scratch"),
            "postgres://anna@db/scratch"
        );
        assert_eq!(
            with_database("postgres://anna@db/alice", "a b"),
            "postgres://anna@db/a%20b"
        );
    }
}
