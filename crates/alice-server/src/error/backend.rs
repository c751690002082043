//! What a client is told when a language-model backend failed: what failed and what to do,
//! by the kind of failure alone. The backend's name, its address and whatever text it sent
//! stay in the server's log line (under the request id the body carries): they tell an
//! attacker where Alice's backends are and what they run, and a backend's error text can be
//! anything, up to a proxy's whole error page.

use alice_llm::ErrorKind;

/// [`detail_by_kind`], and for a request Alice's own limiter refused, where it stood in the
/// queue (its turn, and the wait that meant): nothing about the backend, all about the client.
pub(super) fn client_detail(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Busy {
            queue: Some(queue), ..
        } => {
            let wait = queue.expected_wait.map_or(String::new(), |wait| {
                format!(", an expected wait of {:.1} s", wait.as_secs_f64())
            });
            format!(
                "every language-model backend is busy: this request would have been number {} \
                 in the queue{wait}; retry after the seconds in Retry-After",
                queue.position
            )
        }
        _ => detail_by_kind(kind).to_owned(),
    }
}

/// English detail for the client of a request that failed in a backend.
fn detail_by_kind(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unreachable => {
            "no language-model backend could be reached; retry after the seconds in \
             Retry-After. The operator finds the cause in the server log under this request id"
        }
        ErrorKind::Busy { .. } => {
            "every language-model backend is busy; retry after the seconds in Retry-After"
        }
        ErrorKind::ModelNotFound => {
            "the language-model backend does not have the model asked for; ask for another \
             model, or ask the operator to install it (the server log under this request id \
             names the backend and the model)"
        }
        ErrorKind::Rejected { .. } => {
            "the language-model backend refused the request; check the options sent \
             (max_tokens, temperature, stop); if they are valid, the operator finds the \
             backend's reason in the server log under this request id"
        }
        ErrorKind::Failed { .. } => {
            "the language-model backend failed while answering; try again. The operator finds \
             its reason in the server log under this request id"
        }
        ErrorKind::StreamBroken => {
            "the answer broke off before it was complete; try again. The operator finds the \
             cause in the server log under this request id"
        }
        ErrorKind::Protocol => {
            "the language-model backend sent an answer Alice cannot read (malformed, or larger \
             than Alice accepts); try again, or ask the operator to check the backend (the \
             server log under this request id has the details)"
        }
        ErrorKind::Stopped { .. } => {
            "the answer was cut: the Guardian stopped generation to protect the machine; retry \
             after the seconds in Retry-After (GET /api/guardian/status says why)"
        }
        ErrorKind::TimedOut => {
            "the language-model backend did not answer in time; try again, perhaps with a \
             shorter question or a lower max_tokens"
        }
    }
}
