//! `slo.toml`: what Alice promises, read and checked once so the rule writer can trust it.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Why `slo.toml` could not be used; each message names the setting and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("objective {objective:?}: {problem}")]
    Invalid { objective: String, problem: String },
    #[error("slo.toml has no [[objective]]; add one (see the file in Alice's repository)")]
    Empty,
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    /// The period an error budget is counted over.
    #[serde(with = "humantime_serde")]
    pub period: Duration,
    #[serde(rename = "objective")]
    pub objectives: Vec<Objective>,
}

/// Which histogram an objective's latency is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencySeries {
    /// `alice_chat_first_token_seconds`: the wait before the answer starts (chat only).
    FirstToken,
    /// `alice_http_request_duration_seconds` of the objective's routes: the whole response.
    Request,
}

/// One group of routes and what it promises.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// A short name, used in rule labels (`slo="chat"`).
    pub name: String,
    pub description: String,
    /// Route patterns as `/metrics` labels them (`/api/conversations/{id}`).
    pub routes: Vec<String>,
    /// The share of requests that must succeed, below 1 (0.995 leaves a 0.5 % budget).
    pub availability: f64,
    #[serde(default = "request_series")]
    pub latency_series: LatencySeries,
    /// "p99" → the time 99 % of requests must beat.
    #[serde(default, with = "latency_map")]
    pub latency: BTreeMap<String, Duration>,
}

fn request_series() -> LatencySeries {
    LatencySeries::Request
}

/// Durations in humantime form ("1.5s", "250ms") as map values.
mod latency_map {
    use serde::{Deserialize, Deserializer};
    use std::collections::BTreeMap;
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Duration>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(deserializer)?;
        raw.into_iter()
            .map(|(key, value)| {
                humantime::parse_duration(&value)
                    .map(|d| (key.clone(), d))
                    .map_err(|e| {
                        serde::de::Error::custom(format!("latency.{key} = {value:?}: {e}"))
                    })
            })
            .collect()
    }
}

/// One latency promise: `share` of requests faster than `within`.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyTarget {
    /// The key as written ("p99.9"), used as a label.
    pub label: String,
    /// 0.999 for "p99.9".
    pub share: f64,
    pub within: Duration,
}

impl Objective {
    /// The latency promises, tightest share last.
    pub fn latency_targets(&self) -> Result<Vec<LatencyTarget>, SloError> {
        let mut targets = Vec::new();
        for (label, within) in &self.latency {
            let share = label
                .strip_prefix('p')
                .and_then(|digits| digits.parse::<f64>().ok())
                .map(|percent| percent / 100.0)
                .filter(|share| *share > 0.0 && *share < 1.0)
                .ok_or_else(|| {
                    self.invalid(format!(
                    "latency key {label:?} is not a percentile; write p50, p95, p99 or \"p99.9\""
                ))
                })?;
            if within.is_zero() {
                return Err(self.invalid(format!("latency.{label} must be longer than zero")));
            }
            targets.push(LatencyTarget {
                label: label.clone(),
                share,
                within: *within,
            });
        }
        targets.sort_by(|a, b| a.share.total_cmp(&b.share));
        Ok(targets)
    }

    fn invalid(&self, problem: String) -> SloError {
        SloError::Invalid {
            objective: self.name.clone(),
            problem,
        }
    }

    fn check(&self) -> Result<(), SloError> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(self.invalid(
                "name must be letters, digits, '-' or '_' (it becomes a label)".to_owned(),
            ));
        }
        if self.routes.is_empty() || self.routes.iter().any(|r| !r.starts_with('/')) {
            return Err(self.invalid(
                "routes must list route patterns starting with '/', as /metrics labels them"
                    .to_owned(),
            ));
        }
        if !(self.availability > 0.0 && self.availability < 1.0) {
            return Err(self.invalid(format!(
                "availability {} must be between 0 and 1 (0.995 allows 0.5 % failures)",
                self.availability
            )));
        }
        self.latency_targets().map(|_| ())
    }
}

impl SloFile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, SloError> {
        let text = std::fs::read_to_string(path).map_err(|source| SloError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|error| match error {
            SloError::Parse { source, .. } => SloError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses and checks the text of a `slo.toml`.
    pub fn parse(text: &str) -> Result<Self, SloError> {
        let file: SloFile = toml::from_str(text).map_err(|source| SloError::Parse {
            path: "slo.toml".to_owned(),
            source: Box::new(source),
        })?;
        if file.objectives.is_empty() {
            return Err(SloError::Empty);
        }
        let mut names = std::collections::HashSet::new();
        for objective in &file.objectives {
            objective.check()?;
            if !names.insert(objective.name.as_str()) {
                return Err(objective.invalid("the name is used twice".to_owned()));
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        period = "30d"
        [[objective]]
        name = "chat"
        description = "chat"
        routes = ["/api/chat"]
        availability = 0.995
        latency_series = "first_token"
        [objective.latency]
        p50 = "1.5s"
        "p99.9" = "5s"
    "#;

    #[test]
    fn the_repositorys_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slo.toml");
        let file = SloFile::load(&path).unwrap();
        assert_eq!(file.period, Duration::from_secs(30 * 24 * 3600));
        let chat = &file.objectives[0];
        assert_eq!(chat.latency_series, LatencySeries::FirstToken);
        let shares: Vec<f64> = chat
            .latency_targets()
            .unwrap()
            .iter()
            .map(|t| t.share)
            .collect();
        for (share, want) in shares.iter().zip([0.50, 0.95, 0.99, 0.999]) {
            assert!((share - want).abs() < 1e-12, "{shares:?}");
        }
        assert_eq!(shares.len(), 4);
    }

    #[test]
    fn percentile_keys_become_shares() {
        let file = SloFile::parse(FILE).unwrap();
        let targets = file.objectives[0].latency_targets().unwrap();
        assert_eq!(targets[0].label, "p50");
        assert_eq!(targets[0].within, Duration::from_millis(1500));
        assert!((targets[1].share - 0.999).abs() < 1e-12);
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (FILE.replace("0.995", "1.0"), "availability 1"),
            (
                FILE.replace("p50", "median"),
                "\"median\" is not a percentile",
            ),
            (FILE.replace("\"chat\"\n", "\"chat bot\"\n"), "name must be"),
            (
                FILE.replace("[\"/api/chat\"]", "[\"api/chat\"]"),
                "routes must",
            ),
            (FILE.replace("1.5s", "soon"), "latency.p50"),
            (FILE.replace("first_token", "ttft"), "ttft"),
        ];
        for (text, expected) in cases {
            let error = SloFile::parse(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
        let twice = format!(
            "{FILE}\n[[objective]]\nname = \"chat\"\ndescription = \"\"\nroutes = [\"/x\"]\navailability = 0.9\n"
        );
        assert!(
            SloFile::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("used twice")
        );
    }
}
