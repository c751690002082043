//! The gate of the Guardian daemon's override (`alice guardian`, a process of its own with no
//! users and no data): only clients on this machine (loopback) get through. Alice's own routes
//! are guarded by keys instead ([`super::authentication`]); the daemon's one write, leaving
//! LOCKDOWN, still trusts the peer address, so the daemon should stay bound to loopback.

use crate::error::ApiError;
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Lets only clients on this machine through. A request without a known peer (never the case
/// behind `axum::serve` with connect info) is refused too.
pub async fn loopback_only(
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    request: Request,
    next: Next,
) -> Response {
    match peer {
        Ok(ConnectInfo(addr)) if addr.ip().is_loopback() => next.run(request).await,
        _ => ApiError::Forbidden(
            "the Guardian daemon's override answers only clients on this machine (loopback)".into(),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn status_from(peer: [u8; 4]) -> u16 {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(loopback_only))
            .layer(MockConnectInfo(SocketAddr::from((peer, 40000))));
        let response = app
            .oneshot(Request::builder().uri("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status().as_u16()
    }

    #[tokio::test]
    async fn only_loopback_clients_reach_the_control_api() {
        assert_eq!(status_from([127, 0, 0, 1]).await, 200);
        assert_eq!(status_from([192, 168, 1, 20]).await, 403);
        assert_eq!(status_from([10, 0, 0, 7]).await, 403);
    }
}
