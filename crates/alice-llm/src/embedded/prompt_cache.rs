//! What a conversation's earlier turns already evaluated, reused by its next turn.
//!
//! A finished answer leaves its tokens (prompt and answer) in its sequence's memory. The next
//! turn of that conversation is the same tokens with the new messages after them, so a new
//! prompt takes the free sequence whose tokens share the longest prefix with it, drops the rest
//! of that sequence's memory, and decodes only the tokens after the shared prefix. A prompt that
//! differs (history trimmed or edited) shares a shorter prefix, so only that prefix is reused,
//! never a token that is not in the prompt. Ties go to the sequence used least recently, so an
//! empty one is taken before one that holds another conversation.
//!
//! Sequences are few (`max_concurrent`), conversations many: before a sequence's tokens are
//! overwritten by another conversation, its memory is copied out to host memory ([`Saved`],
//! llama.cpp's per-sequence state), within `prompt_cache_mib`, the least recently used copy
//! evicted first. A prompt that shares a longer start with a saved copy than with any free
//! sequence has that copy put back into a sequence, then goes on as above.

use llama_cpp_2::SeqState;
use llama_cpp_2::token::LlamaToken;

/// A sequence's memory is worth saving when it holds at least this many tokens that the new
/// prompt would overwrite.
pub(super) const SAVE_AT_LEAST: usize = 64;

/// What a free sequence holds, for choosing one.
pub(super) struct Candidate<'a> {
    pub(super) index: usize,
    pub(super) tokens: &'a [LlamaToken],
    /// Higher is more recent.
    pub(super) last_used: u64,
}

/// The free sequence `prompt` should take, and how many of its tokens are already there (at
/// most all but the last: its logits are needed to sample the first answer token). `None`
/// when no sequence is free.
pub(super) fn choose<'a>(
    free: impl IntoIterator<Item = Candidate<'a>>,
    prompt: &[LlamaToken],
) -> Option<(usize, usize)> {
    free.into_iter()
        .map(|c| {
            let shared = common_prefix(c.tokens, prompt).min(prompt.len().saturating_sub(1));
            (c.index, shared, c.last_used)
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(index, shared, _)| (index, shared))
}

/// How many tokens `a` and `b` have in common from the start.
pub(super) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Sequences' memory saved in host memory, at most `budget` bytes of it.
pub(super) struct Saved {
    budget: usize,
    used: usize,
    entries: Vec<Entry>,
    tick: u64,
}

struct Entry {
    tokens: Vec<LlamaToken>,
    state: SeqState,
    last_used: u64,
}

impl Saved {
    pub(super) fn new(budget: usize) -> Self {
        Self {
            budget,
            used: 0,
            entries: Vec::new(),
            tick: 0,
        }
    }

    /// Bytes held now.
    pub(super) fn used(&self) -> usize {
        self.used
    }

    /// The saved copy that shares the longest start with `prompt` (at most all but its last
    /// token), and how long that start is.
    pub(super) fn best(&self, prompt: &[LlamaToken]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(index, e)| {
                let shared = common_prefix(&e.tokens, prompt).min(prompt.len().saturating_sub(1));
                (index, shared)
            })
            .max_by_key(|&(_, shared)| shared)
            .filter(|&(_, shared)| shared > 0)
    }

    /// Takes copy `index` out (to be put back into a sequence).
    pub(super) fn take(&mut self, index: usize) -> (Vec<LlamaToken>, SeqState) {
        let entry = self.entries.swap_remove(index);
        self.used -= entry.state.byte_len();
        (entry.tokens, entry.state)
    }

    /// Keeps a copy of a sequence's memory holding `tokens`, evicting the least recently used
    /// copies to make room; a copy larger than the whole budget is not kept. A copy whose
    /// tokens are a start of these is dropped: this one has all it had.
    pub(super) fn put(&mut self, tokens: Vec<LlamaToken>, state: SeqState) {
        let size = state.byte_len();
        if size > self.budget {
            return;
        }
        let mut index = 0;
        while index < self.entries.len() {
            if tokens.starts_with(&self.entries[index].tokens) {
                self.take(index);
            } else {
                index += 1;
            }
        }
        while self.used + size > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(index, _)| index)
            else {
                break;
            };
            self.take(oldest);
        }
        self.tick += 1;
        self.used += size;
        self.entries.push(Entry {
            tokens,
            state,
            last_used: self.tick,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tokens(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&id| LlamaToken::new(id)).collect()
    }

    #[test]
    fn the_longest_shared_prefix_wins_and_never_the_whole_prompt() {
        let a = tokens(&[1, 2, 3, 4, 5]);
        let b = tokens(&[1, 2, 9]);
        let empty = Vec::new();
        let free = |_: ()| {
            vec![
                Candidate {
                    index: 0,
                    tokens: &b,
                    last_used: 5,
                },
                Candidate {
                    index: 1,
                    tokens: &a,
                    last_used: 1,
                },
                Candidate {
                    index: 2,
                    tokens: &empty,
                    last_used: 0,
                },
            ]
        };
        // The next turn of conversation a: its 5 tokens are reused.
        assert_eq!(
            choose(free(()), &tokens(&[1, 2, 3, 4, 5, 6, 7])),
            Some((1, 5))
        );
        // The same prompt again: all but its last token.
        assert_eq!(choose(free(()), &tokens(&[1, 2, 3, 4, 5])), Some((1, 4)));
        // An edited history: only the shared start is reused.
        assert_eq!(choose(free(()), &tokens(&[1, 2, 3, 7, 5, 6])), Some((1, 3)));
        // Nothing shared: the sequence used least recently (the empty one).
        assert_eq!(choose(free(()), &tokens(&[8, 8])), Some((2, 0)));
        assert_eq!(choose(Vec::new(), &tokens(&[1])), None);
    }

    #[test]
    fn common_prefix_stops_at_the_first_difference() {
        assert_eq!(common_prefix(&tokens(&[1, 2, 3]), &tokens(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&tokens(&[1, 2]), &tokens(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&tokens(&[]), &tokens(&[1])), 0);
    }
}
