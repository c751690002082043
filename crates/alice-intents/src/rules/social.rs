//! Greetings, thanks and goodbyes: messages made of nothing else.
//!
//! The whole message must split into known phrases ("hej hej", "tack så mycket", "tack och
//! hej", "hej då Alice"); one word beyond them and it is not small talk. When phrases of
//! several kinds meet, the goodbye wins over the thanks and the thanks over the greeting
//! ("tack, hejdå" closes the conversation).

use super::{Candidate, Request};
use crate::confidence::STRONG;
use crate::intent::Intent;
use crate::text::fold;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Words that go with any of the others ("alice", "du").
    Filler,
    Greeting,
    Thanks,
    Goodbye,
}

const PHRASES: &[(&str, Kind)] = &[
    ("hej", Kind::Greeting),
    ("hejsan", Kind::Greeting),
    ("hejhej", Kind::Greeting),
    ("hallå", Kind::Greeting),
    ("hallåj", Kind::Greeting),
    ("hallå där", Kind::Greeting),
    ("tjena", Kind::Greeting),
    ("tjenare", Kind::Greeting),
    ("tjenixen", Kind::Greeting),
    ("tja", Kind::Greeting),
    ("tjabba", Kind::Greeting),
    ("morsning", Kind::Greeting),
    ("god morgon", Kind::Greeting),
    ("godmorgon", Kind::Greeting),
    ("god förmiddag", Kind::Greeting),
    ("god eftermiddag", Kind::Greeting),
    ("god kväll", Kind::Greeting),
    ("godkväll", Kind::Greeting),
    ("goddag", Kind::Greeting),
    ("god dag", Kind::Greeting),
    ("hur mår du", Kind::Greeting),
    ("hur är läget", Kind::Greeting),
    ("läget", Kind::Greeting),
    ("hur är det", Kind::Greeting),
    ("hello", Kind::Greeting),
    ("hi", Kind::Greeting),
    ("hey", Kind::Greeting),
    ("hiya", Kind::Greeting),
    ("hi there", Kind::Greeting),
    ("hello there", Kind::Greeting),
    ("hey there", Kind::Greeting),
    ("good morning", Kind::Greeting),
    ("good afternoon", Kind::Greeting),
    ("good evening", Kind::Greeting),
    ("how are you", Kind::Greeting),
    ("tack", Kind::Thanks),
    ("tackar", Kind::Thanks),
    ("tack tack", Kind::Thanks),
    ("tack så mycket", Kind::Thanks),
    ("tack så jättemycket", Kind::Thanks),
    ("tusen tack", Kind::Thanks),
    ("stort tack", Kind::Thanks),
    ("tack för hjälpen", Kind::Thanks),
    ("tack ska du ha", Kind::Thanks),
    ("tack snälla", Kind::Thanks),
    ("thanks", Kind::Thanks),
    ("thank you", Kind::Thanks),
    ("thank you so much", Kind::Thanks),
    ("thanks a lot", Kind::Thanks),
    ("thanks for the help", Kind::Thanks),
    ("thx", Kind::Thanks),
    ("hejdå", Kind::Goodbye),
    ("hej då", Kind::Goodbye),
    ("hej hej då", Kind::Goodbye),
    ("vi hörs", Kind::Goodbye),
    ("vi ses", Kind::Goodbye),
    ("hörs", Kind::Goodbye),
    ("ses", Kind::Goodbye),
    ("ha det bra", Kind::Goodbye),
    ("ha det", Kind::Goodbye),
    ("ha en bra dag", Kind::Goodbye),
    ("ha en trevlig kväll", Kind::Goodbye),
    ("god natt", Kind::Goodbye),
    ("godnatt", Kind::Goodbye),
    ("adjö", Kind::Goodbye),
    ("tack och hej", Kind::Goodbye),
    ("bye", Kind::Goodbye),
    ("bye bye", Kind::Goodbye),
    ("goodbye", Kind::Goodbye),
    ("good bye", Kind::Goodbye),
    ("see you", Kind::Goodbye),
    ("see you later", Kind::Goodbye),
    ("good night", Kind::Goodbye),
    ("alice", Kind::Filler),
    ("och", Kind::Filler),
    ("på dig", Kind::Filler),
    ("du", Kind::Filler),
    ("toppen", Kind::Filler),
    ("perfekt", Kind::Filler),
    ("vad bra", Kind::Filler),
    ("super", Kind::Filler),
    ("great", Kind::Filler),
    ("ok", Kind::Filler),
    ("okej", Kind::Filler),
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.text.folded();
    let mut index = 0;
    let mut kind = Kind::Filler;
    while index < words.len() {
        let (length, phrase_kind) = PHRASES
            .iter()
            .filter_map(|(phrase, phrase_kind)| {
                let parts: Vec<String> = phrase.split(' ').map(fold).collect();
                let fits = words.len() - index >= parts.len()
                    && parts
                        .iter()
                        .zip(&words[index..])
                        .all(|(part, word)| part == word);
                fits.then_some((parts.len(), *phrase_kind))
            })
            .max_by_key(|(length, _)| *length)?;
        kind = kind.max(phrase_kind);
        index += length;
    }
    let intent = match kind {
        Kind::Filler => return None,
        Kind::Greeting => Intent::Greeting,
        Kind::Thanks => Intent::Thanks,
        Kind::Goodbye => Intent::Goodbye,
    };
    Some(Candidate::new(intent, STRONG))
}
