//! What the router's stream yields, and the stream itself once a backend has given its first
//! event: who answers, then the backend's text, with the idle timeout, the breaker's
//! bookkeeping at the end, the slot held until then, and the Guardian's emergency cut.

use super::backend::Backend;
use crate::LlmError;
use crate::limiter::Slot;
use crate::provider::{AnsweredBy, ChatEvent, ChatStream, Completion};
use alice_core::ToolCall;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What the router's stream yields: first which backend took the request (before any text, so
/// an API can name the answering model in its first chunk), then the backend's text, then the
/// model's tool calls when it made any, then exactly one `Done` on success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoutedEvent {
    Started(AnsweredBy),
    Delta(String),
    /// The calls the model asks for, whole and never empty, right before `Done` (whose finish
    /// reason is then `ToolCalls`). Whoever offered the tools runs them and asks again with
    /// the results as `tool` messages.
    ToolCalls(Vec<ToolCall>),
    Done(Completion),
}

impl From<ChatEvent> for RoutedEvent {
    fn from(event: ChatEvent) -> Self {
        match event {
            ChatEvent::Delta(text) => RoutedEvent::Delta(text),
            ChatEvent::ToolCalls(calls) => RoutedEvent::ToolCalls(calls),
            ChatEvent::Done(completion) => RoutedEvent::Done(completion),
        }
    }
}

/// The router's answer as a stream.
pub type RoutedStream = BoxStream<'static, Result<RoutedEvent, LlmError>>;

/// What the router hands on after the first token: who answers, then the backend's stream,
/// with the idle timeout, the breaker's bookkeeping at the end, and the slot held until then.
struct Answer {
    backend: Arc<Backend>,
    slot: Option<Slot>,
    /// Events to hand on before reading more: `Started`, then the first one read.
    pending: Vec<RoutedEvent>,
    rest: ChatStream,
    abort: EmergencyCut,
}

/// How an emergency stop reaches an answer in flight: the token it cancels, and the
/// Retry-After the client is given (`guardian.refuse_retry_after` in a server).
#[derive(Clone, Debug)]
pub(super) struct EmergencyCut {
    pub(super) token: CancellationToken,
    pub(super) retry_after: Duration,
}

/// The routed answer: `Started`, the first event already read, then the rest of the backend's
/// stream.
pub(super) fn answer_stream(
    backend: Arc<Backend>,
    slot: Slot,
    first: ChatEvent,
    rest: ChatStream,
    answered_by: AnsweredBy,
    abort: EmergencyCut,
) -> RoutedStream {
    let answer = Answer {
        backend,
        slot: Some(slot),
        pending: vec![RoutedEvent::from(first), RoutedEvent::Started(answered_by)],
        rest,
        abort,
    };
    futures_util::stream::unfold(answer, |mut answer| async move {
        answer.slot.as_ref()?;
        let event = match answer.pending.pop() {
            Some(event) => Ok(event),
            None => {
                let idle = answer.backend.config.idle_timeout;
                tokio::select! {
                    () = answer.abort.token.cancelled() => {
                        // Not the backend's fault: nothing for its breaker.
                        answer.slot = None;
                        return Some((Err(answer.backend.cut_by_emergency(answer.abort.retry_after)), answer));
                    }
                    next = tokio::time::timeout(idle, answer.rest.next()) => match next {
                        Ok(Some(event)) => event.map(RoutedEvent::from),
                        Ok(None) => Err(answer.backend.ended_early()),
                        Err(_) => Err(answer.backend.timed_out(format!(
                            "no token for {} ms in the middle of the answer",
                            idle.as_millis()
                        ))),
                    },
                }
            }
        };
        let event = match event {
            Ok(RoutedEvent::Done(completion)) => {
                answer.backend.breaker.record(false);
                if let Some(slot) = answer.slot.take() {
                    slot.completed();
                }
                Ok(RoutedEvent::Done(completion))
            }
            Ok(other) => Ok(other),
            Err(error) => {
                if error.counts_against_backend() {
                    answer.backend.breaker.record(true);
                }
                answer.slot = None;
                Err(error)
            }
        };
        Some((event, answer))
    })
    .boxed()
}

#[cfg(test)]
mod tests;
