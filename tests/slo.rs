//! The SLO rules from `slo.toml` against the real thing: the bucket bounds they read are ones
//! Alice exports, and Prometheus's own rule tester (`promtool`, from `ALICE_TEST_PROMTOOL`)
//! accepts them and fires exactly the expected alerts on a known fault, then clears the page
//! when the fault ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alice_upstream_sim::Faults;
use common::{Alice, config, start_sim};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn rules() -> String {
    let file =
        alice_slo::SloFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("slo.toml")).unwrap();
    alice_slo::prometheus_rules(&file).unwrap()
}

/// `(series, le)` of every bucket the rules read.
fn buckets_read(rules: &str) -> BTreeSet<(String, String)> {
    rules
        .match_indices("_bucket{")
        .map(|(at, _)| {
            let series_start = rules[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let series = format!("{}_bucket", &rules[series_start..at]);
            let rest = &rules[at..];
            let le_at = rest.find("le=\"").unwrap() + 4;
            let le = rest[le_at..].split('"').next().unwrap().to_owned();
            (series, le)
        })
        .collect()
}

#[tokio::test]
async fn the_rules_read_bucket_bounds_that_alice_exports() {
    let rules = rules();
    let buckets = buckets_read(&rules);
    assert!(buckets.len() >= 5, "{buckets:?}");

    let sim = start_sim(Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = Alice::start(config(dir.path(), &sim.base_url())).await;
    let (status, reply) = alice.chat(json!({ "message": "Hej!" })).await;
    assert_eq!(status, 200, "{reply}");
    let conversation = reply["conversation_id"].as_str().unwrap();
    alice
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let scrape = alice
        .http
        .get(alice.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, le) in &buckets {
        let exported = scrape.lines().any(|line| {
            line.starts_with(&format!("{series}{{")) && line.contains(&format!("le=\"{le}\""))
        });
        assert!(
            exported,
            "the rules read {series} le=\"{le}\", which /metrics never writes"
        );
    }
    // The routes the rules name are the labels Alice gives.
    for route in ["/api/chat", "/api/conversations/{id}/messages"] {
        assert!(scrape.contains(&format!("route=\"{route}\"")), "{route}");
    }
    alice.stop().await;
}

/// The promtool of `ALICE_TEST_PROMTOOL`; `None` (and a line saying so) when unset.
fn promtool(test: &str) -> Option<String> {
    let Ok(path) = std::env::var("ALICE_TEST_PROMTOOL") else {
        eprintln!("skipped {test}: ALICE_TEST_PROMTOOL is not set");
        return None;
    };
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("ALICE_TEST_PROMTOOL={path} is set but cannot run: {e}"));
    assert!(version.status.success(), "ALICE_TEST_PROMTOOL={path} fails");
    Some(path)
}

fn run(promtool: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_rules_and_the_alerts_fire_on_a_known_fault() {
    let Some(promtool) =
        promtool("promtool_accepts_the_rules_and_the_alerts_fire_on_a_known_fault")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = rules();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let checked = run(&promtool, &["check", "rules", "rules.yml"], dir.path());
    assert!(checked.contains("SUCCESS"), "{checked}");

    // Chat: 100 requests a minute. For the first 70 minutes 10 % fail (a 20× burn of the
    // 0.5 % budget) and every first token is slower than 5 s; then all is well.
    let slow_buckets: String = buckets_read(&rules)
        .iter()
        .filter(|(series, _)| series == "alice_chat_first_token_seconds_bucket")
        .map(|(series, le)| {
            format!(
                "      - series: '{series}{{api=\"native\",le=\"{le}\"}}'\n        values: '0+0x70 100+100x109'\n"
            )
        })
        .collect();
    let test = format!(
        r#"rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'alice_http_requests_total{{route="/api/chat",method="POST",status="200"}}'
        values: '0+90x70 6400+100x109'
      - series: 'alice_http_requests_total{{route="/api/chat",method="POST",status="500"}}'
        values: '0+10x70 700+0x109'
      - series: 'alice_http_requests_total{{route="/api/conversations/{{id}}/messages",method="GET",status="200"}}'
        values: '0+50x180'
      - series: 'alice_chat_first_token_seconds_count{{api="native"}}'
        values: '0+100x180'
{slow_buckets}    promql_expr_test:
      # While the fault lasts: the availability page and ticket, and a latency page per target.
      - expr: count by (alertname, severity, objective) (ALERTS{{alertstate="firing",slo="chat"}})
        eval_time: 65m
        exp_samples:
          - labels: '{{alertname="AliceErrorBudgetBurnFast",severity="page",objective="availability"}}'
            value: 1
          - labels: '{{alertname="AliceErrorBudgetBurnSlow",severity="ticket",objective="availability"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnFast",severity="page",objective="p50"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnFast",severity="page",objective="p95"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnFast",severity="page",objective="p99"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnFast",severity="page",objective="p99.9"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnSlow",severity="ticket",objective="p50"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnSlow",severity="ticket",objective="p95"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnSlow",severity="ticket",objective="p99"}}'
            value: 1
          - labels: '{{alertname="AliceLatencyBudgetBurnSlow",severity="ticket",objective="p99.9"}}'
            value: 1
      # History reads were healthy all along: nothing fires for them.
      - expr: ALERTS{{slo="history"}}
        eval_time: 65m
        exp_samples: []
      # The failed share over the last hour, as recorded.
      - expr: round(alice_slo:failed_requests:ratio_rate1h{{slo="chat"}}, 0.001)
        eval_time: 65m
        exp_samples:
          - labels: '{{slo="chat",objective="availability"}}'
            value: 0.1
    alert_rule_test:
      # Ten minutes after the fault ends the 5 m window is clean, but the 30 m one still
      # holds twenty minutes of it, so the 6 h / 30 m page goes on.
      - eval_time: 80m
        alertname: AliceErrorBudgetBurnFast
        exp_alerts:
          - exp_labels:
              severity: page
              slo: chat
              objective: availability
            exp_annotations:
              summary: {summary:?}
              description: {description:?}
              runbook_url: docs/runbooks.md#aliceerrorbudgetburnfast
      # Thirty-five minutes after, both short windows are clean: no page, though the long
      # windows still remember the fault (the tickets stay until they forget).
      - eval_time: 105m
        alertname: AliceErrorBudgetBurnFast
        exp_alerts: []
      - eval_time: 105m
        alertname: AliceLatencyBudgetBurnFast
        exp_alerts: []
      - eval_time: 105m
        alertname: AliceErrorBudgetBurnSlow
        exp_alerts:
          - exp_labels:
              severity: ticket
              slo: chat
              objective: availability
            exp_annotations:
              summary: {summary:?}
              description: {slow_description:?}
              runbook_url: docs/runbooks.md#aliceerrorbudgetburnslow
      # The page, whole: labels and the text a person reads.
      - eval_time: 65m
        alertname: AliceErrorBudgetBurnFast
        exp_alerts:
          - exp_labels:
              severity: page
              slo: chat
              objective: availability
            exp_annotations:
              summary: {summary:?}
              description: {description:?}
              runbook_url: docs/runbooks.md#aliceerrorbudgetburnfast
"#,
        summary = "Chat answers on Alice's API and the OpenAI-compatible one: more than 0.5 % of chat requests fail",
        description =
            "The error budget of chat (availability) is burning fast (budget 0.5 % over 30 days).",
        slow_description = "The error budget of chat (availability) is burning steadily (budget 0.5 % over 30 days).",
    );
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    let tested = run(&promtool, &["test", "rules", "test.yml"], dir.path());
    assert!(tested.contains("SUCCESS"), "{tested}");
}
