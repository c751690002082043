//! Fitting a conversation into the model's context window.
//!
//! The prompt (system prompt, earlier turns, the new message) plus the tokens reserved for the
//! answer (`max_tokens`) must fit in `num_ctx`. Until Alice counts with the model's own
//! tokenizer, tokens are estimated from characters: about four characters a token for Swedish
//! and English text, plus a few tokens of framing per message. The estimate errs on the large
//! side so the real prompt fits.

use alice_core::ChatMessage;

/// Tokens of role markers and separators a chat template adds around each message.
const TOKENS_PER_MESSAGE: usize = 4;
const CHARS_PER_TOKEN: usize = 4;

/// Estimated tokens a message takes in the prompt.
pub fn estimate_tokens(message: &ChatMessage) -> usize {
    message.content.chars().count().div_ceil(CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE
}

/// Why a message cannot be sent at all.
#[derive(Debug, PartialEq, Eq)]
pub struct DoesNotFit {
    pub needed: usize,
    pub available: usize,
}

/// Builds the prompt: the system prompt, then as many of the most recent `history` messages as
/// fit, then `new`. Older messages are dropped first.
pub fn fit_prompt(
    system: Option<ChatMessage>,
    history: Vec<ChatMessage>,
    new: ChatMessage,
    num_ctx: u32,
    max_tokens: u32,
) -> Result<Vec<ChatMessage>, DoesNotFit> {
    let available = (num_ctx as usize).saturating_sub(max_tokens as usize);
    let fixed = system.iter().map(estimate_tokens).sum::<usize>() + estimate_tokens(&new);
    if fixed > available {
        return Err(DoesNotFit {
            needed: fixed,
            available,
        });
    }
    let mut room = available - fixed;
    let mut kept = Vec::new();
    for message in history.into_iter().rev() {
        let cost = estimate_tokens(&message);
        if cost > room {
            break;
        }
        room -= cost;
        kept.push(message);
    }
    kept.reverse();
    Ok(system.into_iter().chain(kept).chain([new]).collect())
}

/// Keeps at most `history` messages between the leading system messages and the last one
/// (the question), dropping the oldest; returns how many were dropped.
pub fn keep_recent(prompt: &mut Vec<ChatMessage>, history: usize) -> usize {
    let system = prompt
        .iter()
        .take_while(|m| m.role == alice_core::Role::System)
        .count();
    let between = prompt.len().saturating_sub(system + 1);
    let dropped = between.saturating_sub(history);
    prompt.drain(system..system + dropped);
    dropped
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alice_core::Role;

    fn msg(role: Role, chars: usize) -> ChatMessage {
        ChatMessage::new(role, "å".repeat(chars))
    }

    #[test]
    fn everything_fits_in_a_roomy_window() {
        let history = vec![msg(Role::User, 10), msg(Role::Assistant, 10)];
        let prompt = fit_prompt(
            Some(msg(Role::System, 8)),
            history,
            msg(Role::User, 4),
            4096,
            2048,
        )
        .unwrap();
        assert_eq!(prompt.len(), 4);
        assert_eq!(prompt[0].role, Role::System);
        assert_eq!(prompt[3].content.chars().count(), 4);
    }

    #[test]
    fn oldest_history_goes_first() {
        // 400 chars = 100 + 4 tokens each; 1000 tokens available after the answer's 1000.
        let history: Vec<_> = (0..20).map(|_| msg(Role::User, 400)).collect();
        let prompt = fit_prompt(None, history, msg(Role::User, 40), 2000, 1000).unwrap();
        // 1000 - (10 + 4) = 986 left: 9 messages of 104 tokens.
        assert_eq!(prompt.len(), 10);
    }

    #[test]
    fn a_message_too_large_for_the_window_is_refused() {
        let err = fit_prompt(None, vec![], msg(Role::User, 8000), 2048, 1024).unwrap_err();
        assert_eq!(
            err,
            DoesNotFit {
                needed: 2004,
                available: 1024
            }
        );
    }

    #[test]
    fn keep_recent_drops_the_oldest_history_only() {
        let mut prompt = vec![
            ChatMessage::new(Role::System, "s"),
            ChatMessage::new(Role::User, "1"),
            ChatMessage::new(Role::Assistant, "2"),
            ChatMessage::new(Role::User, "3"),
            ChatMessage::new(Role::Assistant, "4"),
            ChatMessage::new(Role::User, "fråga"),
        ];
        assert_eq!(keep_recent(&mut prompt, 2), 2);
        let kept: Vec<&str> = prompt.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(kept, ["s", "3", "4", "fråga"]);
        assert_eq!(keep_recent(&mut prompt, 8), 0);
        let mut alone = vec![ChatMessage::new(Role::User, "fråga")];
        assert_eq!(keep_recent(&mut alone, 0), 0);
        assert_eq!(alone.len(), 1);
    }

    #[test]
    fn characters_not_bytes_are_counted() {
        assert_eq!(estimate_tokens(&msg(Role::User, 8)), 2 + TOKENS_PER_MESSAGE);
    }
}
