//! Which variant of an experiment a user gets, and whether an experiment applies to a request.
//!
//! The assignment is a pure function of the experiment's name, the variants' weights and the
//! user's name: SHA-256 of `"{experiment}\0{user}"`, its first 8 bytes read as a big-endian
//! `u64`, scaled to a point in [0, 1); the variant whose cumulative share of the total weight
//! covers the point is the user's. No state is kept or shared, so the same user gets the same
//! variant on every request, after restarts and on every instance. Changing the weights moves
//! only the users whose points fall between the old and the new boundaries; renaming the
//! experiment reshuffles everyone.

use alice_core::config::{ExperimentConfig, ExperimentRoutes, VariantConfig};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// A user's variant of one experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assignment<'a> {
    pub experiment: &'a ExperimentConfig,
    pub variant: &'a VariantConfig,
}

/// The chat route a request came by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /api/chat` (and the page).
    Native,
    /// `POST /v1/chat/completions`.
    OpenAi,
}

/// The user's point in [0, 1) for the experiment named `experiment`: the first 8 bytes of
/// SHA-256(`"{experiment}\0{user}"`) as a big-endian `u64`, its top 53 bits over 2^53 (so
/// the point is exact in an `f64` and never reaches 1).
pub fn assignment_point(experiment: &str, user: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(experiment.as_bytes());
    hasher.update([0u8]);
    hasher.update(user.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// The variant `user` gets in `experiment`: sticky, and spread over the variants by weight.
///
/// # Panics
///
/// If the experiment has no variants, which `Config::validate` refuses (it asks for two).
pub fn assign<'a>(experiment: &'a ExperimentConfig, user: &str) -> &'a VariantConfig {
    let point = assignment_point(&experiment.name, user);
    // Validation keeps weights finite and positive; should one slip through, it counts as 0,
    // and all-zero weights count as equal.
    let weight = |v: &VariantConfig| {
        if v.weight.is_finite() && v.weight > 0.0 {
            v.weight
        } else {
            0.0
        }
    };
    let total: f64 = experiment.variants.iter().map(weight).sum();
    let count = experiment.variants.len() as f64;
    let mut cumulative = 0.0;
    for variant in &experiment.variants {
        cumulative += if total > 0.0 {
            weight(variant) / total
        } else {
            1.0 / count
        };
        if point < cumulative {
            return variant;
        }
    }
    // Rounding can leave the shares' sum a hair below 1: the last variant takes the rest.
    match experiment.variants.last() {
        Some(last) => last,
        None => panic!(
            "experiment {:?} has no variants (Config::validate refuses that)",
            experiment.name
        ),
    }
}

/// Whether `experiment` runs at `now`: from `start` (inclusive) until `stop` (exclusive); an
/// unset bound does not limit it. Says nothing of a pause by the guard or the operator, which
/// the server keeps.
pub fn active(experiment: &ExperimentConfig, now: DateTime<Utc>) -> bool {
    experiment.start.is_none_or(|start| now >= start)
        && experiment.stop.is_none_or(|stop| now < stop)
}

/// Whether requests by `route` take part in `experiment`.
pub fn covers(experiment: &ExperimentConfig, route: Route) -> bool {
    matches!(
        (experiment.routes, route),
        (ExperimentRoutes::Both, _)
            | (ExperimentRoutes::Native, Route::Native)
            | (ExperimentRoutes::Openai, Route::OpenAi)
    )
}

/// The variant the others are compared with: the one `control` names, or the first.
///
/// # Panics
///
/// If the experiment has no variants, which `Config::validate` refuses.
pub fn control(experiment: &ExperimentConfig) -> &VariantConfig {
    let named = experiment
        .control
        .as_ref()
        .and_then(|name| experiment.variants.iter().find(|v| &v.name == name));
    match named.or(experiment.variants.first()) {
        Some(variant) => variant,
        None => panic!(
            "experiment {:?} has no variants (Config::validate refuses that)",
            experiment.name
        ),
    }
}

/// The user's variant of every experiment in `experiments` that runs at `now` and covers
/// `route`, in the order configured. A request may take part in several experiments at once;
/// how their variants combine (say, two that both set the model) is the caller's decision.
pub fn assignments<'a>(
    experiments: &'a [ExperimentConfig],
    route: Route,
    now: DateTime<Utc>,
    user: &'a str,
) -> impl Iterator<Item = Assignment<'a>> + 'a {
    experiments
        .iter()
        .filter(move |e| active(e, now) && covers(e, route))
        .map(move |experiment| Assignment {
            experiment,
            variant: assign(experiment, user),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alice_core::config::ExperimentGuard;

    fn variant(name: &str, weight: f64) -> VariantConfig {
        VariantConfig {
            name: name.to_owned(),
            weight,
            backend: None,
            model: None,
            brownout: None,
            system_prompt: None,
        }
    }

    fn experiment(name: &str, weights: &[(&str, f64)]) -> ExperimentConfig {
        ExperimentConfig {
            name: name.to_owned(),
            routes: ExperimentRoutes::Both,
            start: None,
            stop: None,
            control: None,
            guard: ExperimentGuard::default(),
            variants: weights.iter().map(|(n, w)| variant(n, *w)).collect(),
        }
    }

    fn time(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn points_are_fixed_vectors() {
        // Computed independently: python3 hashlib.sha256(f"{e}\0{u}".encode()), first 8 bytes
        // big-endian, >> 11, / 2**53.
        for (e, u, expected) in [
            ("small-model", "anna", 0.726494336555253),
            ("small-model", "bertil", 0.3474640163899704),
            ("small-model", "cecilia@example.se", 0.07693733129924996),
            ("other", "anna", 0.7218895781868436),
        ] {
            assert_eq!(assignment_point(e, u), expected, "{e} {u}");
        }
    }

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let even = experiment("small-model", &[("control", 1.0), ("fast", 1.0)]);
        let names = |e: &ExperimentConfig| {
            ["anna", "bertil", "cecilia@example.se"].map(|u| assign(e, u).name.clone())
        };
        assert_eq!(names(&even), ["fast", "control", "control"]);
        assert_eq!(names(&even), names(&even.clone()), "the same every time");
        let skewed = experiment("small-model", &[("control", 1.0), ("fast", 3.0)]);
        assert_eq!(names(&skewed), ["fast", "fast", "control"]);
    }

    #[test]
    fn users_spread_by_weight() {
        let e = experiment("spread", &[("a", 1.0), ("b", 3.0)]);
        let n = 10_000;
        let a = (0..n)
            .filter(|i| assign(&e, &format!("user-{i}")).name == "a")
            .count();
        let share = a as f64 / n as f64;
        assert!((share - 0.25).abs() <= 0.02, "share of a: {share}");
        let three = experiment("three", &[("a", 1.0), ("b", 1.0), ("c", 2.0)]);
        let c = (0..n)
            .filter(|i| assign(&three, &format!("user-{i}")).name == "c")
            .count();
        assert!((c as f64 / n as f64 - 0.5).abs() <= 0.02, "share of c: {c}");
    }

    #[test]
    fn a_window_and_routes() {
        let mut e = experiment("e", &[("a", 1.0), ("b", 1.0)]);
        assert!(active(&e, time("2020-01-01T00:00:00Z")));
        e.start = Some(time("2025-03-01T08:00:00Z"));
        e.stop = Some(time("2025-04-01T08:00:00Z"));
        assert!(!active(&e, time("2025-03-01T07:59:59Z")));
        assert!(active(&e, time("2025-03-01T08:00:00Z")));
        assert!(!active(&e, time("2025-04-01T08:00:00Z")));
        assert!(covers(&e, Route::Native) && covers(&e, Route::OpenAi));
        e.routes = ExperimentRoutes::Openai;
        assert!(!covers(&e, Route::Native) && covers(&e, Route::OpenAi));
        e.routes = ExperimentRoutes::Native;
        assert!(covers(&e, Route::Native) && !covers(&e, Route::OpenAi));
        let list = [e];
        let now = time("2025-03-02T00:00:00Z");
        assert_eq!(assignments(&list, Route::Native, now, "anna").count(), 1);
        assert_eq!(assignments(&list, Route::OpenAi, now, "anna").count(), 0);
    }

    #[test]
    fn the_control_is_named_or_first() {
        let mut e = experiment("e", &[("a", 1.0), ("b", 1.0)]);
        assert_eq!(control(&e).name, "a");
        e.control = Some("b".to_owned());
        assert_eq!(control(&e).name, "b");
    }
}
