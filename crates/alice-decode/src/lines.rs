//! Reading a streamed body line by line, as both stream formats (Ollama's NDJSON, OpenAI's
//! server-sent events) need, within the answer's size caps.

use crate::Failure;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

/// The size caps of one streamed answer (`backends[].max_event_bytes`, `max_answer_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamCaps {
    /// Longest line, and (for server-sent events) longest event with all its lines.
    pub event_bytes: usize,
    /// Most bytes of the whole body.
    pub answer_bytes: usize,
}

/// A streamed body that broke a size cap. Reading stops there: the stream ends with a
/// protocol failure and the rest is left unread.
#[derive(Debug, thiserror::Error)]
pub enum Overrun {
    #[error(
        "one stream event was larger than {limit} bytes (backends[].max_event_bytes); the rest \
         was not read"
    )]
    Event { limit: usize },
    #[error(
        "the answer was larger than {limit} bytes (backends[].max_answer_bytes); the rest was \
         not read"
    )]
    Answer { limit: usize },
}

/// A streamed body as lines.
pub type Lines<S> = FramedRead<StreamReader<S, Bytes>, LinesCodec>;

/// `bytes`, ended with [`Overrun::Answer`] once more than `limit` bytes have come. The chunk
/// that crosses the limit is not passed on.
pub fn capped<S>(
    bytes: S,
    limit: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
{
    futures_util::stream::unfold(Some((bytes, 0usize)), move |state| async move {
        let (mut bytes, read) = state?;
        match bytes.next().await? {
            Ok(chunk) if read.saturating_add(chunk.len()) > limit => {
                Some((Err(std::io::Error::other(Overrun::Answer { limit })), None))
            }
            Ok(chunk) => {
                let read = read + chunk.len();
                Some((Ok(chunk), Some((bytes, read))))
            }
            Err(error) => Some((Err(error), Some((bytes, read)))),
        }
    })
    .boxed()
}

/// Splits a byte stream into lines (without their `\n` or `\r\n`), joining lines that arrive
/// split across network chunks. A line longer than `caps.event_bytes` is an error; the codec
/// never holds more than that.
pub fn lines<S>(bytes: S, caps: StreamCaps) -> Lines<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>>,
{
    FramedRead::new(
        StreamReader::new(bytes),
        LinesCodec::new_with_max_length(caps.event_bytes),
    )
}

/// What went wrong while reading lines: a broken cap is the backend breaking its protocol, a
/// broken connection a broken stream.
pub fn line_failure(error: &LinesCodecError, caps: StreamCaps) -> Failure {
    match error {
        LinesCodecError::MaxLineLengthExceeded => Failure::protocol(
            Overrun::Event {
                limit: caps.event_bytes,
            }
            .to_string(),
        ),
        LinesCodecError::Io(e) => match e.get_ref().and_then(|e| e.downcast_ref::<Overrun>()) {
            Some(overrun) => Failure::protocol(overrun.to_string()),
            None => Failure::broken(format!("the stream broke: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::FailureKind;

    const CAPS: StreamCaps = StreamCaps {
        event_bytes: 16,
        answer_bytes: 40,
    };

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    async fn read(parts: &[&'static [u8]]) -> Vec<Result<String, Failure>> {
        lines(capped(chunks(parts), CAPS.answer_bytes), CAPS)
            .map(|line| line.map_err(|e| line_failure(&e, CAPS)))
            .collect()
            .await
    }

    #[tokio::test]
    async fn lines_within_the_caps_are_read() {
        let read = read(&[b"eins\nzwei\r\n", b"drei\n"]).await;
        assert_eq!(
            read,
            [Ok("eins".into()), Ok("zwei".into()), Ok("drei".into())]
        );
    }

    #[tokio::test]
    async fn a_line_past_the_event_cap_is_a_protocol_error() {
        let read = read(&[b"ok\n", b"longer than sixteen\n"]).await;
        assert_eq!(read[0], Ok("ok".into()));
        let failure = read[1].clone().unwrap_err();
        assert_eq!(failure.kind, FailureKind::Protocol);
        assert!(failure.detail.contains("max_event_bytes"), "{failure}");
    }

    #[tokio::test]
    async fn a_body_past_the_answer_cap_ends_with_a_protocol_error() {
        let read = read(&[
            b"0123456789\n",
            b"0123456789\n",
            b"0123456789\n",
            b"0123456789\n",
        ])
        .await;
        let last = read.last().unwrap().clone().unwrap_err();
        assert_eq!(last.kind, FailureKind::Protocol);
        assert!(last.detail.contains("max_answer_bytes"), "{last}");
        assert!(read.len() <= 4, "nothing is read past the cap: {read:?}");
    }
}
