//! The `POST /api/chat` body and the checks it passes before Alice looks up the conversation:
//! a message that is not blank and within `chat.max_message_chars`, and a well-formed user
//! name when one is given. Who may act for that user is the server's question.

use crate::Invalid;
use alice_core::usernames::{USERNAME_RULE, is_valid_username};
use serde::Deserialize;
use uuid::Uuid;

/// `POST /api/chat` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub message: String,
    #[serde(default)]
    pub conversation_id: Option<Uuid>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub stream: bool,
}

/// Checks a body; returns its message without the whitespace around it, which is what is
/// stored and sent.
pub fn check(body: &ChatBody, max_message_chars: usize) -> Result<&str, Invalid> {
    let message = body.message.trim();
    if message.is_empty() {
        return Err(Invalid::new(
            "message",
            "the message is empty; write something to Alice",
        ));
    }
    let length = message.chars().count();
    if length > max_message_chars {
        return Err(Invalid::new(
            "message",
            format!(
                "the message has {length} characters; the limit is {max_message_chars} \
                 (chat.max_message_chars)"
            ),
        ));
    }
    if let Some(user) = &body.user {
        check_username(user)?;
    }
    Ok(message)
}

/// A user name is a short identifier, safe in logs and URLs ([`alice_core::usernames`]).
pub fn check_username(user: &str) -> Result<(), Invalid> {
    if is_valid_username(user) {
        Ok(())
    } else {
        Err(Invalid::new("user", USERNAME_RULE))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn checked(json: &str, max: usize) -> Result<String, Invalid> {
        let body: ChatBody = crate::json::parse(json.as_bytes())?;
        check(&body, max).map(str::to_owned)
    }

    #[test]
    fn the_message_is_trimmed_and_bounded_in_characters() {
        assert_eq!(
            checked(r#"{"message": "  Hej Alice!\n"}"#, 10).unwrap(),
            "Hej Alice!"
        );
        assert_eq!(checked(r#"{"message": "åäö"}"#, 3).unwrap(), "åäö");
        assert_eq!(
            checked(r#"{"message": "åäöx"}"#, 3).unwrap_err().field,
            "message"
        );
        assert_eq!(
            checked(r#"{"message": " \t "}"#, 3).unwrap_err().field,
            "message"
        );
    }

    #[test]
    fn a_named_user_must_be_a_user_name() {
        assert!(checked(r#"{"message": "Hej", "user": "anna.svensson"}"#, 10).is_ok());
        assert_eq!(
            checked(r#"{"message": "Hej", "user": "two words"}"#, 10)
                .unwrap_err()
                .field,
            "user"
        );
    }
}
