//! The prompt text as the cache key sees it.
//!
//! Two people who ask the same thing rarely type it the same way: "Vad är Sveriges huvudstad?"
//! and "vad är sveriges huvudstad" should meet in one cache entry. Normalisation folds away what
//! does not change the meaning (case, Unicode composition, runs of whitespace, sentence
//! punctuation) and keeps everything that might (letters as written, digits, maths operators,
//! brackets, the decimal separator inside a number). When unsure it keeps a character: a missed
//! cache hit costs one model call, a false one serves somebody the wrong answer.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// The prompt as the cache key sees it:
///
/// - lowercase, then Unicode NFC, so "Ä", "ä" and "a" + U+0308 are one letter; Swedish å, ä and
///   ö stay themselves ("får" and "far" are different words);
/// - whitespace of any kind collapsed to one space, and trimmed;
/// - sentence punctuation (`. , ! ? ; :`, quotation marks, `…`, dashes) removed as a word
///   break, except between two digits, where it is part of a number ("3,5", "3.5", "12:30");
/// - an apostrophe inside a word dropped ("don't" becomes "dont");
/// - invisible characters (zero-width space, byte-order mark, soft hyphen) dropped;
/// - everything else kept: digits, maths operators `+ - * / = ^ % < >`, brackets, symbols.
pub fn normalise_prompt(prompt: &str) -> String {
    let mut out = String::with_capacity(prompt.len());
    // Invisible characters go before composing, or one between a letter and its combining
    // mark would keep them apart until a second pass. Lowercasing before composing keeps the
    // result NFC even where lowercasing changes a character's decomposition.
    let mut chars = prompt
        .chars()
        .filter(|&c| !is_invisible(c))
        .flat_map(char::to_lowercase)
        .nfc()
        .peekable();
    let mut previous: Option<char> = None;
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let keep = if c.is_whitespace() {
            false
        } else if is_sentence_punctuation(c) {
            let between_digits =
                previous.is_some_and(char::is_numeric) && next.is_some_and(char::is_numeric);
            let inside_word = is_apostrophe(c)
                && previous.is_some_and(char::is_alphanumeric)
                && next.is_some_and(char::is_alphanumeric);
            if inside_word {
                previous = Some(c);
                continue;
            }
            between_digits
        } else {
            true
        };
        if keep {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
        previous = Some(c);
    }
    // Dropping a character (an apostrophe inside a word) can bring a letter and a combining
    // mark together that compose; compose them now, so normalising again changes nothing.
    if is_nfc_quick(out.chars()) == IsNormalized::Yes {
        out
    } else {
        out.nfc().collect()
    }
}

/// Marks that end or decorate a sentence without changing what it asks.
fn is_sentence_punctuation(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | '!'
            | '?'
            | ';'
            | ':'
            | '…'
            | '¡'
            | '¿'
            | '‼'
            | '⁇'
            | '"'
            | '«'
            | '»'
            | '„'
            | '“'
            | '”'
            | '‹'
            | '›'
            | '‚'
            | '–'
            | '—'
            | '·'
            | '•'
    ) || is_apostrophe(c)
}

/// Apostrophes and single quotation marks, which users type interchangeably.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '‘' | '’' | '`' | '´')
}

/// Characters that cannot be seen and carry no meaning in a question.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{00AD}' | '\u{2060}')
}

#[cfg(test)]
mod tests {
    use super::normalise_prompt;

    #[test]
    fn case_is_folded() {
        assert_eq!(
            normalise_prompt("Vad är SVERIGES Huvudstad"),
            "vad är sveriges huvudstad"
        );
        assert_eq!(normalise_prompt("ÅÄÖ"), "åäö");
    }

    #[test]
    fn whitespace_is_collapsed_and_trimmed() {
        assert_eq!(
            normalise_prompt("  vad \t är\n\nklockan\u{00A0} "),
            "vad är klockan"
        );
    }

    #[test]
    fn sentence_punctuation_is_removed() {
        assert_eq!(
            normalise_prompt("Vad är Sveriges huvudstad?"),
            normalise_prompt("vad är sveriges huvudstad")
        );
        assert_eq!(normalise_prompt("Hej!!! Hur mår du…"), "hej hur mår du");
        assert_eq!(
            normalise_prompt("«Förklara» \"fotosyntes\", tack; nu: snabbt."),
            "förklara fotosyntes tack nu snabbt"
        );
        assert_eq!(normalise_prompt("hej,du"), "hej du");
        assert_eq!(normalise_prompt("”citat” – slut"), "citat slut");
    }

    #[test]
    fn an_apostrophe_inside_a_word_joins_it() {
        assert_eq!(normalise_prompt("What's 'this'?"), "whats this");
        assert_eq!(normalise_prompt("don’t"), "dont");
    }

    #[test]
    fn unicode_is_composed() {
        let decomposed = "va\u{0308}der";
        assert_eq!(normalise_prompt(decomposed), "väder");
        assert_eq!(normalise_prompt("A\u{030A}r"), normalise_prompt("år"));
    }

    #[test]
    fn swedish_letters_are_not_folded() {
        assert_eq!(normalise_prompt("Får"), "får");
        assert_ne!(normalise_prompt("får"), normalise_prompt("far"));
        assert_ne!(normalise_prompt("hörn"), normalise_prompt("horn"));
        assert_ne!(normalise_prompt("båt"), normalise_prompt("bat"));
    }

    #[test]
    fn decimal_separators_between_digits_are_kept() {
        assert_eq!(normalise_prompt("3,5 * 2"), "3,5 * 2");
        assert_ne!(normalise_prompt("3,5"), normalise_prompt("35"));
        assert_ne!(normalise_prompt("3.5"), normalise_prompt("35"));
        assert_eq!(normalise_prompt("Klockan 12:30."), "klockan 12:30");
        assert_eq!(normalise_prompt("1, 2, 3."), "1 2 3");
    }

    #[test]
    fn maths_operators_are_kept() {
        assert_eq!(normalise_prompt("Vad är 2+2?"), "vad är 2+2");
        assert_ne!(normalise_prompt("2+2"), normalise_prompt("22"));
        assert_ne!(normalise_prompt("2+2"), normalise_prompt("2-2"));
        assert_ne!(normalise_prompt("6/3"), normalise_prompt("6*3"));
        assert_eq!(normalise_prompt("x^2 = 4 < 5 > 3 %"), "x^2 = 4 < 5 > 3 %");
        assert_eq!(normalise_prompt("(2+3)*4"), "(2+3)*4");
    }

    #[test]
    fn invisible_characters_are_dropped() {
        assert_eq!(normalise_prompt("hu\u{200B}vud\u{00AD}stad"), "huvudstad");
        assert_eq!(normalise_prompt("\u{FEFF}hej"), "hej");
    }

    /// An invisible character between a letter and its combining mark was dropped only after
    /// composition, so the first pass left "a" + U+0308 apart and a second pass made "ä" of
    /// them (reported by fuzzing; `fuzz/fuzz_targets/normalise.rs` checks this on every input).
    /// Likewise for an apostrophe dropped between a Greek letter and U+0345. The key of a
    /// prompt must not change when it is normalised again.
    #[test]
    fn normalising_twice_changes_nothing() {
        for prompt in [
            "a\u{00AD}\u{0308}",
            "Va\u{200B}\u{0308}der",
            "A\u{FEFF}\u{030A}r",
            "e\u{2060}\u{0301}",
            "α'\u{0345}",
        ] {
            let once = normalise_prompt(prompt);
            assert_eq!(normalise_prompt(&once), once, "{prompt:?}");
        }
        assert_eq!(normalise_prompt("a\u{00AD}\u{0308}"), "ä");
    }

    #[test]
    fn nothing_left_is_empty() {
        assert_eq!(normalise_prompt(" ?! … "), "");
    }
}
