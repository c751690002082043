//! The guard rail: whether a variant fails so much more often than the control that the
//! experiment should be paused. Judged on the same rows as the report; the server decides
//! what pausing means (it stops assigning, logs the [`GuardTrip`] and keeps it).

use crate::assign::control;
use crate::report::{Outcome, OutcomeRow, percent};
use alice_core::config::ExperimentConfig;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why the guard would pause an experiment: one variant's error rate is above the control's
/// by more than `guard.error_margin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardTrip {
    pub experiment: String,
    /// The variant that fails too often.
    pub variant: String,
    /// Its errors over its requests.
    pub error_rate: f64,
    /// The control variant's name.
    pub control: String,
    /// The control's errors over its requests (0 when it has none yet).
    pub control_error_rate: f64,
    /// The variant's requests, at least `guard.min_requests`.
    pub requests: u64,
    /// The margin it exceeded, as a fraction.
    pub error_margin: f64,
}

impl fmt::Display for GuardTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "experiment {}: variant {} failed {} of its {} requests against {} for the control \
             ({}), more than the margin of {} percentage points",
            self.experiment,
            self.variant,
            percent(Some(self.error_rate)),
            self.requests,
            percent(Some(self.control_error_rate)),
            self.control,
            format_points(self.error_margin),
        )
    }
}

/// 0.10 as "10", 0.025 as "2.5".
fn format_points(margin: f64) -> String {
    let points = margin * 100.0;
    if (points - points.round()).abs() < 1e-9 {
        format!("{points:.0}")
    } else {
        format!("{points}")
    }
}

/// The variant (other than the control) whose error rate exceeds the control's by more than
/// `experiment.guard.error_margin`, among those with at least `guard.min_requests` rows; when
/// several do, the one furthest over. A control without rows counts as failing never.
/// Variants the configuration no longer has are not judged: nobody is assigned to them.
pub fn guard(experiment: &ExperimentConfig, rows: &[OutcomeRow]) -> Option<GuardTrip> {
    let control_name = &control(experiment).name;
    let counts = |name: &str| {
        rows.iter().filter(|row| row.variant == name).fold(
            (0u64, 0u64),
            |(requests, errors), row| {
                (
                    requests + 1,
                    errors + u64::from(row.outcome == Outcome::Error),
                )
            },
        )
    };
    let rate = |(requests, errors): (u64, u64)| {
        if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        }
    };
    let control_error_rate = rate(counts(control_name));
    let margin = experiment.guard.error_margin;
    experiment
        .variants
        .iter()
        .filter(|v| &v.name != control_name)
        .filter_map(|v| {
            let (requests, errors) = counts(&v.name);
            let error_rate = rate((requests, errors));
            (requests >= experiment.guard.min_requests && error_rate - control_error_rate > margin)
                .then(|| GuardTrip {
                    experiment: experiment.name.clone(),
                    variant: v.name.clone(),
                    error_rate,
                    control: control_name.clone(),
                    control_error_rate,
                    requests,
                    error_margin: margin,
                })
        })
        .max_by(|a, b| a.error_rate.total_cmp(&b.error_rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::experiment;

    /// `n` rows of `variant`, every one of the first `errors` an error.
    fn rows(variant: &str, n: u64, errors: u64) -> Vec<OutcomeRow> {
        (0..n)
            .map(|i| OutcomeRow {
                variant: variant.to_owned(),
                outcome: if i < errors {
                    Outcome::Error
                } else {
                    Outcome::Answered
                },
                latency_ms: Some(100),
                ttft_ms: None,
                completion_tokens: None,
                feedback: None,
            })
            .collect()
    }

    #[test]
    fn trips_on_a_variant_well_over_the_margin_only() {
        let e = experiment(&["control", "broken", "fine"]);
        let mut all = rows("control", 100, 2);
        all.extend(rows("broken", 60, 18)); // 30 %
        all.extend(rows("fine", 60, 3)); // 5 %
        let trip = guard(&e, &all);
        assert_eq!(trip.as_ref().map(|t| t.variant.as_str()), Some("broken"));
        let trip = trip.unwrap_or_else(|| unreachable!());
        assert_eq!(trip.requests, 60);
        assert!((trip.error_rate - 0.3).abs() < 1e-12);
        assert!((trip.control_error_rate - 0.02).abs() < 1e-12);
        assert_eq!(
            trip.to_string(),
            "experiment e: variant broken failed 30 % of its 60 requests against 2.0 % for the \
             control (control), more than the margin of 10 percentage points"
        );
        let without_broken: Vec<OutcomeRow> =
            all.into_iter().filter(|r| r.variant != "broken").collect();
        assert_eq!(guard(&e, &without_broken), None, "5 % is within the margin");
    }

    #[test]
    fn waits_for_min_requests() {
        let e = experiment(&["control", "broken"]);
        let mut all = rows("control", 100, 2);
        all.extend(rows("broken", 49, 49));
        assert_eq!(guard(&e, &all), None, "49 of 50 requests");
        all.extend(rows("broken", 1, 1));
        assert!(guard(&e, &all).is_some());
    }

    #[test]
    fn the_control_is_never_judged_and_may_have_no_rows() {
        let mut e = experiment(&["a", "b"]);
        e.control = Some("b".to_owned());
        let trip = guard(&e, &rows("a", 50, 10)); // 20 % against nothing
        assert_eq!(trip.map(|t| t.control_error_rate), Some(0.0));
        assert_eq!(guard(&e, &rows("b", 100, 100)), None);
    }
}
