//! The `POST /api/chat` body: parsed (`alice_request::json::parse`) and checked
//! (`alice_request::native::check`) under the default message limit and a tiny one.
//!
//! - no input panics, and every refusal names a field and says something;
//! - an accepted message is non-empty, has no whitespace around it, is within the limit in
//!   characters and is part of the message sent; a named user is a valid user name;
//! - what was parsed round-trips: written back as JSON and parsed again, it is the same body.
#![no_main]

use alice_core::config::ChatConfig;
use alice_request::native::{ChatBody, check};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DEFAULT_LIMIT: LazyLock<usize> = LazyLock::new(|| ChatConfig::default().max_message_chars);

fuzz_target!(|data: &[u8]| {
    let body: ChatBody = match alice_request::json::parse(data) {
        Ok(body) => body,
        Err(invalid) => {
            assert!(!invalid.field.is_empty() && !invalid.detail.is_empty());
            return;
        }
    };
    for limit in [*DEFAULT_LIMIT, 8] {
        match check(&body, limit) {
            Ok(message) => {
                assert!(!message.is_empty());
                assert_eq!(message, message.trim());
                assert!(message.chars().count() <= limit);
                assert!(body.message.contains(message));
                if let Some(user) = &body.user {
                    assert!(alice_core::usernames::is_valid_username(user));
                }
            }
            Err(invalid) => {
                assert!(invalid.field == "message" || invalid.field == "user");
                assert!(!invalid.detail.is_empty());
            }
        }
    }
    let written = serde_json::json!({
        "message": body.message,
        "conversation_id": body.conversation_id,
        "user": body.user,
        "stream": body.stream,
    });
    let bytes = serde_json::to_vec(&written).unwrap_or_default();
    let again: ChatBody = match alice_request::json::parse(&bytes) {
        Ok(again) => again,
        Err(invalid) => panic!("a body written back does not parse: {invalid}"),
    };
    assert_eq!(again.message, body.message);
    assert_eq!(again.conversation_id, body.conversation_id);
    assert_eq!(again.user, body.user);
    assert_eq!(again.stream, body.stream);
});
