//! Times of day as people say them, Swedish and English.
//!
//! - "15.30", "15:30", "9", "09.00", "klockan tre", "klockan femton";
//! - "kvart över tre" (3.15), "kvart i fem" (4.45), "halv fyra" (3.30: Swedish counts the half
//!   hour towards the next hour), "tjugo över fyra", "tio i sex", "fem i halv fyra" (3.25), "fem
//!   över halv fyra" (3.35);
//! - "half past three" (3.30, English counts from the hour before), "quarter to five", "ten past
//!   four", "3 pm", "3:30am", "noon", "midnatt";
//! - "på morgonen"/"på förmiddagen" and "på eftermiddagen"/"på kvällen" after a time settle
//!   which half of the day it is.
//!
//! An hour said without its half of the day (1–12, not zero-padded) is kept as a twelve-hour
//! time; [`crate::When::resolve`] picks the next occurrence.

use crate::numbers::parse_number;
use rust_decimal::prelude::ToPrimitive;

/// A time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClockTime {
    /// 0–23, or 0–11 when `twelve_hour`.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// The half of the day is open: `hour` or `hour + 12`.
    pub twelve_hour: bool,
}

impl ClockTime {
    fn new(hour: u32, minute: u32, twelve_hour: bool) -> Option<Self> {
        if hour > 24 || minute > 59 {
            return None;
        }
        let hour = hour % 24;
        Some(if twelve_hour && hour <= 12 {
            Self {
                hour: hour % 12,
                minute,
                twelve_hour: true,
            }
        } else {
            Self {
                hour,
                minute,
                twelve_hour: false,
            }
        })
    }

    /// In the afternoon or evening half of the day, if it was open.
    pub fn afternoon(self) -> Self {
        if self.twelve_hour {
            Self {
                hour: self.hour + 12,
                minute: self.minute,
                twelve_hour: false,
            }
        } else {
            self
        }
    }

    /// In the morning half of the day, if it was open.
    pub fn morning(self) -> Self {
        Self {
            twelve_hour: false,
            ..self
        }
    }
}

/// A time of day at the start of `words` (folded) and how many words it took.
pub(crate) fn parse_clock(words: &[&str]) -> Option<(ClockTime, usize)> {
    let (time, used) = parse_bare_clock(words)?;
    let rest = &words[used..];
    Some(match rest {
        ["pa", "morgonen" | "formiddagen", ..] => (time.morning(), used + 2),
        ["in", "the", "morning", ..] => (time.morning(), used + 3),
        ["pa", "eftermiddagen" | "kvallen", ..] => (time.afternoon(), used + 2),
        ["in", "the", "afternoon" | "evening", ..] => (time.afternoon(), used + 3),
        ["at", "night", ..] => (time.afternoon(), used + 2),
        ["pm" | "p.m", ..] => (time.afternoon(), used + 1),
        ["am" | "a.m", ..] => (time.morning(), used + 1),
        _ => (time, used),
    })
}

fn parse_bare_clock(words: &[&str]) -> Option<(ClockTime, usize)> {
    match words {
        ["midnatt" | "midnight", ..] => return ClockTime::new(0, 0, false).map(|t| (t, 1)),
        ["noon" | "midday", ..] => return ClockTime::new(12, 0, false).map(|t| (t, 1)),
        ["kvart", "over" | "past", rest @ ..] => return after_hour(rest, 15, 2),
        ["quarter", "past", rest @ ..] => return after_hour(rest, 15, 2),
        ["a", "quarter", "past", rest @ ..] => return after_hour(rest, 15, 3),
        ["kvart", "i" | "to", rest @ ..] => return before_hour(rest, 45, 2),
        ["quarter", "to", rest @ ..] => return before_hour(rest, 45, 2),
        ["a", "quarter", "to", rest @ ..] => return before_hour(rest, 45, 3),
        ["halv", rest @ ..] => return before_hour(rest, 30, 1),
        ["half", "past", rest @ ..] => return after_hour(rest, 30, 2),
        _ => {}
    }
    // "tjugo över fyra", "fem i halv fyra", "ten past four".
    if let Some((minutes, used)) = minutes_word(words) {
        let spoken = match &words[used..] {
            ["i", "halv", rest @ ..] => before_hour(rest, 30 - minutes, used + 2),
            ["over", "halv", rest @ ..] => before_hour(rest, 30 + minutes, used + 2),
            ["over" | "past", rest @ ..] => after_hour(rest, minutes, used + 1),
            ["i" | "to", rest @ ..] => before_hour(rest, 60 - minutes, used + 1),
            _ => None,
        };
        // "9 to call the bank" is nine o'clock, then other words.
        if spoken.is_some() {
            return spoken;
        }
    }
    let first = *words.first()?;
    // "15.30", "15:30", "09.00".
    if let Some((hour, minute)) = first.split_once(['.', ':']) {
        let digits = |part: &str, lengths: &[usize]| {
            lengths.contains(&part.len()) && part.bytes().all(|byte| byte.is_ascii_digit())
        };
        if !digits(hour, &[1, 2]) || !digits(minute, &[2]) {
            return None;
        }
        let padded = hour.len() == 2 && hour.starts_with('0');
        let (hour, minute) = (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?);
        let time = ClockTime::new(hour, minute, !padded && hour != 0)?;
        return Some((time, 1 + oclock(&words[1..])));
    }
    // "tre", "9", "femton", "three o'clock".
    let (hour, used) = hour_word(words)?;
    let padded = first.len() == 2 && first.starts_with('0');
    let time = ClockTime::new(hour, 0, !padded && hour != 0)?;
    Some((time, used + oclock(&words[used..])))
}

fn oclock(words: &[&str]) -> usize {
    usize::from(matches!(words.first(), Some(&("o'clock" | "oclock"))))
}

/// `minutes` past the hour in `words`.
fn after_hour(words: &[&str], minutes: u32, used: usize) -> Option<(ClockTime, usize)> {
    let (hour, hour_used) = hour_word(words)?;
    ClockTime::new(hour, minutes, true).map(|t| (t, used + hour_used))
}

/// `minutes` past the hour before the hour in `words` ("halv fyra" is 3.30).
fn before_hour(words: &[&str], minutes: u32, used: usize) -> Option<(ClockTime, usize)> {
    let (hour, hour_used) = hour_word(words)?;
    let hour = if hour == 0 { 23 } else { hour - 1 };
    ClockTime::new(hour, minutes, true).map(|t| (t, used + hour_used))
}

/// An hour, 0–24, in digits or words.
fn hour_word(words: &[&str]) -> Option<(u32, usize)> {
    let first = *words.first()?;
    if first == "ett" {
        return Some((1, 1));
    }
    let (value, used) = parse_number(&words[..1])?;
    let hour = value.to_u32().filter(|_| value.is_integer())?;
    (hour <= 24).then_some((hour, used))
}

/// Minutes before "över"/"i": 1–29, or "kvart".
fn minutes_word(words: &[&str]) -> Option<(u32, usize)> {
    let (value, used) = parse_number(&words[..1.min(words.len())])?;
    let minutes = value.to_u32().filter(|_| value.is_integer())?;
    (1..=29).contains(&minutes).then_some((minutes, used))
}

#[cfg(test)]
mod tests {
    use super::{ClockTime, parse_clock};

    fn clock(text: &str) -> Option<(u32, u32, bool)> {
        let words: Vec<&str> = text.split_whitespace().collect();
        parse_clock(&words).map(
            |(
                ClockTime {
                    hour,
                    minute,
                    twelve_hour,
                },
                _,
            )| (hour, minute, twelve_hour),
        )
    }

    #[test]
    fn swedish_clock_words() {
        assert_eq!(clock("tre"), Some((3, 0, true)));
        assert_eq!(clock("kvart over tre"), Some((3, 15, true)));
        assert_eq!(clock("kvart i fem"), Some((4, 45, true)));
        assert_eq!(clock("halv fyra"), Some((3, 30, true)));
        assert_eq!(clock("halv ett"), Some((0, 30, true)));
        assert_eq!(clock("tjugo over fyra"), Some((4, 20, true)));
        assert_eq!(clock("tio i sex"), Some((5, 50, true)));
        assert_eq!(clock("fem i halv fyra"), Some((3, 25, true)));
        assert_eq!(clock("fem over halv fyra"), Some((3, 35, true)));
        assert_eq!(clock("tolv"), Some((0, 0, true)));
        assert_eq!(clock("halv fyra pa eftermiddagen"), Some((15, 30, false)));
    }

    #[test]
    fn digits() {
        assert_eq!(clock("15.30"), Some((15, 30, false)));
        assert_eq!(clock("15:30"), Some((15, 30, false)));
        assert_eq!(clock("9"), Some((9, 0, true)));
        assert_eq!(clock("09.00"), Some((9, 0, false)));
        assert_eq!(clock("8.05"), Some((8, 5, true)));
        assert_eq!(clock("femton"), Some((15, 0, false)));
        assert_eq!(clock("25"), None);
        assert_eq!(clock("15.75"), None);
    }

    #[test]
    fn english_clock_words() {
        assert_eq!(clock("half past three"), Some((3, 30, true)));
        assert_eq!(clock("quarter to five"), Some((4, 45, true)));
        assert_eq!(clock("3 pm"), Some((15, 0, false)));
        assert_eq!(clock("ten past four"), Some((4, 10, true)));
        assert_eq!(clock("seven o'clock"), Some((7, 0, true)));
        assert_eq!(clock("noon"), Some((12, 0, false)));
    }
}
