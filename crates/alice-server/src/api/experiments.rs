//! `GET /api/experiments/{name}` (admin): an A/B experiment's state and report, for the
//! dashboard — what `alice experiment report NAME --json` prints, with the state beside it.
//!
//! `?since=RFC3339` limits the report to the outcomes at or after that time. The answer is
//! `{"experiment", "state" ("running" | "paused" | "stopped"), "reason", "changed_at",
//! "active" (within its start and stop), "since", "report"}`, the report being
//! `alice_experiments::Report` as JSON. An experiment the configuration does not name is a
//! 404, even when outcomes of it are stored: the report needs its variants and control.

use crate::error::ApiError;
use crate::runtime::experiments::{self, Experiments};
use alice_store::{RunState, Store};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

/// The query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    since: Option<String>,
}

/// `since` as a time: RFC 3339, e.g. `2025-03-01T08:00:00Z`.
pub fn parse_since(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| {
            ApiError::invalid(
                "since",
                format!("{raw:?} is not an RFC 3339 time such as 2025-03-01T08:00:00Z ({error})"),
            )
        })
}

pub async fn report(
    State(store): State<Store>,
    State(experiments): State<Experiments>,
    Path(name): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::invalid("query", rejection.body_text()))?;
    let since = query.since.as_deref().map(parse_since).transpose()?;
    let Some(experiment) = experiments.configured(&name) else {
        return Err(ApiError::NotFound(format!(
            "no experiment {name:?} in the configuration ([[experiments]] names the ones there are)"
        )));
    };
    let report = experiments::report(&store, experiment, since).await?;
    let state = experiments.state(&name);
    Ok(Json(json!({
        "experiment": name,
        "state": state.as_ref().map_or(RunState::Running, |s| s.state),
        "reason": state.as_ref().and_then(|s| s.reason.clone()),
        "changed_at": state.as_ref().map(|s| s.changed_at),
        "active": alice_experiments::active(experiment, Utc::now()),
        "since": since,
        "report": report,
    })))
}
