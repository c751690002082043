//! `[[experiments]]`: A/B tests of models and settings. Each experiment splits the users of the
//! routes it covers between its variants by weight (sticky per user; the assignment itself is
//! `alice-experiments`), for a time window, with a guard that pauses it when a variant fails
//! more often than the control.

use super::BackendConfig;
use super::checks::Problems;
use crate::BrownoutLevel;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest experiment or variant name, in characters.
pub const MAX_EXPERIMENT_NAME_CHARS: usize = 64;

/// Which chat routes an experiment covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentRoutes {
    /// The native chat, `POST /api/chat` (and the page).
    Native,
    /// The OpenAI-compatible `POST /v1/chat/completions`.
    Openai,
    /// Both.
    #[default]
    Both,
}

/// One A/B experiment: its variants, their weights, the routes and the time it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Lower-case letters, digits, `_` and `-`, 1 to 64 of them; unique. Part of the
    /// assignment's hash: renaming an experiment reshuffles its users.
    pub name: String,
    /// The routes whose requests take part.
    #[serde(default)]
    pub routes: ExperimentRoutes,
    /// When the experiment starts (RFC 3339, e.g. "2025-03-01T08:00:00Z"); not set: it runs
    /// from the start.
    #[serde(default, with = "optional_time")]
    pub start: Option<DateTime<Utc>>,
    /// When it stops; not set: it runs until removed or stopped. After `start`.
    #[serde(default, with = "optional_time")]
    pub stop: Option<DateTime<Utc>>,
    /// The variant the others are compared with; not set: the first variant.
    #[serde(default)]
    pub control: Option<String>,
    /// When the experiment is paused automatically.
    #[serde(default)]
    pub guard: ExperimentGuard,
    /// At least two, names unique.
    pub variants: Vec<VariantConfig>,
}

/// The automatic pause: a variant whose error rate exceeds the control's by more than
/// `error_margin`, once it has served `min_requests` requests, stops the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentGuard {
    /// The error rate a variant may have above the control's, as a fraction (0.10 = ten
    /// percentage points), between 0 and 1.
    pub error_margin: f64,
    /// Requests a variant must have served before the guard judges it; at least 1.
    pub min_requests: u64,
}

impl Default for ExperimentGuard {
    fn default() -> Self {
        Self {
            error_margin: 0.10,
            min_requests: 50,
        }
    }
}

/// One arm of an experiment: what its users get instead of the defaults. Settings left out
/// are the defaults; a variant with none set is the plain configuration (a fine control).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// Lower-case letters, digits, `_` and `-`, 1 to 64 of them; unique in the experiment.
    pub name: String,
    /// Relative share of the users, greater than zero: weights 1 and 3 give a quarter and
    /// three quarters.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// The backend that answers (a `backends[].name`); not set: the usual order of backends.
    #[serde(default)]
    pub backend: Option<String>,
    /// The model asked for; not set: the backend's `model`.
    #[serde(default)]
    pub model: Option<String>,
    /// A brownout floor, like a manual brownout: at least this level's cuts (a heavier level
    /// of the Guardian still wins). "NONE", "LIGHT", "MODERATE", "HEAVY" or "EMERGENCY".
    #[serde(default)]
    pub brownout: Option<BrownoutLevel>,
    /// The system prompt instead of `chat.system_prompt`.
    #[serde(default)]
    pub system_prompt: Option<String>,
}

fn default_weight() -> f64 {
    1.0
}

/// A time written either as a TOML date-time (`start = 2025-03-01T08:00:00Z`) or as an RFC 3339
/// string (`start = "2025-03-01T08:00:00Z"`, the only form an environment variable has). The
/// TOML reader hands a date-time on as a one-entry map (`{"$__toml_private_datetime": "..."}`),
/// which chrono's own deserializer refuses, so both forms are read here; either is written back
/// as an RFC 3339 string.
mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(
        time: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        time.map(|t| t.to_rfc3339()).serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        deserializer.deserialize_any(TimeVisitor)
    }

    struct TimeVisitor;

    impl<'de> Visitor<'de> for TimeVisitor {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 date and time, e.g. \"2025-03-01T08:00:00Z\"")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            DateTime::parse_from_rfc3339(value.trim())
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| {
                    E::custom(format!(
                        "\"{value}\" is not an RFC 3339 date and time with its offset, e.g. \
                         \"2025-03-01T08:00:00Z\" ({e})"
                    ))
                })
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let Some((_, value)) = map.next_entry::<String, String>()? else {
                return Err(de::Error::custom(
                    "expected a date and time, found an empty table",
                ));
            };
            self.visit_str(&value)
        }
    }
}

/// Whether `name` is a valid experiment or variant name: `[a-z0-9_-]{1,64}`.
pub fn is_valid_experiment_name(name: &str) -> bool {
    (1..=MAX_EXPERIMENT_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

const NAME_RULE: &str = "must be 1 to 64 lower-case letters, digits, _ or - (e.g. \"fast-model\")";

/// Every problem with the experiments, each named by its key (`experiments[0].variants[1].weight:
/// ...`); empty when they are usable. Variant backends are checked against `backends`.
pub(super) fn validate(
    experiments: &[ExperimentConfig],
    backends: &[BackendConfig],
) -> Vec<String> {
    let mut problems = Problems::default();
    for (i, experiment) in experiments.iter().enumerate() {
        let key = |field: &str| format!("experiments[{i}].{field}");
        problems.check(
            is_valid_experiment_name(&experiment.name),
            &key("name"),
            NAME_RULE,
        );
        problems.check(
            experiments
                .iter()
                .filter(|e| e.name == experiment.name)
                .count()
                == 1,
            &key("name"),
            &format!(
                "\"{}\" is the name of another experiment too",
                experiment.name
            ),
        );
        if let (Some(start), Some(stop)) = (experiment.start, experiment.stop) {
            problems.check(
                stop > start,
                &key("stop"),
                &format!("must be after start ({})", start.to_rfc3339()),
            );
        }
        if let Some(control) = &experiment.control {
            problems.check(
                experiment.variants.iter().any(|v| &v.name == control),
                &key("control"),
                &format!("\"{control}\" is not the name of one of this experiment's variants"),
            );
        }
        let guard = &experiment.guard;
        problems.check(
            (0.0..=1.0).contains(&guard.error_margin),
            &key("guard.error_margin"),
            "must be a fraction between 0 and 1 (0.10 = ten percentage points)",
        );
        problems.check(
            guard.min_requests >= 1,
            &key("guard.min_requests"),
            "must be at least 1",
        );
        problems.check(
            experiment.variants.len() >= 2,
            &key("variants"),
            "list at least two variants, e.g. [[experiments.variants]] name = \"control\" and \
             [[experiments.variants]] name = \"fast\" with model = \"...\"",
        );
        for (j, variant) in experiment.variants.iter().enumerate() {
            let key = |field: &str| format!("experiments[{i}].variants[{j}].{field}");
            problems.check(
                is_valid_experiment_name(&variant.name),
                &key("name"),
                NAME_RULE,
            );
            problems.check(
                experiment
                    .variants
                    .iter()
                    .filter(|v| v.name == variant.name)
                    .count()
                    == 1,
                &key("name"),
                &format!(
                    "\"{}\" is the name of another variant of this experiment too",
                    variant.name
                ),
            );
            problems.check(
                variant.weight.is_finite() && variant.weight > 0.0,
                &key("weight"),
                "must be a number greater than zero (a relative share, e.g. 1 or 3)",
            );
            if let Some(backend) = &variant.backend {
                let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
                problems.check(
                    names.contains(&backend.as_str()),
                    &key("backend"),
                    &format!(
                        "\"{backend}\" is not a configured backend; backends[].name is one of: {}",
                        names.join(", ")
                    ),
                );
            }
            problems.check(
                variant.model.as_ref().is_none_or(|m| !m.trim().is_empty()),
                &key("model"),
                "must name a model, e.g. \"llama3.2:3b\" (or leave it out for the backend's)",
            );
            problems.check(
                variant
                    .system_prompt
                    .as_ref()
                    .is_none_or(|p| !p.trim().is_empty()),
                &key("system_prompt"),
                "must not be empty (leave it out for chat.system_prompt)",
            );
        }
    }
    problems.into_list()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str) -> VariantConfig {
        VariantConfig {
            name: name.to_owned(),
            weight: 1.0,
            backend: None,
            model: None,
            brownout: None,
            system_prompt: None,
        }
    }

    fn experiment(name: &str) -> ExperimentConfig {
        ExperimentConfig {
            name: name.to_owned(),
            routes: ExperimentRoutes::Both,
            start: None,
            stop: None,
            control: None,
            guard: ExperimentGuard::default(),
            variants: vec![variant("control"), variant("fast")],
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "fast-model_2", &"x".repeat(64)] {
            assert!(is_valid_experiment_name(ok), "{ok}");
        }
        for bad in ["", "Fast", "två", "a b", "a.b", &"x".repeat(65)] {
            assert!(!is_valid_experiment_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_plain_experiment_is_valid() {
        assert!(validate(&[experiment("e")], &[BackendConfig::default()]).is_empty());
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let mut e = experiment("Bad Name");
        e.start = Some(DateTime::from_timestamp(2_000, 0).unwrap_or_default());
        e.stop = Some(DateTime::from_timestamp(1_000, 0).unwrap_or_default());
        e.control = Some("nobody".to_owned());
        e.guard.error_margin = 1.5;
        e.guard.min_requests = 0;
        e.variants[1].name = "control".to_owned();
        e.variants[1].weight = 0.0;
        e.variants[1].backend = Some("elsewhere".to_owned());
        e.variants[1].model = Some(" ".to_owned());
        e.variants[1].system_prompt = Some(String::new());
        let mut lonely = experiment("lonely");
        lonely.variants.truncate(1);
        let problems = validate(&[e, lonely], &[BackendConfig::default()]).join("\n");
        for key in [
            "experiments[0].name",
            "experiments[0].stop",
            "experiments[0].control",
            "experiments[0].guard.error_margin",
            "experiments[0].guard.min_requests",
            "experiments[0].variants[1].name",
            "experiments[0].variants[1].weight",
            "experiments[0].variants[1].backend",
            "experiments[0].variants[1].model",
            "experiments[0].variants[1].system_prompt",
            "experiments[1].variants",
        ] {
            assert!(problems.contains(key), "{key} missing from:\n{problems}");
        }
        assert!(
            problems.contains("ollama"),
            "names the backends: {problems}"
        );
    }

    #[test]
    fn experiment_names_are_unique() {
        let problems = validate(&[experiment("e"), experiment("e")], &[]);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("experiments[1].name"))
        );
    }
}
