//! Timers: setting one ("sätt en timer på tjugo minuter", "timer 5 min för äggen", "set a
//! timer for 10 minutes"), listing them ("vilka timers har jag?") and cancelling them
//! ("avbryt timern").
//!
//! Setting one needs the word "timer" (or "äggklocka", "nedräkning", "countdown"; one typo
//! forgiven) and a duration. What comes after the duration behind "för", "till", "åt", "for" or
//! "called" is the label, as the user wrote it. Every other word must be one a timer request
//! is made of ("sätt", "en", "på", …): "vad är en timer?" has no duration, and "hur fungerar en
//! timer på 5 minuter?" has words no timer request has, so both go to the model.

use super::{Candidate, Request};
use crate::confidence::WEAK;
use crate::durations::parse_duration;
use crate::intent::Intent;
use crate::pattern::{match_any, pattern_confidence};
use crate::spelling::typos;

/// The words that make a request a timer request.
const KEYWORDS: &[&str] = &[
    "timer",
    "timern",
    "timers",
    "tajmer",
    "aggklocka",
    "aggklockan",
    "nedrakning",
    "countdown",
];

/// The other words a timer request is made of, folded.
const FILLER: &[&str] = &[
    "satt", "satta", "stall", "stalla", "starta", "skapa", "gor", "gora", "lagg", "in", "en",
    "ett", "ny", "pa", "om", "pa", "i", "pa", "set", "start", "make", "create", "a", "an", "new",
    "for", "me", "mig", "at", "till", "with",
];

/// What comes before a timer's label.
const LABEL_MARKERS: &[&[&str]] = &[
    &["som", "heter"],
    &["med", "namnet"],
    &["for"],
    &["till"],
    &["at"],
    &["called"],
    &["named"],
    &["for", "the"],
];

const LIST: &[&str] = &[
    "vilka timers|timrar|påminnelser har jag igång?",
    "vilka timers|timrar|påminnelser är igång",
    "har jag några timers|timrar|påminnelser igång?",
    "visa mina|alla? timers|timrar|påminnelser",
    "lista mina|alla? timers|timrar|påminnelser",
    "hur lång tid är det kvar på timern",
    "hur mycket tid är det? kvar på timern",
    "hur länge är det kvar på timern",
    "hur länge till timern ringer",
    "hur lång tid har timern kvar",
    "vad är kvar på timern",
    "what timers|reminders do i have running?",
    "do i have any timers|reminders running?",
    "show|list my|all? timers|reminders",
    "how much time is left on the|my timer",
    "how long is left on the|my timer",
    "how long until the|my timer goes off",
];

const CANCEL: &[&str] = &[
    "avbryt|stoppa|radera|nollställ alla? mina? timern|timers|timrar|timrarna|timer|påminnelsen|påminnelserna|äggklockan",
    "stäng av alla? mina? timern|timers|timrar|timrarna|timer|äggklockan",
    "ta bort alla? mina? timern|timers|timrar|timrarna|timer|påminnelsen|påminnelserna",
    "cancel|stop|delete|remove|clear the|my|all? my? timer|timers|reminder|reminders",
    "turn off the|my? timer",
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.core();
    if let Some(typos) = match_any(&words, LIST) {
        return Some(Candidate::new(
            Intent::ListTimers,
            pattern_confidence(typos),
        ));
    }
    if let Some(typos) = match_any(&words, CANCEL) {
        return Some(Candidate::new(
            Intent::CancelTimers,
            pattern_confidence(typos),
        ));
    }
    set_timer(request, &words)
}

fn set_timer(request: &Request<'_>, words: &[&str]) -> Option<Candidate> {
    let keyword_typos = words
        .iter()
        .enumerate()
        .filter_map(|(index, word)| {
            let typos = KEYWORDS
                .iter()
                .filter_map(|keyword| typos(word, keyword))
                .min()?;
            Some((index, typos))
        })
        .min_by_key(|(_, typos)| *typos);
    let (keyword_at, keyword_typos) = keyword_typos?;
    let (duration_at, (duration, duration_used)) = (0..words.len())
        .filter(|index| *index != keyword_at)
        .find_map(|index| Some((index, parse_duration(&words[index..])?)))?;
    let after = duration_at + duration_used;
    // The label: behind both the duration and the keyword, after a marker, to the end.
    let tail = after.max(keyword_at + 1);
    let marker = LABEL_MARKERS
        .iter()
        .filter(|marker| {
            words
                .get(tail..)
                .is_some_and(|rest| rest.starts_with(marker))
        })
        .map(|marker| marker.len())
        .max()
        .filter(|length| tail + length < words.len());
    let (label, label_from) = match marker {
        Some(length) => {
            let from = request.first + tail + length;
            (Some(request.text.original_span(from, request.end)), tail)
        }
        None => (None, words.len()),
    };
    let understood = words.iter().enumerate().all(|(index, word)| {
        index == keyword_at
            || (duration_at..after).contains(&index)
            || index >= label_from
            || FILLER.contains(word)
    });
    let confidence = if understood {
        pattern_confidence(keyword_typos)
    } else {
        WEAK
    };
    Some(Candidate::new(
        Intent::Timer { duration, label },
        confidence,
    ))
}
