//! When a reminder is due, as people say it: "om en kvart", "in 20 minutes", "klockan kvart
//! över tre", "kl 15.30", "imorgon klockan 9", "klockan 9 imorgon", "i morgon bitti", "ikväll
//! klockan åtta", "tomorrow at 3 pm".
//!
//! A bare number is a time only after "klockan", "kl", "vid" or "at" ("påminn mig 9 …" is not a
//! time); the spoken forms ("halv fyra", "kvart över tre") and "15.30" stand on their own. A day
//! without a time has one by custom: "imorgon" 09.00, "i morgon bitti" 07.00, "ikväll" 19.00,
//! "i eftermiddag" 15.00.

use crate::clock_time::{ClockTime, parse_clock};
use crate::durations::parse_duration;
use crate::intent::When;

/// Which half of the day a day word settles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DayPart {
    Any,
    Morning,
    Afternoon,
}

/// A day word: its offset from today, the half of the day, the time it means alone.
struct Day {
    offset: u32,
    part: DayPart,
    default: Option<(u32, u32)>,
}

/// When, at the start of `words` (folded), and how many words it took.
pub(crate) fn parse_when(words: &[&str]) -> Option<(When, usize)> {
    if let [first, rest @ ..] = words
        && matches!(*first, "om" | "in" | "efter" | "after")
        && let Some((duration, used)) = parse_duration(rest)
    {
        return Some((When::In(duration), used + 1));
    }
    // A day, then perhaps a time; or a time, then perhaps a day.
    if let Some((day, day_used)) = parse_day(words) {
        let (clock, clock_used) = match parse_clock_with_marker(&words[day_used..]) {
            Some((clock, used)) => (Some(clock), used),
            None => (None, 0),
        };
        return at(day, clock).map(|when| (when, day_used + clock_used));
    }
    let (clock, clock_used) = parse_clock_with_marker(words)?;
    let (day, day_used) = parse_day(&words[clock_used..]).unwrap_or((
        Day {
            offset: 0,
            part: DayPart::Any,
            default: None,
        },
        0,
    ));
    at(day, Some(clock)).map(|when| (when, clock_used + day_used))
}

fn at(day: Day, clock: Option<ClockTime>) -> Option<When> {
    let clock = match clock {
        Some(clock) => match day.part {
            DayPart::Morning => clock.morning(),
            DayPart::Afternoon => clock.afternoon(),
            DayPart::Any => clock,
        },
        None => {
            let (hour, minute) = day.default?;
            ClockTime {
                hour,
                minute,
                twelve_hour: false,
            }
        }
    };
    Some(When::At {
        day_offset: day.offset,
        hour: clock.hour,
        minute: clock.minute,
        twelve_hour: clock.twelve_hour,
    })
}

fn parse_clock_with_marker(words: &[&str]) -> Option<(ClockTime, usize)> {
    let marker = match words {
        [
            "klockan" | "kl" | "kl." | "vid" | "at",
            "klockan" | "kl",
            ..,
        ] => 2,
        ["klockan" | "kl" | "kl." | "vid" | "at" | "runt", ..] => 1,
        _ => 0,
    };
    let (clock, used) = parse_clock(&words[marker..])?;
    let stands_alone = used > 1 || words.first().is_some_and(|word| word.contains(['.', ':']));
    (marker > 0 || stands_alone).then_some((clock, marker + used))
}

fn parse_day(words: &[&str]) -> Option<(Day, usize)> {
    let day = |offset, part, default| Day {
        offset,
        part,
        default,
    };
    Some(match words {
        ["imorgon" | "i", "morgon", "bitti", ..] | ["imorgon", "bitti", ..] => {
            let used = if words[0] == "i" { 3 } else { 2 };
            (day(1, DayPart::Morning, Some((7, 0))), used)
        }
        ["i", "morgon", "kvall", ..] => (day(1, DayPart::Afternoon, Some((19, 0))), 3),
        ["imorgon", "kvall", ..] | ["tomorrow", "evening" | "night", ..] => {
            (day(1, DayPart::Afternoon, Some((19, 0))), 2)
        }
        ["tomorrow", "morning", ..] => (day(1, DayPart::Morning, Some((8, 0))), 2),
        ["tomorrow", "afternoon", ..] => (day(1, DayPart::Afternoon, Some((15, 0))), 2),
        ["i", "morgon", ..] => (day(1, DayPart::Any, Some((9, 0))), 2),
        ["imorgon" | "tomorrow", ..] => (day(1, DayPart::Any, Some((9, 0))), 1),
        ["i", "overmorgon", ..] => (day(2, DayPart::Any, Some((9, 0))), 2),
        ["overmorgon", ..] => (day(2, DayPart::Any, Some((9, 0))), 1),
        ["the", "day", "after", "tomorrow", ..] => (day(2, DayPart::Any, Some((9, 0))), 4),
        ["i", "kvall", ..] => (day(0, DayPart::Afternoon, Some((19, 0))), 2),
        ["ikvall" | "tonight", ..] => (day(0, DayPart::Afternoon, Some((19, 0))), 1),
        ["this", "evening", ..] => (day(0, DayPart::Afternoon, Some((19, 0))), 2),
        ["i", "eftermiddag", ..] => (day(0, DayPart::Afternoon, Some((15, 0))), 2),
        ["this", "afternoon", ..] => (day(0, DayPart::Afternoon, Some((15, 0))), 2),
        ["i", "dag", ..] => (day(0, DayPart::Any, None), 2),
        ["idag" | "today", ..] => (day(0, DayPart::Any, None), 1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_when;
    use crate::intent::When;
    use std::time::Duration;

    fn when(text: &str) -> Option<(When, usize)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse_when(&words)
    }

    fn at(day_offset: u32, hour: u32, minute: u32, twelve_hour: bool) -> When {
        When::At {
            day_offset,
            hour,
            minute,
            twelve_hour,
        }
    }

    #[test]
    fn in_a_while() {
        assert_eq!(
            when("om en kvart"),
            Some((When::In(Duration::from_secs(900)), 3))
        );
        assert_eq!(
            when("om en halvtimme"),
            Some((When::In(Duration::from_secs(1800)), 3))
        );
        assert_eq!(
            when("om tva timmar"),
            Some((When::In(Duration::from_secs(7200)), 3))
        );
        assert_eq!(
            when("in 20 minutes"),
            Some((When::In(Duration::from_secs(1200)), 3))
        );
        assert_eq!(when("om att ringa"), None);
    }

    #[test]
    fn at_a_time() {
        assert_eq!(when("klockan tre"), Some((at(0, 3, 0, true), 2)));
        assert_eq!(
            when("klockan kvart over tre"),
            Some((at(0, 3, 15, true), 4))
        );
        assert_eq!(when("kvart i fem"), Some((at(0, 4, 45, true), 3)));
        assert_eq!(when("halv fyra"), Some((at(0, 3, 30, true), 2)));
        assert_eq!(when("kl 15.30"), Some((at(0, 15, 30, false), 2)));
        assert_eq!(when("imorgon klockan 9"), Some((at(1, 9, 0, true), 3)));
        assert_eq!(when("klockan 9 imorgon"), Some((at(1, 9, 0, true), 3)));
        assert_eq!(when("i morgon bitti"), Some((at(1, 7, 0, false), 3)));
        assert_eq!(when("ikvall klockan atta"), Some((at(0, 20, 0, false), 3)));
        assert_eq!(when("tomorrow at 3 pm"), Some((at(1, 15, 0, false), 4)));
        assert_eq!(when("9"), None);
        assert_eq!(when("idag"), None);
    }
}
