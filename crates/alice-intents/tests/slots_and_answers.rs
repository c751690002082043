//! Slot values and answer texts: what the classifier reads out of a message, and what Alice
//! says for the intents she answers herself.

use alice_intents::{
    Classification, DayTarget, Intent, Language, NamedDay, Unit, When, answer_locally, classify,
    describe_duration, describe_wall_time, describe_when,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use std::time::Duration;

fn stockholm(utc: &str) -> DateTime<Tz> {
    let instant: DateTime<Utc> = utc.parse().unwrap_or_default();
    instant.with_timezone(&Stockholm)
}

fn local(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Tz> {
    Stockholm
        .with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .unwrap_or_else(|| stockholm("2000-01-01T00:00:00Z"))
}

fn answer(message: &str, now: DateTime<Tz>) -> String {
    let classification = classify(message);
    assert!(
        classification.is_local(0.7),
        "{message:?} was not local: {classification:?}"
    );
    answer_locally(&classification, now).unwrap_or_default()
}

fn intent(message: &str) -> Intent {
    let classification = classify(message);
    assert!(
        classification.is_local(0.7),
        "{message:?} was not local: {classification:?}"
    );
    classification.intent
}

fn decimal(text: &str) -> Decimal {
    text.parse().unwrap_or_default()
}

fn minutes(count: u64) -> Duration {
    Duration::from_secs(count * 60)
}

#[test]
fn timer_durations_and_labels() {
    let timer = |message| match intent(message) {
        Intent::Timer { duration, label } => Some((duration, label)),
        _ => None,
    };
    assert_eq!(
        timer("sätt en timer på tjugo minuter"),
        Some((minutes(20), None))
    );
    assert_eq!(
        timer("timer 5 min för äggen"),
        Some((minutes(5), Some("äggen".into())))
    );
    assert_eq!(
        timer("starta en timer på en kvart"),
        Some((minutes(15), None))
    );
    assert_eq!(
        timer("ställ en timer på en halvtimme"),
        Some((minutes(30), None))
    );
    assert_eq!(
        timer("Sätt en timer på en och en halv timme"),
        Some((minutes(90), None))
    );
    assert_eq!(
        timer("sätt en timer på 1 timme och 5 minuter"),
        Some((minutes(65), None))
    );
    assert_eq!(
        timer("set a timer for 5 minutes for the pasta"),
        Some((minutes(5), Some("pasta".into())))
    );
    assert_eq!(
        timer("sätt en timer på 12 minuter till Pastan"),
        Some((minutes(12), Some("Pastan".into())))
    );
    assert_eq!(
        timer("timer 90 sekunder"),
        Some((Duration::from_secs(90), None))
    );
}

#[test]
fn reminder_times_and_texts() {
    let reminder = |message| match intent(message) {
        Intent::Reminder { when, text } => Some((when, text)),
        _ => None,
    };
    let at = |day_offset, hour, minute, twelve_hour| When::At {
        day_offset,
        hour,
        minute,
        twelve_hour,
    };
    assert_eq!(
        reminder("Påminn mig om att ringa mamma om en kvart"),
        Some((When::In(minutes(15)), "ringa mamma".into()))
    );
    assert_eq!(
        reminder("påminn mig klockan kvart över tre att ta medicinen"),
        Some((at(0, 3, 15, true), "ta medicinen".into()))
    );
    assert_eq!(
        reminder("påminn mig imorgon klockan 9 om tandläkaren"),
        Some((at(1, 9, 0, true), "tandläkaren".into()))
    );
    assert_eq!(
        reminder("påminn mig halv fyra att hämta barnen"),
        Some((at(0, 3, 30, true), "hämta barnen".into()))
    );
    assert_eq!(
        reminder("påminn mig om att ringa Anna kvart i fem"),
        Some((at(0, 4, 45, true), "ringa Anna".into()))
    );
    assert_eq!(
        reminder("påminn mig om mötet klockan 14.30"),
        Some((at(0, 14, 30, false), "mötet".into()))
    );
    assert_eq!(
        reminder("påminn mig i morgon bitti om att packa väskan"),
        Some((at(1, 7, 0, false), "packa väskan".into()))
    );
    assert_eq!(
        reminder("Remind me to call mom in 20 minutes"),
        Some((When::In(minutes(20)), "call mom".into()))
    );
    assert_eq!(
        reminder("remind me tomorrow at 9 to call the bank"),
        Some((at(1, 9, 0, true), "call the bank".into()))
    );
}

#[test]
fn reminder_times_resolve_to_the_next_occurrence() {
    let quarter_past_three = When::At {
        day_offset: 0,
        hour: 3,
        minute: 15,
        twelve_hour: true,
    };
    assert_eq!(
        quarter_past_three.resolve(local(2026, 11, 24, 10, 0)),
        local(2026, 11, 24, 15, 15)
    );
    assert_eq!(
        quarter_past_three.resolve(local(2026, 11, 24, 16, 0)),
        local(2026, 11, 25, 3, 15)
    );
    assert_eq!(
        quarter_past_three.resolve(local(2026, 11, 24, 1, 0)),
        local(2026, 11, 24, 3, 15)
    );
    let tomorrow_at_three = When::At {
        day_offset: 1,
        hour: 3,
        minute: 0,
        twelve_hour: true,
    };
    assert_eq!(
        tomorrow_at_three.resolve(local(2026, 11, 24, 10, 0)),
        local(2026, 11, 25, 15, 0)
    );
    // 02.30 does not exist on 29 March 2026 in Stockholm: an hour later.
    let half_past_two = When::At {
        day_offset: 0,
        hour: 2,
        minute: 30,
        twelve_hour: false,
    };
    let resolved = half_past_two.resolve(local(2026, 3, 29, 1, 0));
    assert_eq!(resolved, local(2026, 3, 29, 3, 30));
    let in_a_quarter = When::In(minutes(15));
    assert_eq!(
        in_a_quarter.resolve(local(2026, 11, 24, 10, 0)),
        local(2026, 11, 24, 10, 15)
    );
}

#[test]
fn arithmetic_values_and_answers() {
    let now = local(2026, 12, 2, 12, 0);
    let value = |message| match intent(message) {
        Intent::Arithmetic { value, .. } => Some(value),
        _ => None,
    };
    assert_eq!(answer("Vad är 17 gånger 23?", now), "17 × 23 = 391.");
    assert_eq!(
        value("hur mycket är hundra delat med åtta"),
        Some(decimal("12.5"))
    );
    assert_eq!(
        answer("hur mycket är hundra delat med åtta", now),
        "100 / 8 = 12,5."
    );
    assert_eq!(answer("what is 100 divided by 8", now), "100 / 8 = 12.5.");
    assert_eq!(value("vad blir 20 procent av 150"), Some(decimal("30")));
    assert_eq!(value("roten ur 144"), Some(decimal("12")));
    assert_eq!(value("vad är 5 i kvadrat"), Some(decimal("25")));
    assert_eq!(value("(3+4)*2"), Some(decimal("14")));
    assert_eq!(value("vad är 0,1 + 0,2"), Some(decimal("0.3")));
    assert_eq!(value("räkna ut 1234 gånger 5678"), Some(decimal("7006652")));
    assert_eq!(answer("vad är 1/3", now), "1 / 3 ≈ 0,3333333333.");
    assert!(answer("vad är fem delat med noll", now).contains("dela med noll"));
    assert!(answer("100 / 0", now).contains("dela med noll"));
    assert!(answer("vad är 99999999999999999999999999999999 gånger 2", now).contains("för stora"));
}

#[test]
fn conversions_and_answers() {
    let now = local(2026, 12, 2, 12, 0);
    let convert = |message| match intent(message) {
        Intent::Convert { value, from, to } => Some((value, from, to)),
        _ => None,
    };
    assert_eq!(
        convert("20 grader celsius i fahrenheit"),
        Some((decimal("20"), Unit::Celsius, Unit::Fahrenheit))
    );
    assert_eq!(
        answer("20 grader celsius i fahrenheit", now),
        "20 °C är 68 °F."
    );
    assert_eq!(
        convert("3 dl i msk"),
        Some((decimal("3"), Unit::Decilitre, Unit::Tablespoon))
    );
    assert_eq!(answer("3 dl i msk", now), "3 dl är 20 msk.");
    assert_eq!(answer("hur många msk är 3 dl", now), "3 dl är 20 msk.");
    assert_eq!(
        convert("5 miles in km"),
        Some((decimal("5"), Unit::Mile, Unit::Kilometre))
    );
    assert_eq!(answer("5 miles in km", now), "5 miles is about 8.05 km.");
    assert_eq!(
        convert("2,5 kg i gram"),
        Some((decimal("2.5"), Unit::Kilogram, Unit::Gram))
    );
    assert_eq!(answer("2,5 kg i gram", now), "2,5 kg är 2500 g.");
    assert_eq!(answer("1 mil i km", now), "1 mil är 10 km.");
    assert_eq!(
        answer("-40 grader celsius i fahrenheit", now),
        "-40 °C är -40 °F."
    );
    assert_eq!(
        answer("100 km/h i m/s", now),
        "100 km/h är ungefär 27,78 m/s."
    );
    assert_eq!(
        answer("how many cups is 500 ml", now),
        "500 ml is about 2.11 cups."
    );
}

#[test]
fn days_until_named_days_and_dates() {
    let december_second = local(2026, 12, 2, 9, 0);
    assert_eq!(
        answer("hur många dagar är det till julafton", december_second),
        "Det är 22 dagar kvar till julafton."
    );
    assert_eq!(
        answer(
            "hur många dagar är det till julafton",
            local(2026, 12, 24, 23, 30)
        ),
        "Det är julafton idag!"
    );
    assert_eq!(
        answer(
            "hur många dagar kvar till nyårsafton",
            local(2026, 12, 30, 8, 0)
        ),
        "Det är 1 dag kvar till nyårsafton: det är imorgon."
    );
    // After julafton, the next one.
    assert_eq!(
        answer("hur många dagar till jul", local(2026, 12, 28, 8, 0)),
        "Det är 361 dagar kvar till julafton."
    );
    // Midsummer Eve 2026 is Friday 19 June.
    assert_eq!(
        answer(
            "hur länge är det kvar till midsommar",
            local(2026, 6, 1, 8, 0)
        ),
        "Det är 18 dagar kvar till midsommarafton."
    );
    assert_eq!(
        intent("hur många dagar är det till den 1 maj"),
        Intent::DaysUntil {
            target: DayTarget::Date {
                month: 5,
                day: 1,
                year: None
            },
            label: "den 1 maj".into()
        }
    );
    assert_eq!(
        intent("how many days until christmas"),
        Intent::DaysUntil {
            target: DayTarget::Named(NamedDay::ChristmasDay),
            label: "Christmas Day".into()
        }
    );
    let midsummer = DayTarget::Named(NamedDay::MidsummerEve);
    let june = NaiveDate::from_ymd_opt(2027, 6, 1).unwrap_or_default();
    assert_eq!(
        midsummer.next_on_or_after(june),
        NaiveDate::from_ymd_opt(2027, 6, 25)
    );
}

#[test]
fn the_clock_is_right_across_both_dst_changes() {
    // Spring forward: 02.00 CET becomes 03.00 CEST at 01.00 UTC on 29 March 2026.
    assert_eq!(
        answer("vad är klockan", stockholm("2026-03-29T00:30:00Z")),
        "Klockan är 01.30."
    );
    assert_eq!(
        answer("vad är klockan", stockholm("2026-03-29T01:30:00Z")),
        "Klockan är 03.30."
    );
    // Fall back: 03.00 CEST becomes 02.00 CET at 01.00 UTC on 25 October 2026.
    assert_eq!(
        answer("vad är klockan", stockholm("2026-10-25T00:30:00Z")),
        "Klockan är 02.30."
    );
    assert_eq!(
        answer("vad är klockan", stockholm("2026-10-25T01:30:00Z")),
        "Klockan är 02.30."
    );
    assert_eq!(
        answer("vad är klockan", stockholm("2026-10-25T02:30:00Z")),
        "Klockan är 03.30."
    );
    assert_eq!(
        answer("what time is it", stockholm("2026-10-25T02:30:00Z")),
        "It's 03:30."
    );
}

#[test]
fn dates_and_weeks() {
    let now = local(2026, 12, 2, 9, 0);
    assert_eq!(answer("vilken vecka är det", now), "Det är vecka 49.");
    assert_eq!(answer("what week is it", now), "It's week 49.");
    assert_eq!(
        answer("vilket datum är det idag", now),
        "Idag är det onsdag den 2 december 2026."
    );
    assert_eq!(
        answer("what's the date today", now),
        "Today is Wednesday 2 December 2026."
    );
    // Just after midnight local time it is already the next day, though UTC is not.
    assert_eq!(
        answer(
            "vilket datum är det idag",
            stockholm("2026-12-02T23:30:00Z")
        ),
        "Idag är det torsdag den 3 december 2026."
    );
}

#[test]
fn small_talk_and_integrations() {
    let now = local(2026, 12, 2, 9, 0);
    assert!(answer("hej", now).starts_with("Hej"));
    assert!(answer("tack så mycket", now).starts_with("Varsågod"));
    assert!(answer("hejdå", now).starts_with("Hejdå"));
    assert!(answer("hur blir vädret imorgon", now).contains("inte kopplad till någon vädertjänst"));
    assert!(answer("what's the weather like today", now).contains("not connected"));
}

#[test]
fn memory_commands_keep_the_users_text() {
    assert_eq!(
        intent("Kom ihåg att min hund heter Fido."),
        Intent::Remember("min hund heter Fido".into())
    );
    assert_eq!(
        intent("kom ihåg: tandläkaren på fredag"),
        Intent::Remember("tandläkaren på fredag".into())
    );
    assert_eq!(
        intent("kom ihåg att jag gillar kaffe, te och saft"),
        Intent::Remember("jag gillar kaffe, te och saft".into())
    );
    assert_eq!(
        intent("kom ihåg att min katt heter Alice"),
        Intent::Remember("min katt heter Alice".into())
    );
    assert_eq!(
        intent("Glöm att min hund heter Fido"),
        Intent::Forget("min hund heter Fido".into())
    );
    assert_eq!(intent("glöm det där"), Intent::ForgetLast);
    assert_eq!(intent("Glöm allt!"), Intent::ForgetAll);
    assert_eq!(intent("vad minns du om mig"), Intent::Recall(None));
    assert_eq!(
        intent("vad minns du om min hund"),
        Intent::Recall(Some("min hund".into()))
    );
    for message in [
        "Kommer du ihåg vad min hund heter?",
        "Glömde du något?",
        "Kom ihåg",
        "Remembering names is hard",
    ] {
        let Classification { intent, .. } = classify(message);
        assert!(
            !matches!(intent, Intent::Remember(_) | Intent::Forget(_)),
            "{message:?}: {intent:?}"
        );
    }
}

#[test]
fn the_answers_stateful_intents_need_none_and_their_phrases() {
    let now = local(2026, 11, 23, 10, 0);
    for message in [
        "sätt en timer på 5 minuter",
        "avbryt timern",
        "kom ihåg att jag bor i Umeå",
    ] {
        assert_eq!(answer_locally(&classify(message), now), None, "{message:?}");
    }
    assert_eq!(
        describe_duration(minutes(65), Language::Swedish),
        "1 timme och 5 minuter"
    );
    let meeting = local(2026, 11, 24, 15, 15);
    assert_eq!(
        describe_wall_time(&meeting, Language::Swedish),
        "tisdag den 24 november klockan 15.15"
    );
    assert_eq!(
        describe_when(&meeting, &now, Language::Swedish),
        "imorgon klockan 15.15"
    );
    assert_eq!(
        describe_when(&meeting, &now, Language::English),
        "tomorrow at 15:15"
    );
}

#[test]
fn a_bare_expression_is_calculated_for_a_models_tool_call() {
    use alice_intents::{Language, calculate};
    let sum = calculate("17*23", Language::English);
    assert!(
        matches!(sum, Some(Intent::Arithmetic { value, .. }) if value == 391.into()),
        "{sum:?}"
    );
    let divided = calculate("hundra delat med noll", Language::Swedish);
    assert!(
        matches!(divided, Some(Intent::ArithmeticFailed { .. })),
        "{divided:?}"
    );
    assert_eq!(calculate("huvudstaden i Sverige", Language::Swedish), None);
}
