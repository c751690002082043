//! A message as the rules read it: words with their place in the original text.
//!
//! Every rule matches on [`Token::folded`]: lower case, with å/ä → a, ö → o (and é, ü, æ, ø
//! likewise), so "vad ar klockan" and "påminn" typed as "paminn" read like the real words.
//! Punctuation at a word's edges is dropped ("klockan?" is "klockan"); inside a word it stays
//! ("2,5", "15.30", "km/h"). A number glued to a unit is two words ("5km", "20°C", "50%"). Each
//! word keeps its byte span, so a rule that takes free text (a memory, a reminder, a timer's
//! label) can cut it out of the original with the user's capitals and commas intact.

/// One word of a message.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    /// Where the word starts in the message (bytes).
    pub start: usize,
    /// Where it ends (bytes, exclusive).
    pub end: usize,
    /// The word in lower case, with its letters as typed.
    pub lower: String,
    /// The word in lower case with Swedish letters folded to a and o.
    pub folded: String,
}

/// A tokenised message.
#[derive(Clone, Debug)]
pub(crate) struct Text<'a> {
    /// The message as it came.
    pub source: &'a str,
    /// Its words, in order.
    pub tokens: Vec<Token>,
}

impl<'a> Text<'a> {
    pub fn new(source: &'a str) -> Self {
        let mut tokens = Vec::new();
        let mut start = None;
        for (index, character) in source.char_indices() {
            match (character.is_whitespace(), start) {
                (true, Some(from)) => {
                    push_word(source, from, index, &mut tokens);
                    start = None;
                }
                (false, None) => start = Some(index),
                _ => {}
            }
        }
        if let Some(from) = start {
            push_word(source, from, source.len(), &mut tokens);
        }
        Self { source, tokens }
    }

    /// The folded words, for pattern matching.
    pub fn folded(&self) -> Vec<&str> {
        self.tokens
            .iter()
            .map(|token| token.folded.as_str())
            .collect()
    }

    /// The original text of words `first..end` (exclusive), punctuation inside kept.
    pub fn original_span(&self, first: usize, end: usize) -> String {
        match (
            self.tokens.get(first),
            end.checked_sub(1).and_then(|last| self.tokens.get(last)),
        ) {
            (Some(from), Some(to)) if first < end => clean_end(&self.source[from.start..to.end]),
            _ => String::new(),
        }
    }
}

impl Text<'_> {
    /// The original text of words `first..end` with the punctuation around them: from the end
    /// of the word before to the start of the word after ("(3+4)*2" keeps its brackets).
    pub fn raw_between(&self, first: usize, end: usize) -> &str {
        let from = match first
            .checked_sub(1)
            .and_then(|before| self.tokens.get(before))
        {
            Some(before) => before.end,
            None => 0,
        };
        let to = self
            .tokens
            .get(end)
            .map_or(self.source.len(), |after| after.start);
        self.source.get(from..to.max(from)).unwrap_or_default()
    }

    /// Whether word `index` was typed with a minus sign before it ("-5").
    pub fn negative(&self, index: usize) -> bool {
        self.tokens
            .get(index)
            .is_some_and(|token| self.source[..token.start].ends_with(['-', '−']))
    }
}

/// Characters a word may be wrapped in that are not part of it.
fn is_edge_punctuation(character: char) -> bool {
    matches!(
        character,
        '.' | ','
            | '!'
            | '?'
            | ':'
            | ';'
            | '"'
            | '\''
            | '('
            | ')'
            | '«'
            | '»'
            | '…'
            | '¿'
            | '¡'
            | '“'
            | '”'
            | '’'
            | '-'
            | '–'
            | '—'
    )
}

fn push_word(source: &str, from: usize, to: usize, tokens: &mut Vec<Token>) {
    let word = &source[from..to];
    let trimmed_start = word.trim_start_matches(is_edge_punctuation);
    let start = from + (word.len() - trimmed_start.len());
    let trimmed = trimmed_start.trim_end_matches(is_edge_punctuation);
    let end = start + trimmed.len();
    if trimmed.is_empty() {
        return;
    }
    // A number glued to what follows it: "5km", "20°C", "50%".
    let mut piece_start = start;
    let mut previous: Option<char> = None;
    for (offset, character) in trimmed.char_indices() {
        let split = previous.is_some_and(|before| before.is_ascii_digit())
            && (character.is_alphabetic() || character == '°' || character == '%');
        if split {
            tokens.push(token(source, piece_start, start + offset));
            piece_start = start + offset;
        }
        previous = Some(character);
    }
    tokens.push(token(source, piece_start, end));
}

fn token(source: &str, start: usize, end: usize) -> Token {
    let lower = source[start..end].to_lowercase();
    let folded = fold(&lower);
    Token {
        start,
        end,
        lower,
        folded,
    }
}

/// Lower case with the Swedish (and a few other) letters folded to plain ASCII vowels.
pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|character| match character {
            'å' | 'ä' | 'à' | 'á' | 'â' | 'æ' => 'a',
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' => 'o',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ü' | 'ú' => 'u',
            other => other,
        })
        .collect()
}

fn clean_end(text: &str) -> String {
    text.trim()
        .trim_start_matches(':')
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn words_lose_edge_punctuation_and_keep_inner() {
        let text = Text::new("Hej, vad är 2,5 kg?");
        assert_eq!(text.folded(), ["hej", "vad", "ar", "2,5", "kg"]);
    }

    #[test]
    fn glued_units_are_split() {
        let text = Text::new("5km 20°C 50%");
        assert_eq!(text.folded(), ["5", "km", "20", "°c", "50", "%"]);
    }

    #[test]
    fn original_text_keeps_capitals_and_commas() {
        let text = Text::new("kom ihåg: Anna, Bo och Cecilia kommer.");
        assert_eq!(text.original_span(2, 7), "Anna, Bo och Cecilia kommer");
        assert_eq!(text.original_span(2, 4), "Anna, Bo");
    }
}
