//! The Guardian's settings, `[guardian]` in Alice's configuration. They live with the rest
//! of the configuration in `alice_core::config` (one config type); this module re-exports them
//! and tests their defaults and checks.

pub use alice_core::config::GuardianConfig;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let c = GuardianConfig::default();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.window, 3);
        assert_eq!(c.min_dwell, Duration::from_secs(45));
        assert_eq!(c.lockdown_for, Duration::from_secs(3600));
    }

    #[test]
    fn it_reads_humantime_and_rejects_unknown_keys() {
        let c: GuardianConfig =
            serde_json::from_str(r#"{"interval":"500ms","min_dwell":"1m","window":5}"#).unwrap();
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.min_dwell, Duration::from_secs(60));
        assert_eq!(c.window, 5);
        assert_eq!(c.soft_ram, 0.80, "unset keys keep their default");
        let err = serde_json::from_str::<GuardianConfig>(r#"{"windw":5}"#).unwrap_err();
        assert!(err.to_string().contains("windw"));
    }

    #[test]
    fn problems_are_named_by_key() {
        let c = GuardianConfig {
            window: 0,
            recover_ram: 0.9,
            ..GuardianConfig::default()
        };
        let problems = c.validate();
        assert!(problems.iter().any(|p| p.starts_with("guardian.window:")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("guardian.recover_ram:"))
        );
    }

    #[test]
    fn the_latency_brownout_defaults_and_checks() {
        let c = GuardianConfig::default();
        assert!(c.latency_brownout);
        assert_eq!(c.target_ttft_p95, Duration::from_secs(2));
        assert_eq!(c.target_queue_wait_p95, Duration::from_secs(1));
        assert_eq!(c.latency_window, Duration::from_secs(60));
        assert_eq!(c.latency_min_answers, 5);
        assert_eq!(c.latency_dwell, Duration::from_secs(10));
        assert_eq!(c.latency_max_level, crate::BrownoutLevel::Heavy);
        assert_eq!(c.latency_recover_fraction, 0.5);
        let c: GuardianConfig = serde_json::from_str(
            r#"{"target_ttft_p95":"0s","latency_min_answers":0,"latency_dwell":"0s",
                "latency_max_level":"NONE","latency_recover_fraction":1.0,"latency_window":"500ms"}"#,
        )
        .unwrap();
        let problems = c.validate();
        for key in [
            "guardian.target_ttft_p95:",
            "guardian.latency_min_answers:",
            "guardian.latency_dwell:",
            "guardian.latency_max_level:",
            "guardian.latency_recover_fraction:",
            "guardian.latency_window:",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "{key} in {problems:?}"
            );
        }
    }
}
