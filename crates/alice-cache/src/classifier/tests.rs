//! The classifier's verdicts on prompts of every kind, one test per reason and per rule that
//! lets a prompt through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Reason, Verdict, classify};

fn reason(prompt: &str) -> Option<Reason> {
    match classify(prompt) {
        Verdict::Cacheable => None,
        Verdict::Uncacheable(r) => Some(r),
    }
}

/// Asserts that every prompt gets `expected`: `None` for a cacheable one, else its reason.
fn assert_each(expected: Option<Reason>, prompts: &[&str]) {
    for prompt in prompts {
        assert_eq!(reason(prompt), expected, "{prompt:?}");
    }
}

#[test]
fn general_knowledge_is_cacheable() {
    assert_each(
        None,
        &[
            "Vad är Sveriges huvudstad?",
            "Förklara fotosyntes",
            "vad är huvudstaden i Norge",
            "Vem var Olof Palme?",
            "Vad är 2+2?",
            "What is the capital of Australia?",
            "Who was the first president of the United States?",
            "Vem var Sveriges första statsminister?",
            "Vem vann VM i fotboll 1958?",
            "Hej!",
            "tack",
        ],
    );
}

#[test]
fn the_clock_and_calendar_are_time_dependent() {
    assert_each(
        Some(Reason::TimeDependent),
        &[
            "vad är klockan",
            "Vad händer idag?",
            "Är det skola imorgon",
            "är det skola i morgon",
            "Vad händer just nu i Ukraina?",
            "Vilka är de senaste nyheterna?",
            "vad hände idag 1969?",
            "Vem vann Melodifestivalen?",
            "Vem är Sveriges statsminister?",
            "What's the latest news?",
            "what are you doing this week",
        ],
    );
}

#[test]
fn the_user_is_personal() {
    assert_each(
        Some(Reason::Personal),
        &[
            "vad heter min katt",
            "Vad heter mitt barn",
            "mina barn är sjuka",
            "Vad tycker du om mig?",
            "Vad heter jag?",
            "Kom ihåg att jag är vegetarian",
            "När fyller Anna år?",
            "vad gillar erik",
            "har lisa ringt",
            "vem var olof palme",
            "What is my name?",
            "What should I read?",
            "Remember that I like tea",
        ],
    );
}

#[test]
fn tools_and_live_data_need_a_tool() {
    assert_each(
        Some(Reason::NeedsTool),
        &[
            "Hur blir vädret?",
            "väderprognos för Umeå",
            "Skriv ett mejl till Anna",
            "Vad står det i kalendern?",
            "Spela lite jazz",
            "kan du spela Dancing Queen",
            "Sätt en timer på 10 minuter",
            "ställ ett larm",
            "Påminn mig om att köpa mjölk",
            "tänd lampan i köket",
            "Hur mycket är 100 dollar i kronor?",
            "Will it rain?",
            // A forecast asked for a day is first of all a forecast.
            "Blir det kallt imorgon",
            "hur varmt är det inne?",
            "Set an alarm for 7",
            "play some music",
        ],
    );
}

#[test]
fn follow_ups_are_follow_ups() {
    assert_each(
        Some(Reason::FollowUp),
        &[
            "och den andra då?",
            "förklara mer",
            "Fortsätt",
            "vad menar du med det?",
            "Vem var han?",
            "Varför då?",
            "ja",
            "på engelska",
            "what about it?",
            "continue",
            "Is it true?",
            "",
            "?!",
        ],
    );
}

#[test]
fn quoted_words_are_mentioned_not_used() {
    assert_eq!(
        classify("Översätt 'jag älskar dig' till engelska"),
        Verdict::Cacheable
    );
    assert_eq!(classify("Vad betyder ordet ”idag”?"), Verdict::Cacheable);
    assert_eq!(
        classify("What does \"right now\" mean?"),
        Verdict::Cacheable
    );
    // An apostrophe inside a word opens nothing.
    assert_eq!(
        reason("What's Anna's favourite colour"),
        Some(Reason::Personal)
    );
    // Quotes around the whole request leave nothing to answer from.
    assert_eq!(reason("\"vad är klockan\""), Some(Reason::FollowUp));
    // An unclosed quotation mark is ignored.
    assert_eq!(reason("Vad är \"klockan"), Some(Reason::TimeDependent));
}

#[test]
fn swedish_i_is_a_preposition_and_english_i_is_the_user() {
    assert_eq!(
        classify("Vad är huvudstaden i Frankrike?"),
        Verdict::Cacheable
    );
    assert_eq!(reason("how do i boil an egg"), Some(Reason::Personal));
    assert_eq!(classify("Vad betyder I love you?"), Verdict::Cacheable);
}

#[test]
fn compounds_and_inflections_match() {
    assert_eq!(reason("Hur blir helgvädret"), Some(Reason::NeedsTool));
    assert_eq!(reason("Lås ytterdörren"), Some(Reason::NeedsTool));
    assert_eq!(reason("vad säger kalendern"), Some(Reason::NeedsTool));
    assert_eq!(
        reason("Vad har mammas katt för ras"),
        Some(Reason::Personal)
    );
    assert_eq!(
        reason("Vad händer på lördagskvällen?"),
        Some(Reason::TimeDependent)
    );
}

#[test]
fn pronouns_point_back_unless_the_prompt_names_what_they_stand_for() {
    assert_each(
        Some(Reason::FollowUp),
        &[
            "Kan du skriva om den på rim?",
            "Hur gammal var hon när hon flyttade till Norge?",
            "Vad heter den på svenska?",
            "Why do you say that?",
        ],
    );
    assert_each(
        None,
        &[
            "Berätta om den franska revolutionen",
            "Vem var Strindberg och vad skrev han?",
            "Prove that the square root of 2 is irrational",
            "How do you say thank you in Finnish?",
        ],
    );
}

#[test]
fn titles_definitions_and_prizes_are_general_knowledge() {
    assert_each(
        None,
        &[
            "Vem var drottning Kristina?",
            "Vem målade Mona Lisa?",
            "Vad är en timer?",
            "What is an exchange rate?",
            "Vad är Nobelpriset?",
            "Hur gammal blev Ingvar Kamprad?",
        ],
    );
    assert_eq!(reason("Vem är drottningen?"), Some(Reason::TimeDependent));
    assert_eq!(
        reason("Vem fick Nobelpriset i fysik?"),
        Some(Reason::TimeDependent)
    );
    assert_eq!(reason("När fyller Anna Karin år?"), Some(Reason::Personal));
}

#[test]
fn composition_does_not_change_the_verdict() {
    let composed = "Hur blir vädret?";
    let decomposed = "Hur blir va\u{0308}dret?";
    assert_eq!(classify(composed), classify(decomposed));
}

#[test]
fn reason_labels_are_stable() {
    assert_eq!(Reason::TimeDependent.as_str(), "time");
    assert_eq!(Reason::Personal.as_str(), "personal");
    assert_eq!(Reason::NeedsTool.as_str(), "tool");
    assert_eq!(Reason::FollowUp.as_str(), "follow_up");
    assert_eq!(Reason::ConversationHistory.as_str(), "history");
    assert!(Verdict::Cacheable.is_cacheable());
    assert!(!Verdict::Uncacheable(Reason::Personal).is_cacheable());
}
