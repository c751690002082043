//! `[server]`: the HTTP listener's address, body limit, connection limits and timeouts, shutdown
//! grace, CORS origins, the hosts and proxies it trusts, and the Retry-After of answers that
//! failed for want of a backend or the database.

use super::checks::{Problems, is_http_url};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// The HTTP listener.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub body_limit_bytes: usize,
    /// How long a shutdown waits for requests in flight before it gives up on them.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Web origins (e.g. "http://localhost:3000") whose pages may call Alice from a browser.
    /// Empty (the default): no CORS headers, so other sites' pages cannot use a local Alice.
    pub cors_allowed_origins: Vec<String>,
    /// Retry-After when a backend said it is busy (429/503) without saying for how long.
    #[serde(with = "humantime_serde")]
    pub backend_busy_retry_after: Duration,
    /// Retry-After when no backend can be reached, or the database does not answer.
    #[serde(with = "humantime_serde")]
    pub unavailable_retry_after: Duration,
    /// Host names (with or without a port) a request's `Host` header may carry besides IP
    /// addresses and `localhost`, which are always allowed; other names get 421 (DNS
    /// rebinding). `"*"` allows any host (behind a proxy that checks it).
    pub allowed_hosts: Vec<String>,
    /// Networks of proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed, e.g.
    /// `["127.0.0.1/32"]` for an nginx on this machine. Empty (the default): the peer address
    /// is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a client may take to send a request's headers before the connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive connection is kept open. The header-read timer also runs
    /// while a kept-alive connection waits for its next request, so an idle connection closes
    /// after the shorter of the two.
    #[serde(with = "humantime_serde")]
    pub keep_alive_timeout: Duration,
    /// Most client connections open at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            cors_allowed_origins: Vec::new(),
            backend_busy_retry_after: Duration::from_secs(5),
            unavailable_retry_after: Duration::from_secs(15),
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

impl ServerConfig {
    /// Every problem with the values, each named by its key (`server.body_limit_bytes: ...`);
    /// empty when the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        for origin in &self.cors_allowed_origins {
            problems.check(
                is_http_url(origin) && !origin.ends_with('/'),
                "server.cors_allowed_origins",
                "each origin is a scheme and host without a path, e.g. \"http://localhost:3000\"",
            );
        }
        problems.check(
            self.body_limit_bytes >= 1024,
            "server.body_limit_bytes",
            "must be at least 1024 bytes",
        );
        for (key, value) in [
            (
                "server.backend_busy_retry_after",
                self.backend_busy_retry_after,
            ),
            (
                "server.unavailable_retry_after",
                self.unavailable_retry_after,
            ),
        ] {
            problems.check(value >= Duration::from_secs(1), key, "must be at least 1s");
        }
        problems.check(
            self.header_read_timeout >= Duration::from_millis(100),
            "server.header_read_timeout",
            "must be at least 100ms",
        );
        problems.check(
            self.keep_alive_timeout >= Duration::from_millis(100),
            "server.keep_alive_timeout",
            "must be at least 100ms",
        );
        problems.check(
            self.max_connections >= 1,
            "server.max_connections",
            "must be at least 1",
        );
        for host in &self.allowed_hosts {
            problems.check(
                !host.is_empty() && !host.contains('/'),
                "server.allowed_hosts",
                "each entry is a host name with an optional port, e.g. \"alice.example.se\", or \"*\"",
            );
        }
        problems.into_list()
    }
}
