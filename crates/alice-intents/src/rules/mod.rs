//! The classifier: every rule reads the message and may offer a candidate intent with a
//! confidence; the most confident candidate wins (the first rule on a tie).
//!
//! A rule either matches the whole message to one of its patterns ([`crate::pattern`]) or
//! parses slots from it and then checks that no word is left it does not understand. Before
//! the rules read it, polite openings and closings are set aside ("hej Alice, kan du säga vad
//! klockan är, tack?" is read as "vad klockan är"), so politeness never costs confidence. The
//! greeting rule alone reads the whole message: "hej" is a greeting, "hej, kan du förklara
//! kvantfysik?" is not (after its opening, what is left matches nothing, so it goes to the
//! model). How the confidence levels are chosen: [`crate::confidence`].

mod clock;
mod integrations;
mod math;
mod memory;
mod reminders;
mod social;
mod timers;

use crate::Classification;
use crate::confidence::NOTHING_LOCAL;
use crate::intent::Intent;
use crate::language::{Language, detect};
use crate::text::Text;

/// An intent a rule offers, with how sure it is.
pub(crate) struct Candidate {
    pub intent: Intent,
    pub confidence: f32,
}

impl Candidate {
    pub fn new(intent: Intent, confidence: f32) -> Self {
        Self { intent, confidence }
    }
}

/// A message as the rules see it.
pub(crate) struct Request<'a> {
    /// All of it.
    pub text: Text<'a>,
    /// Its language.
    pub language: Language,
    /// The first word after the polite openings.
    pub first: usize,
    /// The end of the words before the polite closings.
    pub end: usize,
}

impl Request<'_> {
    /// The folded words between the openings and the closings.
    pub fn core(&self) -> Vec<&str> {
        self.text.tokens[self.first..self.end]
            .iter()
            .map(|token| token.folded.as_str())
            .collect()
    }
}

/// Openings that do not change a request, folded, longest first.
const OPENINGS: &[&[&str]] = &[
    &["skulle", "du", "kunna"],
    &["kan", "du", "snalla"],
    &["do", "you", "know"],
    &["hej", "alice"],
    &["kan", "du"],
    &["kan", "ni"],
    &["vet", "du"],
    &["sag", "mig"],
    &["can", "you"],
    &["could", "you"],
    &["would", "you"],
    &["will", "you"],
    &["tell", "me"],
    &["hey", "alice"],
    &["alice"],
    &["snalla"],
    &["please"],
    &["hej"],
    &["hejsan"],
    &["halla"],
    &["tjena"],
    &["hey"],
    &["hi"],
    &["hello"],
    &["ok"],
    &["okej"],
    &["okay"],
    &["sag"],
    &["saga"],
];

/// Closings that do not change a request, folded, longest first.
const CLOSINGS: &[&[&str]] = &[
    &["tack", "sa", "mycket"],
    &["ar", "du", "snall"],
    &["thank", "you"],
    &["tack"],
    &["thanks"],
    &["snalla"],
    &["please"],
    &["alice"],
];

/// What `message` asks for.
pub(crate) fn classify(message: &str) -> Classification {
    let text = Text::new(message);
    let language = detect(&text);
    let words = text.folded();
    let mut first = 0;
    let mut end = words.len();
    // Set openings aside while something is left after them.
    'openings: loop {
        for opening in OPENINGS {
            if words[first..end].starts_with(opening) && end - first > opening.len() {
                first += opening.len();
                continue 'openings;
            }
        }
        break;
    }
    'closings: loop {
        for closing in CLOSINGS {
            if words[first..end].ends_with(closing) && end - first > closing.len() {
                end -= closing.len();
                continue 'closings;
            }
        }
        break;
    }
    let request = Request {
        text,
        language,
        first,
        end,
    };
    let rules: [fn(&Request<'_>) -> Option<Candidate>; 7] = [
        memory::classify,
        social::classify,
        clock::classify,
        timers::classify,
        reminders::classify,
        math::classify,
        integrations::classify,
    ];
    let mut best: Option<Candidate> = None;
    for rule in rules {
        if let Some(candidate) = rule(&request)
            && best
                .as_ref()
                .is_none_or(|best| candidate.confidence > best.confidence)
        {
            best = Some(candidate);
        }
    }
    let best = best.unwrap_or(Candidate::new(Intent::Model, NOTHING_LOCAL));
    Classification {
        intent: best.intent,
        confidence: best.confidence.clamp(0.0, 1.0),
        language,
    }
}
