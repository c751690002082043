//! NDJSON logging for Alice: one JSON object per line, `{ts, lvl, evt, req_id, ...}`.
//!
//! Alice tags each request with a `tracing` span that carries `req_id`; [`NdjsonLayer`] copies
//! the fields of every span an event sits in onto the event's line, so the request id appears on
//! every line a request causes, and never on another request's lines (span context follows the
//! task, not a thread- or process-wide variable). `evt` names what happened (`request_done`,
//! `listening`, ...); an event without one gets `"evt": "log"` and its text in `msg`.
//!
//! `tracing-subscriber`'s own JSON format nests fields and spans differently from the line
//! schema Alice promises (see docs/logging.md), hence this small layer. The file sink rotates by
//! size ([`RotatingFile`]).
//!
//! No field is longer than `log.max_field_chars` characters: a request path, a model name a
//! client sent, or a backend's error text is cut there (marked with `…`), so no client or
//! backend can make one line huge.
//!
//! No line carries a Swedish identity number: every text and number is masked with
//! [`alice_core::personal_number`] where it enters the log (when a span or event records the
//! field), before any line is made of it. A span's fields are rendered as JSON once and copied
//! onto each line, so a request's id and other span fields cost nothing more per line.

mod rotating_file;

pub use rotating_file::{RotatingFile, Rotation};

use alice_core::personal_number;
use std::borrow::Cow;
use std::fmt::Debug;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log.level: {0} (use e.g. \"info\" or \"info,alice_llm=debug\")")]
    Level(String),
    #[error("log.file: cannot open {path}: {source}")]
    File { path: String, source: io::Error },
    #[error("logging was already set up in this process")]
    AlreadySet,
}

/// Where lines go: standard output and/or an appended file, rotated by size.
pub struct LogTargets<'a> {
    pub level: &'a str,
    pub stdout: bool,
    pub file: Option<&'a Path>,
    /// How `file` rotates; [`Rotation::NEVER`] appends forever.
    pub rotation: Rotation,
    /// Longest text of one field, in characters (`log.max_field_chars`).
    pub max_field_chars: usize,
}

/// Installs the NDJSON layer as the process-wide subscriber.
pub fn init(targets: LogTargets<'_>) -> Result<(), LogError> {
    let filter = EnvFilter::try_new(targets.level).map_err(|e| LogError::Level(e.to_string()))?;
    let mut sinks: Vec<Box<dyn Write + Send>> = Vec::new();
    if targets.stdout {
        sinks.push(Box::new(io::stdout()));
    }
    if let Some(path) = targets.file {
        // Unbuffered: the layer hands over whole lines, each one write to the file.
        let file = RotatingFile::open(path, targets.rotation).map_err(|source| LogError::File {
            path: path.display().to_string(),
            source,
        })?;
        sinks.push(Box::new(file));
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(NdjsonLayer::new(sinks).with_max_field_chars(targets.max_field_chars))
        .try_init()
        .map_err(|_| LogError::AlreadySet)
}

/// A `tracing` layer that writes each event as one JSON line to every sink.
pub struct NdjsonLayer {
    sinks: Mutex<Vec<Box<dyn Write + Send>>>,
    max_field_chars: usize,
}

impl NdjsonLayer {
    /// A layer writing to `sinks`, its fields cut at the default `log.max_field_chars`.
    pub fn new(sinks: Vec<Box<dyn Write + Send>>) -> Self {
        Self {
            sinks: Mutex::new(sinks),
            max_field_chars: alice_core::config::LogConfig::default().max_field_chars,
        }
    }

    /// Cuts every field's text at `chars` characters.
    pub fn with_max_field_chars(mut self, chars: usize) -> Self {
        self.max_field_chars = chars;
        self
    }

    fn visitor(&self) -> FieldVisitor {
        FieldVisitor {
            fields: Fields::default(),
            max_chars: self.max_field_chars,
        }
    }

    fn write_line(&self, line: &[u8]) {
        // A poisoned lock only means another thread panicked mid-write; keep logging.
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        for sink in sinks.iter_mut() {
            // A log line that cannot be written has nowhere better to be reported.
            let _ = sink.write_all(line).and_then(|()| sink.flush());
        }
    }
}

/// Fields as they will be written: each name with its value already rendered as JSON, cut and
/// masked. A span's fields are rendered once, when they are recorded, and copied as text onto
/// every line the span's events make.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    /// Sets `name` to `json`; a name set before keeps its place and takes the new value, as in
    /// a JSON object built key by key.
    fn set(&mut self, name: &'static str, json: String) {
        match self.0.iter_mut().find(|(known, _)| *known == name) {
            Some((_, value)) => *value = json,
            None => self.0.push((name, json)),
        }
    }
}

/// The fields recorded on a span, kept in the span's extensions.
struct SpanFields(Fields);

impl<S> tracing_subscriber::Layer<S> for NdjsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = self.visitor();
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(visitor.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            let mut visitor = FieldVisitor {
                fields: std::mem::take(fields),
                max_chars: self.max_field_chars,
            };
            values.record(&mut visitor);
            *fields = visitor.fields;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Key order: ts, lvl, evt, the spans' fields from the root in, the event's, target.
        let mut line = Fields::default();
        line.set("ts", json_text(&timestamp()));
        line.set("lvl", json_text(event.metadata().level().as_str()));
        line.set("evt", json_text("log"));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (name, json) in &fields.0 {
                        line.set(name, json.clone());
                    }
                }
            }
        }
        let mut visitor = self.visitor();
        event.record(&mut visitor);
        for (name, json) in visitor.fields.0 {
            line.set(name, json);
        }
        line.set("target", json_text(event.metadata().target()));
        self.write_line(&render_line(&line));
    }
}

/// One JSON object and a newline. Keys are field names from Alice's code; they are masked all
/// the same, so that no line can ever carry an identity number.
fn render_line(line: &Fields) -> Vec<u8> {
    let length: usize = line
        .0
        .iter()
        .map(|(name, json)| name.len() + json.len() + 4)
        .sum();
    let mut bytes = Vec::with_capacity(length + 2);
    bytes.push(b'{');
    for (n, (name, json)) in line.0.iter().enumerate() {
        if n > 0 {
            bytes.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut bytes, &*personal_number::mask(name));
        bytes.push(b':');
        bytes.extend_from_slice(json.as_bytes());
    }
    bytes.extend_from_slice(b"}\n");
    bytes
}

/// Now, as RFC 3339 in UTC with milliseconds: `2026-12-07T03:04:05.678Z`. The text up to the
/// second is formatted once a second per thread (every line needs a time stamp, and formatting
/// a date is a good part of what a line costs).
fn timestamp() -> String {
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> = const {
            std::cell::RefCell::new((i64::MIN, String::new()))
        };
    }
    let now = chrono::Utc::now();
    let millis = now.timestamp_subsec_millis().min(999);
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != now.timestamp() {
            *second = now.timestamp();
            *text = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        }
        let mut stamp = String::with_capacity(text.len() + 5);
        stamp.push_str(text);
        stamp.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            stamp.push(char::from_digit(digit, 10).unwrap_or('0'));
        }
        stamp.push('Z');
        stamp
    })
}

/// `text` as a JSON string.
fn json_text(text: &str) -> String {
    // Serializing a string to JSON cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

/// A number as JSON, or, when its digits form a Swedish identity number, the masked digits as
/// a string (masking the line's text instead would leave `"n":**********`, which is not JSON).
fn json_number(digits: String) -> String {
    match personal_number::mask(&digits) {
        Cow::Borrowed(_) => digits,
        Cow::Owned(masked) => json_text(&masked),
    }
}

/// Turns `tracing` fields into JSON text, keeping numbers and booleans typed; the event's text
/// lands in `msg`. Every text is cut at `max_chars` characters and masked here, where it
/// enters the log, once.
struct FieldVisitor {
    fields: Fields,
    /// Longest text of one field.
    max_chars: usize,
}

impl FieldVisitor {
    /// A text field, cut at `max_chars` characters and masked.
    fn put_text(&mut self, field: &Field, text: &str) {
        let json = match text.char_indices().nth(self.max_chars) {
            Some((end, _)) => json_text(&personal_number::mask(&format!("{}…", &text[..end]))),
            None => json_text(&personal_number::mask(text)),
        };
        self.put(field, json);
    }

    fn put(&mut self, field: &Field, json: String) {
        let name = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.fields.set(name, json);
    }
}

/// Integers below a billion have fewer than the ten digits of an identity number.
const SHORTER_THAN_AN_IDENTITY_NUMBER: u64 = 1_000_000_000;

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number; serde_json writes them as null.
        let json = serde_json::to_string(&value).unwrap_or_else(|_| "null".to_owned());
        self.put(field, json_number(json));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        let json = value.to_string();
        if value.unsigned_abs() < SHORTER_THAN_AN_IDENTITY_NUMBER {
            self.put(field, json);
        } else {
            self.put(field, json_number(json));
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let json = value.to_string();
        if value < SHORTER_THAN_AN_IDENTITY_NUMBER {
            self.put(field, json);
        } else {
            self.put(field, json_number(json));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put_text(field, value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put_text(field, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.put_text(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::Value;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(captured: &Captured) -> Vec<Value> {
        String::from_utf8(captured.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn span_fields_reach_every_event_inside_and_none_outside() {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(NdjsonLayer::new(vec![Box::new(captured.clone())]));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", req_id = "abc-1");
            span.in_scope(|| {
                tracing::info!(evt = "request_done", status = 200_u64, "finished");
            });
            tracing::warn!(evt = "outside", "no request here");
        });
        let lines = lines(&captured);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["req_id"], "abc-1");
        assert_eq!(lines[0]["evt"], "request_done");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["lvl"], "INFO");
        assert_eq!(lines[0]["msg"], "finished");
        assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));
        assert!(lines[1].get("req_id").is_none());
        assert_eq!(lines[1]["lvl"], "WARN");
    }

    #[test]
    fn an_event_without_evt_is_a_plain_log_line() {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(NdjsonLayer::new(vec![Box::new(captured.clone())]));
        tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
        let lines = lines(&captured);
        assert_eq!(lines[0]["evt"], "log");
        assert_eq!(lines[0]["msg"], "hello");
    }

    #[test]
    fn long_fields_are_cut_on_spans_and_events() {
        let captured = Captured::default();
        let layer = NdjsonLayer::new(vec![Box::new(captured.clone())]).with_max_field_chars(64);
        let subscriber = tracing_subscriber::registry().with(layer);
        let model = "å".repeat(100_000);
        let path = format!("/{}", "x".repeat(100_000));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("openai", requested_model = %model);
            span.in_scope(|| tracing::info!(evt = "request_done", path = %path, short = "ok"));
        });
        let line = &lines(&captured)[0];
        for field in ["requested_model", "path"] {
            let text = line[field].as_str().unwrap();
            assert_eq!(
                text.chars().count(),
                65,
                "{field}: 64 characters and the mark"
            );
            assert!(text.ends_with('…'), "{text}");
        }
        assert_eq!(line["short"], "ok");
    }

    #[test]
    fn a_field_named_twice_keeps_its_first_place_and_its_last_value() {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(NdjsonLayer::new(vec![Box::new(captured.clone())]));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", req_id = "r-2", status = "pending");
            span.in_scope(|| tracing::info!(evt = "request_done", status = 200_u64));
        });
        let raw = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(raw.matches("\"status\"").count(), 1, "{raw}");
        assert_eq!(raw.matches("\"evt\"").count(), 1, "{raw}");
        let order: Vec<usize> = [
            "\"ts\"",
            "\"lvl\"",
            "\"evt\":\"request_done\"",
            "\"req_id\"",
            "\"status\":200",
            "\"target\"",
        ]
        .iter()
        .map(|key| raw.find(key).unwrap_or_else(|| panic!("{key} in {raw}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");
    }

    #[test]
    fn fields_recorded_later_on_a_span_appear() {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(NdjsonLayer::new(vec![Box::new(captured.clone())]));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                req_id = "r",
                conversation_id = tracing::field::Empty
            );
            span.record("conversation_id", "c-9");
            span.in_scope(|| tracing::info!(evt = "x"));
        });
        assert_eq!(lines(&captured)[0]["conversation_id"], "c-9");
    }

    #[test]
    fn every_line_is_valid_json_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.log");
        let rotation = Rotation {
            max_file_bytes: 1000,
            max_files: 4,
        };
        let file = RotatingFile::open(&path, rotation).unwrap();
        let subscriber =
            tracing_subscriber::registry().with(NdjsonLayer::new(vec![Box::new(file)]));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", req_id = "r-1");
            let _entered = span.enter();
            for n in 0..200_u64 {
                tracing::info!(evt = "tick", n, text = "å ä ö, \"quoted\"\nnewline");
            }
        });
        let mut numbers = Vec::new();
        for name in ["alice.log.3", "alice.log.2", "alice.log.1", "alice.log"] {
            let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(text.len() <= 1000, "{name} is {} bytes", text.len());
            for line in text.lines() {
                let event: Value = serde_json::from_str(line).unwrap();
                assert_eq!(event["req_id"], "r-1");
                numbers.push(event["n"].as_u64().unwrap());
            }
        }
        assert!(!dir.path().join("alice.log.4").exists());
        assert_eq!(numbers.last(), Some(&199));
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "the kept files hold the newest lines, in order, none missing"
        );
    }

    #[test]
    fn identity_numbers_never_reach_a_line() {
        let captured = Captured::default();
        let file_dir = tempfile::tempdir().unwrap();
        let path = file_dir.path().join("alice.log");
        let file = RotatingFile::open(&path, Rotation::NEVER).unwrap();
        let subscriber = tracing_subscriber::registry().with(NdjsonLayer::new(vec![
            Box::new(captured.clone()),
            Box::new(file),
        ]));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", req_id = "r-1", user_ref = "19121212-1212");
            span.in_scope(|| {
                tracing::info!(
                    evt = "chat",
                    content = "mitt nr är 121212-1212, min sambos 701063-2391",
                    pnr = 1_212_121_212_u64,
                    took_ns = 1_212_121_213_u64,
                    "fick 121212+1212"
                );
            });
        });
        let written = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            written,
            "both sinks"
        );
        for number in [
            "1212121212",
            "121212-1212",
            "121212+1212",
            "701063-2391",
            "12-1212",
        ] {
            assert!(!written.contains(number), "{number} in {written}");
        }
        let line = &lines(&captured)[0];
        assert_eq!(
            line["content"],
            "mitt nr är ******-****, min sambos ******-****"
        );
        assert_eq!(line["user_ref"], "********-****");
        assert_eq!(line["msg"], "fick ******+****");
        assert_eq!(
            line["pnr"], "**********",
            "a number field becomes the masked string"
        );
        assert_eq!(
            line["took_ns"], 1_212_121_213_u64,
            "a failed Luhn check stays a number"
        );
        assert_eq!(line["req_id"], "r-1");
    }

    /// The only test that installs the process-wide subscriber; the others use scoped ones.
    #[test]
    fn init_appends_lines_to_the_file_creating_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("alice.ndjson");
        init(LogTargets {
            level: "info",
            stdout: false,
            file: Some(&path),
            rotation: Rotation {
                max_file_bytes: 52_428_800,
                max_files: 10,
            },
            max_field_chars: 1024,
        })
        .unwrap();
        tracing::info!(evt = "to_file", n = 1_u64);
        tracing::debug!(evt = "filtered_out");
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(events.iter().any(|e| e["evt"] == "to_file" && e["n"] == 1));
        assert!(events.iter().all(|e| e["evt"] != "filtered_out"));
    }

    #[test]
    fn a_bad_level_names_the_key() {
        let err = init(LogTargets {
            level: "info,[[[",
            stdout: false,
            file: None,
            rotation: Rotation::NEVER,
            max_field_chars: 1024,
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("log.level"), "{err}");
    }
}
