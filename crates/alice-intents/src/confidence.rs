//! The confidence levels every rule scores with, in one place so they stay comparable.
//!
//! Callers answer locally only at `intents.min_confidence` (0.7 by default) or above, and a
//! local answer to a real question is worse than sending a simple request to the model, so
//! the levels are set around that line:
//!
//! - [`STRONG`] (0.95): the whole message is one of a rule's patterns, with every slot (a
//!   duration, a time, a number, a unit) read. Nothing is left over.
//! - each keyword matched through a typo costs [`PER_TYPO`] (0.1): one typo still answers
//!   locally, two do not.
//! - [`LOOSE`] (0.75): the shape is right but a slot holds free words the rule cannot check,
//!   such as an artist after "spela" or a place after "vädret i".
//! - [`WEAK`] (0.5): a keyword is there but the message says more than the rule understands
//!   ("sätt en timer och förklara varför"): below the line, so it goes to the model.
//! - [`NOTHING_LOCAL`] (0.9): the confidence of [`crate::Intent::Model`] when no rule fired.

/// A whole-message match with every slot read.
pub(crate) const STRONG: f32 = 0.95;
/// What one corrected typo costs.
pub(crate) const PER_TYPO: f32 = 0.1;
/// The right shape with a slot of unchecked free words.
pub(crate) const LOOSE: f32 = 0.75;
/// A keyword among words the rule does not understand.
pub(crate) const WEAK: f32 = 0.5;
/// No rule fired: the model it is.
pub(crate) const NOTHING_LOCAL: f32 = 0.9;
