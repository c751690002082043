//! Lengths of time as people say them: "tjugo minuter", "5 min", "en kvart", "en halvtimme",
//! "tre kvart", "en och en halv timme", "1 timme och 5 minuter", "half an hour", "an hour and a
//! half", "10 minuters" (as in "en tio minuters timer").
//!
//! A duration is one or more amounts with a unit, joined by "och", "and" or nothing. Anything
//! longer than a year is not a duration Alice keeps.

use crate::numbers::parse_number;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::time::Duration;

/// The longest duration read: a year.
const LONGEST_SECONDS: u64 = 366 * 24 * 3600;

/// A duration at the start of `words` (folded) and how many words it took.
pub(crate) fn parse_duration(words: &[&str]) -> Option<(Duration, usize)> {
    let (mut seconds, mut used) = parse_amount(words)?;
    loop {
        let rest = &words[used..];
        let (joiner, next) = match rest.first() {
            Some(&("och" | "and")) => (1, &rest[1..]),
            _ => (0, rest),
        };
        // "en timme och en halv": half of the unit before.
        if let [a, half, ..] = next
            && joiner == 1
            && matches!((*a, *half), ("en", "halv") | ("a", "half"))
        {
            seconds += last_unit_seconds(words, used)? / Decimal::from(2);
            used += 3;
            continue;
        }
        match parse_amount(next) {
            Some((more, more_used)) => {
                seconds += more;
                used += joiner + more_used;
            }
            None => break,
        }
    }
    let millis = (seconds * Decimal::from(1000)).round().to_u64()?;
    (millis > 0 && millis <= LONGEST_SECONDS * 1000).then(|| (Duration::from_millis(millis), used))
}

/// One amount with its unit, in seconds.
fn parse_amount(words: &[&str]) -> Option<(Decimal, usize)> {
    match words {
        ["en" | "ett" | "a", "kvart" | "quarter", rest @ ..] => {
            // "a quarter of an hour"
            let extra = match rest {
                ["of", "an", "hour", ..] => 3,
                _ => 0,
            };
            return Some((Decimal::from(15 * 60), 2 + extra));
        }
        ["kvart", ..] => return Some((Decimal::from(15 * 60), 1)),
        ["tre", "kvart", ..] => return Some((Decimal::from(45 * 60), 2)),
        ["en" | "ett", "halvtimme" | "halvtimma", ..] => {
            return Some((Decimal::from(30 * 60), 2));
        }
        ["halvtimme" | "halvtimma", ..] => return Some((Decimal::from(30 * 60), 1)),
        ["half", "an" | "a", "hour", ..] => return Some((Decimal::from(30 * 60), 3)),
        ["an" | "a", unit, ..] => {
            if let Some(seconds) = unit_seconds(unit) {
                return Some((Decimal::from(seconds), 2));
            }
        }
        _ => {}
    }
    let (amount, used) = parse_number(words)?;
    let unit = unit_seconds(words.get(used)?)?;
    Some((amount * Decimal::from(unit), used + 1))
}

/// The unit of the amount that ends at word `end`, in seconds.
fn last_unit_seconds(words: &[&str], end: usize) -> Option<Decimal> {
    let unit = words.get(end.checked_sub(1)?)?;
    unit_seconds(unit).map(Decimal::from)
}

/// Seconds in one of a unit word, if it is one.
pub(crate) fn unit_seconds(word: &str) -> Option<u64> {
    Some(match word {
        "sekund" | "sekunder" | "sekunders" | "sek" | "s" | "second" | "seconds" | "sec"
        | "secs" => 1,
        "minut" | "minuter" | "minuters" | "min" | "minute" | "minutes" | "mins" => 60,
        "timme" | "timmar" | "timma" | "timmes" | "tim" | "h" | "hour" | "hours" | "hr" | "hrs" => {
            3600
        }
        "dygn" | "dag" | "dagar" | "day" | "days" => 86_400,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    fn duration(text: &str) -> Option<(Duration, usize)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse_duration(&words)
    }

    fn minutes(count: u64) -> Duration {
        Duration::from_secs(count * 60)
    }

    #[test]
    fn swedish_durations() {
        assert_eq!(duration("tjugo minuter"), Some((minutes(20), 2)));
        assert_eq!(duration("5 min for aggen"), Some((minutes(5), 2)));
        assert_eq!(duration("en kvart"), Some((minutes(15), 2)));
        assert_eq!(duration("en halvtimme"), Some((minutes(30), 2)));
        assert_eq!(duration("tre kvart"), Some((minutes(45), 2)));
        assert_eq!(duration("en halv timme"), Some((minutes(30), 3)));
        assert_eq!(duration("en och en halv timme"), Some((minutes(90), 5)));
        assert_eq!(duration("1 timme och 5 minuter"), Some((minutes(65), 5)));
        assert_eq!(duration("en timme och en halv"), Some((minutes(90), 5)));
        assert_eq!(duration("2,5 timmar"), Some((minutes(150), 2)));
        assert_eq!(duration("ett par timmar"), Some((minutes(120), 3)));
        assert_eq!(duration("tio minuters"), Some((minutes(10), 2)));
        assert_eq!(duration("90 sekunder"), Some((Duration::from_secs(90), 2)));
    }

    #[test]
    fn english_durations() {
        assert_eq!(duration("half an hour"), Some((minutes(30), 3)));
        assert_eq!(duration("an hour and a half"), Some((minutes(90), 5)));
        assert_eq!(duration("a quarter of an hour"), Some((minutes(15), 5)));
        assert_eq!(duration("10 minutes"), Some((minutes(10), 2)));
        assert_eq!(
            duration("two hours and thirty minutes"),
            Some((minutes(150), 5))
        );
    }

    #[test]
    fn not_durations() {
        assert_eq!(duration("tjugo"), None);
        assert_eq!(duration("en timer"), None);
        assert_eq!(duration("0 minuter"), None);
        assert_eq!(duration("5000 dagar"), None);
    }
}
