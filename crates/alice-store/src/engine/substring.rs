//! Case-insensitive substring patterns for the conversation search (`GET /api/conversations?q=`),
//! written so that both engines find the same conversations whatever their locale.
//!
//! This exists because neither engine's own case folding can be relied on for Swedish: SQLite's
//! `LIKE` folds ASCII letters only (so "åre" would not find "Åre"), and PostgreSQL's `ILIKE`
//! folds by the database's `LC_CTYPE` (none beyond ASCII under the `C` locale). Instead every
//! letter of the text is spelled out with its case forms, `[åÅ]`, in a pattern that matches
//! case-sensitively: SQLite's `GLOB` and PostgreSQL's regular expressions (`~`) both take such
//! bracket sets, and every other character is quoted, so what the user typed is only ever text.

/// The characters `c` matches when case is ignored: itself and its one-character lower- and
/// uppercase forms (a form of several characters, such as the uppercase of "ß", is left out).
fn case_forms(c: char) -> Vec<char> {
    let mut forms = vec![c];
    for form in [only(c.to_lowercase()), only(c.to_uppercase())]
        .into_iter()
        .flatten()
    {
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// The one character of `chars`, if it is one.
fn only(mut chars: impl Iterator<Item = char>) -> Option<char> {
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// A SQLite `GLOB` pattern matching any text that holds `text`, case ignored. `*`, `?` and `[`
/// are GLOB's only special characters outside a set, and each is quoted as a set of itself.
pub(crate) fn glob_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() * 4 + 2);
    pattern.push('*');
    for c in text.chars() {
        let forms = case_forms(c);
        if forms.len() > 1 {
            pattern.push('[');
            pattern.extend(forms);
            pattern.push(']');
        } else if matches!(c, '*' | '?' | '[') {
            pattern.push('[');
            pattern.push(c);
            pattern.push(']');
        } else {
            pattern.push(c);
        }
    }
    pattern.push('*');
    pattern
}

/// A PostgreSQL regular expression (advanced syntax, for `~`) matching any text that holds
/// `text`, case ignored. A letter or digit is never special; every other character is quoted
/// with a backslash, which in an advanced expression makes any non-alphanumeric character
/// literal.
pub(crate) fn regex_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() * 4);
    for c in text.chars() {
        let forms = case_forms(c);
        if forms.len() > 1 {
            pattern.push('[');
            pattern.extend(forms);
            pattern.push(']');
        } else if c.is_alphanumeric() {
            pattern.push(c);
        } else {
            pattern.push('\\');
            pattern.push(c);
        }
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::{case_forms, glob_pattern, regex_pattern};

    #[test]
    fn letters_match_both_cases_swedish_ones_too() {
        assert_eq!(glob_pattern("Åre"), "*[Åå][rR][eE]*");
        assert_eq!(regex_pattern("Öl 7"), "[Öö][lL]\\ 7");
    }

    #[test]
    fn special_characters_are_only_text() {
        assert_eq!(glob_pattern("a*?[]"), "*[aA][*][?][[]]*");
        assert_eq!(glob_pattern("50%_"), "*50%_*");
        assert_eq!(
            regex_pattern(".*^$(|)\\"),
            "\\.\\*\\^\\$\\(\\|\\)\\\\".to_owned()
        );
    }

    #[test]
    fn forms_of_several_characters_are_left_out() {
        assert_eq!(case_forms('ß'), vec!['ß']);
        assert_eq!(case_forms('7'), vec!['7']);
        assert_eq!(case_forms('ä'), vec!['ä', 'Ä']);
    }
}
