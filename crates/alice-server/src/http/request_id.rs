//! The request id: taken from a client's `x-request-id` when it is a sane token, else made
//! here, and kept in a task-local while the request is served, so an error built anywhere in
//! the request (see [`crate::error`]) can name it.

use axum::http::HeaderName;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-supplied request id that is honoured.
const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    pub(crate) static REQUEST_ID: String;
}

/// The id of the request the current task serves, if it serves one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client's id is used only if it is short, visible ASCII without spaces or quotes, so it is
/// safe in headers and logs.
pub fn is_acceptable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::is_acceptable_id;

    #[test]
    fn request_ids_from_clients_are_checked() {
        assert!(is_acceptable_id("abc-123_X.y"));
        assert!(!is_acceptable_id(""));
        assert!(!is_acceptable_id("has space"));
        assert!(!is_acceptable_id("quote\"inside"));
        assert!(!is_acceptable_id(&"x".repeat(129)));
    }
}
