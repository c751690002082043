//! `GET /metrics` (the registry in the OpenMetrics text format Prometheus reads) and
//! `GET /api/metrics/summary` (p50/p95/p99/p99.9 and rates over the last 1, 5 and 15 minutes,
//! in total and per route).

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::metrics::latency_windows::Summary;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn summary(State(metrics): State<Arc<Metrics>>) -> Json<Summary> {
    Json(metrics.summary())
}

pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response(),
        Err(_) => ApiError::Internal.into_response(),
    }
}
