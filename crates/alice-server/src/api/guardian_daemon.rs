//! `alice guardian`: the Guardian as its own small HTTP service (port 8787 by default), so
//! one Guardian can watch a machine that runs several Alice processes; each of them follows
//! it with `guardian.remote_url` (see [`crate::runtime::guardian_remote`]).
//!
//! - `GET /health` and `GET /api/guardian/status`: the status JSON;
//! - `POST /override` `{confirm_override: true}`: leave LOCKDOWN (loopback only).

use crate::error::ApiError;
use crate::http::json_body::JsonBody;
use crate::http::loopback::loopback_only;
use alice_core::config::GuardianConfig;
use alice_guardian::{Guardian, Sampler};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, middleware};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running Guardian daemon.
pub struct RunningDaemon {
    addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    guardian: Arc<Guardian>,
}

impl RunningDaemon {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn guardian(&self) -> &Guardian {
        &self.guardian
    }

    /// Stops serving; the Guardian stops with the last reference to it.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        self.server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Starts the Guardian with `sampler` and serves its status on `bind`.
pub async fn start_daemon(
    config: GuardianConfig,
    bind: SocketAddr,
    sampler: impl Sampler,
) -> std::io::Result<RunningDaemon> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let guardian = Arc::new(Guardian::start(config, sampler));
    let app = Router::new()
        .route("/health", get(status))
        .route("/api/guardian/status", get(status))
        .route(
            "/override",
            post(override_lockdown).layer(middleware::from_fn(loopback_only)),
        )
        .with_state(guardian.clone());
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    tracing::info!(evt = "listening", addr = %addr, role = "guardian");
    Ok(RunningDaemon {
        addr,
        stop,
        server,
        guardian,
    })
}

async fn status(State(guardian): State<Arc<Guardian>>) -> Json<Value> {
    Json(json!(guardian.status()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    confirm_override: bool,
}

async fn override_lockdown(
    State(guardian): State<Arc<Guardian>>,
    JsonBody(body): JsonBody<Override>,
) -> Result<Json<Value>, ApiError> {
    let transition = guardian
        .override_lockdown(body.confirm_override)
        .map_err(|error| ApiError::Conflict(error.to_string()))?;
    Ok(Json(
        json!({ "from": transition.from, "to": transition.to }),
    ))
}
