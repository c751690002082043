//! OpenAI's streamed answer: server-sent events over lines, each event's `data:` a JSON chunk,
//! until `data: [DONE]`.
//!
//! The events are read by the small SSE reader here over the line reader of [`crate::lines`]
//! rather than by an SSE crate: the only field that matters is `data:`, the line codec already
//! bounds line length, drops the `\r` of CRLF and joins lines split across network chunks, and
//! that leaves about twenty lines of spec to follow. A server that fails after the status line
//! keeps HTTP 200 and sends the error as an event (`data: {"error": {...}}`), so every event is
//! checked for one. The stream's end is `data: [DONE]`; a stream that stops without it is
//! broken, whatever came before.
//!
//! Tool calls arrive as `delta.tool_calls[]` fragments keyed by `index`: the first of a call
//! carries its `id` and `function.name`, later ones pieces of `function.arguments`, to be
//! joined in order. The pieces are JSON strings, so a piece ends mid-JSON (`{"stad":"Gö`) but
//! never mid-character. They are gathered here and handed on whole before `Done`.

use crate::lines::{Lines, Overrun, StreamCaps, line_failure, lines};
use crate::text::{clip, error_value_text};
use crate::{
    ChatEvent, Completion, Failure, FinishReason, MAX_TOOL_CALLS, ToolCall, finish_with_calls,
    too_many_calls,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

/// Turns an SSE body into chat events: deltas, then the answer's tool calls (when the model
/// made any) as one `ToolCalls`, then one `Done` or one failure, then nothing.
pub fn events<S>(bytes: S, caps: StreamCaps) -> impl Stream<Item = Result<ChatEvent, Failure>>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    let state = Decoding {
        lines: lines(bytes, caps),
        sse: SseDecoder::new(caps.event_bytes),
        chunks: ChunkParser::default(),
        caps,
        done: None,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        if let Some(done) = state.done.take() {
            return Some((Ok(ChatEvent::Done(done)), None));
        }
        loop {
            let data = match state.lines.next().await {
                Some(Ok(line)) => match state.sse.line(&line) {
                    Ok(Some(data)) => data,
                    Ok(None) => continue,
                    Err(overrun) => {
                        return Some((Err(Failure::protocol(overrun.to_string())), None));
                    }
                },
                Some(Err(e)) => return Some((Err(line_failure(&e, state.caps)), None)),
                // Some servers close right after `data: [DONE]` without the blank line; an
                // event left open at the end is still read, and if it was not [DONE] the next
                // turn ends the stream as broken.
                None => match state.sse.finish() {
                    Some(data) => data,
                    None => {
                        let failure = Failure::broken("the stream ended before data: [DONE]");
                        return Some((Err(failure), None));
                    }
                },
            };
            match state.chunks.data(&data) {
                Ok(Step::Nothing) => continue,
                Ok(Step::Delta(text)) => return Some((Ok(ChatEvent::Delta(text)), Some(state))),
                // Done and failures end the stream.
                Ok(Step::Done(completion, calls)) if calls.is_empty() => {
                    return Some((Ok(ChatEvent::Done(completion)), None));
                }
                // The calls go first, and the end follows on the next turn.
                Ok(Step::Done(completion, calls)) => {
                    state.done = Some(completion);
                    return Some((Ok(ChatEvent::ToolCalls(calls)), Some(state)));
                }
                Err(failure) => return Some((Err(failure), None)),
            }
        }
    })
}

/// Everything a running stream carries from one event to the next.
struct Decoding<S> {
    lines: Lines<S>,
    sse: SseDecoder,
    chunks: ChunkParser,
    caps: StreamCaps,
    /// The end, once the tool calls before it have gone out.
    done: Option<Completion>,
}

/// Gathers the `data:` fields of one server-sent event until the blank line that ends it.
/// Comment lines (`: keep-alive`) and the fields OpenAI does not use (`event`, `id`, `retry`)
/// are skipped. An event whose lines add up to more than `limit` bytes
/// (`backends[].max_event_bytes`) is an error: a server that never ends its event must not make
/// Alice hold it all.
#[derive(Debug)]
struct SseDecoder {
    data: Option<String>,
    /// Bytes of the event so far, every line with its line ending.
    size: usize,
    limit: usize,
}

impl SseDecoder {
    fn new(limit: usize) -> Self {
        Self {
            data: None,
            size: 0,
            limit,
        }
    }

    /// Takes one line without its line ending; returns the event's data when the line ends one.
    fn line(&mut self, line: &str) -> Result<Option<String>, Overrun> {
        if line.is_empty() {
            self.size = 0;
            return Ok(self.data.take());
        }
        self.size += line.len() + 1;
        if self.size > self.limit {
            return Err(Overrun::Event { limit: self.limit });
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        // "data:x" and "data: x" are the same field; only one space is dropped.
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        Ok(None)
    }

    /// The data of an event still open when the body ended.
    fn finish(&mut self) -> Option<String> {
        self.data.take()
    }
}

/// What one event's data meant.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Nothing,
    Delta(String),
    /// The end, and the answer's tool calls, whole.
    Done(Completion, Vec<ToolCall>),
}

/// Reads chunk after chunk, keeping what only the end reports: the finish reason arrives in the
/// last chunk with choices, the token counts in a usage chunk with `choices: []` after it, and
/// the end itself is `[DONE]`. Tool call fragments are gathered by their `index` until then.
#[derive(Debug, Default)]
struct ChunkParser {
    finish_reason: Option<String>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    /// Calls so far, in the order their first fragment came, each with its `index`.
    calls: Vec<(u32, ToolCall)>,
}

impl ChunkParser {
    fn data(&mut self, data: &str) -> Result<Step, Failure> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Step::Nothing);
        }
        if data == "[DONE]" {
            let calls = self.finished_calls()?;
            // A server that never said why it stopped has simply finished.
            let reason = FinishReason::from_wire(self.finish_reason.as_deref());
            return Ok(Step::Done(
                Completion {
                    finish_reason: finish_with_calls(reason, &calls),
                    prompt_tokens: self.prompt_tokens,
                    completion_tokens: self.completion_tokens,
                    upstream_total_ms: None,
                },
                calls,
            ));
        }
        let chunk: StreamChunk = serde_json::from_str(data).map_err(|e| {
            Failure::protocol(format!("unexpected stream event: {e} in {}", clip(data)))
        })?;
        if let Some(error) = chunk.error {
            return Err(Failure::broken(format!(
                "error during the stream: {}",
                error_value_text(&error)
            )));
        }
        if let Some(usage) = chunk.usage {
            self.prompt_tokens = usage.prompt_tokens.or(self.prompt_tokens);
            self.completion_tokens = usage.completion_tokens.or(self.completion_tokens);
        }
        // Alice asks for one choice; a server that sends more gets its first one read.
        let Some(choice) = chunk.choices.into_iter().min_by_key(|choice| choice.index) else {
            return Ok(Step::Nothing);
        };
        if let Some(reason) = choice.finish_reason {
            self.finish_reason = Some(reason);
        }
        let Some(delta) = choice.delta else {
            return Ok(Step::Nothing);
        };
        for (position, fragment) in delta.tool_calls.into_iter().enumerate() {
            // Servers that send each call whole in one chunk may leave `index` out.
            let index = fragment
                .index
                .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX));
            self.call_fragment(index, fragment)?;
        }
        // Reasoning models put their thinking in other delta fields (`reasoning_content`);
        // only `content` is the answer.
        match delta.content {
            Some(text) if !text.is_empty() => Ok(Step::Delta(text)),
            _ => Ok(Step::Nothing),
        }
    }

    /// Adds one fragment to the call of its `index`, starting that call if it is new: the id
    /// and name are taken from the first fragment that has them, the arguments joined.
    fn call_fragment(&mut self, index: u32, fragment: CallFragment) -> Result<(), Failure> {
        let position = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(position) => position,
            None if self.calls.len() == MAX_TOOL_CALLS => return Err(too_many_calls()),
            None => {
                let empty = ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                };
                self.calls.push((index, empty));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[position].1;
        if let Some(id) = fragment.id
            && call.id.is_empty()
        {
            call.id = id;
        }
        if let Some(function) = fragment.function {
            if let Some(name) = function.name
                && call.name.is_empty()
            {
                call.name = name;
            }
            if let Some(arguments) = function.arguments {
                call.arguments.push_str(&arguments);
            }
        }
        Ok(())
    }

    /// The gathered calls, whole: each must have a name; one without an id gets `call_<index>`,
    /// and one without arguments `{}`.
    fn finished_calls(&mut self) -> Result<Vec<ToolCall>, Failure> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(index, mut call)| {
                if call.name.is_empty() {
                    return Err(Failure::protocol(format!(
                        "tool call {index} of the answer has no function name"
                    )));
                }
                if call.id.is_empty() {
                    call.id = format!("call_{index}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".to_owned();
                }
                Ok(call)
            })
            .collect()
    }
}

/// One streamed chunk (`chat.completion.chunk`), the fields Alice reads.
#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<ChunkUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    delta: Option<ChunkDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkDelta {
    content: Option<String>,
    /// `null` from some servers on chunks without calls.
    #[serde(default, deserialize_with = "null_as_empty")]
    tool_calls: Vec<CallFragment>,
}

/// One piece of a streamed tool call.
#[derive(Deserialize)]
struct CallFragment {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionFragment>,
}

#[derive(Deserialize)]
struct FunctionFragment {
    name: Option<String>,
    arguments: Option<String>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::FailureKind;
    use bytes::Bytes;

    /// Runs raw body chunks through the decoder, with roomy caps.
    async fn decode(chunks: &[&'static [u8]]) -> Vec<Result<ChatEvent, Failure>> {
        let bytes = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        );
        events(bytes, CAPS).collect().await
    }

    const CAPS: StreamCaps = StreamCaps {
        event_bytes: 64 * 1024,
        answer_bytes: 1024 * 1024,
    };

    const DELTA: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hej"},"finish_reason":null}]}"#;
    const FINISH: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#;
    const USAGE: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#;

    #[test]
    fn a_delta_chunk_is_text_and_the_role_chunk_is_nothing() {
        let mut parser = ChunkParser::default();
        assert_eq!(parser.data(DELTA).unwrap(), Step::Delta("Hej".into()));
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        assert_eq!(parser.data(role).unwrap(), Step::Nothing);
        let null_content =
            r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"hmm"}}]}"#;
        assert_eq!(parser.data(null_content).unwrap(), Step::Nothing);
    }

    #[test]
    fn finish_and_usage_chunks_make_the_done_at_done() {
        let mut parser = ChunkParser::default();
        assert_eq!(parser.data(FINISH).unwrap(), Step::Nothing);
        assert_eq!(parser.data(USAGE).unwrap(), Step::Nothing);
        assert_eq!(
            parser.data("[DONE]").unwrap(),
            Step::Done(
                Completion {
                    finish_reason: FinishReason::Length,
                    prompt_tokens: Some(12),
                    completion_tokens: Some(7),
                    upstream_total_ms: None,
                },
                vec![]
            )
        );
    }

    #[test]
    fn done_without_reason_or_usage_is_a_plain_stop() {
        let Step::Done(done, _) = ChunkParser::default().data("[DONE]").unwrap() else {
            panic!("expected Done")
        };
        assert_eq!(done.finish_reason, FinishReason::Stop);
        assert_eq!((done.prompt_tokens, done.completion_tokens), (None, None));
        let mut parser = ChunkParser::default();
        parser
            .data(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}"#)
            .unwrap();
        let Step::Done(done, _) = parser.data("[DONE]").unwrap() else {
            panic!("expected Done")
        };
        assert_eq!(
            done.finish_reason,
            FinishReason::Other("content_filter".into())
        );
    }

    #[test]
    fn an_error_event_breaks_the_stream() {
        let err = ChunkParser::default()
            .data(
                r#"{"error":{"message":"simulated failure after 2 tokens","type":"server_error"}}"#,
            )
            .unwrap_err();
        assert_eq!(err.kind, FailureKind::StreamBroken);
        assert!(
            err.detail.contains("simulated failure after 2 tokens"),
            "{err}"
        );
    }

    #[test]
    fn garbage_data_is_a_protocol_error() {
        let err = ChunkParser::default().data("<html>").unwrap_err();
        assert_eq!(err.kind, FailureKind::Protocol);
    }

    #[test]
    fn sse_lines_follow_the_spec() {
        let mut sse = SseDecoder::new(1024);
        assert_eq!(sse.line(": keep-alive").unwrap(), None);
        assert_eq!(
            sse.line("").unwrap(),
            None,
            "a blank line with no data dispatches nothing"
        );
        assert_eq!(sse.line("event: message").unwrap(), None);
        assert_eq!(sse.line("id: 7").unwrap(), None);
        assert_eq!(sse.line("data:first").unwrap(), None);
        assert_eq!(sse.line("data:  second").unwrap(), None);
        assert_eq!(sse.line("").unwrap().as_deref(), Some("first\n second"));
        assert_eq!(sse.line("data").unwrap(), None);
        assert_eq!(sse.line("").unwrap().as_deref(), Some(""));
        assert_eq!(sse.finish(), None);
    }

    #[test]
    fn an_event_of_many_lines_past_the_cap_is_an_error() {
        let mut sse = SseDecoder::new(64);
        for _ in 0..3 {
            assert_eq!(sse.line("data: 0123456789").unwrap(), None);
        }
        assert!(matches!(
            sse.line("data: 0123456789"),
            Err(Overrun::Event { limit: 64 })
        ));
        let mut sse = SseDecoder::new(64);
        for _ in 0..10 {
            sse.line("data: 0123456789").unwrap();
            assert!(
                sse.line("").unwrap().is_some(),
                "each event is counted alone"
            );
        }
    }

    #[tokio::test]
    async fn a_whole_stream_decodes_to_deltas_and_done() {
        let events = decode(&[
            b": OPENROUTER PROCESSING\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" d\xc3\xa5\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            b"data: [DONE]\n\n",
        ])
        .await;
        let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            [
                ChatEvent::Delta("Hej".into()),
                ChatEvent::Delta(" då".into()),
                ChatEvent::Done(Completion {
                    finish_reason: FinishReason::Stop,
                    prompt_tokens: Some(3),
                    completion_tokens: Some(2),
                    upstream_total_ms: None,
                }),
            ]
        );
    }

    #[tokio::test]
    async fn crlf_line_endings_are_read() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\r\n\r\n",
            b": ping\r\n\r\ndata: [DONE]\r\n\r\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("Hej".into()));
        assert!(matches!(events[1], Ok(ChatEvent::Done(_))));
    }

    #[tokio::test]
    async fn an_event_split_across_chunks_is_joined() {
        // Split inside "data", inside the JSON, inside the two bytes of "ä", and between the
        // line ending and the blank line.
        let events = decode(&[
            b"da",
            b"ta: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xc3",
            b"\xa4lv\"}}]}\r",
            b"\n",
            b"\r\ndata: [DO",
            b"NE]\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("älv".into()));
        assert!(matches!(events[1], Ok(ChatEvent::Done(_))));
    }

    #[tokio::test]
    async fn done_without_the_final_blank_line_still_ends_well() {
        let events = decode(&[b"data: [DONE]\n"]).await;
        assert!(matches!(events[..], [Ok(ChatEvent::Done(_))]), "{events:?}");
    }

    #[tokio::test]
    async fn an_open_event_at_the_end_is_read_and_then_the_stream_is_broken() {
        let events =
            decode(&[b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n"])
                .await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &ChatEvent::Delta("Hej".into()));
        assert_eq!(
            events[1].as_ref().unwrap_err().kind,
            FailureKind::StreamBroken
        );
    }

    #[tokio::test]
    async fn a_stream_without_done_is_broken() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        let err = events[1].as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::StreamBroken);
        assert!(err.detail.contains("[DONE]"), "{err}");
    }

    #[tokio::test]
    async fn an_error_event_mid_stream_ends_it() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hej\"}}]}\n\n",
            b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"never read\"}}]}\n\n",
        ])
        .await;
        assert_eq!(events.len(), 2, "nothing after the error: {events:?}");
        assert_eq!(
            events[1].as_ref().unwrap_err().kind,
            FailureKind::StreamBroken
        );
    }

    /// OpenAI's tool call stream: the role chunk, the call's first fragment (id, name, empty
    /// arguments), the arguments in pieces, the finish chunk, the usage chunk, `[DONE]`.
    #[tokio::test]
    async fn tool_call_fragments_are_gathered_into_whole_calls_before_done() {
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}]}}]}\n\n",
            // Split mid-JSON, and the network chunk split inside the two bytes of "ö".
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"stad\\\":\\\"G\xc3",
            b"\xb6\"}}]}}]}\n\n",
            // A second call starts while the first is open; fragments carry only the index.
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"clock\"}}]}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"teborg\\\"}\"}}]}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\n",
            b"data: [DONE]\n\n",
        ])
        .await;
        let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            [
                ChatEvent::ToolCalls(vec![
                    ToolCall {
                        id: "call_a".into(),
                        name: "weather".into(),
                        arguments: r#"{"stad":"Göteborg"}"#.into(),
                    },
                    ToolCall {
                        id: "call_b".into(),
                        name: "clock".into(),
                        arguments: "{}".into(),
                    },
                ]),
                ChatEvent::Done(Completion {
                    finish_reason: FinishReason::ToolCalls,
                    prompt_tokens: Some(9),
                    completion_tokens: Some(4),
                    upstream_total_ms: None,
                }),
            ]
        );
    }

    #[tokio::test]
    async fn text_before_calls_streams_and_a_stop_with_calls_is_a_tool_call_finish() {
        // Some servers send whole calls without `index` or `id`, and say "stop".
        let events = decode(&[
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Jag kollar.\"}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"tool_calls\":[{\"function\":{\"name\":\"clock\",\"arguments\":\"{}\"}}]}}]}\n\n",
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":null},\"finish_reason\":\"stop\"}]}\n\n",
            b"data: [DONE]\n\n",
        ])
        .await;
        let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(events[0], ChatEvent::Delta("Jag kollar.".into()));
        assert_eq!(
            events[1],
            ChatEvent::ToolCalls(vec![ToolCall {
                id: "call_0".into(),
                name: "clock".into(),
                arguments: "{}".into(),
            }])
        );
        let ChatEvent::Done(done) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    }

    #[test]
    fn a_call_without_a_name_or_too_many_calls_break_the_protocol() {
        let mut parser = ChunkParser::default();
        parser
            .data(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{}"}}]}}]}"#)
            .unwrap();
        let err = parser.data("[DONE]").unwrap_err();
        assert_eq!(err.kind, FailureKind::Protocol);
        assert!(err.detail.contains("tool call 3"), "{err}");

        let mut parser = ChunkParser::default();
        for index in 0..MAX_TOOL_CALLS {
            let chunk = format!(
                r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{index},"function":{{"name":"f"}}}}]}}}}]}}"#
            );
            parser.data(&chunk).unwrap();
        }
        let one_more = format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{MAX_TOOL_CALLS},"function":{{"name":"f"}}}}]}}}}]}}"#
        );
        assert_eq!(
            parser.data(&one_more).unwrap_err().kind,
            FailureKind::Protocol
        );
    }
}
