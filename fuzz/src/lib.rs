//! What the stream targets share: reading a fuzz input as size caps, split points and a body,
//! and driving a decoder over the body as an in-memory stream of chunks.

use alice_decode::{ChatEvent, Failure, StreamCaps};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Bytes at the start of a stream target's input that are not the body: the event cap (2),
/// the answer cap (2) and the seed of the split points (4).
pub const HEADER_BYTES: usize = 8;

/// A stream target's input: caps, how to split the body, and the body.
pub struct StreamInput<'a> {
    pub caps: StreamCaps,
    pub split_seed: u32,
    pub body: &'a [u8],
}

impl<'a> StreamInput<'a> {
    /// None when the input is too short to hold the header.
    pub fn read(data: &'a [u8]) -> Option<Self> {
        let (header, body) = data.split_at_checked(HEADER_BYTES)?;
        let word = |i: usize| usize::from(u16::from_le_bytes([header[i], header[i + 1]]));
        Some(Self {
            caps: StreamCaps {
                // Small enough for the fuzzer to reach, large enough for real lines.
                event_bytes: 1 + word(0) % 4096,
                answer_bytes: word(2) * 4,
            },
            split_seed: u32::from_le_bytes([header[4], header[5], header[6], header[7]]),
            body,
        })
    }
}

/// The body cut at points drawn from `seed`: no cut, a few, or one byte per chunk.
pub fn split(body: &[u8], seed: u32) -> Vec<Bytes> {
    if seed & 0xff == 0xff {
        return body.iter().map(|&b| Bytes::copy_from_slice(&[b])).collect();
    }
    let mut state = seed | 1;
    let mut next = || {
        // xorshift32: any seed gives cuts, and the fuzzer chooses the seed.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as usize
    };
    let count = next() % 9;
    let mut cuts: Vec<usize> = (0..count).map(|_| next() % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(count + 1);
    let mut from = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        chunks.push(Bytes::copy_from_slice(&body[from..cut]));
        from = cut;
    }
    chunks
}

/// A body as alice-llm hands it to a decoder: chunks, cut off past the answer cap.
pub type Body = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Every item of a decoder run over `chunks`, behind the answer cap as alice-llm's
/// `body_bytes` puts it. The source is always ready, so the decoder must never wait: a pending
/// poll is a bug.
pub fn decode<S, F>(
    decoder: F,
    chunks: Vec<Bytes>,
    caps: StreamCaps,
) -> Vec<Result<ChatEvent, Failure>>
where
    F: FnOnce(Body, StreamCaps) -> S,
    S: Stream<Item = Result<ChatEvent, Failure>>,
{
    let source = futures_util::stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>());
    let body = alice_decode::lines::capped(source, caps.answer_bytes).boxed();
    let mut events = pin!(decoder(body, caps).fuse());
    let mut context = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    loop {
        match events.as_mut().poll_next(&mut context) {
            Poll::Ready(Some(item)) => out.push(item),
            Poll::Ready(None) => return out,
            Poll::Pending => panic!("the decoder waited on an in-memory body"),
        }
    }
}

/// The properties every stream decoder keeps, whatever the body and however it is split:
///
/// - the stream is non-empty and ends with exactly one `Done` or failure, before which all
///   items are non-empty deltas, but for one `ToolCalls` (named calls, at most
///   `MAX_TOOL_CALLS`) right before a `Done`;
/// - no delta is longer than one line or event may be (`event_bytes`), and all deltas together
///   hold no more bytes than the body (JSON unescaping never grows text) nor than the answer
///   cap;
/// - a body within the answer cap decodes the same split as whole;
/// - a body over the cap decodes whole to the answer overrun alone, and split either to a
///   prefix of what it decodes to without the cap, then the overrun, or (when the stream ends
///   in the chunks before the cap) to exactly what it decodes to without the cap.
pub fn check_decoder<S, F>(decoder: F, input: &StreamInput<'_>)
where
    F: Fn(Body, StreamCaps) -> S,
    S: Stream<Item = Result<ChatEvent, Failure>>,
{
    let caps = input.caps;
    let whole = decode(&decoder, vec![Bytes::copy_from_slice(input.body)], caps);
    let split = decode(&decoder, split(input.body, input.split_seed), caps);
    for events in [&whole, &split] {
        check_shape(events, caps, input.body.len());
    }
    if input.body.len() <= caps.answer_bytes {
        assert_eq!(
            whole, split,
            "splitting the body changed what it decodes to"
        );
        return;
    }
    let overrun = Failure::protocol(
        alice_decode::Overrun::Answer {
            limit: caps.answer_bytes,
        }
        .to_string(),
    );
    assert_eq!(whole, [Err(overrun.clone())], "a body over the cap, whole");
    let uncapped_caps = StreamCaps {
        answer_bytes: usize::MAX,
        ..caps
    };
    let uncapped = decode(
        &decoder,
        vec![Bytes::copy_from_slice(input.body)],
        uncapped_caps,
    );
    if split.last() == Some(&Err(overrun)) {
        let before = &split[..split.len() - 1];
        assert!(
            uncapped.starts_with(before) && before.len() < uncapped.len(),
            "what came before the overrun is not what the body begins with"
        );
    } else {
        // The stream ended (done, or broken) in the chunks before the one over the cap.
        assert_eq!(split, uncapped, "a stream that ended before the cap, split");
    }
}

fn check_shape(events: &[Result<ChatEvent, Failure>], caps: StreamCaps, body_len: usize) {
    let Some((last, deltas)) = events.split_last() else {
        panic!("a stream ended without a Done or a failure");
    };
    assert!(
        !matches!(last, Ok(ChatEvent::Delta(_))),
        "the last item is a delta: {last:?}"
    );
    // The answer's tool calls, when there are any, come once, right before `Done`.
    let deltas = match deltas.split_last() {
        Some((Ok(ChatEvent::ToolCalls(calls)), before)) => {
            assert!(
                matches!(last, Ok(ChatEvent::Done(_))),
                "tool calls not followed by Done: {last:?}"
            );
            assert!(!calls.is_empty(), "an empty list of tool calls");
            assert!(calls.len() <= alice_decode::MAX_TOOL_CALLS);
            assert!(
                calls.iter().all(|call| !call.name.is_empty() && !call.id.is_empty()),
                "a tool call without a name or an id"
            );
            before
        }
        _ => deltas,
    };
    let mut total = 0;
    for delta in deltas {
        let Ok(ChatEvent::Delta(text)) = delta else {
            panic!("an item before the end is not a delta: {delta:?}");
        };
        assert!(!text.is_empty(), "an empty delta was passed on");
        assert!(
            text.len() <= caps.event_bytes,
            "a delta longer than an event"
        );
        total += text.len();
    }
    assert!(
        total <= body_len,
        "the deltas hold more bytes than the body"
    );
    assert!(
        total <= caps.answer_bytes,
        "the deltas hold more than the answer cap"
    );
    if let Err(failure) = last {
        assert!(!failure.detail.is_empty(), "a failure without a detail");
    }
}
