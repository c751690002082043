//! Whole-message patterns: the shape most rules use to say "this message is exactly this
//! request, and nothing else".
//!
//! A pattern is words separated by spaces. `a|b|c` is one word with alternatives; a trailing
//! `?` makes a word optional (`just? nu?`). Patterns are written with their Swedish letters and
//! folded when matched, so they read naturally. A match must cover every word of the message:
//! "vad är klockan" matches, "vad är klockan i Tokyo" does not, and neither does "vad är en
//! klocka för något". The result is how many keywords were matched through a typo.

use crate::spelling::typos;
use crate::text::fold;

/// The fewest typos with which `words` match any of `patterns`, if one matches.
pub(crate) fn match_any(words: &[&str], patterns: &[&str]) -> Option<u32> {
    patterns
        .iter()
        .filter_map(|pattern| {
            let elements: Vec<String> = pattern.split_whitespace().map(fold).collect();
            match_elements(words, &elements)
        })
        .min()
}

fn match_elements(words: &[&str], elements: &[String]) -> Option<u32> {
    let Some((element, rest)) = elements.split_first() else {
        return words.is_empty().then_some(0);
    };
    let (alternatives, optional) = match element.strip_suffix('?') {
        Some(required) => (required, true),
        None => (element.as_str(), false),
    };
    let taken = words.split_first().and_then(|(word, remaining)| {
        let cost = alternatives
            .split('|')
            .filter_map(|alternative| typos(word, alternative))
            .min()?;
        Some(cost + match_elements(remaining, rest)?)
    });
    let skipped = optional.then(|| match_elements(words, rest)).flatten();
    match (taken, skipped) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The confidence of a pattern match with `typos` corrected keywords.
pub(crate) fn pattern_confidence(typos: u32) -> f32 {
    crate::confidence::STRONG - crate::confidence::PER_TYPO * typos as f32
}

#[cfg(test)]
mod tests {
    use super::match_any;

    #[test]
    fn alternatives_optionals_and_typos() {
        let patterns = ["vad|hur är klockan just? nu?"];
        assert_eq!(match_any(&["vad", "ar", "klockan"], &patterns), Some(0));
        assert_eq!(
            match_any(&["vad", "ar", "klockan", "just", "nu"], &patterns),
            Some(0)
        );
        assert_eq!(
            match_any(&["vad", "ar", "klcokan", "nu"], &patterns),
            Some(1)
        );
        assert_eq!(
            match_any(&["vad", "ar", "klockan", "i", "tokyo"], &patterns),
            None
        );
        assert_eq!(match_any(&["vad", "ar"], &patterns), None);
    }
}
