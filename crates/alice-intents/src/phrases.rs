//! How Alice writes numbers, durations, dates and times, in Swedish and English, so that the
//! local answers and the server's replies for timers and reminders read the same.
//!
//! Swedish: a decimal comma ("12,5"), times as "15.15" (24-hour, minutes after a point), dates
//! as "måndag den 24 november 2026" in lower case. English: a decimal point, "15:15", "Monday
//! 24 November 2026".

use crate::language::Language;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Weekday};
use rust_decimal::Decimal;
use std::time::Duration;

/// A number as an answer writes it: no trailing zeros, a decimal comma in Swedish.
pub fn format_number(value: Decimal, language: Language) -> String {
    let text = value.normalize().to_string();
    match language {
        Language::Swedish => text.replace('.', ","),
        Language::English => text,
    }
}

/// A duration in words: "20 minuter", "1 timme och 5 minuter", "2 hours, 5 minutes and 3
/// seconds". Whole seconds; below a second, "0 sekunder".
pub fn describe_duration(duration: Duration, language: Language) -> String {
    let total = duration.as_secs();
    let parts = [
        (total / 86_400, ("dygn", "dygn"), ("day", "days")),
        (
            total % 86_400 / 3600,
            ("timme", "timmar"),
            ("hour", "hours"),
        ),
        (
            total % 3600 / 60,
            ("minut", "minuter"),
            ("minute", "minutes"),
        ),
        (total % 60, ("sekund", "sekunder"), ("second", "seconds")),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(count, _, _)| *count > 0)
        .map(|(count, swedish, english)| {
            let (one, many) = match language {
                Language::Swedish => swedish,
                Language::English => english,
            };
            format!("{count} {}", if *count == 1 { one } else { many })
        })
        .collect();
    let and = match language {
        Language::Swedish => "och",
        Language::English => "and",
    };
    match words.as_slice() {
        [] => match language {
            Language::Swedish => "0 sekunder".to_owned(),
            Language::English => "0 seconds".to_owned(),
        },
        [only] => only.clone(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

/// A clock time: "15.15" in Swedish, "15:15" in English.
pub fn describe_clock<T: Timelike>(time: &T, language: Language) -> String {
    let separator = match language {
        Language::Swedish => '.',
        Language::English => ':',
    };
    format!("{:02}{separator}{:02}", time.hour(), time.minute())
}

/// A date: "onsdag den 2 december 2026", "Wednesday 2 December 2026".
pub fn describe_date(date: NaiveDate, language: Language) -> String {
    let weekday = weekday_name(date.weekday(), language);
    let month = month_name(date.month(), language);
    match language {
        Language::Swedish => format!("{weekday} den {} {month} {}", date.day(), date.year()),
        Language::English => format!("{weekday} {} {month} {}", date.day(), date.year()),
    }
}

/// A date and time without the year: "måndag den 24 november klockan 15.15", "Monday 24
/// November at 15:15".
pub fn describe_wall_time<Z: TimeZone>(instant: &DateTime<Z>, language: Language) -> String {
    let weekday = weekday_name(instant.weekday(), language);
    let month = month_name(instant.month(), language);
    let clock = describe_clock(instant, language);
    match language {
        Language::Swedish => format!("{weekday} den {} {month} klockan {clock}", instant.day()),
        Language::English => format!("{weekday} {} {month} at {clock}", instant.day()),
    }
}

/// A moment relative to `now`: "idag klockan 15.15", "imorgon klockan 09.00", or the full
/// [`describe_wall_time`] further off. What a reminder's confirmation says.
pub fn describe_when<Z: TimeZone>(
    instant: &DateTime<Z>,
    now: &DateTime<Z>,
    language: Language,
) -> String {
    let clock = describe_clock(instant, language);
    let days = (instant.date_naive() - now.date_naive()).num_days();
    match (days, language) {
        (0, Language::Swedish) => format!("idag klockan {clock}"),
        (1, Language::Swedish) => format!("imorgon klockan {clock}"),
        (0, Language::English) => format!("today at {clock}"),
        (1, Language::English) => format!("tomorrow at {clock}"),
        _ => describe_wall_time(instant, language),
    }
}

/// "måndag", "Monday".
pub fn weekday_name(weekday: Weekday, language: Language) -> &'static str {
    let index = weekday.num_days_from_monday() as usize;
    let (swedish, english) = WEEKDAYS[index];
    match language {
        Language::Swedish => swedish,
        Language::English => english,
    }
}

/// "januari", "January"; month 1–12.
pub fn month_name(month: u32, language: Language) -> &'static str {
    let (swedish, english) = MONTHS[(month.clamp(1, 12) - 1) as usize];
    match language {
        Language::Swedish => swedish,
        Language::English => english,
    }
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("måndag", "Monday"),
    ("tisdag", "Tuesday"),
    ("onsdag", "Wednesday"),
    ("torsdag", "Thursday"),
    ("fredag", "Friday"),
    ("lördag", "Saturday"),
    ("söndag", "Sunday"),
];

pub(crate) const MONTHS: [(&str, &str); 12] = [
    ("januari", "January"),
    ("februari", "February"),
    ("mars", "March"),
    ("april", "April"),
    ("maj", "May"),
    ("juni", "June"),
    ("juli", "July"),
    ("augusti", "August"),
    ("september", "September"),
    ("oktober", "October"),
    ("november", "November"),
    ("december", "December"),
];

#[cfg(test)]
mod tests {
    use super::{describe_date, describe_duration, describe_wall_time, format_number};
    use crate::language::Language;
    use chrono::{NaiveDate, TimeZone};
    use chrono_tz::Europe::Stockholm;
    use rust_decimal::Decimal;
    use std::time::Duration;

    #[test]
    fn numbers_with_the_right_decimal_mark() {
        let value: Decimal = "12.50".parse().unwrap_or_default();
        assert_eq!(format_number(value, Language::Swedish), "12,5");
        assert_eq!(format_number(value, Language::English), "12.5");
    }

    #[test]
    fn durations_in_words() {
        let minutes = |count: u64| Duration::from_secs(count * 60);
        assert_eq!(
            describe_duration(minutes(20), Language::Swedish),
            "20 minuter"
        );
        assert_eq!(
            describe_duration(minutes(65), Language::Swedish),
            "1 timme och 5 minuter"
        );
        assert_eq!(
            describe_duration(Duration::from_secs(7503), Language::English),
            "2 hours, 5 minutes and 3 seconds"
        );
        assert_eq!(describe_duration(minutes(1), Language::English), "1 minute");
    }

    #[test]
    fn dates_and_times_in_lower_case_swedish() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        assert_eq!(
            describe_date(date, Language::Swedish),
            "tisdag den 24 november 2026"
        );
        let instant = Stockholm.with_ymd_and_hms(2026, 11, 23, 15, 15, 0).single();
        let described = instant.map(|instant| describe_wall_time(&instant, Language::Swedish));
        assert_eq!(
            described.as_deref(),
            Some("måndag den 23 november klockan 15.15")
        );
    }
}
