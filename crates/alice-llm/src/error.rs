//! The one error type of the LLM layer.

use std::fmt;
use std::time::Duration;

/// What kind of failure a backend had. The API maps each kind to a status code in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection could be made (refused, DNS, connect timeout).
    Unreachable,
    /// The backend is up but refuses more work for now (Ollama's 503 "server busy", 429), or
    /// Alice's own limiter refused it a slot (then `queue` says where it stood).
    Busy {
        retry_after: Option<Duration>,
        /// Boxed: it is rare, and keeps every error small.
        queue: Option<Box<QueuePlace>>,
    },
    /// The backend does not have the model.
    ModelNotFound,
    /// The backend rejected the request as malformed (4xx other than the above).
    Rejected { status: u16 },
    /// The backend failed (5xx other than busy).
    Failed { status: u16 },
    /// The stream broke after it had started: an error line, a dropped connection, or an end
    /// without the final line.
    StreamBroken,
    /// No first token within `first_token_timeout`, or silence longer than `idle_timeout`.
    TimedOut,
    /// The backend answered something that is not its protocol (or more than Alice reads).
    Protocol,
    /// Alice itself stopped the answer: the Guardian's emergency action cut generation to
    /// protect the machine. Not the backend's failure, and not worth retrying until the
    /// machine has recovered.
    Stopped { retry_after: Duration },
}

impl From<alice_decode::FailureKind> for ErrorKind {
    fn from(kind: alice_decode::FailureKind) -> Self {
        match kind {
            alice_decode::FailureKind::Protocol => ErrorKind::Protocol,
            alice_decode::FailureKind::StreamBroken => ErrorKind::StreamBroken,
        }
    }
}

/// Where a request refused by Alice's limiter stood in a backend's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuePlace {
    /// Requests that would have been served before it, itself included (its turn in the fair
    /// queue, not the queue's length).
    pub position: usize,
    /// How long that place meant waiting (slot hold time × rounds), once hold times are known.
    pub expected_wait: Option<Duration>,
}

/// What to do about an answer the Guardian stopped ([`ErrorKind::Stopped`]), whichever
/// backend was answering.
pub(crate) const STOPPED_ADVICE: &str =
    "see GET /api/guardian/status; Alice answers again when the machine has recovered";

/// A failure of one backend, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmError {
    /// The backend's name, e.g. "ollama".
    pub backend: String,
    /// The address Alice tried.
    pub url: String,
    pub kind: ErrorKind,
    /// What happened, in the backend's words where it gave any.
    pub detail: String,
    /// What an operator can do about it.
    pub advice: String,
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {}: {}. {}",
            self.backend, self.url, self.detail, self.advice
        )
    }
}

impl std::error::Error for LlmError {}

impl ErrorKind {
    /// A short name for logs and metric labels.
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Busy { .. } => "busy",
            ErrorKind::ModelNotFound => "model_not_found",
            ErrorKind::Rejected { .. } => "rejected",
            ErrorKind::Failed { .. } => "failed",
            ErrorKind::StreamBroken => "stream_broken",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Stopped { .. } => "stopped",
        }
    }
}

impl LlmError {
    /// Worth another attempt (on this backend after a pause, or on another at once): the
    /// backend may answer next time. 4xx and a missing model are not.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Unreachable
            | ErrorKind::Busy { .. }
            | ErrorKind::Failed { .. }
            | ErrorKind::TimedOut
            | ErrorKind::StreamBroken => true,
            ErrorKind::ModelNotFound
            | ErrorKind::Rejected { .. }
            | ErrorKind::Protocol
            | ErrorKind::Stopped { .. } => false,
        }
    }

    /// Counts against the backend's health in its circuit breaker. A rejected request or a
    /// missing model says nothing about whether the backend is up.
    pub fn counts_against_backend(&self) -> bool {
        match self.kind {
            ErrorKind::Unreachable
            | ErrorKind::Busy { .. }
            | ErrorKind::Failed { .. }
            | ErrorKind::TimedOut
            | ErrorKind::StreamBroken
            | ErrorKind::Protocol => true,
            ErrorKind::ModelNotFound | ErrorKind::Rejected { .. } | ErrorKind::Stopped { .. } => {
                false
            }
        }
    }
}
