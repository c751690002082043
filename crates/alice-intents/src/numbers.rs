//! Numbers as people type them: digits with a decimal comma or point ("2,5", "2.5"), and
//! Swedish and English number words ("tjugofem", "tre hundra", "ett par", "en och en halv",
//! "twenty-five", "a couple of").
//!
//! Swedish writes compounds as one word, so "tvåhundrafemtio" is split into its parts
//! (longest part first: "sexton" before "sex") and summed as spoken: units and tens add,
//! "hundra" and "tusen" multiply what came before. A word that does not split wholly into
//! number parts is not a number ("treenighet").

use rust_decimal::Decimal;

/// A number word's part: its value and whether it multiplies what came before.
#[derive(Clone, Copy)]
enum Part {
    /// 0–19.
    Unit(u64),
    /// 20, 30, … 90.
    Ten(u64),
    /// hundra, tusen, miljon.
    Multiplier(u64),
}

/// Swedish number parts, folded (å → a, ö → o).
const SWEDISH_PARTS: &[(&str, Part)] = &[
    ("noll", Part::Unit(0)),
    ("en", Part::Unit(1)),
    ("ett", Part::Unit(1)),
    ("tva", Part::Unit(2)),
    ("tre", Part::Unit(3)),
    ("fyra", Part::Unit(4)),
    ("fem", Part::Unit(5)),
    ("sex", Part::Unit(6)),
    ("sju", Part::Unit(7)),
    ("atta", Part::Unit(8)),
    ("nio", Part::Unit(9)),
    ("tio", Part::Unit(10)),
    ("elva", Part::Unit(11)),
    ("tolv", Part::Unit(12)),
    ("tretton", Part::Unit(13)),
    ("fjorton", Part::Unit(14)),
    ("femton", Part::Unit(15)),
    ("sexton", Part::Unit(16)),
    ("sjutton", Part::Unit(17)),
    ("arton", Part::Unit(18)),
    ("nitton", Part::Unit(19)),
    ("tjugo", Part::Ten(20)),
    ("tjugu", Part::Ten(20)),
    ("trettio", Part::Ten(30)),
    ("tretti", Part::Ten(30)),
    ("fyrtio", Part::Ten(40)),
    ("forti", Part::Ten(40)),
    ("femtio", Part::Ten(50)),
    ("femti", Part::Ten(50)),
    ("sextio", Part::Ten(60)),
    ("sexti", Part::Ten(60)),
    ("sjuttio", Part::Ten(70)),
    ("sjutti", Part::Ten(70)),
    ("attio", Part::Ten(80)),
    ("atti", Part::Ten(80)),
    ("nittio", Part::Ten(90)),
    ("nitti", Part::Ten(90)),
    ("hundra", Part::Multiplier(100)),
    ("tusen", Part::Multiplier(1_000)),
    // "ettusen": Swedish drops one t of "ett tusen".
    ("ettusen", Part::Multiplier(1_000)),
    ("miljon", Part::Multiplier(1_000_000)),
    ("miljoner", Part::Multiplier(1_000_000)),
];

/// English number words (one word each; "twenty-five" is split at its hyphen).
const ENGLISH_PARTS: &[(&str, Part)] = &[
    ("zero", Part::Unit(0)),
    ("one", Part::Unit(1)),
    ("two", Part::Unit(2)),
    ("three", Part::Unit(3)),
    ("four", Part::Unit(4)),
    ("five", Part::Unit(5)),
    ("six", Part::Unit(6)),
    ("seven", Part::Unit(7)),
    ("eight", Part::Unit(8)),
    ("nine", Part::Unit(9)),
    ("ten", Part::Unit(10)),
    ("eleven", Part::Unit(11)),
    ("twelve", Part::Unit(12)),
    ("thirteen", Part::Unit(13)),
    ("fourteen", Part::Unit(14)),
    ("fifteen", Part::Unit(15)),
    ("sixteen", Part::Unit(16)),
    ("seventeen", Part::Unit(17)),
    ("eighteen", Part::Unit(18)),
    ("nineteen", Part::Unit(19)),
    ("twenty", Part::Ten(20)),
    ("thirty", Part::Ten(30)),
    ("forty", Part::Ten(40)),
    ("fifty", Part::Ten(50)),
    ("sixty", Part::Ten(60)),
    ("seventy", Part::Ten(70)),
    ("eighty", Part::Ten(80)),
    ("ninety", Part::Ten(90)),
    ("hundred", Part::Multiplier(100)),
    ("thousand", Part::Multiplier(1_000)),
    ("million", Part::Multiplier(1_000_000)),
];

/// A number at the start of `words` (folded) and how many words it took.
pub(crate) fn parse_number(words: &[&str]) -> Option<(Decimal, usize)> {
    let (whole, used) = parse_whole(words)?;
    // "en och en halv", "två och en halv", "2 och en halv", "one and a half".
    if let Some(rest) = words.get(used..)
        && let [and, a, half, ..] = rest
        && matches!(*and, "och" | "and")
        && matches!(
            (*a, *half),
            ("en", "halv") | ("ett", "halvt") | ("a", "half")
        )
    {
        return Some((whole + Decimal::new(5, 1), used + 3));
    }
    Some((whole, used))
}

/// A number without a trailing "och en halv".
fn parse_whole(words: &[&str]) -> Option<(Decimal, usize)> {
    let first = *words.first()?;
    if let Some(value) = parse_digits(first) {
        return Some((value, 1));
    }
    match words {
        ["en", "halv", ..] | ["ett", "halvt", ..] | ["a", "half", ..] => {
            return Some((Decimal::new(5, 1), 2));
        }
        ["halvannan", ..] => return Some((Decimal::new(15, 1), 1)),
        ["ett", "par", ..] | ["a", "couple", "of", ..] => {
            let used = if words.get(1) == Some(&"couple") {
                3
            } else {
                2
            };
            return Some((Decimal::from(2), used));
        }
        ["a", "hundred" | "thousand", ..] => {
            let (value, used) = parse_words(&words[1..])?;
            return Some((Decimal::from(value), used + 1));
        }
        _ => {}
    }
    let (value, used) = parse_words(words)?;
    Some((Decimal::from(value), used))
}

/// Digits with at most one decimal comma or point: "17", "2,5", "0.75".
pub(crate) fn parse_digits(word: &str) -> Option<Decimal> {
    let normalised = word.replace(',', ".");
    let mut parts = normalised.split('.');
    let whole = parts.next()?;
    let fraction = parts.next();
    if parts.next().is_some()
        || whole.is_empty()
        || !whole.bytes().all(|byte| byte.is_ascii_digit())
        || fraction
            .is_some_and(|digits| digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    normalised.parse().ok()
}

/// Number words, one or more ("tjugofem", "tre hundra", "twenty five"), as a whole number.
fn parse_words(words: &[&str]) -> Option<(u64, usize)> {
    let mut parts = Vec::new();
    let mut used = 0;
    for word in words {
        let Some(word_parts) = split_number_word(word) else {
            break;
        };
        let mut candidate = parts.clone();
        candidate.extend(word_parts);
        if !well_formed(&candidate) {
            break;
        }
        parts = candidate;
        used += 1;
    }
    (used > 0).then(|| (sum(&parts), used))
}

/// A word split wholly into number parts, longest part first.
fn split_number_word(word: &str) -> Option<Vec<Part>> {
    let mut parts = Vec::new();
    for piece in word.split('-') {
        let mut rest = piece;
        while !rest.is_empty() {
            let (name, part) = SWEDISH_PARTS
                .iter()
                .chain(ENGLISH_PARTS)
                .filter(|(name, _)| rest.starts_with(name))
                .max_by_key(|(name, _)| name.len())?;
            parts.push(*part);
            rest = &rest[name.len()..];
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// Whether parts follow one another as spoken numbers do: no unit after a unit ("fem tre"),
/// only a unit below ten after a ten ("tjugofem").
fn well_formed(parts: &[Part]) -> bool {
    parts.windows(2).all(|pair| match pair {
        [Part::Unit(_), Part::Unit(_) | Part::Ten(_)] => false,
        [Part::Ten(_), Part::Unit(unit)] => *unit < 10 && *unit > 0,
        [Part::Ten(_), Part::Ten(_)] => false,
        [Part::Multiplier(_), _] => true,
        [_, Part::Multiplier(_)] => true,
        _ => true,
    })
}

fn sum(parts: &[Part]) -> u64 {
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    for part in parts {
        match part {
            Part::Unit(value) | Part::Ten(value) => current = current.saturating_add(*value),
            Part::Multiplier(100) => current = current.max(1).saturating_mul(100),
            Part::Multiplier(factor) => {
                total = total.saturating_add(current.max(1).saturating_mul(*factor));
                current = 0;
            }
        }
    }
    total.saturating_add(current)
}

#[cfg(test)]
mod tests {
    use super::parse_number;
    use rust_decimal::Decimal;

    fn number(words: &str) -> Option<(Decimal, usize)> {
        let words: Vec<&str> = words.split_whitespace().collect();
        parse_number(&words)
    }

    fn value(text: &str) -> Decimal {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn swedish_number_words() {
        assert_eq!(number("noll"), Some((value("0"), 1)));
        assert_eq!(number("tjugofem minuter"), Some((value("25"), 1)));
        assert_eq!(number("trettiotre"), Some((value("33"), 1)));
        assert_eq!(number("hundra"), Some((value("100"), 1)));
        assert_eq!(number("tvahundrafemtio"), Some((value("250"), 1)));
        assert_eq!(number("tre tusen"), Some((value("3000"), 2)));
        assert_eq!(number("ettusenniohundra"), Some((value("1900"), 1)));
        assert_eq!(number("sexton"), Some((value("16"), 1)));
        assert_eq!(number("en halv"), Some((value("0.5"), 2)));
        assert_eq!(number("en och en halv timme"), Some((value("1.5"), 4)));
        assert_eq!(number("halvannan"), Some((value("1.5"), 1)));
        assert_eq!(number("ett par timmar"), Some((value("2"), 2)));
    }

    #[test]
    fn digits_with_comma_or_point() {
        assert_eq!(number("2,5 kg"), Some((value("2.5"), 1)));
        assert_eq!(number("2.5"), Some((value("2.5"), 1)));
        assert_eq!(number("17"), Some((value("17"), 1)));
        assert_eq!(number("2 och en halv"), Some((value("2.5"), 4)));
        assert_eq!(number("1,2,3"), None);
    }

    #[test]
    fn english_number_words() {
        assert_eq!(number("twenty-five"), Some((value("25"), 1)));
        assert_eq!(number("twenty five"), Some((value("25"), 2)));
        assert_eq!(number("a hundred"), Some((value("100"), 2)));
        assert_eq!(number("a couple of hours"), Some((value("2"), 3)));
    }

    #[test]
    fn words_that_only_look_like_numbers() {
        assert_eq!(number("treenighet"), None);
        assert_eq!(number("fem tre").map(|(_, used)| used), Some(1));
        assert_eq!(number("klockan"), None);
    }
}
