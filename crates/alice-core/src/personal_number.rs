//! Finding and masking Swedish personal identity numbers (personnummer and samordningsnummer).
//!
//! Users tell Alice things like "mitt personnummer är 121212-1212", and such text can reach a
//! log line (a field, an error message) or a metric label (a client-chosen HTTP method). Logs
//! and metrics are kept, shipped and read far more widely than conversations, and an identity
//! number there is personal data no one asked to keep, so they must never carry one: the log
//! layer and the HTTP metric labels pass their text through [`mask`]. The GDPR export flags
//! identity numbers in the data it hands out.
//!
//! Recognised shapes: `YYMMDD-NNNN`, `YYMMDD+NNNN` (`+`: the person is 100 or older),
//! `YYMMDDNNNN`, `YYYYMMDD-NNNN` and `YYYYMMDDNNNN`. The digits must not be part of a longer
//! digit run (a letter or any other character next to them is fine), so longer order or
//! account numbers are left alone.
//!
//! A number is valid when its month is 01–12, its day is 01–31 (personnummer) or 61–91
//! (samordningsnummer: day + 60), a 12-digit form's century is 18, 19 or 20, and the Luhn check
//! over the ten digits `YYMMDDNNNN` holds. The date is not checked against the calendar, so
//! `19120230-…` (30 February) passes if its Luhn digit is right: masking a few impossible dates
//! costs nothing, missing a real number would. A ten-digit phone number written without
//! separators (`0701234567`) is masked whenever it happens to pass these checks.

use std::borrow::Cow;
use std::ops::Range;

/// Fewer ASCII digits than this and the text cannot hold a number.
const MIN_DIGITS: usize = 10;

/// The character every digit of a found number is replaced with.
const MASK_CHAR: char = '*';

/// Byte ranges of every valid number in `text`, in order, not overlapping.
///
/// Each range covers the digits and the separator, if any, and starts and ends on ASCII
/// bytes, so it always lies on `char` boundaries.
pub fn find(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    if !may_contain(bytes) {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        // `start` begins a digit run: the byte before it, if any, is not a digit.
        let run_end = digit_run_end(bytes, start);
        match number_at(bytes, start, run_end) {
            Some(end) => {
                found.push(start..end);
                start = end;
            }
            None => start = run_end,
        }
    }
    found
}

/// Whether `text` holds a valid number.
pub fn contains(text: &str) -> bool {
    // `find` allocates only when it finds something; the common case costs a digit count.
    !find(text).is_empty()
}

/// `text` with the digits of every valid number replaced by `*`, separators kept:
/// `121212-1212` becomes `******-****`, `191212121212` becomes `************`.
///
/// Borrowed when nothing was found. Text with fewer than ten ASCII digits, which is nearly
/// all text, is returned after one pass counting digits.
pub fn mask(text: &str) -> Cow<'_, str> {
    let found = find(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut masked = String::with_capacity(text.len());
    let mut copied = 0;
    // The ranges start and end on ASCII bytes, so slicing at them never splits a character.
    for range in found {
        masked.push_str(&text[copied..range.start]);
        masked.extend(
            text[range.clone()]
                .chars()
                .map(|c| if c.is_ascii_digit() { MASK_CHAR } else { c }),
        );
        copied = range.end;
    }
    masked.push_str(&text[copied..]);
    Cow::Owned(masked)
}

/// The fast check: text with fewer than ten ASCII digits cannot hold a number.
fn may_contain(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_DIGITS && bytes.iter().filter(|b| b.is_ascii_digit()).count() >= MIN_DIGITS
}

/// The end of the run of ASCII digits that begins at `start`.
fn digit_run_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(bytes.len(), |len| start + len)
}

/// If a valid number begins with the digit run `start..run_end`, the end of that number.
fn number_at(bytes: &[u8], start: usize, run_end: usize) -> Option<usize> {
    let run = &bytes[start..run_end];
    match run.len() {
        10 => is_valid(&run[..6], &run[6..]).then_some(run_end),
        12 => is_valid(&run[..8], &run[8..]).then_some(run_end),
        6 | 8 => {
            let separator = *bytes.get(run_end)?;
            // `+` marks age 100 or more, which only the short form needs to say.
            let separator_fits = separator == b'-' || (separator == b'+' && run.len() == 6);
            let serial_start = run_end + 1;
            let serial_end = serial_start + 4;
            let serial = bytes.get(serial_start..serial_end)?;
            let serial_is_a_whole_run = serial.iter().all(u8::is_ascii_digit)
                && bytes.get(serial_end).is_none_or(|b| !b.is_ascii_digit());
            (separator_fits && serial_is_a_whole_run && is_valid(run, serial)).then_some(serial_end)
        }
        _ => None,
    }
}

/// Whether a candidate is valid: `written_date` is the date as written, `YYMMDD` or
/// `YYYYMMDD`, and `serial` the four digits `NNNN`.
fn is_valid(written_date: &[u8], serial: &[u8]) -> bool {
    let (century, date) = written_date.split_at(written_date.len().saturating_sub(6));
    let century_fits = century.is_empty() || matches!(century, b"18" | b"19" | b"20");
    let month = two_digits(&date[2..4]);
    let day = two_digits(&date[4..6]);
    let day_fits = (1..=31).contains(&day) || (61..=91).contains(&day);
    century_fits && (1..=12).contains(&month) && day_fits && luhn_holds(date.iter().chain(serial))
}

/// The value of two ASCII digits.
fn two_digits(digits: &[u8]) -> u8 {
    digits
        .iter()
        .fold(0, |value, digit| value * 10 + (digit - b'0'))
}

/// The Luhn check over ASCII digits: from the left, every other digit (the first, third, ...)
/// is doubled, and a doubled digit above 9 counts as the sum of its digits; the total must be
/// a multiple of ten.
fn luhn_holds<'a>(digits: impl Iterator<Item = &'a u8>) -> bool {
    let sum: u32 = digits
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            if position.is_multiple_of(2) {
                let doubled = value * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                value
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::{contains, find, luhn_holds, mask};
    use std::borrow::Cow;

    fn masked(text: &str) -> String {
        mask(text).into_owned()
    }

    /// The Luhn check digit that completes nine ASCII digits.
    fn check_digit(nine: &[u8]) -> u8 {
        (b'0'..=b'9')
            .find(|&last| luhn_holds(nine.iter().chain([last].iter())))
            .unwrap()
    }

    #[test]
    fn luhn_matches_hand_computed_examples() {
        // 1 2 1 2 1 2 1 2 1 2, doubled from the left: 2+2+2+2+2+2+2+2+2+2 = 20.
        assert!(luhn_holds(b"1212121212".iter()));
        // 7 0 1 0 6 3 2 3 9 1: 5+0+2+0+3+3+4+3+9+1 = 30.
        assert!(luhn_holds(b"7010632391".iter()));
        assert!(!luhn_holds(b"1212121213".iter()));
        assert_eq!(check_digit(b"121212121"), b'2');
        assert_eq!(check_digit(b"701063239"), b'1');
    }

    #[test]
    fn every_personnummer_shape_is_masked() {
        assert_eq!(masked("121212-1212"), "******-****");
        assert_eq!(masked("121212+1212"), "******+****");
        assert_eq!(masked("1212121212"), "**********");
        assert_eq!(masked("19121212-1212"), "********-****");
        assert_eq!(masked("191212121212"), "************");
        assert_eq!(find("nr 19121212-1212."), vec![3..16]);
    }

    #[test]
    fn samordningsnummer_have_day_plus_sixty() {
        assert_eq!(masked("701063-2391"), "******-****");
        assert_eq!(masked("19701063-2391"), "********-****");
        assert_eq!(masked("7010632391"), "**********");
        // Day 60 and day 92 are neither a personnummer's nor a samordningsnummer's day.
        for nine in [b"701060239", b"701092239"] {
            let mut number = nine.to_vec();
            number.push(check_digit(nine));
            let number = String::from_utf8(number).unwrap();
            assert!(!contains(&number), "{number}");
        }
    }

    #[test]
    fn a_wrong_check_digit_is_not_masked() {
        for text in ["121212-1213", "1212121213", "19121212-1211", "701063-2392"] {
            assert!(matches!(mask(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn impossible_months_days_and_centuries_are_not_masked() {
        // Each completed with its right Luhn digit, so only the date rule can reject it.
        for nine in [b"121312121", b"120012121", b"121200121", b"121232121"] {
            let mut number = nine.to_vec();
            number.push(check_digit(nine));
            let number = String::from_utf8(number).unwrap();
            assert!(!contains(&number), "{number}");
        }
        // The right ten digits under a century no one alive was born in.
        assert!(!contains("171212121212"));
        assert!(!contains("211212121212"));
        assert!(contains("181212121212"));
        assert!(contains("201212121212"));
    }

    #[test]
    fn the_calendar_is_not_checked_beyond_day_31() {
        // 30 February passes when its Luhn digit is right.
        let nine = b"120230121";
        let mut number = nine.to_vec();
        number.push(check_digit(nine));
        assert!(contains(std::str::from_utf8(&number).unwrap()));
    }

    #[test]
    fn phone_and_order_numbers_are_left_alone() {
        for text in [
            "ring 070-123 45 67",
            "ring 070-1234567 eller +46 70 123 45 67",
            "order 11212121212",   // 11 digits, holding a valid ten-digit tail
            "order 12121212121",   // 11 digits, holding a valid ten-digit head
            "order 1191212121212", // 13 digits, holding a valid twelve-digit tail
            "ref 1121212-1212",    // 7 digits before the dash
            "ref 121212-12121",    // 5 digits after the dash
            "ref 19121212+1212",   // `+` only follows the six-digit date
            "ref 121212 - 1212",   // spaces are not a separator
        ] {
            assert!(matches!(mask(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn letters_and_punctuation_are_boundaries() {
        assert_eq!(masked("id:1212121212x"), "id:**********x");
        assert_eq!(masked("(121212-1212)"), "(******-****)");
        assert_eq!(masked("a121212-1212b"), "a******-****b");
    }

    #[test]
    fn numbers_inside_swedish_sentences_keep_the_text_around_them() {
        let text = "Hej! Mitt personnummer är 121212-1212, och min sambos är 19701063-2391. Tack så mycket, hälsningar Åsa Öberg";
        let ranges = find(text);
        assert_eq!(ranges.len(), 2);
        for range in &ranges {
            assert!(text.is_char_boundary(range.start) && text.is_char_boundary(range.end));
        }
        assert_eq!(&text[ranges[0].clone()], "121212-1212");
        assert_eq!(&text[ranges[1].clone()], "19701063-2391");
        assert_eq!(
            masked(text),
            "Hej! Mitt personnummer är ******-****, och min sambos är ********-****. Tack så mycket, hälsningar Åsa Öberg"
        );
        // Multi-byte letters right against the digits.
        assert_eq!(masked("är121212-1212ö"), "är******-****ö");
        assert_eq!(masked("å1212121212å"), "å**********å");
    }

    #[test]
    fn several_numbers_on_one_line_are_all_masked() {
        assert_eq!(
            masked("121212-1212,701063-2391;191212121212 1212121212"),
            "******-****,******-****;************ **********"
        );
    }

    #[test]
    fn json_escaped_context_is_masked() {
        let line = r#"{"evt":"chat","content":"mitt nr \u00e4r 121212-1212\n","n":1}"#;
        assert_eq!(
            masked(line),
            r#"{"evt":"chat","content":"mitt nr \u00e4r ******-****\n","n":1}"#
        );
        assert_eq!(
            masked(r#""content":"mitt nr är 121212-1212""#),
            r#""content":"mitt nr är ******-****""#
        );
    }

    #[test]
    fn text_with_few_digits_is_borrowed() {
        for text in ["", "hej", "status 200 in 12 ms", "2024-05-01T12:34:56Z"] {
            assert!(matches!(mask(text), Cow::Borrowed(_)), "{text}");
            assert!(!contains(text));
        }
    }

    /// A small deterministic generator, so the randomized test needs no dependency.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn randomized_numbers_in_random_text_are_found_and_masks_are_clean() {
        let pieces = [
            " ", "-", "+", "å", "ä", "ö", "Ö", "x", "\"", ":", "\\n", "0", "1", "7", "9", "€",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            // A valid number with a random date and serial.
            let month = 1 + rng.below(12);
            let day = 1 + rng.below(31) + if rng.below(2) == 0 { 0 } else { 60 };
            let digits = format!(
                "{:02}{month:02}{day:02}{:03}",
                rng.below(100),
                rng.below(1000)
            );
            let check = char::from(check_digit(digits.as_bytes()));
            let number = match rng.below(3) {
                0 => format!("{}-{}{check}", &digits[..6], &digits[6..]),
                1 => format!("{digits}{check}"),
                _ => format!("19{}-{}{check}", &digits[..6], &digits[6..]),
            };
            // Random text around it, kept off its ends by a letter.
            let mut text = String::new();
            for _ in 0..rng.below(20) {
                text.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
            }
            text.push('a');
            let start = text.len();
            text.push_str(&number);
            let end = text.len();
            text.push('b');
            for _ in 0..rng.below(20) {
                text.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
            }

            let ranges = find(&text);
            assert!(ranges.contains(&(start..end)), "{text:?} {ranges:?}");
            for range in &ranges {
                assert!(text.is_char_boundary(range.start) && text.is_char_boundary(range.end));
            }
            let masked = mask(&text);
            assert_eq!(masked.len(), text.len());
            assert!(!contains(&masked), "{masked:?}");
            assert!(
                masked
                    .bytes()
                    .zip(text.bytes())
                    .all(|(m, t)| m == t || (m == b'*' && t.is_ascii_digit())),
                "only digits change: {text:?} -> {masked:?}"
            );
        }
    }
}
