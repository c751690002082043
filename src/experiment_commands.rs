//! `alice experiment report|stop|resume`: the A/B experiments of the configuration, working on
//! the database directly (Alice may be running: every instance reads the states it writes
//! within two seconds, so a stop takes effect there within seconds). See docs/experiments.md.

use alice_core::Config;
use alice_core::config::ExperimentConfig;
use alice_store::{RunState, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};

/// The configured experiment named `name`.
fn configured<'a>(config: &'a Config, name: &str) -> anyhow::Result<&'a ExperimentConfig> {
    config
        .experiments
        .iter()
        .find(|e| e.name == name)
        .with_context(|| {
            let names: Vec<&str> = config.experiments.iter().map(|e| e.name.as_str()).collect();
            if names.is_empty() {
                format!("no experiment {name:?}: the configuration has no [[experiments]]")
            } else {
                format!(
                    "no experiment {name:?} in the configuration (it has {})",
                    names.join(", ")
                )
            }
        })
}

/// `--since`: an RFC 3339 time.
fn parse_since(raw: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .with_context(|| {
            format!("--since {raw:?} is not an RFC 3339 time such as 2025-03-01T08:00:00Z")
        })
}

/// Prints the report of experiment `name`: as text, or as the JSON of
/// `GET /api/experiments/{name}` with `--json`.
pub async fn report(
    config: &Config,
    name: &str,
    since: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let experiment = configured(config, name)?;
    let since = since.map(parse_since).transpose()?;
    let store = Store::open(&config.database).await?;
    let read = async {
        let report = alice_server::runtime::experiments::report(&store, experiment, since).await?;
        let state = store
            .experiment_states()
            .await?
            .into_iter()
            .find(|state| state.name == name);
        Ok::<_, anyhow::Error>((report, state))
    }
    .await;
    store.close().await;
    let (report, state) = read?;
    let active = alice_experiments::active(experiment, Utc::now());
    let run_state = state.as_ref().map_or(RunState::Running, |s| s.state);
    let out = if json {
        let document = serde_json::json!({
            "experiment": name,
            "state": run_state,
            "reason": state.as_ref().and_then(|s| s.reason.clone()),
            "changed_at": state.as_ref().map(|s| s.changed_at),
            "active": active,
            "since": since,
            "report": report,
        });
        format!("{}\n", serde_json::to_string_pretty(&document)?)
    } else {
        let mut head = format!("experiment {name}: {run_state}");
        if let Some(reason) = state.as_ref().and_then(|s| s.reason.as_deref()) {
            head.push_str(&format!(" ({reason})"));
        }
        if !active {
            head.push_str(", outside its start and stop times");
        }
        if let Some(since) = since {
            head.push_str(&format!("; outcomes since {}", since.to_rfc3339()));
        }
        format!("{head}\n\n{}", alice_experiments::render_text(&report))
    };
    crate::write_stdout(out.as_bytes())
}

/// Sets experiment `name`'s state: `stop` (no more assignments, until `resume`) or `resume`.
pub async fn set_state(
    config: &Config,
    name: &str,
    state: RunState,
    reason: Option<&str>,
) -> anyhow::Result<()> {
    configured(config, name)?;
    let store = Store::open(&config.database).await?;
    let set = store.set_experiment_state(name, state, reason).await;
    store.close().await;
    set?;
    let what = match state {
        RunState::Stopped => {
            "stopped: no request takes part in it any more (running Alices \
                              follow within seconds); `alice experiment resume` starts it again"
        }
        RunState::Paused => "paused",
        RunState::Running => {
            "running again: requests take part in it as before (running \
                              Alices follow within seconds)"
        }
    };
    crate::write_stdout(format!("experiment {name} {what}\n").as_bytes())
}
