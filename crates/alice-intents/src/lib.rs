//! Alice's intents: what a chat message asks for, decided by rules before any model is asked,
//! and the answers that need nothing but a clock.
//!
//! [`classify`] reads a message, Swedish first and English too, and returns a
//! [`Classification`]: the [`Intent`], a confidence between 0 and 1, and the [`Language`] the
//! answer should be in. [`answer_locally`] writes the answer for the intents that need only
//! the time (`now`, in the user's zone): time, date, week number, days until, small talk,
//! arithmetic, conversion, and the "not connected" reply for an integration. Timers,
//! reminders and memories need state, so the server carries them out; it words its replies
//! with the same helpers ([`describe_duration`], [`describe_wall_time`], [`describe_when`]) and
//! resolves a reminder's time with [`When::resolve`].
//!
//! The crate is pure: no I/O, no clock of its own, no async.
//!
//! How it is built:
//! - `text`: tokens with their place in the message, folded (å/ä → a, ö → o).
//! - `spelling`: one typo forgiven in long keywords.
//! - `pattern`: whole-message patterns, the shape most rules use.
//! - `numbers`, `durations`, `clock_time`, `when_words`: the slots, in words and
//!   digits.
//! - `arithmetic`, [`units`]: exact sums and conversions.
//! - `rules`: one module per family of intents, and the choice between them.
//! - [`confidence`]: the scores, and why they are what they are.
//! - [`phrases`] and `answer`: the Swedish (and English) Alice writes.
//!
//! Callers route a message locally only when its confidence reaches `intents.min_confidence`
//! (0.7 by default); below it the message goes to the model, whatever the intent says.

mod answer;
mod arithmetic;
mod clock_time;
pub mod confidence;
mod durations;
mod intent;
mod language;
mod numbers;
mod pattern;
pub mod phrases;
mod rules;
mod spelling;
mod text;
pub mod units;
mod when_words;

pub use answer::answer_locally;
pub use intent::{ArithmeticProblem, DayTarget, Integration, Intent, NamedDay, When};
pub use language::Language;
pub use phrases::{
    describe_date, describe_duration, describe_wall_time, describe_when, format_number,
};
pub use units::{Quantity, Unit};

/// What a message asks for, how sure the classifier is, and the language to answer in.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// The intent; [`Intent::Model`] when nothing local fits.
    pub intent: Intent,
    /// 0 to 1; see [`confidence`] for what the levels mean. An intent other than
    /// [`Intent::Model`] may come with a confidence below the routing threshold: the rule saw
    /// its keyword but not a request it is sure of.
    pub confidence: f32,
    /// The language of the message, and of the answer.
    pub language: Language,
}

impl Classification {
    /// Whether to answer locally at the threshold `min_confidence` (`intents.min_confidence`).
    pub fn is_local(&self, min_confidence: f32) -> bool {
        self.intent != Intent::Model && self.confidence >= min_confidence
    }
}

/// What `message` asks for.
pub fn classify(message: &str) -> Classification {
    rules::classify(message)
}

/// An arithmetic expression alone, in words or symbols ("17 gånger 23", "(3+4)*2"), as
/// [`Intent::Arithmetic`] with its exact value or [`Intent::ArithmeticFailed`] with why; None
/// when `expression` is not one. What a model's `calculate` tool call runs; [`answer_locally`]
/// words the result.
pub fn calculate(expression: &str, language: Language) -> Option<Intent> {
    let reading = arithmetic::read(expression, language)?;
    Some(match reading.value {
        Ok(value) => Intent::Arithmetic {
            expression: reading.expression,
            value,
        },
        Err(problem) => Intent::ArithmeticFailed {
            expression: reading.expression,
            problem,
        },
    })
}
