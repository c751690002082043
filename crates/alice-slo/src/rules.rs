//! The Prometheus rule file for a [`SloFile`]: recording rules for the share of bad requests
//! over each window, and burn-rate alerts on them.
//!
//! A budget is what an objective allows to go wrong: 1 − availability for failures, 1 − share
//! for a latency target (p99 < 3 s allows 1 % of requests slower than 3 s). Burning at rate 1
//! spends exactly the budget in the SLO period. The alerts are the workbook's four:
//!
//! | alert | severity | burn rate | long window | short window | budget spent when it fires (30 d) |
//! |---|---|---|---|---|---|
//! | fast | page | 14.4 | 1 h | 5 m | 2 % |
//! | fast | page | 6 | 6 h | 30 m | 5 % |
//! | slow | ticket | 3 | 1 d | 2 h | 10 % |
//! | slow | ticket | 1 | 3 d | 6 h | 10 % |
//!
//! Both windows must burn: the long one says the damage is real, the short one that it is still
//! going on, so an alert clears minutes after a fault ends. Where rate × budget would reach
//! 100 % (a p50 target has a 50 % budget), the alert fires when the budget is being spent at
//! all over both windows instead, since no share above 100 % can exist.
//!
//! Latency is read from histogram buckets. A bucket bound rarely equals the target time, so
//! the rule counts a request as slow above the highest bound at or below the target: a little
//! stricter than the target, never looser. The bound used is written in the rule's comment.

use crate::objectives::{LatencySeries, Objective, SloError, SloFile};
use alice_core::latency_buckets::latency_buckets;
use std::fmt::Write as _;
use std::time::Duration;

/// The windows ratios are recorded over, shortest first.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One multi-window burn-rate condition.
struct BurnCondition {
    rate: f64,
    long: &'static str,
    short: &'static str,
}

/// Page: the budget would be gone in days.
const FAST: [BurnCondition; 2] = [
    BurnCondition {
        rate: 14.4,
        long: "1h",
        short: "5m",
    },
    BurnCondition {
        rate: 6.0,
        long: "6h",
        short: "30m",
    },
];

/// Ticket: the budget would be gone before the period ends.
const SLOW: [BurnCondition; 2] = [
    BurnCondition {
        rate: 3.0,
        long: "1d",
        short: "2h",
    },
    BurnCondition {
        rate: 1.0,
        long: "3d",
        short: "6h",
    },
];

/// What one recorded ratio measures.
struct Budget {
    /// `availability`, or the latency target's label ("p99").
    label: String,
    /// Share allowed to be bad.
    allowed: f64,
    /// The recording rule's name without the window.
    record: &'static str,
    /// The bad share over `[window]`, as PromQL.
    ratio: Box<dyn Fn(&str) -> String>,
    /// Alert names (fast, slow).
    alerts: (&'static str, &'static str),
    /// What the alert text says is wrong.
    what: String,
}

/// A label matcher for a set of route patterns. Backquoted PromQL strings take no escapes, so
/// only RE2's own metacharacters need a backslash.
fn routes_matcher(routes: &[String]) -> String {
    let escaped: Vec<String> = routes
        .iter()
        .map(|route| {
            route
                .chars()
                .flat_map(|c| {
                    let special = "\\.+*?()|[]{}^$".contains(c);
                    special.then_some('\\').into_iter().chain([c])
                })
                .collect()
        })
        .collect();
    format!("route=~`{}`", escaped.join("|"))
}

/// A bucket bound as the Prometheus client writes it in `le`. prometheus-client formats with
/// `dtoa`, whose last digit can differ from Rust's own formatting ("…4582" against "…4581"),
/// so the same crate writes it here: a rule must match the label to the character.
fn le_label(bound: f64) -> String {
    dtoa::Buffer::new().format(bound).to_owned()
}

/// The highest bucket bound at or below `within`, in seconds.
fn bound_at_or_below(
    objective: &Objective,
    label: &str,
    within: Duration,
) -> Result<f64, SloError> {
    let seconds = within.as_secs_f64();
    latency_buckets()
        .take_while(|bound| *bound <= seconds * (1.0 + 1e-9))
        .last()
        .ok_or_else(|| SloError::Invalid {
            objective: objective.name.clone(),
            problem: format!(
                "latency.{label} is below the smallest histogram bucket; it cannot be measured"
            ),
        })
}

fn budgets(objective: &Objective) -> Result<Vec<Budget>, SloError> {
    let routes = routes_matcher(&objective.routes);
    let all_routes = routes.clone();
    let mut budgets = vec![Budget {
        label: "availability".to_owned(),
        allowed: 1.0 - objective.availability,
        record: "alice_slo:failed_requests:ratio_rate",
        ratio: Box::new(move |window| {
            format!(
                "sum(rate(alice_http_requests_total{{{all_routes},status=~\"5..|429\"}}[{window}]))\n  / sum(rate(alice_http_requests_total{{{all_routes}}}[{window}]))"
            )
        }),
        alerts: ("AliceErrorBudgetBurnFast", "AliceErrorBudgetBurnSlow"),
        what: format!(
            "more than {} of {} requests fail",
            percent(1.0 - objective.availability),
            objective.name
        ),
    }];
    for target in objective.latency_targets()? {
        let bound = bound_at_or_below(objective, &target.label, target.within)?;
        let le = le_label(bound);
        let (series, selector) = match objective.latency_series {
            LatencySeries::FirstToken => ("alice_chat_first_token_seconds", String::new()),
            LatencySeries::Request => ("alice_http_request_duration_seconds", routes.clone()),
        };
        let joiner = if selector.is_empty() { "" } else { "," };
        budgets.push(Budget {
            label: target.label.clone(),
            allowed: 1.0 - target.share,
            record: "alice_slo:slow_requests:ratio_rate",
            ratio: Box::new(move |window| {
                format!(
                    "# slow: above le=\"{le}\" s\n  1 - sum(rate({series}_bucket{{{selector}{joiner}le=\"{le}\"}}[{window}]))\n  / sum(rate({series}_count{{{selector}}}[{window}]))"
                )
            }),
            alerts: ("AliceLatencyBudgetBurnFast", "AliceLatencyBudgetBurnSlow"),
            what: format!(
                "more than {} of {} requests take longer than {} ({})",
                percent(1.0 - target.share),
                objective.name,
                humantime::format_duration(target.within),
                target.label
            ),
        });
    }
    Ok(budgets)
}

/// A threshold without float noise (0.0144, not 0.014400000000000001).
fn number(value: f64) -> String {
    let text = format!("{value:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn percent(share: f64) -> String {
    let text = format!("{:.3}", share * 100.0);
    format!("{} %", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A YAML double-quoted string.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Indents every line of a PromQL block for a YAML `|` scalar.
fn block(expr: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    expr.lines().map(|line| format!("{pad}{line}\n")).collect()
}

/// The Prometheus rule file (YAML) for `file`.
pub fn prometheus_rules(file: &SloFile) -> Result<String, SloError> {
    let mut out = String::new();
    let period_days = file.period.as_secs_f64() / 86_400.0;
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# Generated by `alice slo rules` from slo.toml; do not edit, regenerate.\n# Error budgets over {period_days} days. Runbooks: docs/runbooks.md.\ngroups:"
    );
    let mut alerts = String::new();
    for objective in &file.objectives {
        let budgets = budgets(objective)?;
        let _ = writeln!(
            out,
            "  - name: alice-slo-{}-recording\n    rules:",
            objective.name
        );
        for budget in &budgets {
            for window in WINDOWS {
                let expr = (budget.ratio)(window);
                let _ = write!(
                    out,
                    "      - record: {}{window}\n        labels:\n          slo: {}\n          objective: {}\n        expr: |\n{}",
                    budget.record,
                    quoted(&objective.name),
                    quoted(&budget.label),
                    block(&expr, 10)
                );
            }
        }
        for budget in &budgets {
            for (name, severity, conditions) in [
                (budget.alerts.0, "page", &FAST),
                (budget.alerts.1, "ticket", &SLOW),
            ] {
                let selector = format!(
                    "{{slo=\"{}\",objective=\"{}\"}}",
                    objective.name, budget.label
                );
                let expr: Vec<String> = conditions
                    .iter()
                    .map(|condition| {
                        let threshold = if condition.rate * budget.allowed < 1.0 {
                            condition.rate * budget.allowed
                        } else {
                            budget.allowed
                        };
                        format!(
                            "(\n  {record}{long}{selector} > {threshold}\n  and\n  {record}{short}{selector} > {threshold}\n)",
                            threshold = number(threshold),
                            record = budget.record,
                            long = condition.long,
                            short = condition.short,
                        )
                    })
                    .collect();
                let _ = write!(
                    alerts,
                    "      - alert: {name}\n        expr: |\n{}        labels:\n          severity: {severity}\n          slo: {}\n          objective: {}\n        annotations:\n          summary: {}\n          description: {}\n          runbook_url: {}\n",
                    block(&expr.join("\nor\n"), 10),
                    quoted(&objective.name),
                    quoted(&budget.label),
                    quoted(&format!("{}: {}", objective.description, budget.what)),
                    quoted(&format!(
                        "The error budget of {} ({}) is burning {} (budget {} over {period_days} days).",
                        objective.name,
                        budget.label,
                        if severity == "page" {
                            "fast"
                        } else {
                            "steadily"
                        },
                        percent(budget.allowed)
                    )),
                    quoted(&format!("docs/runbooks.md#{}", name.to_lowercase())),
                );
            }
        }
    }
    let _ = write!(out, "  - name: alice-slo-alerts\n    rules:\n{alerts}");
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn repository_file() -> SloFile {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slo.toml");
        SloFile::load(&path).unwrap()
    }

    #[test]
    fn every_objective_gets_ratios_over_every_window_and_four_alerts() {
        let rules = prometheus_rules(&repository_file()).unwrap();
        for window in WINDOWS {
            assert!(
                rules.contains(&format!(
                    "record: alice_slo:failed_requests:ratio_rate{window}\n"
                )),
                "{window}"
            );
        }
        // chat: availability + 4 latency targets; history: availability + p99.
        assert_eq!(rules.matches("record: ").count(), 7 * (5 + 2));
        assert_eq!(rules.matches("- alert: ").count(), 2 * (5 + 2));
        assert!(rules.contains("route=~`/api/chat|/v1/chat/completions`"));
        assert!(
            rules.contains(
                "route=~`/api/conversations/\\{id\\}|/api/conversations/\\{id\\}/messages`"
            )
        );
        assert!(rules.contains("alice_chat_first_token_seconds_bucket{le=\""));
        assert!(rules.contains("runbook_url: \"docs/runbooks.md#aliceerrorbudgetburnfast\""));
    }

    #[test]
    fn thresholds_are_burn_rates_of_the_budget() {
        let rules = prometheus_rules(&repository_file()).unwrap();
        // Availability 0.995: 14.4 × 0.005 = 0.072 over 1 h and 5 m.
        assert!(rules.contains(
            "alice_slo:failed_requests:ratio_rate1h{slo=\"chat\",objective=\"availability\"} > 0.072"
        ));
        // p50's budget is 50 %: 14.4 × 0.5 passes 100 %, so "spent at all" is the condition.
        assert!(rules.contains(
            "alice_slo:slow_requests:ratio_rate1h{slo=\"chat\",objective=\"p50\"} > 0.5\n"
        ));
    }

    #[test]
    fn a_slow_request_is_one_above_the_bound_at_or_below_the_target() {
        let chat = &repository_file().objectives[0];
        let p99 = bound_at_or_below(chat, "p99", Duration::from_secs(3)).unwrap();
        let next = latency_buckets().find(|b| *b > p99).unwrap();
        assert!(p99 <= 3.0 && next > 3.0, "{p99} {next}");
        assert_eq!(le_label(2.0), "2.0");
        assert_eq!(le_label(2.5), "2.5");
        assert!(bound_at_or_below(chat, "p99", Duration::from_micros(1)).is_err());
    }
}
