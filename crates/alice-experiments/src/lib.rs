//! A/B experiments of models and settings (`[[experiments]]` in the configuration).
//!
//! This crate exists so that the two halves of an experiment that need no server are written,
//! tested and reasoned about on their own, as plain functions over config and rows:
//!
//! - [`assign`]: which variant a user gets. Sticky, from a hash of the experiment's and the
//!   user's names, so every request, restart and instance agrees without shared state;
//! - whether an experiment is [`active`] now and [`covers`] a route, and its [`control`].
//!
//! The server records each answer's variant and outcome; the store keeps them; this crate
//! never touches either.

mod assign;
pub mod stats;

pub use assign::{
    Assignment, Route, active, assign, assignment_point, assignments, control, covers,
};
