//! Token bytes to answer text: only whole UTF-8 characters, and never text that may be the
//! start of a stop sequence until it is known not to be one.

/// What one token's bytes add to the answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Text to send now (possibly empty: held back for now).
    Text(String),
    /// A stop sequence appeared: the text before it, and generation ends.
    Stopped(String),
}

/// Turns token bytes into text to send: only whole UTF-8 characters, and never text that may
/// be the beginning of a stop sequence until it is known not to be one.
pub(super) struct TextOut {
    /// The start of a character whose other bytes are in the next token.
    partial: Vec<u8>,
    /// Decoded text not sent yet: it may be the beginning of a stop sequence.
    held: String,
    stops: Vec<String>,
}

impl TextOut {
    pub(super) fn new(stops: &[String]) -> Self {
        Self {
            partial: Vec::new(),
            held: String::new(),
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) -> Step {
        self.partial.extend_from_slice(bytes);
        let decoded = take_complete_utf8(&mut self.partial);
        self.held.push_str(&decoded);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min()
        {
            let before = self.held[..at].to_owned();
            self.held.clear();
            self.partial.clear();
            return Step::Stopped(before);
        }
        let keep = self.possible_stop_start();
        let send: String = self.held.drain(..keep).collect();
        Step::Text(send)
    }

    /// Where the longest end of `held` that begins some stop sequence starts (`held.len()` if
    /// none does).
    fn possible_stop_start(&self) -> usize {
        self.held
            .char_indices()
            .map(|(at, _)| at)
            .find(|&at| {
                let tail = &self.held[at..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(self.held.len())
    }

    /// Everything still held, at the end of generation (an unfinished character as U+FFFD).
    pub(super) fn finish(&mut self) -> String {
        let mut rest = std::mem::take(&mut self.held);
        rest.push_str(&String::from_utf8_lossy(&self.partial));
        self.partial.clear();
        rest
    }
}

/// Takes the complete UTF-8 characters from the front of `bytes`, leaving an unfinished one;
/// invalid bytes become U+FFFD.
fn take_complete_utf8(bytes: &mut Vec<u8>) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                bytes.clear();
                return out;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                out.push_str(&String::from_utf8_lossy(&bytes[..valid]));
                match error.error_len() {
                    Some(invalid) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        bytes.drain(..valid + invalid);
                    }
                    None => {
                        bytes.drain(..valid);
                        return out;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_sent_whole() {
        let mut out = TextOut::new(&[]);
        let ae = "ä".as_bytes();
        assert_eq!(out.push(b"H"), Step::Text("H".into()));
        assert_eq!(out.push(&ae[..1]), Step::Text(String::new()));
        assert_eq!(out.push(&[ae[1], b'j']), Step::Text("äj".into()));
        let emoji = "🙂".as_bytes();
        assert_eq!(out.push(&emoji[..3]), Step::Text(String::new()));
        assert_eq!(out.push(&emoji[3..]), Step::Text("🙂".into()));
        assert_eq!(out.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut out = TextOut::new(&[]);
        assert_eq!(
            out.push(&[b'a', 0xff, b'b']),
            Step::Text("a\u{fffd}b".into())
        );
        assert_eq!(out.push(&[0xc3]), Step::Text(String::new()));
        assert_eq!(out.finish(), "\u{fffd}");
    }

    #[test]
    fn a_stop_sequence_ends_the_text_without_being_sent() {
        let mut out = TextOut::new(&["\nUser:".to_owned()]);
        assert_eq!(out.push(b"Paris."), Step::Text("Paris.".into()));
        assert_eq!(
            out.push(b"\nUs"),
            Step::Text(String::new()),
            "held: may be a stop"
        );
        assert_eq!(out.push(b"er: hi"), Step::Stopped(String::new()));
        assert_eq!(out.finish(), "", "nothing of the stop is sent");

        let mut out = TextOut::new(&["STOP".to_owned(), "END".to_owned()]);
        assert_eq!(out.push(b"abc ST"), Step::Text("abc ".into()));
        assert_eq!(
            out.push(b"ART EN"),
            Step::Text("START ".into()),
            "not a stop after all"
        );
        assert_eq!(out.push(b"D more"), Step::Stopped("".into()));
    }

    #[test]
    fn text_held_for_a_stop_that_never_comes_is_sent_at_the_end() {
        let mut out = TextOut::new(&["###".to_owned()]);
        assert_eq!(out.push(b"done #"), Step::Text("done ".into()));
        assert_eq!(out.finish(), "#");
    }

    #[test]
    fn the_earliest_stop_wins_and_text_before_it_in_the_same_token_is_sent() {
        let mut out = TextOut::new(&["b".to_owned(), "a".to_owned()]);
        assert_eq!(out.push(b"xyab"), Step::Stopped("xy".into()));
    }
}
