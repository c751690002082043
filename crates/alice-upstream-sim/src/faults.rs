//! The fault pipeline every chat request goes through before it is answered,
//! in this order: record, model check, capacity (queue or 503), latency + jitter,
//! error-rate roll, hang. What is left gets answered by the API module.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::config::Faults;
use crate::gate::Entry;
use crate::record::{RecordedRequest, outcome};
use crate::state::{SimState, Tracker, stop};

/// Ollama's reply when its queue is full (note the two spaces).
pub const BUSY_MESSAGE: &str = "server busy, please try again.  maximum pending requests exceeded";

/// Ollama's reply for a chat with a model it does not have.
pub fn model_not_found_message(model: &str) -> String {
    format!("model \"{model}\" not found, try pulling it first")
}

/// What a mid-stream failure says.
pub fn mid_stream_message(tokens: usize) -> String {
    format!("simulated failure after {tokens} tokens")
}

/// A request that passed the pipeline: answer it with these faults.
pub(crate) struct Ticket {
    pub tracker: Tracker,
    pub faults: Faults,
}

/// Why a request is not answered normally.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The model is not served.
    ModelNotFound(String),
    /// No slot and no room in the queue.
    QueueFull,
    /// The error-rate roll failed the request with this status; its text is padded to
    /// `padded_to` bytes.
    Injected {
        status: u16,
        model: String,
        padded_to: usize,
    },
    /// The simulator is stopping: cut the connection.
    Stopped,
}

impl Rejection {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Rejection::ModelNotFound(_) => StatusCode::NOT_FOUND,
            Rejection::QueueFull => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Injected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Rejection::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error text, Ollama's wording where Ollama has one.
    pub(crate) fn message(&self) -> String {
        match self {
            Rejection::ModelNotFound(model) => model_not_found_message(model),
            Rejection::QueueFull => BUSY_MESSAGE.to_owned(),
            Rejection::Injected {
                status,
                model,
                padded_to,
            } => {
                let message = match status {
                    503 => BUSY_MESSAGE.to_owned(),
                    404 => model_not_found_message(model),
                    500 => "simulated internal server error".to_owned(),
                    other => format!("simulated error (HTTP {other})"),
                };
                padded(message, *padded_to)
            }
            Rejection::Stopped => "simulator is shutting down".to_owned(),
        }
    }
}

/// Filler that pads an injected error's text (`Faults::error_body_bytes`); tests look for it.
pub const ERROR_PADDING: &str = " upstream-internal-detail";

/// `message`, followed by [`ERROR_PADDING`] until it is at least `bytes` long.
fn padded(mut message: String, bytes: usize) -> String {
    if message.len() < bytes {
        let repeats = (bytes - message.len()).div_ceil(ERROR_PADDING.len());
        message.push_str(&ERROR_PADDING.repeat(repeats));
    }
    message
}

/// How the pipeline ended.
pub(crate) enum Admission {
    Answer(Ticket),
    Reject(Rejection),
    Hang(Ticket),
}

/// Runs the fault pipeline for one chat request.
pub(crate) async fn admit(state: &Arc<SimState>, request: RecordedRequest) -> Admission {
    let faults = state.faults();
    let model = request.model.clone();
    let keep_alive = request.keep_alive.clone();
    let mut tracker = state.record(request);

    if !state.has_model(&model) {
        tracker.finish(outcome::MODEL_NOT_FOUND);
        return Admission::Reject(Rejection::ModelNotFound(model));
    }
    state.touch_model(&model, keep_alive.as_ref());

    let entry = match state.gate().enter(faults.effective_max_queue()) {
        Ok(entry) => entry,
        Err(_full) => {
            tracker.finish(outcome::QUEUE_FULL);
            return Admission::Reject(Rejection::QueueFull);
        }
    };
    tracker.admit();
    let permit = match entry {
        Entry::Running(permit) => permit,
        Entry::Queued(waiter) => {
            let granted = tokio::select! {
                permit = waiter.wait() => permit,
                () = state.stopped(stop::HARD) => None,
            };
            match granted {
                Some(permit) => permit,
                None => return Admission::Reject(Rejection::Stopped),
            }
        }
    };
    tracker.hold(permit);

    let delay = faults
        .latency_ms
        .saturating_add(state.jitter(faults.jitter_ms));
    if !state.pause(Duration::from_millis(delay)).await {
        return Admission::Reject(Rejection::Stopped);
    }

    if state.roll(faults.clamped_error_rate()) {
        let status = faults.effective_error_status();
        tracker.finish(&outcome::error(status));
        return Admission::Reject(Rejection::Injected {
            status,
            model,
            padded_to: faults.error_body_bytes,
        });
    }

    if faults.hang {
        tracker.mark(outcome::HANG);
        return Admission::Hang(Ticket { tracker, faults });
    }
    Admission::Answer(Ticket { tracker, faults })
}

/// Never answers: waits until the client goes away (this future is dropped)
/// or the simulator stops, then gives a response that cuts the connection.
pub(crate) async fn hang(state: &SimState, ticket: Ticket) -> Response {
    state.stopped(stop::GRACEFUL).await;
    drop(ticket);
    cut_response()
}

/// How an endless event looks in one API: what opens it, and what repeats for ever.
pub(crate) struct EndlessEvent {
    pub content_type: &'static str,
    pub opening: &'static str,
    pub repeated: &'static str,
}

/// A streamed answer that is one event without an end (`Faults::endless_event`). It stops when
/// the client goes away (the body is dropped) or the simulator stops.
pub(crate) fn endless_event(
    state: &Arc<SimState>,
    ticket: Ticket,
    event: EndlessEvent,
) -> Response {
    let state = Arc::clone(state);
    let opening = futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(event.opening.as_bytes()))
    });
    let repeated = futures_util::stream::repeat_with(move || {
        Ok(bytes::Bytes::from_static(event.repeated.as_bytes()))
    });
    let body = opening.chain(repeated).take_until(async move {
        state.stopped(stop::GRACEFUL).await;
        drop(ticket);
    });
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, event.content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

/// A response whose body fails at once, so the server drops the connection
/// instead of completing an answer.
pub(crate) fn cut_response() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("cut by the simulator"))
    });
    (StatusCode::OK, Body::from_stream(failing)).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_ollama() {
        assert_eq!(
            Rejection::QueueFull.message(),
            "server busy, please try again.  maximum pending requests exceeded"
        );
        assert_eq!(
            Rejection::ModelNotFound("x:1b".into()).message(),
            "model \"x:1b\" not found, try pulling it first"
        );
        let injected = |status| Rejection::Injected {
            status,
            model: "m".into(),
            padded_to: 0,
        };
        assert_eq!(injected(503).message(), BUSY_MESSAGE);
        assert_eq!(injected(503).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(injected(404).message(), model_not_found_message("m"));
        assert_eq!(injected(500).message(), "simulated internal server error");
        assert_eq!(injected(502).message(), "simulated error (HTTP 502)");
        assert_eq!(injected(502).status(), StatusCode::BAD_GATEWAY);
        let long = Rejection::Injected {
            status: 500,
            model: "m".into(),
            padded_to: 4096,
        };
        assert!(long.message().len() >= 4096);
        assert!(
            long.message()
                .starts_with("simulated internal server error")
        );
    }
}
