//! What a message asks for: the intents and their slots.

use crate::units::Unit;
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::time::Duration;

/// What a message asks Alice to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Intent {
    /// Nothing local fits: the message goes to the language model.
    Model,
    /// "Vad är klockan?"
    Time,
    /// "Vilket datum är det idag?"
    Date,
    /// "Vilken vecka är det?" (ISO 8601 week numbers, as Sweden uses.)
    WeekNumber,
    /// "Hur många dagar är det kvar till julafton?"
    DaysUntil {
        /// The day counted to.
        target: DayTarget,
        /// How the answer names it, in the message's language: "julafton", "den 1 maj".
        label: String,
    },
    /// "Sätt en timer på tjugo minuter", "timer 5 min för äggen".
    Timer {
        /// How long the timer runs.
        duration: Duration,
        /// What it is for, as the user wrote it ("äggen"), if they said.
        label: Option<String>,
    },
    /// "Påminn mig om att ringa mamma om en kvart."
    Reminder {
        /// When to remind.
        when: When,
        /// What to remind of, as the user wrote it ("ringa mamma").
        text: String,
    },
    /// "Vilka timers har jag?" (and "vilka påminnelser har jag?": the server lists both).
    ListTimers,
    /// "Avbryt timern", "stoppa alla timers" (and reminders the same way).
    CancelTimers,
    /// "Kom ihåg att min hund heter Fido": store this text as a memory (capitals kept).
    Remember(String),
    /// "Glöm att min hund heter Fido": delete the memories that mention every word of it.
    Forget(String),
    /// "Glöm det där", "radera minnet": delete the newest memory.
    ForgetLast,
    /// "Glöm allt": delete every memory.
    ForgetAll,
    /// "Vad minns du om mig?" (None) or "vad minns du om min hund?" (Some("min hund")).
    Recall(Option<String>),
    /// "Hej", "god morgon", "tjena".
    Greeting,
    /// "Tack så mycket", "tusen tack".
    Thanks,
    /// "Hejdå", "vi hörs".
    Goodbye,
    /// "Vad är 17 gånger 23?"
    Arithmetic {
        /// The expression in symbols, numbers in the message's language: "17 × 23", "2,5 × 4".
        expression: String,
        /// Its exact value.
        value: Decimal,
    },
    /// An arithmetic request that has no answer: "hundra delat med noll".
    ArithmeticFailed {
        /// The expression in symbols.
        expression: String,
        /// Why it has no value.
        problem: ArithmeticProblem,
    },
    /// "20 grader celsius i fahrenheit", "3 dl i msk", "5 miles in km".
    Convert {
        /// The amount given.
        value: Decimal,
        /// Its unit.
        from: Unit,
        /// The unit asked for (of the same kind).
        to: Unit,
    },
    /// A request that needs an integration Alice may not have.
    External(Integration),
}

impl Intent {
    /// The intent's name in snake_case ("week_number", "external_weather"): what the labelled
    /// set writes, and what the server records as an answer's route and counts in its metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Intent::Model => "model",
            Intent::Time => "time",
            Intent::Date => "date",
            Intent::WeekNumber => "week_number",
            Intent::DaysUntil { .. } => "days_until",
            Intent::Timer { .. } => "timer",
            Intent::Reminder { .. } => "reminder",
            Intent::ListTimers => "list_timers",
            Intent::CancelTimers => "cancel_timers",
            Intent::Remember(_) => "remember",
            Intent::Forget(_) => "forget",
            Intent::ForgetLast => "forget_last",
            Intent::ForgetAll => "forget_all",
            Intent::Recall(_) => "recall",
            Intent::Greeting => "greeting",
            Intent::Thanks => "thanks",
            Intent::Goodbye => "goodbye",
            Intent::Arithmetic { .. } | Intent::ArithmeticFailed { .. } => "arithmetic",
            Intent::Convert { .. } => "convert",
            Intent::External(Integration::Weather) => "external_weather",
            Intent::External(Integration::Music) => "external_music",
            Intent::External(Integration::Volume) => "external_volume",
            Intent::External(Integration::Mail) => "external_mail",
            Intent::External(Integration::Calendar) => "external_calendar",
        }
    }
}

/// Why an arithmetic expression has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithmeticProblem {
    /// Division by zero.
    DivisionByZero,
    /// A number or result beyond exact decimal arithmetic (about 7.9 × 10²⁸).
    TooLarge,
    /// The square root of a negative number.
    NegativeRoot,
}

/// The integrations a request may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Integration {
    /// "Hur blir vädret imorgon?"
    Weather,
    /// "Spela lite jazz", "pausa musiken", "nästa låt".
    Music,
    /// "Höj volymen", "sätt volymen till 30 %".
    Volume,
    /// "Har jag fått några mejl?", "skicka ett mejl till Anna".
    Mail,
    /// "Vad har jag för möten imorgon?"
    Calendar,
}

/// When a reminder is due, as the user said it. The caller resolves it with its clock:
/// [`When::resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// After this long: "om en kvart".
    In(Duration),
    /// At a wall-clock time in the user's zone, `day_offset` days from today: "klockan kvart
    /// över tre" (0), "imorgon klockan 9" (1).
    At {
        /// 0 today, 1 tomorrow, 2 the day after.
        day_offset: u32,
        /// 0–23, or 0–11 when `twelve_hour`.
        hour: u32,
        /// 0–59.
        minute: u32,
        /// The hour was said on a twelve-hour clock without saying which half of the day
        /// ("klockan tre", "kvart över tre", "halv fyra"): it is `hour` or `hour + 12`, and
        /// [`When::resolve`] decides.
        twelve_hour: bool,
    },
}

impl When {
    /// The instant this is, seen from `now` in the user's zone.
    ///
    /// A twelve-hour time today is its next occurrence after `now`: at 10.00 "kvart över tre"
    /// is 15.15 today, at 16.00 it is 03.15 tomorrow. On a later day ("imorgon klockan tre")
    /// hours 1–6 are the afternoon (15.00) and 7–12 the morning, as people mean them. A time
    /// that a DST change skips (02.30 on the last Sunday of March) is taken an hour later; one
    /// it repeats is the first of the two.
    pub fn resolve(&self, now: DateTime<Tz>) -> DateTime<Tz> {
        match *self {
            When::In(duration) => chrono::Duration::from_std(duration)
                .ok()
                .and_then(|step| now.checked_add_signed(step))
                .unwrap_or(now),
            When::At {
                day_offset,
                hour,
                minute,
                twelve_hour,
            } => {
                let today = now.date_naive();
                let on =
                    |day: NaiveDate, hour: u32| at_wall_clock(now.timezone(), day, hour, minute);
                if day_offset > 0 {
                    let day = today
                        .checked_add_days(Days::new(u64::from(day_offset)))
                        .unwrap_or(today);
                    let hour = if twelve_hour && (1..=6).contains(&hour) {
                        hour + 12
                    } else {
                        hour
                    };
                    return on(day, hour).unwrap_or(now);
                }
                let tomorrow = today.succ_opt().unwrap_or(today);
                let hours: &[u32] = if twelve_hour {
                    &[hour, hour + 12]
                } else {
                    &[hour]
                };
                [today, tomorrow]
                    .iter()
                    .flat_map(|day| hours.iter().filter_map(move |hour| on(*day, *hour)))
                    .find(|candidate| *candidate > now)
                    .unwrap_or(now)
            }
        }
    }
}

/// The instant a wall-clock time on `day` is in `zone`, moved past a DST gap.
fn at_wall_clock(zone: Tz, day: NaiveDate, hour: u32, minute: u32) -> Option<DateTime<Tz>> {
    let wall = day.and_hms_opt(hour, minute, 0)?;
    zone.from_local_datetime(&wall).earliest().or_else(|| {
        zone.from_local_datetime(&(wall + chrono::Duration::hours(1)))
            .earliest()
    })
}

/// A day to count to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayTarget {
    /// A day with a name.
    Named(NamedDay),
    /// A date: a year when the user said one, otherwise its next occurrence.
    Date {
        /// 1–12.
        month: u32,
        /// 1–31.
        day: u32,
        /// The year, if given.
        year: Option<i32>,
    },
}

/// The days with a name that Alice counts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedDay {
    /// 24 December ("julafton", "jul", "Christmas Eve").
    ChristmasEve,
    /// 25 December ("juldagen", "Christmas Day").
    ChristmasDay,
    /// 31 December ("nyårsafton", "nyår", "New Year's Eve").
    NewYearsEve,
    /// 1 January ("nyårsdagen", "New Year's Day").
    NewYearsDay,
    /// The Friday between 19 and 25 June ("midsommarafton", "midsommar").
    MidsummerEve,
    /// 6 June ("nationaldagen").
    NationalDay,
    /// 30 April ("valborg", "valborgsmässoafton").
    Walpurgis,
}

impl DayTarget {
    /// The next day on or after `today` that this is (for a date with a year: that date).
    pub fn next_on_or_after(&self, today: NaiveDate) -> Option<NaiveDate> {
        if let DayTarget::Date {
            month,
            day,
            year: Some(year),
        } = *self
        {
            return NaiveDate::from_ymd_opt(year, month, day);
        }
        [today.year(), today.year() + 1]
            .into_iter()
            .filter_map(|year| self.in_year(year))
            .find(|date| *date >= today)
    }

    fn in_year(&self, year: i32) -> Option<NaiveDate> {
        let (month, day) = match *self {
            DayTarget::Date { month, day, .. } => (month, day),
            DayTarget::Named(NamedDay::ChristmasEve) => (12, 24),
            DayTarget::Named(NamedDay::ChristmasDay) => (12, 25),
            DayTarget::Named(NamedDay::NewYearsEve) => (12, 31),
            DayTarget::Named(NamedDay::NewYearsDay) => (1, 1),
            DayTarget::Named(NamedDay::NationalDay) => (6, 6),
            DayTarget::Named(NamedDay::Walpurgis) => (4, 30),
            DayTarget::Named(NamedDay::MidsummerEve) => {
                return (19..=25)
                    .filter_map(|day| NaiveDate::from_ymd_opt(year, 6, day))
                    .find(|date| date.weekday() == chrono::Weekday::Fri);
            }
        };
        NaiveDate::from_ymd_opt(year, month, day)
    }
}
