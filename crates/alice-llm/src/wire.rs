//! Reading a streamed response body line by line, as both remote backends' stream formats
//! (Ollama's NDJSON, OpenAI's server-sent events) need.

use crate::http::describe_transport;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

/// Longest line accepted in a streamed body; a token line is a few hundred bytes.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// A streamed body as lines.
pub(crate) type Lines<S> = FramedRead<StreamReader<S, Bytes>, LinesCodec>;

/// The body of a response as a stream of bytes with I/O errors, ready for [`lines`].
pub(crate) fn body_bytes(
    response: reqwest::Response,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static {
    response
        .bytes_stream()
        .map_err(|e| std::io::Error::other(describe_transport(&e)))
}

/// Splits a byte stream into lines (without their `\n` or `\r\n`), joining lines that arrive
/// split across network chunks.
pub(crate) fn lines<S>(bytes: S) -> Lines<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>>,
{
    FramedRead::new(
        StreamReader::new(bytes),
        LinesCodec::new_with_max_length(MAX_LINE_BYTES),
    )
}

/// What went wrong while reading lines.
pub(crate) fn line_error(error: &LinesCodecError) -> String {
    match error {
        LinesCodecError::MaxLineLengthExceeded => {
            format!("a stream line was longer than {MAX_LINE_BYTES} bytes")
        }
        LinesCodecError::Io(e) => format!("the stream broke: {e}"),
    }
}
