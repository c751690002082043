//! Time, date, week number and days until a named day or a date.
//!
//! Time, date and week are whole-message patterns. "Hur många dagar är det kvar till …" is a
//! pattern for its opening followed by a day Alice can name the date of: a named day
//! ("julafton", "midsommar", "nyår", "Christmas") or a date ("den 1 maj", "24/12", "2027-01-15",
//! "December 24"). Anything else after "till" ("min födelsedag") goes to the model.

use super::{Candidate, Request};
use crate::intent::{DayTarget, Intent, NamedDay};
use crate::language::Language;
use crate::pattern::{match_any, pattern_confidence};
use crate::phrases::{MONTHS, month_name};
use crate::spelling::typos;

const TIME: &[&str] = &[
    "vad|va|vad's är|e|ä klockan just? nu?",
    "hur mycket är|e klockan just? nu?",
    "vad klockan är just? nu?",
    "hur mycket klockan är",
    "vilken tid är det just? nu?",
    "vad är det för tid just? nu?",
    "hur dags är det",
    "klockan nu?",
    "what time is it right? now?",
    "what's|whats the time right? now?",
    "what is the time right? now?",
    "what time it is right? now?",
    "the time",
    "the current time",
    "current time",
    "time please?",
    "do you have the time",
];

const DATE: &[&str] = &[
    "vilket|vad datum är det idag|nu?",
    "vilket|vad datum är det i dag",
    "vilket|vad datum har vi idag|nu?",
    "vad är det för datum idag|nu?",
    "vad är det för datum i dag",
    "vad är det för dag idag|nu?",
    "vad är det för dag i dag",
    "vilken dag är det idag|nu?",
    "vilken dag är det i dag",
    "vilken veckodag är det idag?",
    "vad är dagens datum",
    "vad är datumet idag?",
    "dagens datum",
    "datum idag?",
    "datumet",
    "what's|whats the date today?",
    "what is the date today?",
    "what is today's|todays date",
    "what's|whats today's|todays date",
    "what date is it today?",
    "what day is it today?",
    "which day is it today?",
    "today's|todays date",
    "the date",
];

const WEEK: &[&str] = &[
    "vilken vecka är det nu|idag?",
    "vilken vecka har vi nu?",
    "vad är det för vecka nu|idag?",
    "vad har vi för vecka nu?",
    "vilket veckonummer är det nu|idag?",
    "vilket veckonummer har vi nu?",
    "vad är det för veckonummer nu?",
    "vad är veckonumret",
    "veckonummer",
    "veckonumret",
    "vecka",
    "what week is it now|today?",
    "what week number is it now|today?",
    "which week is it now?",
    "what's|whats the week number",
    "what is the week number",
    "week number",
];

/// The openings before the day counted to.
const UNTIL: &[&str] = &[
    "hur många dagar är|e det kvar? till|tills",
    "hur många dagar kvar? till|tills",
    "hur många dagar har vi kvar? till|tills",
    "hur länge är|e det kvar? till|tills",
    "hur länge kvar? till|tills",
    "hur lång tid är det kvar? till|tills",
    "hur långt är det kvar? till|tills",
    "antal dagar kvar? till|tills",
    "dagar kvar? till|tills",
    "how many days are|is there|it? left? until|till|to|before",
    "how many days left? until|till|to|before",
    "how many days until|till|to|before",
    "how long until|till|to|before",
    "how long is it until|till|to|before",
    "days until|till|left",
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.core();
    for (patterns, intent) in [
        (TIME, Intent::Time),
        (DATE, Intent::Date),
        (WEEK, Intent::WeekNumber),
    ] {
        if let Some(typos) = match_any(&words, patterns) {
            return Some(Candidate::new(intent, pattern_confidence(typos)));
        }
    }
    days_until(&words, request.language)
}

fn days_until(words: &[&str], language: Language) -> Option<Candidate> {
    // The opening is the longest head that matches; the day is the rest.
    (2..words.len()).rev().find_map(|split| {
        let opening_typos = match_any(&words[..split], UNTIL)?;
        let (target, target_typos) = parse_target(&words[split..])?;
        let label = label(target, language);
        Some(Candidate::new(
            Intent::DaysUntil { target, label },
            pattern_confidence(opening_typos + target_typos),
        ))
    })
}

/// The named days, folded, and which day each is.
const NAMED: &[(&str, NamedDay)] = &[
    ("julafton", NamedDay::ChristmasEve),
    ("jul", NamedDay::ChristmasEve),
    ("julen", NamedDay::ChristmasEve),
    ("juldagen", NamedDay::ChristmasDay),
    ("nyarsafton", NamedDay::NewYearsEve),
    ("nyar", NamedDay::NewYearsEve),
    ("nyaret", NamedDay::NewYearsEve),
    ("nyarsdagen", NamedDay::NewYearsDay),
    ("midsommarafton", NamedDay::MidsummerEve),
    ("midsommar", NamedDay::MidsummerEve),
    ("midsommaren", NamedDay::MidsummerEve),
    ("nationaldagen", NamedDay::NationalDay),
    ("valborg", NamedDay::Walpurgis),
    ("valborgsmassoafton", NamedDay::Walpurgis),
    ("christmas eve", NamedDay::ChristmasEve),
    ("christmas", NamedDay::ChristmasDay),
    ("christmas day", NamedDay::ChristmasDay),
    ("new year's eve", NamedDay::NewYearsEve),
    ("new years eve", NamedDay::NewYearsEve),
    ("new year", NamedDay::NewYearsEve),
    ("new year's", NamedDay::NewYearsEve),
    ("new years", NamedDay::NewYearsEve),
    ("new year's day", NamedDay::NewYearsDay),
    ("new years day", NamedDay::NewYearsDay),
    ("midsummer eve", NamedDay::MidsummerEve),
    ("midsummer", NamedDay::MidsummerEve),
];

/// The day in `words` (all of them), and the typos it took.
fn parse_target(words: &[&str]) -> Option<(DayTarget, u32)> {
    let words = match words {
        ["den" | "the", rest @ ..] => rest,
        _ => words,
    };
    let joined = words.join(" ");
    if let Some((_, day)) = NAMED.iter().find(|(name, _)| *name == joined) {
        return Some((DayTarget::Named(*day), 0));
    }
    if let [word] = words
        && let Some((typos, day)) = NAMED
            .iter()
            .filter_map(|(name, day)| Some((typos(word, name)?, *day)))
            .min_by_key(|(typos, _)| *typos)
    {
        return Some((DayTarget::Named(day), typos));
    }
    parse_date(words).map(|target| (target, 0))
}

/// "1 maj", "1:a maj 2027", "24/12", "2027-01-15", "December 24", "24th of December".
fn parse_date(words: &[&str]) -> Option<DayTarget> {
    let day_number = |word: &str| -> Option<u32> {
        let digits = word.trim_end_matches(|c: char| c.is_alphabetic() || c == ':');
        let day = digits.parse::<u32>().ok()?;
        (1..=31).contains(&day).then_some(day)
    };
    let month_number = |word: &str| -> Option<u32> {
        MONTHS
            .iter()
            .position(|(swedish, english)| word == *swedish || word == english.to_lowercase())
            .and_then(|index| u32::try_from(index + 1).ok())
    };
    let year_number = |word: &str| -> Option<i32> {
        word.parse::<i32>()
            .ok()
            .filter(|year| (1900..=2200).contains(year))
    };
    let date = |month: u32, day: u32, year: Option<i32>| {
        let check_year = year.unwrap_or(2024);
        chrono::NaiveDate::from_ymd_opt(check_year, month, day)?;
        Some(DayTarget::Date { month, day, year })
    };
    match words {
        [single] => {
            if let Some((year, rest)) = single.split_once('-')
                && let Some((month, day)) = rest.split_once('-')
            {
                return date(
                    month.parse().ok()?,
                    day.parse().ok()?,
                    Some(year_number(year)?),
                );
            }
            let (day, month) = single.split_once('/')?;
            date(month.parse().ok()?, day.parse().ok()?, None)
        }
        [day, month] => date(month_number(month)?, day_number(day)?, None)
            .or_else(|| date(month_number(day)?, day_number(month)?, None)),
        [day, "of", month] => date(month_number(month)?, day_number(day)?, None),
        [day, month, year] => date(
            month_number(month)?,
            day_number(day)?,
            Some(year_number(year)?),
        ),
        _ => None,
    }
}

/// How the answer names the day.
fn label(target: DayTarget, language: Language) -> String {
    let swedish = language == Language::Swedish;
    match target {
        DayTarget::Named(day) => {
            let (sv, en) = match day {
                NamedDay::ChristmasEve => ("julafton", "Christmas Eve"),
                NamedDay::ChristmasDay => ("juldagen", "Christmas Day"),
                NamedDay::NewYearsEve => ("nyårsafton", "New Year's Eve"),
                NamedDay::NewYearsDay => ("nyårsdagen", "New Year's Day"),
                NamedDay::MidsummerEve => ("midsommarafton", "Midsummer Eve"),
                NamedDay::NationalDay => ("nationaldagen", "Sweden's National Day"),
                NamedDay::Walpurgis => ("valborgsmässoafton", "Walpurgis Night"),
            };
            if swedish { sv } else { en }.to_owned()
        }
        DayTarget::Date { month, day, year } => {
            let month = month_name(month, language);
            let year = year.map(|year| format!(" {year}")).unwrap_or_default();
            if swedish {
                format!("den {day} {month}{year}")
            } else {
                format!("{day} {month}{year}")
            }
        }
    }
}
