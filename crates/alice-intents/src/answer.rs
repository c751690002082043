//! The answers Alice gives herself, for the intents that need nothing but the time.

use crate::Classification;
use crate::intent::{ArithmeticProblem, Integration, Intent};
use crate::language::Language;
use crate::phrases::{describe_clock, describe_date, format_number};
use crate::units::convert;
use chrono::{DateTime, Datelike};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// The answer for the intents that need nothing but a clock: time, date, week number, days
/// until, greeting/thanks/goodbye, arithmetic, conversion, and an integration's "not
/// connected" reply. `now` is the current time in the user's zone.
///
/// None for the intents that need state (timers, reminders, memories), which the server
/// carries out, and for [`Intent::Model`].
pub fn answer_locally(classification: &Classification, now: DateTime<Tz>) -> Option<String> {
    let language = classification.language;
    let say = |swedish: String, english: String| {
        Some(match language {
            Language::Swedish => swedish,
            Language::English => english,
        })
    };
    match &classification.intent {
        Intent::Time => {
            let clock = describe_clock(&now, language);
            say(format!("Klockan är {clock}."), format!("It's {clock}."))
        }
        Intent::Date => {
            let date = describe_date(now.date_naive(), language);
            say(format!("Idag är det {date}."), format!("Today is {date}."))
        }
        Intent::WeekNumber => {
            let week = now.iso_week().week();
            say(
                format!("Det är vecka {week}."),
                format!("It's week {week}."),
            )
        }
        Intent::DaysUntil { target, label } => {
            let today = now.date_naive();
            let day = target.next_on_or_after(today)?;
            let days = (day - today).num_days();
            match days {
                0 => say(
                    format!("Det är {label} idag!"),
                    format!("It's {label} today!"),
                ),
                1 => say(
                    format!("Det är 1 dag kvar till {label}: det är imorgon."),
                    format!("There is 1 day left until {label}: it's tomorrow."),
                ),
                days if days < 0 => say(
                    format!("{} var för {} dagar sedan.", capitalised(label), -days),
                    format!("{label} was {} days ago.", -days),
                ),
                days => say(
                    format!("Det är {days} dagar kvar till {label}."),
                    format!("There are {days} days left until {label}."),
                ),
            }
        }
        Intent::Greeting => say(
            "Hej! Vad kan jag hjälpa dig med?".into(),
            "Hi! What can I help you with?".into(),
        ),
        Intent::Thanks => say(
            "Varsågod! Säg till om det är något mer.".into(),
            "You're welcome! Let me know if there's anything else.".into(),
        ),
        Intent::Goodbye => say(
            "Hejdå, vi hörs!".into(),
            "Goodbye, talk to you soon!".into(),
        ),
        Intent::Arithmetic { expression, value } => {
            let rounded = value.round_dp(10);
            let sign = if rounded == *value { "=" } else { "≈" };
            let value = format_number(rounded, language);
            say(
                format!("{expression} {sign} {value}."),
                format!("{expression} {sign} {value}."),
            )
        }
        Intent::ArithmeticFailed {
            expression,
            problem,
        } => match problem {
            ArithmeticProblem::DivisionByZero => say(
                format!("{expression} går inte att räkna ut: man kan inte dela med noll."),
                format!("{expression} has no answer: you cannot divide by zero."),
            ),
            ArithmeticProblem::NegativeRoot => say(
                format!(
                    "{expression} har inget svar bland de reella talen: roten ur ett negativt tal går inte att dra."
                ),
                format!(
                    "{expression} has no real answer: a negative number has no real square root."
                ),
            ),
            ArithmeticProblem::TooLarge => say(
                "Talen blir för stora för att jag ska kunna räkna exakt. Prova med mindre tal."
                    .into(),
                "The numbers get too large for me to calculate exactly. Try smaller numbers."
                    .into(),
            ),
        },
        Intent::Convert { value, from, to } => {
            let Some(result) = convert(*value, *from, *to) else {
                return say(
                    "Det blir för stora tal för att jag ska kunna räkna om exakt.".into(),
                    "The numbers get too large for me to convert exactly.".into(),
                );
            };
            let shown = sensibly_rounded(result);
            let about = shown != result;
            let given = format!(
                "{} {}",
                format_number(*value, language),
                from.name(language, value.abs() != Decimal::ONE)
            );
            let answer = format!(
                "{} {}",
                format_number(shown, language),
                to.name(language, shown.abs() != Decimal::ONE)
            );
            let (swedish, english) = if about {
                ("är ungefär", "is about")
            } else {
                ("är", "is")
            };
            say(
                format!("{given} {swedish} {answer}."),
                format!("{given} {english} {answer}."),
            )
        }
        Intent::External(integration) => {
            let (swedish, english) = match integration {
                Integration::Weather => ("någon vädertjänst", "a weather service"),
                Integration::Music => ("någon musiktjänst", "a music service"),
                Integration::Volume => ("någon högtalare", "a speaker"),
                Integration::Mail => ("din e-post", "your email"),
                Integration::Calendar => ("din kalender", "your calendar"),
            };
            say(
                format!(
                    "Jag är inte kopplad till {swedish} än, så det kan jag tyvärr inte hjälpa till med."
                ),
                format!("I'm not connected to {english} yet, so I can't help with that, sorry."),
            )
        }
        Intent::Model
        | Intent::Timer { .. }
        | Intent::Reminder { .. }
        | Intent::ListTimers
        | Intent::CancelTimers
        | Intent::Remember(_)
        | Intent::Forget(_)
        | Intent::ForgetLast
        | Intent::ForgetAll
        | Intent::Recall(_) => None,
    }
}

/// A converted amount as people want it: exact when it has at most two decimals, otherwise
/// two decimals from 1 up ("8,05") and three significant digits below ("0,00473").
fn sensibly_rounded(value: Decimal) -> Decimal {
    let exact = value.normalize();
    if exact.scale() <= 2 {
        return exact;
    }
    if exact.abs() >= Decimal::ONE {
        return exact.round_dp(2).normalize();
    }
    let mut places = 2;
    let mut scaled = exact.abs();
    while scaled < Decimal::new(1, 1) && places < 20 {
        scaled *= Decimal::TEN;
        places += 1;
    }
    exact.round_dp(places).normalize()
}

fn capitalised(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}
