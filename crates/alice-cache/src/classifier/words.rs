//! A prompt as the classifier reads it: quoted spans left out (a quoted word is mentioned, not
//! used), then folded to NFC lowercase and cut into words at every character that is not a
//! letter or a digit.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Quotation marks that open or close a quoted span.
fn is_quotation_mark(c: char) -> bool {
    matches!(
        c,
        '"' | '“' | '”' | '„' | '«' | '»' | '‹' | '›' | '\'' | '‘' | '’' | '‚' | '`'
    )
}

/// The prompt without its quoted spans, because a quoted word is mentioned, not used:
/// "översätt 'jag älskar dig' till engelska" is not about the user. A quotation mark only
/// opens at the start of a word and only closes at the end of one, so the apostrophes in
/// "don't" and "Anna's" never start a span; an unclosed quotation mark is ignored.
pub(super) fn without_quotations(prompt: &str) -> Cow<'_, str> {
    let mut kept: Option<String> = None;
    let mut copied_up_to = 0;
    let mut chars = prompt.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((open_at, c)) = chars.next() {
        let opens = is_quotation_mark(c) && !previous.is_some_and(char::is_alphanumeric);
        previous = Some(c);
        if !opens {
            continue;
        }
        let Some(close_end) = closing_quotation(prompt, open_at + c.len_utf8()) else {
            continue;
        };
        let out = kept.get_or_insert_with(|| String::with_capacity(prompt.len()));
        out.push_str(&prompt[copied_up_to..open_at]);
        out.push(' ');
        copied_up_to = close_end;
        while chars.peek().is_some_and(|&(at, _)| at < close_end) {
            chars.next();
        }
        previous = Some(' ');
    }
    match kept {
        Some(mut out) => {
            out.push_str(&prompt[copied_up_to..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(prompt),
    }
}

/// The byte just past the quotation mark that closes a span starting at `from`, if any: the
/// first quotation mark after at least one character that is not followed by a letter or digit.
fn closing_quotation(prompt: &str, from: usize) -> Option<usize> {
    let rest = prompt.get(from..)?;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next_is_word = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
        if at > 0 && is_quotation_mark(c) && !next_is_word {
            return Some(from + at + c.len_utf8());
        }
    }
    None
}

/// One word's place in [`Words::text`] and whether it was typed with a capital letter.
struct Span {
    start: usize,
    end: usize,
    capitalised: bool,
}

/// A prompt folded to NFC lowercase and cut into words at every character that is not a letter
/// or a digit ("e-post" is "e" "post", "what's" is "what" "s", "2+2" is "2" "2").
pub(super) struct Words {
    text: String,
    spans: Vec<Span>,
}

impl Words {
    pub(super) fn new(prompt: &str) -> Self {
        let mut text = String::with_capacity(prompt.len());
        let mut spans = Vec::with_capacity(16);
        let mut open: Option<(usize, bool)> = None;
        for c in prompt.nfc() {
            if c.is_alphanumeric() {
                if open.is_none() {
                    open = Some((text.len(), c.is_uppercase()));
                }
                text.extend(c.to_lowercase());
            } else if let Some((start, capitalised)) = open.take() {
                spans.push(Span {
                    start,
                    end: text.len(),
                    capitalised,
                });
            }
        }
        if let Some((start, capitalised)) = open {
            spans.push(Span {
                start,
                end: text.len(),
                capitalised,
            });
        }
        Self { text, spans }
    }

    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th word, or "" past the end.
    pub(super) fn get(&self, i: usize) -> &str {
        self.spans
            .get(i)
            .and_then(|s| self.text.get(s.start..s.end))
            .unwrap_or("")
    }

    pub(super) fn capitalised(&self, i: usize) -> bool {
        self.spans.get(i).is_some_and(|s| s.capitalised)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    pub(super) fn first(&self) -> &str {
        self.get(0)
    }

    pub(super) fn last(&self) -> &str {
        self.get(self.len().saturating_sub(1))
    }

    pub(super) fn has(&self, list: &[&str]) -> bool {
        self.iter().any(|w| list.contains(&w))
    }

    /// Whether some word is a year ("1969"), which pins a "who won" or an office to the past.
    pub(super) fn has_year(&self) -> bool {
        self.iter()
            .any(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()))
    }
}
