//! `[deadlines]`: how long a request may run, by path, before it is answered with 504.

use super::checks::Problems;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Per-path deadlines: a request still running at its deadline is answered with 504.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    #[serde(with = "humantime_serde")]
    pub chat: Duration,
    #[serde(with = "humantime_serde")]
    pub brain: Duration,
    #[serde(with = "humantime_serde")]
    pub agent: Duration,
    #[serde(with = "humantime_serde")]
    pub upload: Duration,
    /// Every path not named above.
    #[serde(with = "humantime_serde")]
    pub default: Duration,
    /// Longest a streamed chat answer may run once its first token was sent. The path's
    /// deadline (`chat`) bounds the wait for the first token and a whole non-streamed answer;
    /// a stream whose tokens keep coming (no silence longer than the backend's
    /// `idle_timeout`) runs on until it is done or this much time has passed since the
    /// request came in.
    #[serde(with = "humantime_serde")]
    pub stream_max: Duration,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self {
            chat: Duration::from_secs(30),
            brain: Duration::from_secs(15),
            agent: Duration::from_secs(25),
            upload: Duration::from_secs(45),
            default: Duration::from_secs(10),
            stream_max: Duration::from_secs(300),
        }
    }
}

impl DeadlineConfig {
    /// The deadline that applies to a request path.
    pub fn for_path(&self, path: &str) -> Duration {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api/chat") || under("/v1/chat/completions") {
            self.chat
        } else if under("/api/brain") {
            self.brain
        } else if under("/api/agent") {
            self.agent
        } else if under("/api/upload") {
            self.upload
        } else {
            self.default
        }
    }

    /// Every problem with the values, each named by its key (`deadlines.chat: ...`); empty
    /// when the settings are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Problems::default();
        for (key, value) in [
            ("deadlines.chat", self.chat),
            ("deadlines.brain", self.brain),
            ("deadlines.agent", self.agent),
            ("deadlines.upload", self.upload),
            ("deadlines.default", self.default),
            ("deadlines.stream_max", self.stream_max),
        ] {
            problems.check(!value.is_zero(), key, "must be longer than zero");
        }
        problems.check(
            self.stream_max >= self.chat,
            "deadlines.stream_max",
            "must be at least deadlines.chat: a stream's first token may take that long",
        );
        problems.into_list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_may_not_end_before_its_first_token_may_come() {
        assert!(DeadlineConfig::default().validate().is_empty());
        let short = DeadlineConfig {
            stream_max: Duration::from_secs(10),
            ..DeadlineConfig::default()
        };
        let problems = short.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("deadlines.stream_max:"));
    }
}
