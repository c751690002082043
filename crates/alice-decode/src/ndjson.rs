//! Ollama's streamed answer: NDJSON, one JSON object per line, the last with `done: true`. An
//! error *during* a stream keeps HTTP 200 and arrives as an `{"error": "..."}` line, so every
//! line is checked for one.

use crate::lines::{StreamCaps, line_failure, lines};
use crate::text::clip;
use crate::{
    ChatEvent, Completion, Failure, FinishReason, MAX_TOOL_CALLS, ToolCall, finish_with_calls,
    too_many_calls,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

/// Turns an NDJSON body into chat events: non-empty deltas, then the answer's tool calls (when
/// the model made any) as one `ToolCalls`, then one `Done` or one failure, then nothing. Blank
/// lines are skipped.
pub fn events<S>(bytes: S, caps: StreamCaps) -> impl Stream<Item = Result<ChatEvent, Failure>>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    let state = Decoding {
        lines: lines(bytes, caps),
        calls: Vec::new(),
        done: None,
    };
    futures_util::stream::unfold(Some(state), move |state| async move {
        let mut state = state?;
        if let Some(done) = state.done.take() {
            return Some((Ok(ChatEvent::Done(done)), None));
        }
        loop {
            let line = match state.lines.next().await {
                None => Err(Failure::broken("the stream ended before its final line")),
                Some(Err(e)) => Err(line_failure(&e, caps)),
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(Ok(line)) => parse_line(&line),
            };
            let line = match line {
                Ok(line) => line,
                // Failures end the stream.
                Err(failure) => return Some((Err(failure), None)),
            };
            for call in line.calls {
                if state.calls.len() == MAX_TOOL_CALLS {
                    return Some((Err(too_many_calls()), None));
                }
                let id = call
                    .id
                    .unwrap_or_else(|| format!("call_{}", state.calls.len()));
                state.calls.push(ToolCall {
                    id,
                    name: call.name,
                    arguments: call.arguments,
                });
            }
            match line.done {
                Some(mut done) => {
                    // The calls go first, and the end follows on the next turn.
                    if state.calls.is_empty() {
                        return Some((Ok(ChatEvent::Done(done)), None));
                    }
                    done.finish_reason = finish_with_calls(done.finish_reason, &state.calls);
                    let calls = std::mem::take(&mut state.calls);
                    state.done = Some(done);
                    return Some((Ok(ChatEvent::ToolCalls(calls)), Some(state)));
                }
                None if line.text.is_empty() => continue,
                None => return Some((Ok(ChatEvent::Delta(line.text)), Some(state))),
            }
        }
    })
}

/// What a running stream carries from one line to the next: the calls so far, which go out
/// whole before the end, and the end itself once they have gone.
struct Decoding<L> {
    lines: L,
    calls: Vec<ToolCall>,
    done: Option<Completion>,
}

/// What one line of the stream says.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// Text of the answer (possibly empty).
    pub text: String,
    /// Tool calls the line carries, whole, ids as the server gave them.
    pub calls: Vec<LineCall>,
    /// The end of the answer, when this is the final line.
    pub done: Option<Completion>,
}

/// A tool call as one line carries it. Ollama sends its arguments as an object; they are kept
/// as JSON text, as OpenAI (and [`ToolCall`]) has them.
#[derive(Debug, PartialEq, Eq)]
pub struct LineCall {
    /// Newer Ollama versions name their calls; older ones do not.
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
}

/// One line of the stream: text, tool calls and the end, or the error it reports.
pub fn parse_line(line: &str) -> Result<Line, Failure> {
    let chunk: Chunk = serde_json::from_str(line).map_err(|e| {
        Failure::protocol(format!("unexpected response: {e} in line {:?}", clip(line)))
    })?;
    if let Some(error) = chunk.error {
        return Err(Failure::broken(format!("error during the stream: {error}")));
    }
    let done = chunk.done.then(|| Completion {
        finish_reason: FinishReason::from_wire(chunk.done_reason.as_deref()),
        prompt_tokens: chunk.prompt_eval_count,
        completion_tokens: chunk.eval_count,
        upstream_total_ms: chunk.total_duration.map(|ns| ns / 1_000_000),
    });
    // A thinking model's reasoning arrives in `message.thinking` and is not part of the answer.
    let (text, calls) = chunk
        .message
        .map(|m| (m.content, m.tool_calls))
        .unwrap_or_default();
    let calls = calls
        .into_iter()
        .map(|call| LineCall {
            id: call.id.filter(|id| !id.is_empty()),
            name: call.function.name,
            arguments: match call.function.arguments {
                Value::String(text) => text,
                Value::Null => "{}".to_owned(),
                object => object.to_string(),
            },
        })
        .collect();
    Ok(Line { text, calls, done })
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    total_duration: Option<u64>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkMessage {
    #[serde(default)]
    content: String,
    #[serde(default)]
    tool_calls: Vec<ChunkCall>,
}

#[derive(Deserialize)]
struct ChunkCall {
    #[serde(default)]
    id: Option<String>,
    function: ChunkFunction,
}

#[derive(Deserialize)]
struct ChunkFunction {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::FailureKind;

    #[test]
    fn a_token_line_is_a_delta() {
        let line = r#"{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hej"},"done":false}"#;
        let line = parse_line(line).unwrap();
        assert_eq!((line.text.as_str(), line.done), ("Hej", None));
        assert!(line.calls.is_empty());
    }

    #[test]
    fn the_done_line_carries_counts_and_reason() {
        let line = r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":2500000000,"prompt_eval_count":12,"eval_count":7}"#;
        assert_eq!(
            parse_line(line).unwrap().done,
            Some(Completion {
                finish_reason: FinishReason::Length,
                prompt_tokens: Some(12),
                completion_tokens: Some(7),
                upstream_total_ms: Some(2500),
            })
        );
    }

    #[test]
    fn an_error_line_breaks_the_stream() {
        let failure = parse_line(r#"{"error":"out of memory"}"#).unwrap_err();
        assert_eq!(failure.kind, FailureKind::StreamBroken);
        assert!(failure.detail.contains("out of memory"));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert_eq!(
            parse_line("<html>").unwrap_err().kind,
            FailureKind::Protocol
        );
    }

    #[tokio::test]
    async fn a_stream_is_deltas_then_done_and_ends_there() {
        let body: &'static [u8] = b"{\"message\":{\"content\":\"Hej\"},\"done\":false}\n\n\
            {\"message\":{\"content\":\"\"},\"done\":false}\n\
            {\"done\":true}\n\
            {\"message\":{\"content\":\"never read\"},\"done\":false}\n";
        let bytes = futures_util::stream::iter([Ok(Bytes::from_static(body))]);
        let caps = StreamCaps {
            event_bytes: 1024,
            answer_bytes: 4096,
        };
        let events: Vec<_> = events(bytes, caps).collect().await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0], Ok(ChatEvent::Delta("Hej".into())));
        assert!(matches!(events[1], Ok(ChatEvent::Done(_))));
    }

    async fn decode(body: &'static [u8]) -> Vec<Result<ChatEvent, Failure>> {
        let bytes = futures_util::stream::iter([Ok(Bytes::from_static(body))]);
        let caps = StreamCaps {
            event_bytes: 4096,
            answer_bytes: 64 * 1024,
        };
        events(bytes, caps).collect().await
    }

    #[tokio::test]
    async fn whole_tool_calls_go_out_before_done_with_their_arguments_as_text() {
        // Ollama's shape: the calls whole, arguments an object, in a line before the last;
        // the final line says "stop".
        let events = decode(
            b"{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[\
              {\"function\":{\"name\":\"weather\",\"arguments\":{\"city\":\"G\xc3\xb6teborg\",\"days\":2}}},\
              {\"id\":\"call_x\",\"function\":{\"index\":1,\"name\":\"clock\",\"arguments\":{}}}]},\"done\":false}\n\
              {\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"eval_count\":3}\n",
        )
        .await;
        let events: Vec<ChatEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            [
                ChatEvent::ToolCalls(vec![
                    ToolCall {
                        id: "call_0".into(),
                        name: "weather".into(),
                        arguments: r#"{"city":"Göteborg","days":2}"#.into(),
                    },
                    ToolCall {
                        id: "call_x".into(),
                        name: "clock".into(),
                        arguments: "{}".into(),
                    },
                ]),
                ChatEvent::Done(Completion {
                    finish_reason: FinishReason::ToolCalls,
                    prompt_tokens: None,
                    completion_tokens: Some(3),
                    upstream_total_ms: None,
                }),
            ]
        );
    }

    #[tokio::test]
    async fn calls_in_the_final_line_and_text_beside_them_are_kept() {
        // A non-streamed answer is one line: text, calls and the end together.
        let events = decode(
            b"{\"message\":{\"content\":\"Jag kollar.\",\"tool_calls\":[{\"function\":{\"name\":\"clock\"}}]},\"done\":true}\n",
        )
        .await;
        assert_eq!(events.len(), 2, "{events:?}");
        // The text of the final line is not part of the answer (Ollama sends it empty).
        let Ok(ChatEvent::ToolCalls(calls)) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (calls[0].name.as_str(), calls[0].arguments.as_str()),
            ("clock", "{}")
        );
        let Ok(ChatEvent::Done(done)) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(done.finish_reason, FinishReason::ToolCalls);
    }

    #[tokio::test]
    async fn too_many_calls_break_the_protocol() {
        let line = format!(
            "{{\"message\":{{\"tool_calls\":[{}]}},\"done\":false}}\n",
            vec![r#"{"function":{"name":"f","arguments":{}}}"#; MAX_TOOL_CALLS + 1].join(",")
        );
        let bytes = futures_util::stream::iter([Ok(Bytes::from(line))]);
        let caps = StreamCaps {
            event_bytes: 64 * 1024,
            answer_bytes: 64 * 1024,
        };
        let events: Vec<_> = events(bytes, caps).collect().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].as_ref().unwrap_err().kind, FailureKind::Protocol);
    }
}
