//! Arithmetic ("vad är 17 gånger 23?") and unit conversion ("3 dl i msk", "hur många msk är 3
//! dl?", "5 miles in km").
//!
//! Arithmetic: after an optional opening ("vad är", "räkna ut", "what is"), the rest of the
//! message must read wholly as an expression ([`crate::arithmetic`]). Conversion: an amount, a
//! unit, "i"/"till"/"in"/"to" and a second unit of the same kind, or "hur många <unit> är
//! <amount> <unit>", and nothing else.

use super::{Candidate, Request};
use crate::arithmetic::read;
use crate::confidence::STRONG;
use crate::intent::Intent;
use crate::numbers::parse_number;
use crate::pattern::match_any;
use crate::units::{Unit, parse_unit};
use rust_decimal::Decimal;

const OPENINGS: &[&str] = &[
    "vad|va är|blir|e",
    "hur mycket är|blir",
    "räkna ut",
    "räkna",
    "beräkna",
    "vad är svaret på",
    "what is|'s",
    "what's|whats",
    "how much is",
    "calculate|compute",
    "konvertera|omvandla",
    "räkna om",
    "convert",
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.core();
    let opening = (1..=3.min(words.len()))
        .rev()
        .find(|length| match_any(&words[..*length], OPENINGS) == Some(0))
        .unwrap_or(0);
    convert(request, &words, opening).or_else(|| arithmetic(request, opening))
}

fn arithmetic(request: &Request<'_>, opening: usize) -> Option<Candidate> {
    let text = request
        .text
        .raw_between(request.first + opening, request.end);
    let reading = read(text, request.language)?;
    let intent = match reading.value {
        Ok(value) => Intent::Arithmetic {
            expression: reading.expression,
            value,
        },
        Err(problem) => Intent::ArithmeticFailed {
            expression: reading.expression,
            problem,
        },
    };
    Some(Candidate::new(intent, STRONG))
}

fn convert(request: &Request<'_>, words: &[&str], opening: usize) -> Option<Candidate> {
    let rest = &words[opening..];
    // "hur många msk är 3 dl", "how many cups is 500 ml"
    let asked_first = match rest {
        ["hur", "manga" | "mycket", tail @ ..] | ["how", "many" | "much", tail @ ..] => {
            let (to, used) = parse_unit(tail)?;
            let verb = match &tail[used..] {
                ["ar" | "blir" | "motsvarar" | "is" | "are" | "in", ..] => 1,
                ["gar", "det", "pa" | "i", ..] => 3,
                ["there", "are" | "is", "in", ..] => 3,
                _ => return None,
            };
            Some((to, 2 + used + verb))
        }
        _ => None,
    };
    let amount_at = asked_first.map_or(opening, |(_, used)| opening + used);
    let (value, from, after) = amount_with_unit(request, words, amount_at)?;
    let to = match asked_first {
        Some((to, _)) => {
            if after != words.len() {
                return None;
            }
            to
        }
        None => {
            let tail = &words[after..];
            let marker = match tail {
                ["i" | "till" | "in" | "to" | "into" | "som" | "pa", ..] => 1,
                [
                    "omvandlat" | "omräknat" | "converted",
                    "till" | "to" | "i",
                    ..,
                ] => 2,
                _ => return None,
            };
            let (to, used) = parse_unit(&tail[marker..])?;
            if marker + used != tail.len() {
                return None;
            }
            to
        }
    };
    if from == to || from.quantity() != to.quantity() {
        return None;
    }
    Some(Candidate::new(Intent::Convert { value, from, to }, STRONG))
}

/// An amount and its unit at word `at` of the core, and the word after them.
fn amount_with_unit(
    request: &Request<'_>,
    words: &[&str],
    at: usize,
) -> Option<(Decimal, Unit, usize)> {
    let (negative, at) = match words.get(at) {
        Some(&"minus") => (true, at + 1),
        _ => (request.text.negative(request.first + at), at),
    };
    let (value, used) = parse_number(words.get(at..)?)?;
    let (unit, unit_used) = parse_unit(&words[at + used..])?;
    let value = if negative { -value } else { value };
    Some((value, unit, at + used + unit_used))
}
