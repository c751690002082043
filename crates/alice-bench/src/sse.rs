//! Server-Sent Events, read incrementally from a byte stream.
//!
//! Both targets stream as SSE (Alice with named `delta`/`done`/`error` events, OpenAI with bare
//! `data:` lines), and the time each event arrives is the measurement, so events must come out
//! as soon as their closing blank line is read, not after the whole body. A few dozen lines do
//! that for the subset of the format these servers use; no SSE client crate is needed.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, `"message"` when there was none.
    pub name: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Splits a byte stream into events; feed it chunks as they arrive.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Takes the next chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte != b'\n' {
                self.pending.push(byte);
                continue;
            }
            let mut line = std::mem::take(&mut self.pending);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    /// Ends the stream: an event without its closing blank line still counts.
    pub fn finish(&mut self) -> Option<Event> {
        let line = std::mem::take(&mut self.pending);
        if !line.is_empty() {
            // A last line without a newline belongs to the final event.
            let _ = self.line(&String::from_utf8_lossy(&line));
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None; // a comment, e.g. a keep-alive
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        let name = self.name.take();
        let data = self.data.take()?;
        Some(Event {
            name: name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event {
            name: name.to_owned(),
            data: data.to_owned(),
        }
    }

    #[test]
    fn named_events_split_across_chunks() {
        let mut parser = Parser::default();
        assert!(parser.push(b"event: delta\ndata: {\"delta\":").is_empty());
        assert_eq!(
            parser.push(b"\"Hej\"}\n\n: keep-alive\n\nevent: done\r\ndata: {}\r\n\r\n"),
            vec![event("delta", "{\"delta\":\"Hej\"}"), event("done", "{}")]
        );
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn bare_data_lines_and_multi_line_data() {
        let mut parser = Parser::default();
        assert_eq!(
            parser.push(b"data: a\ndata:b\n\ndata: [DONE]\n\n"),
            vec![event("message", "a\nb"), event("message", "[DONE]")]
        );
    }

    #[test]
    fn an_unterminated_last_event_is_kept() {
        let mut parser = Parser::default();
        assert!(parser.push(b"event: error\ndata: {\"x\":1}").is_empty());
        assert_eq!(parser.finish(), Some(event("error", "{\"x\":1}")));
    }
}
