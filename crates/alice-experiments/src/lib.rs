//! A/B experiments of models and settings (`[[experiments]]` in the configuration).
//!
//! This crate exists so that the two halves of an experiment that need no server are written,
//! tested and reasoned about on their own, as plain functions over config and rows:
//!
//! - [`assign`]: which variant a user gets. Sticky, from a hash of the experiment's and the
//!   user's names, so every request, restart and instance agrees without shared state;
//! - whether an experiment is [`active`] now and [`covers`] a route, and its [`control`];
//! - [`report`]: what the outcomes say, per variant and against the control, with tests that
//!   tell a real difference from noise and a verdict in plain words ([`render_text`] for the
//!   terminal); its numbers are [`stats`];
//! - [`guard`]: whether a variant fails so much more often than the control that the
//!   experiment should be paused.
//!
//! The server records each answer's variant and outcome and the store keeps them; this crate
//! touches neither: the report and the guard take rows the caller loaded.

mod assign;
mod guard;
mod report;
pub mod stats;

pub use assign::{
    Assignment, Route, active, assign, assignment_point, assignments, control, covers,
};
pub use guard::{GuardTrip, guard};
pub use report::{
    Comparison, MIN_VALUES, Outcome, OutcomeRow, Quantiles, Rating, Report, SIGNIFICANCE,
    VariantReport, render_text, report,
};
