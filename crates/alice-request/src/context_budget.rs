//! Fitting a conversation into the model's context window.
//!
//! The prompt (system prompt, earlier turns, the new message) plus the tokens reserved for the
//! answer (`max_tokens`) must fit in `num_ctx`. When the backend counts tokens with the model's
//! own tokenizer (the embedded model), [`fit_prompt_exactly`] keeps as many of the most recent
//! turns as truly fit. Otherwise [`fit_prompt`] estimates from characters: about four
//! characters a token for Swedish and English text, plus a few tokens of framing per message;
//! the estimate errs on the large side so the real prompt fits.

use alice_core::ChatMessage;

/// Tokens of role markers and separators a chat template adds around each message.
const TOKENS_PER_MESSAGE: usize = 4;
const CHARS_PER_TOKEN: usize = 4;

/// Estimated tokens a message takes in the prompt, its tool calls' names and arguments
/// included.
pub fn estimate_tokens(message: &ChatMessage) -> usize {
    let calls: usize = message
        .tool_calls
        .iter()
        .map(|call| call.name.chars().count() + call.arguments.chars().count())
        .sum();
    (message.content.chars().count() + calls).div_ceil(CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE
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

/// Like [`fit_prompt`], counting with `count` (the whole prompt's tokens, template included)
/// instead of estimating: the oldest turns are dropped until the prompt and `max_tokens` fit
/// in `num_ctx`. None when `count` cannot count (the backend has no tokenizer to offer).
pub async fn fit_prompt_exactly<F, Fut>(
    count: F,
    system: Option<ChatMessage>,
    history: Vec<ChatMessage>,
    new: ChatMessage,
    num_ctx: u32,
    max_tokens: u32,
) -> Option<Result<Vec<ChatMessage>, DoesNotFit>>
where
    F: Fn(Vec<ChatMessage>) -> Fut,
    Fut: std::future::Future<Output = Option<usize>>,
{
    let available = (num_ctx as usize).saturating_sub(max_tokens as usize);
    let mut history = std::collections::VecDeque::from(history);
    loop {
        let prompt: Vec<ChatMessage> = system
            .iter()
            .cloned()
            .chain(history.iter().cloned())
            .chain([new.clone()])
            .collect();
        let needed = count(prompt.clone()).await?;
        if needed <= available {
            return Some(Ok(prompt));
        }
        if history.pop_front().is_none() {
            return Some(Err(DoesNotFit { needed, available }));
        }
    }
}

/// Keeps at most `history` messages between the leading system messages and the turn being
/// answered (the last user message, and in a tool round the calls and results after it),
/// dropping the oldest; returns how many were dropped. Tool results whose calls were dropped
/// go too: backends refuse them alone.
pub fn keep_recent(prompt: &mut Vec<ChatMessage>, history: usize) -> usize {
    use alice_core::Role;
    let system = prompt.iter().take_while(|m| m.role == Role::System).count();
    let turn = prompt
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(prompt.len().saturating_sub(1))
        .max(system);
    let between = turn - system;
    let mut dropped = between.saturating_sub(history);
    dropped += prompt[system + dropped..turn]
        .iter()
        .take_while(|m| m.role == Role::Tool)
        .count();
    prompt.drain(system..system + dropped);
    dropped
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alice_core::Role;

    /// A tokenizer of one token per character, and 3 per message for the template.
    async fn chars(prompt: Vec<ChatMessage>) -> Option<usize> {
        Some(prompt.iter().map(|m| m.content.chars().count() + 3).sum())
    }

    #[tokio::test]
    async fn exact_counting_keeps_what_truly_fits() {
        let system = Some(ChatMessage::new(Role::System, "s".repeat(7)));
        let history = vec![
            ChatMessage::new(Role::User, "a".repeat(17)),
            ChatMessage::new(Role::Assistant, "b".repeat(17)),
            ChatMessage::new(Role::User, "c".repeat(17)),
        ];
        let new = ChatMessage::new(Role::User, "d".repeat(7));
        // 10 (system) + 10 (new) + 20 per turn; 70 - 10 answer tokens leaves 60: two turns.
        let prompt =
            fit_prompt_exactly(chars, system.clone(), history.clone(), new.clone(), 70, 10)
                .await
                .unwrap()
                .unwrap();
        let contents: Vec<char> = prompt
            .iter()
            .map(|m| m.content.chars().next().unwrap())
            .collect();
        assert_eq!(contents, ['s', 'b', 'c', 'd']);
        // The estimate (about four characters a token) would have kept all three.
        assert_eq!(
            fit_prompt(system.clone(), history.clone(), new.clone(), 70, 10)
                .unwrap()
                .len(),
            5
        );
        let too_small =
            fit_prompt_exactly(chars, system.clone(), history.clone(), new.clone(), 25, 10)
                .await
                .unwrap();
        assert_eq!(
            too_small,
            Err(DoesNotFit {
                needed: 20,
                available: 15
            })
        );
        let no_tokenizer = |_: Vec<ChatMessage>| async { None };
        assert!(
            fit_prompt_exactly(no_tokenizer, system, history, new, 70, 10)
                .await
                .is_none()
        );
    }

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
