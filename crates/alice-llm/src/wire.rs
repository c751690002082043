//! A streamed response body handed to the stream decoders of `alice-decode`, which read it line
//! by line within the answer's size caps, and their failures made this backend's errors.

use crate::http::{Remote, describe_transport};
use crate::{ChatEvent, ChatStream};
use alice_core::BackendConfig;
use alice_decode::{Failure, StreamCaps, lines::capped};
use futures_util::{Stream, StreamExt};

/// The size caps of one streamed answer from this backend.
pub(crate) fn stream_caps(config: &BackendConfig) -> StreamCaps {
    StreamCaps {
        event_bytes: config.max_event_bytes,
        answer_bytes: config.max_answer_bytes,
    }
}

/// The body of a response as a stream of bytes with I/O errors, ready for a decoder. Past
/// `caps.answer_bytes` it yields the answer overrun once and ends, leaving the rest unread.
pub(crate) fn body_bytes(
    response: reqwest::Response,
    caps: StreamCaps,
) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Unpin + 'static {
    capped(
        response
            .bytes_stream()
            .map(|chunk| chunk.map_err(|e| std::io::Error::other(describe_transport(&e)))),
        caps.answer_bytes,
    )
}

/// A decoder's events as a backend's stream: each failure becomes `backend`'s error, with its
/// advice.
pub(crate) fn chat_stream<B, S>(backend: B, events: S) -> ChatStream
where
    B: Remote + Send + 'static,
    S: Stream<Item = Result<ChatEvent, Failure>> + Send + 'static,
{
    events
        .map(move |event| {
            event.map_err(|failure| backend.error(failure.kind.into(), failure.detail))
        })
        .boxed()
}
