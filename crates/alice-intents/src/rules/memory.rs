//! Memory commands and questions: "kom ihåg att …", "glöm …", "glöm det där", "glöm allt", and
//! "vad minns du om mig?".
//!
//! The commands are the ones alice-server's `memory_commands` recognises, read the same way:
//! an exact phrase for forgetting the newest or every memory, otherwise an opening ("kom ihåg
//! att", "remember that", "glöm att", "forget about", …) with text after it, which is kept as
//! written (capitals and commas). Two differences: missing å/ä/ö are forgiven ("kom ihag"), and
//! "glöm inte att …" ("don't forget to …") is a memory to keep, not one to delete.
//!
//! Recall is conservative: only a question about what Alice remembers ("vad minns du om mig",
//! "vad vet du om mig", "kommer du ihåg vad min hund heter?", "what do you remember about me")
//! is one. "Vad heter min hund?" is a question for the model, which has the memories in its
//! prompt, and "vad vet du om Napoleon?" is general knowledge.

use super::{Candidate, Request};
use crate::confidence::STRONG;
use crate::intent::Intent;
use crate::pattern::match_any;

const FORGET_LAST: &[&str] = &[
    "glöm det där?",
    "glöm det jag just sa",
    "glöm det senaste",
    "radera det? senaste? minnet",
    "ta bort det? senaste? minnet",
    "forget that|it",
    "forget what i just said",
];

const FORGET_ALL: &[&str] = &[
    "glöm allt om? mig?",
    "glöm allt du vet om mig",
    "radera alla mina? minnen",
    "ta bort alla mina? minnen",
    "forget everything about? me?",
    "delete|erase all my? memories",
];

/// Openings with text after them: (pattern words, remember?).
const COMMANDS: &[(&[&str], bool)] = &[
    (&["glom", "inte", "att"], true),
    (&["glom", "inte"], true),
    (&["kom", "ihag", "att"], true),
    (&["kom", "ihag"], true),
    (&["remember", "that"], true),
    (&["remember"], true),
    (&["dont", "forget", "that"], true),
    (&["don't", "forget", "that"], true),
    (&["dont", "forget"], true),
    (&["don't", "forget"], true),
    (&["glom", "att"], false),
    (&["glom"], false),
    (&["forget", "that"], false),
    (&["forget", "about"], false),
    (&["forget"], false),
];

const RECALL_ALL: &[&str] = &[
    "vad minns|kommer du ihåg? om mig",
    "vad minns du",
    "vad vet du om mig",
    "vad har du sparat|lagrat om mig",
    "vad har du för minnen om? mig?",
    "vilka minnen har du om? mig?",
    "visa|lista mina|dina|alla? minnen",
    "what do you remember about? me?",
    "what do you know about me",
    "what have you saved|stored about me",
    "show|list my|your? memories",
];

/// Openings of a question about one memory, with the topic after them.
const RECALL_TOPIC: &[&[&str]] = &[
    &["vad", "minns", "du", "om"],
    &["vad", "kommer", "du", "ihag", "om"],
    &["kommer", "du", "ihag"],
    &["minns", "du"],
    &["what", "do", "you", "remember", "about"],
    &["do", "you", "remember"],
];

/// Words that alone are no memory to keep.
const PRONOUNS: &[&str] = &[
    "mig", "mej", "dig", "det", "den", "me", "you", "it", "this", "that",
];

/// Words of what was said in a conversation: "minns du vad vi pratade om igår?" asks about the
/// chat's history, which the model has, not about the memories Alice keeps.
const SPOKEN: &[&str] = &[
    "pratade", "pratat", "sa", "sade", "sagt", "skrev", "skrivit", "fragade", "fragat", "talked",
    "said", "wrote", "asked", "told",
];

/// Words that make a question about the user's own memories.
const FIRST_PERSON: &[&str] = &[
    "jag", "mig", "mej", "min", "mitt", "mina", "vi", "oss", "me", "my", "mine", "we", "our", "us",
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    // Closings stay: "kom ihåg att min katt heter Alice" ends in a name, not a courtesy.
    let end = request.text.tokens.len();
    let all = request.text.folded();
    let words = &all[request.first..];
    let strong = |intent| Some(Candidate::new(intent, STRONG));
    if match_any(words, FORGET_LAST) == Some(0) {
        return strong(Intent::ForgetLast);
    }
    if match_any(words, FORGET_ALL) == Some(0) {
        return strong(Intent::ForgetAll);
    }
    if match_any(words, RECALL_ALL) == Some(0) {
        return strong(Intent::Recall(None));
    }
    let after = |opening: &[&str]| -> Option<String> {
        if !words.starts_with(opening) || words.len() == opening.len() {
            return None;
        }
        Some(
            request
                .text
                .original_span(request.first + opening.len(), end),
        )
    };
    for (opening, remember) in COMMANDS {
        let rest = &words[opening.len().min(words.len())..];
        if let [only] = rest
            && PRONOUNS.contains(only)
        {
            // "kom ihåg mig", "remember me": a plea, not a memory.
            continue;
        }
        if let Some(text) = after(opening).filter(|text| !text.is_empty()) {
            return strong(if *remember {
                Intent::Remember(text)
            } else {
                Intent::Forget(text)
            });
        }
    }
    for opening in RECALL_TOPIC {
        if let Some(topic) = after(opening) {
            // "kommer du ihåg vad min hund heter": the topic without its question word.
            let topic_words = &words[opening.len()..];
            // Only a memory of the user's own: "kommer du ihåg när människan landade på
            // månen?" is history, for the model.
            if !topic_words.iter().any(|word| FIRST_PERSON.contains(word))
                || topic_words.iter().any(|word| SPOKEN.contains(word))
            {
                continue;
            }
            let skip = matches!(
                topic_words.first(),
                Some(
                    &("vad"
                        | "vem"
                        | "var"
                        | "nar"
                        | "hur"
                        | "vilken"
                        | "vilket"
                        | "what"
                        | "who"
                        | "where"
                        | "when")
                )
            ) && topic_words.len() > 1;
            let topic = if skip {
                request
                    .text
                    .original_span(request.first + opening.len() + 1, end)
            } else {
                topic
            };
            return strong(Intent::Recall(Some(topic)));
        }
    }
    None
}
