//! Alice's service level objectives, and the Prometheus rules that watch them.
//!
//! The objectives live in `slo.toml` (see the file at the repository's root): per group of
//! routes, the share of requests that must succeed and the share that must be faster than
//! given times. `alice slo rules` writes, from that file alone, the rules a Prometheus server
//! needs: recording rules for the ratio of bad requests over seven windows (5 m to 3 d), and
//! alerts on how fast the error budget burns, each checked over a long and a short window so
//! an alert fires quickly on a sharp fault and stops soon after it ends (the multi-window,
//! multi-burn-rate scheme of Google's SRE workbook). `docs/runbooks.md` has one runbook per
//! alert; CI checks the rules with `promtool`.
//!
//! ## Module map
//! - [`objectives`]: reading and checking `slo.toml`.
//! - [`rules`]: the Prometheus rule file.

pub mod objectives;
pub mod rules;

pub use objectives::{LatencySeries, Objective, SloError, SloFile};
pub use rules::prometheus_rules;
