//! Who the client is on the network, for logs and nothing more: the peer address, unless the
//! peer is one of `server.trusted_proxies`, in which case `X-Forwarded-For` (the rightmost
//! address that is not itself a trusted proxy) and `X-Forwarded-Proto` are believed. From any
//! other peer those headers are ignored, since anyone can send them. No right is ever granted
//! for an address: a proxy on the same host makes every client look local.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address as far as Alice can tell, and whether it reached the proxy over TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: Option<IpAddr>,
    /// A trusted proxy said `X-Forwarded-Proto: https`.
    pub forwarded_https: bool,
}

/// The client of a request that came from `peer` with `headers`.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let Some(peer) = peer.filter(is_trusted) else {
        return ClientAddr {
            ip: peer,
            forwarded_https: false,
        };
    };
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    let ip = forwarded
        .iter()
        .rev()
        .find(|hop| !is_trusted(hop))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer);
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    ClientAddr {
        ip: Some(ip),
        forwarded_https,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(forwarded_for: &str, proto: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            "x-forwarded-for",
            HeaderValue::from_str(forwarded_for).unwrap(),
        );
        map.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_client() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let spoofed = headers("10.9.9.9", "https");
        let client = resolve(Some(ip("192.0.2.7")), &spoofed, &trusted);
        assert_eq!(client.ip, Some(ip("192.0.2.7")));
        assert!(!client.forwarded_https);
        // Without any trusted proxy, even loopback's headers are ignored.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &spoofed, &[]).ip,
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        // The client put a fake address first; the proxies appended what they saw.
        let chain = headers("6.6.6.6, 203.0.113.5, 10.0.0.2", "https");
        let client = resolve(Some(ip("127.0.0.1")), &chain, &trusted);
        assert_eq!(client.ip, Some(ip("203.0.113.5")));
        assert!(client.forwarded_https);
        // Only proxies in the chain: the first of them.
        let inside = headers("10.0.0.3", "http");
        let client = resolve(Some(ip("127.0.0.1")), &inside, &trusted);
        assert_eq!(client.ip, Some(ip("10.0.0.3")));
        assert!(!client.forwarded_https);
        // No header: the proxy itself.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &HeaderMap::new(), &trusted).ip,
            Some(ip("127.0.0.1"))
        );
    }
}
