//! The response cache in the control API (admins only, under `/api/brain/`):
//! `GET /api/brain/cache` says what it holds, `POST /api/brain/cache/purge` forgets every
//! answer, here and in Redis (after a model change, say, or a wrong answer that must not be
//! served again).

use crate::error::ApiError;
use crate::service::answer_cache::AnswerCache;
use alice_core::Config;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn stats(
    State(answers): State<AnswerCache>,
    State(config): State<Arc<Config>>,
) -> Json<Value> {
    let config = &config.cache;
    let Some(cache) = answers.cache() else {
        return Json(json!({ "enabled": false }));
    };
    let (entries, bytes) = cache.usage();
    Json(json!({
        "enabled": true,
        "entries": entries,
        "bytes": bytes,
        "max_entries": config.max_entries,
        "max_bytes": config.max_bytes,
        "ttl_s": config.ttl.as_secs(),
        "redis": config.redis_url.is_some(),
        "in_flight": answers.flights().in_flight(),
        "evictions": cache.metrics().evictions(),
        "coalesced": cache.metrics().coalesced_count(),
    }))
}

pub async fn purge(State(answers): State<AnswerCache>) -> Result<Json<Value>, ApiError> {
    let Some(cache) = answers.cache() else {
        return Ok(Json(json!({ "enabled": false, "purged": 0 })));
    };
    let report = cache.purge().await;
    tracing::info!(
        evt = "cache_purged",
        local = report.local,
        redis = report.redis,
        redis_error = report.redis_error.as_deref()
    );
    Ok(Json(json!({ "enabled": true, "purged": report })))
}
