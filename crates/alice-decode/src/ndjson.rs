//! Ollama's streamed answer: NDJSON, one JSON object per line, the last with `done: true`. An
//! error *during* a stream keeps HTTP 200 and arrives as an `{"error": "..."}` line, so every
//! line is checked for one.

use crate::lines::{StreamCaps, line_failure, lines};
use crate::text::clip;
use crate::{ChatEvent, Completion, Failure, FinishReason};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

/// Turns an NDJSON body into chat events: non-empty deltas, then one `Done` or one failure,
/// then nothing. Blank lines are skipped.
pub fn events<S>(bytes: S, caps: StreamCaps) -> impl Stream<Item = Result<ChatEvent, Failure>>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    let lines = lines(bytes, caps);
    futures_util::stream::unfold(Some(lines), move |lines| async move {
        let mut lines = lines?;
        loop {
            let event = match lines.next().await {
                None => Err(Failure::broken("the stream ended before its final line")),
                Some(Err(e)) => Err(line_failure(&e, caps)),
                Some(Ok(line)) if line.trim().is_empty() => continue,
                Some(Ok(line)) => parse_line(&line),
            };
            match event {
                Ok(ChatEvent::Delta(text)) if text.is_empty() => continue,
                Ok(ChatEvent::Delta(text)) => {
                    return Some((Ok(ChatEvent::Delta(text)), Some(lines)));
                }
                // Done and failures end the stream.
                other => return Some((other, None)),
            }
        }
    })
}

/// One line of the stream: a delta (possibly empty), the final line, or the error it reports.
pub fn parse_line(line: &str) -> Result<ChatEvent, Failure> {
    let chunk: Chunk = serde_json::from_str(line).map_err(|e| {
        Failure::protocol(format!("unexpected response: {e} in line {:?}", clip(line)))
    })?;
    if let Some(error) = chunk.error {
        return Err(Failure::broken(format!("error during the stream: {error}")));
    }
    if chunk.done {
        return Ok(ChatEvent::Done(Completion {
            finish_reason: FinishReason::from_wire(chunk.done_reason.as_deref()),
            prompt_tokens: chunk.prompt_eval_count,
            completion_tokens: chunk.eval_count,
            upstream_total_ms: chunk.total_duration.map(|ns| ns / 1_000_000),
        }));
    }
    // A thinking model's reasoning arrives in `message.thinking` and is not part of the answer.
    Ok(ChatEvent::Delta(
        chunk.message.map(|m| m.content).unwrap_or_default(),
    ))
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::FailureKind;

    #[test]
    fn a_token_line_is_a_delta() {
        let line = r#"{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hej"},"done":false}"#;
        assert_eq!(parse_line(line).unwrap(), ChatEvent::Delta("Hej".into()));
    }

    #[test]
    fn the_done_line_carries_counts_and_reason() {
        let line = r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":2500000000,"prompt_eval_count":12,"eval_count":7}"#;
        assert_eq!(
            parse_line(line).unwrap(),
            ChatEvent::Done(Completion {
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
}
