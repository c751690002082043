//! What stops a web page from using an Alice it can reach through the visitor's browser:
//!
//! - **Host allow-list** (`server.allowed_hosts`): a page on `evil.example` whose DNS name is
//!   rebound to 127.0.0.1 sends `Host: evil.example`; such requests get 421. IP addresses and
//!   `localhost` are always allowed (a page cannot rebind those), and so are the names listed;
//!   `"*"` allows any host (behind a proxy that checks it).
//! - **JSON only**: a request with a body must say `Content-Type: application/json`, or get
//!   415. Browsers send `text/plain` and form bodies cross-site without a CORS preflight (a
//!   `fetch(…, {mode: "no-cors"})`); a JSON body needs one, which CORS refuses.
//!
//! Both run before authentication, so a refused request costs no key lookup.

use crate::error::ApiError;
use crate::error::openai::response_for;
use alice_core::Config;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::net::IpAddr;
use std::sync::Arc;

pub async fn browser_defences(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    if let Some(host) = host
        && !host_allowed(&host, &config.server.allowed_hosts)
    {
        tracing::info!(evt = "foreign_host_refused", host = %host);
        return response_for(
            request.uri().path(),
            ApiError::MisdirectedHost(format!(
                "Alice does not answer to the host {host:?}; use its IP address or localhost, or \
                 add the name to server.allowed_hosts"
            )),
        );
    }
    if has_body(request.method(), request.headers()) && !is_json(request.headers()) {
        return response_for(
            request.uri().path(),
            ApiError::UnsupportedMediaType(
                "send the body as JSON with \"Content-Type: application/json\"".to_owned(),
            ),
        );
    }
    next.run(request).await
}

/// Whether `host` (a Host header: a name or address, maybe with a port) is one to answer.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok()
        || name
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|v6| v6.parse::<IpAddr>().is_ok())
    {
        return true;
    }
    allowed
        .iter()
        .any(|entry| entry == "*" || strip_port(entry).eq_ignore_ascii_case(name))
}

/// A host without its `:port` (an IPv6 address keeps its brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether a request carries a body: a write with a non-zero length, or a chunked one.
fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    length.is_some_and(|length| length > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// `application/json`, any `application/…+json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| {
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn addresses_and_localhost_are_always_answered_names_only_when_listed() {
        let none: Vec<String> = Vec::new();
        for host in [
            "127.0.0.1:8000",
            "localhost:8000",
            "LOCALHOST",
            "[::1]:8000",
            "192.168.1.20",
        ] {
            assert!(host_allowed(host, &none), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8000",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(host, &none), "{host}");
        }
        let listed = vec!["alice.example.se".to_owned()];
        assert!(host_allowed("Alice.Example.se:443", &listed));
        assert!(!host_allowed("evil.example", &listed));
        assert!(host_allowed("anything.example", &["*".to_owned()]));
    }

    #[test]
    fn only_json_bodies_pass() {
        let with = |content_type: Option<&str>, length: &str| {
            let mut map = HeaderMap::new();
            map.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from_str(length).unwrap(),
            );
            if let Some(content_type) = content_type {
                map.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_str(content_type).unwrap(),
                );
            }
            map
        };
        let json = with(Some("application/json; charset=utf-8"), "20");
        assert!(has_body(&Method::POST, &json) && is_json(&json));
        assert!(is_json(&with(Some("application/merge-patch+json"), "2")));
        for refused in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let headers = with(refused, "20");
            assert!(
                has_body(&Method::POST, &headers) && !is_json(&headers),
                "{refused:?}"
            );
        }
        // No body, nothing to check: a logout, a DELETE.
        assert!(!has_body(&Method::POST, &with(Some("text/plain"), "0")));
        assert!(!has_body(&Method::GET, &with(Some("text/plain"), "20")));
    }
}
