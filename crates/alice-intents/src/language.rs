//! Which language a message is in, and so which language Alice answers in.
//!
//! Alice is Swedish first: a message is English only when it has more English-only words than
//! Swedish ones ("what time is it", "remind me in 5 minutes"). Words both languages share
//! ("timer", "ok", numbers, and "i", which is English "I" and Swedish "in") count for neither,
//! and a tie is Swedish.

use crate::text::Text;

/// The language of a message and of its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// Svenska: the default.
    Swedish,
    /// English, when the message is.
    English,
}

const ENGLISH: &[&str] = &[
    "what",
    "what's",
    "whats",
    "is",
    "are",
    "the",
    "it",
    "it's",
    "its",
    "me",
    "my",
    "you",
    "your",
    "how",
    "many",
    "much",
    "until",
    "days",
    "day",
    "today",
    "tomorrow",
    "please",
    "thanks",
    "thank",
    "hello",
    "hi",
    "hey",
    "bye",
    "goodbye",
    "good",
    "morning",
    "night",
    "evening",
    "set",
    "remind",
    "remember",
    "forget",
    "play",
    "pause",
    "next",
    "volume",
    "weather",
    "calendar",
    "email",
    "check",
    "do",
    "does",
    "a",
    "an",
    "of",
    "for",
    "and",
    "to",
    "at",
    "on",
    "with",
    "can",
    "could",
    "would",
    "tell",
    "week",
    "date",
    "time",
    "minutes",
    "minute",
    "hours",
    "hour",
    "seconds",
    "times",
    "plus",
    "divided",
    "by",
    "percent",
    "square",
    "root",
    "convert",
    "in",
    "timers",
    "cancel",
    "stop",
    "delete",
    "show",
    "list",
    "left",
    "have",
    "see",
    "there",
    "this",
    "that",
    "about",
    "know",
    "why",
    "who",
    "write",
    "explain",
    "which",
    "number",
    "christmas",
    "eve",
    "quarter",
    "half",
    "past",
    "o'clock",
    "pm",
    "am",
    "tonight",
    "call",
    "mom",
    "cups",
    "cup",
    "miles",
    "feet",
    "inches",
    "pounds",
    "degrees",
    "skip",
    "song",
    "music",
    "rain",
    "will",
    "be",
    "meetings",
    "meeting",
    "new",
    "mail",
    "any",
    "from",
    "yes",
];

const SWEDISH: &[&str] = &[
    "vad", "ar", "hur", "jag", "mig", "du", "det", "en", "ett", "och", "att", "pa", "om", "till",
    "klockan", "idag", "imorgon", "hej", "tack", "kan", "vilken", "vilket", "vilka", "manga",
    "dagar", "minuter", "timmar", "satt", "inte", "min", "mitt", "mina", "ditt", "din", "ihag",
    "glom", "paminn", "gor", "blir", "ska", "har", "som", "for", "med", "av", "ur", "ganger",
    "delat", "sekunder", "timme", "kvart", "halv", "datum", "vecka", "tjena", "hejda", "mycket",
    "snalla", "nu", "dag", "varfor", "skriv", "forklara", "berätta", "beratta", "vem", "var",
    "nar", "finns", "eller", "men", "sa", "vi", "ni", "de", "den", "dom", "mej", "e", "nagon",
    "nagot", "nagra", "kom", "spela", "vadret", "grader", "sant", "hallå", "halla", "morgon",
];

/// The language `text` is written in.
pub(crate) fn detect(text: &Text<'_>) -> Language {
    let mut english = 0;
    let mut swedish = 0;
    for token in &text.tokens {
        if token.lower.contains(['å', 'ä', 'ö']) || SWEDISH.contains(&token.folded.as_str()) {
            swedish += 1;
        } else if ENGLISH.contains(&token.folded.as_str()) {
            english += 1;
        }
    }
    if english > swedish {
        Language::English
    } else {
        Language::Swedish
    }
}

#[cfg(test)]
mod tests {
    use super::{Language, detect};
    use crate::text::Text;

    #[test]
    fn swedish_unless_clearly_english() {
        assert_eq!(detect(&Text::new("vad ar klockan")), Language::Swedish);
        assert_eq!(detect(&Text::new("What time is it?")), Language::English);
        assert_eq!(detect(&Text::new("timer 5 min")), Language::Swedish);
        assert_eq!(
            detect(&Text::new("remind me to call mom in 20 minutes")),
            Language::English
        );
    }
}
