//! The scripted A/B test, on rows alone: users spread over `control` (~400 ms) and
//! `fast` (~100 ms) by the real assignment, 2 % errors each, about 300 ratings each at 60 %
//! and 61 % positive. The report must name fast as faster with significance and call the
//! feedback difference noise; the guard must trip on a 30 % variant and not on a 5 % one.

#![allow(clippy::unwrap_used)]
use alice_core::config::{ExperimentConfig, ExperimentGuard, ExperimentRoutes, VariantConfig};
use alice_experiments::{Outcome, OutcomeRow, Rating, assign, control, guard, render_text, report};

fn experiment(variants: &[&str]) -> ExperimentConfig {
    ExperimentConfig {
        name: "fast-model".to_owned(),
        routes: ExperimentRoutes::Both,
        start: None,
        stop: None,
        control: Some("control".to_owned()),
        guard: ExperimentGuard::default(),
        variants: variants
            .iter()
            .map(|name| VariantConfig {
                name: (*name).to_owned(),
                weight: 1.0,
                backend: None,
                model: Some(format!("{name}-model")),
                brownout: None,
                system_prompt: None,
            })
            .collect(),
    }
}

/// A small fixed pseudo-random sequence (splitmix64), so the scenario is the same every run.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-spread, spread].
    fn around(&mut self, centre: u64, spread: u64) -> u64 {
        centre - spread + self.next() % (2 * spread + 1)
    }
}

/// 600 requests per variant, three per user, the users assigned by the real `assign`. Per
/// variant in `plan`: (name, latency centre in ms, error percent, answers rated, rated up); the
/// errors are spread evenly (exactly the percent of every 100 requests).
fn scripted(e: &ExperimentConfig, plan: &[(&str, u64, u64, u64, u64)]) -> Vec<OutcomeRow> {
    let mut noise = Noise(20);
    let mut rows = Vec::new();
    let mut seen: Vec<(String, u64, u64)> = Vec::new(); // (variant, requests, rated)
    let mut user = 0u64;
    loop {
        user += 1;
        let variant = assign(e, &format!("user-{user}")).name.clone();
        let Some(&(_, centre, error_pct, rated, up)) =
            plan.iter().find(|(name, ..)| *name == variant)
        else {
            continue;
        };
        let entry = match seen.iter().position(|(name, ..)| *name == variant) {
            Some(i) => i,
            None => {
                seen.push((variant.clone(), 0, 0));
                seen.len() - 1
            }
        };
        if seen[entry].1 >= 600 {
            if seen.iter().filter(|s| s.1 >= 600).count() == plan.len() {
                break;
            }
            continue;
        }
        // Each user sends three requests.
        for _ in 0..3 {
            if seen[entry].1 >= 600 {
                break;
            }
            seen[entry].1 += 1;
            let n = seen[entry].1;
            let error = (n * error_pct) % 100 < error_pct;
            let feedback = if !error && seen[entry].2 < rated {
                seen[entry].2 += 1;
                Some(if seen[entry].2 <= up {
                    Rating::Up
                } else {
                    Rating::Down
                })
            } else {
                None
            };
            let latency = noise.around(centre, centre / 4);
            rows.push(OutcomeRow {
                variant: variant.clone(),
                outcome: if error {
                    Outcome::Error
                } else {
                    Outcome::Answered
                },
                latency_ms: Some(latency),
                ttft_ms: Some(latency / 5),
                completion_tokens: Some(80 + noise.next() % 40),
                feedback: if error { None } else { feedback },
            });
        }
    }
    rows
}

#[test]
fn the_report_names_the_faster_variant_and_calls_a_tiny_feedback_difference_noise() {
    let e = experiment(&["control", "fast"]);
    // 600 requests each, 2 % errors, 300 ratings: 180 up against 183.
    let rows = scripted(
        &e,
        &[("control", 400, 2, 300, 180), ("fast", 100, 2, 300, 183)],
    );
    let r = report(&e, &rows);
    // Shown with --nocapture.
    eprintln!("{}", render_text(&r));
    assert_eq!(r.control, "control");
    let fast = r.variants.iter().find(|v| v.name == "fast").unwrap();
    assert_eq!(
        (fast.requests, fast.errors, fast.feedback, fast.positive),
        (600, 12, 300, 183)
    );
    assert!((90..=110).contains(&fast.latency_ms.p50.unwrap()));
    let comparison = &r.comparisons[0];
    assert_eq!(comparison.variant, "fast");
    assert!(comparison.latency.unwrap().p_value < 0.001);
    assert!(comparison.feedback.unwrap().p_value > 0.5);
    let verdict = comparison.verdict.join("\n");
    assert!(
        verdict.contains("fast is faster than control: p50 ")
            && verdict.contains("(Mann-Whitney p < 0.001, larger than the noise)"),
        "{verdict}"
    );
    assert!(
        verdict.contains(
            "the feedback difference (61 % against 60 % positive) is within the noise (p = 0.80)"
        ),
        "{verdict}"
    );
    assert!(
        verdict.contains(
            "the error-rate difference (2.0 % against 2.0 % of requests) is within the noise"
        ),
        "{verdict}"
    );
    assert_eq!(r.guard, None);
    let text = render_text(&r);
    assert!(text.contains("fast against control:"), "{text}");
    assert!(text.contains("  - fast is faster than control"), "{text}");
}

#[test]
fn the_guard_trips_on_thirty_percent_errors_and_not_on_five() {
    let e = experiment(&["control", "broken", "shaky"]);
    assert_eq!(control(&e).name, "control");
    // min_requests 50 (the default), margin 10 points; control 2 %, broken 30 %, shaky 5 %.
    let rows = scripted(
        &e,
        &[
            ("control", 400, 2, 0, 0),
            ("broken", 400, 30, 0, 0),
            ("shaky", 400, 5, 0, 0),
        ],
    );
    let trip = guard(&e, &rows).unwrap();
    assert_eq!(trip.variant, "broken");
    assert_eq!(trip.requests, 600);
    assert!((trip.error_rate - 0.30).abs() < 1e-9, "{trip:?}");
    assert!((trip.control_error_rate - 0.02).abs() < 1e-9, "{trip:?}");
    // Already at 50 requests of broken (15 of them errors).
    let mut broken = 0;
    let first: Vec<OutcomeRow> = rows
        .iter()
        .filter(|r| {
            broken += u64::from(r.variant == "broken");
            broken <= 50
        })
        .cloned()
        .collect();
    assert_eq!(guard(&e, &first).map(|t| t.requests), Some(50));
    let shaky_only: Vec<OutcomeRow> = rows.into_iter().filter(|r| r.variant != "broken").collect();
    assert_eq!(guard(&e, &shaky_only), None);
    // The report says it too.
    let r = report(&e, &shaky_only);
    assert!(r.guard.is_none());
}
