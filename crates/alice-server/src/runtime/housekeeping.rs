//! Background jobs on the database: the retention job (messages older than
//! `database.retention` are deleted), expired web sessions and idempotency records deleted
//! (every `database.retention_interval`), and the Guardian's history (a downsampled sample written to
//! `system_metrics` every `database.system_metrics_interval`). All stop with the server.

use alice_core::config::DatabaseConfig;
use alice_guardian::{Guardian, Snapshot};
use alice_store::{Store, SystemMetricSample};
use chrono::Utc;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Starts the jobs the config asks for.
pub fn spawn(
    config: &DatabaseConfig,
    store: &Store,
    guardian: Option<&Guardian>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if !config.retention.is_zero() {
        tasks.push(tokio::spawn(retention(
            store.clone(),
            config.retention,
            config.retention_interval,
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(expired_sessions(
        store.clone(),
        config.retention_interval,
        stop.clone(),
    )));
    tasks.push(tokio::spawn(expired_idempotency_records(
        store.clone(),
        config.retention_interval,
        stop.clone(),
    )));
    if let Some(guardian) = guardian
        && !config.system_metrics_interval.is_zero()
    {
        tasks.push(tokio::spawn(system_metrics(
            store.clone(),
            guardian.subscribe(),
            config.system_metrics_interval,
            stop.clone(),
        )));
    }
    tasks
}

/// Deletes old messages now, then every `interval`.
async fn retention(
    store: Store,
    keep: std::time::Duration,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Ok(keep) = chrono::Duration::from_std(keep) else {
            return;
        };
        let cutoff = Utc::now() - keep;
        match store.delete_messages_before(cutoff).await {
            Ok(report) => tracing::info!(
                evt = "retention_done",
                cutoff = %cutoff,
                messages = report.messages,
                conversations = report.conversations,
            ),
            Err(error) => tracing::warn!(evt = "retention_failed", error = %error),
        }
    }
}

/// Deletes web sessions that have expired now, then every `interval` (an expired session
/// already proves nobody; this only keeps the table small).
async fn expired_sessions(store: Store, interval: std::time::Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.identity().delete_expired_sessions().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(evt = "expired_sessions_deleted", sessions = deleted),
            Err(error) => tracing::warn!(evt = "expired_sessions_failed", error = %error),
        }
    }
}

/// Deletes idempotency records that have expired now, then every `interval`: kept answers
/// older than `chat.idempotency_ttl` (no longer replayed, but holding answer text) and claims
/// abandoned by an instance that died.
async fn expired_idempotency_records(
    store: Store,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.idempotency().delete_expired().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(evt = "expired_idempotency_deleted", records = deleted),
            Err(error) => tracing::warn!(evt = "expired_idempotency_failed", error = %error),
        }
    }
}

/// Every `interval`, one row: the Guardian's state and level and the mean of its readings in
/// its window.
async fn system_metrics(
    store: Store,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    // The first tick is immediate; the first row describes a whole interval.
    ticks.tick().await;
    let mut samples_before = snapshots.borrow().machine.samples_seen();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let snapshot = Arc::clone(&snapshots.borrow());
        let status = snapshot.status(tokio::time::Instant::now(), Utc::now());
        let samples = snapshot.machine.samples_seen();
        let mean = |values: &[f64]| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let sample = SystemMetricSample {
            recorded_at: Utc::now(),
            guardian_state: status.status.to_string(),
            brownout_level: serde_json::to_value(status.brownout.level)
                .ok()
                .and_then(|level| level.as_str().map(str::to_owned))
                .unwrap_or_default(),
            ram_pct: mean(&status.hysteresis.ram_measurements).or(status.metrics.ram_pct),
            cpu_pct: mean(&status.hysteresis.cpu_measurements).or(status.metrics.cpu_pct),
            disk_pct: status.metrics.disk_pct,
            samples: i64::try_from(samples.saturating_sub(samples_before)).unwrap_or(i64::MAX),
        };
        samples_before = samples;
        if let Err(error) = store.record_system_metrics(&sample).await {
            tracing::warn!(evt = "system_metrics_failed", error = %error);
        }
    }
}
