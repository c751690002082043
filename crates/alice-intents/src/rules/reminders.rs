//! Reminders: "påminn mig om att ringa mamma om en kvart", "påminn mig klockan kvart över tre
//! att ta medicinen", "påminn mig imorgon klockan 9 om tandläkaren", "remind me to call mom in
//! 20 minutes", "sätt en påminnelse om …".
//!
//! After the opening ("påminn mig", "remind me", "sätt en påminnelse"; one typo forgiven) comes
//! the time and the text, in either order. The time is looked for at the end first ("… om en
//! kvart"), then at the start ("klockan tre att …"); the rest, without its leading "om att",
//! "att", "om", "to" or "about", is the text, cut from the original so it keeps its capitals.
//! A reminder without a time Alice can read goes to the model, which can ask when. A reminder
//! with a time and no text ("påminn mig om en kvart") has an empty text.

use super::{Candidate, Request};
use crate::intent::{Intent, When};
use crate::pattern::{match_any, pattern_confidence};
use crate::when_words::parse_when;

/// The openings, as patterns over the first words.
const OPENINGS: &[&str] = &[
    "påminn|påminna mig|mej",
    "kom och påminn mig",
    "sätt|skapa|lägg|gör en påminnelse",
    "lägg till en påminnelse",
    "ställ in en påminnelse",
    "remind me",
    "set|create|add|make a reminder",
];

/// Words between the opening or the time and the text.
const CONNECTORS: &[&[&str]] = &[
    &["om", "att"],
    &["att"],
    &["om"],
    &["to"],
    &["about"],
    &["that"],
    &["for", "att"],
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.core();
    let (opening, opening_typos) = (2..=4.min(words.len()))
        .rev()
        .find_map(|length| Some((length, match_any(&words[..length], OPENINGS)?)))?;
    let rest = &words[opening..];
    let (when, text_from, text_end) = find_when(rest)?;
    let text_from = text_from + connector_length(&rest[text_from..text_end]);
    let text = request.text.original_span(
        request.first + opening + text_from,
        request.first + opening + text_end,
    );
    Some(Candidate::new(
        Intent::Reminder { when, text },
        pattern_confidence(opening_typos),
    ))
}

/// The time in `words`, at the end or at the start, and where the text lies.
fn find_when(words: &[&str]) -> Option<(When, usize, usize)> {
    let at_end = (0..words.len()).find_map(|start| {
        let (when, used) = parse_when(&words[start..])?;
        (start + used == words.len()).then_some((when, 0, start))
    });
    at_end.or_else(|| {
        let (when, used) = parse_when(words)?;
        Some((when, used, words.len()))
    })
}

fn connector_length(words: &[&str]) -> usize {
    CONNECTORS
        .iter()
        .filter(|connector| words.starts_with(connector))
        .map(|connector| connector.len())
        .max()
        .unwrap_or(0)
}
