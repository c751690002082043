//! Produces the planned tokens one by one on the tokio clock (time to first token,
//! tokens per second) and injects the mid-stream failure. Both APIs format the
//! events this yields; the non-streaming answers just collect them.

use std::time::Duration;

use tokio::time::Instant;

use crate::answer::{Finish, Plan, SimToolCall};
use crate::faults::Ticket;
use crate::record::outcome;
use crate::state::SimState;
use std::sync::Arc;

/// Durations reported in Ollama's final line.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timings {
    /// From request arrival to the end.
    pub total: Duration,
    /// Queueing and latency before generation started.
    pub load: Duration,
    /// Generation start to first token (time to first token).
    pub prompt_eval: Duration,
    /// First token to the end.
    pub eval: Duration,
}

/// One step of generation.
#[derive(Debug)]
pub(crate) enum Event {
    Token(String),
    /// Generation failed after this many tokens.
    Failed(usize),
    /// Generation ended normally.
    Done {
        finish: Finish,
        /// The call the answer is, instead of text.
        tool_call: Option<SimToolCall>,
        prompt_tokens: u64,
        completion_tokens: u64,
        timings: Timings,
    },
    /// The simulator is stopping hard: cut the connection.
    Cut,
}

pub(crate) struct Generation {
    state: Arc<SimState>,
    plan: Plan,
    ticket: Ticket,
    emitted: usize,
    ended: bool,
    started: Option<Instant>,
    first_token: Option<Instant>,
}

impl Generation {
    pub(crate) fn new(state: Arc<SimState>, plan: Plan, ticket: Ticket) -> Self {
        Self {
            state,
            plan,
            ticket,
            emitted: 0,
            ended: false,
            started: None,
            first_token: None,
        }
    }

    /// The next event, after waiting the time it takes; `None` once ended.
    /// Dropping the generation part-way (client gone) records "cancelled".
    pub(crate) async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let total = self.plan.tokens.len();
        if let Some(after) = self.ticket.faults.mid_stream_error_after
            && self.emitted >= after.min(total)
        {
            self.ended = true;
            self.ticket.tracker.finish(outcome::MID_STREAM_ERROR);
            return Some(Event::Failed(self.emitted));
        }
        if self.emitted < total {
            let delay = if self.emitted == 0 {
                Duration::from_millis(self.ticket.faults.ttft_ms)
            } else {
                self.ticket.faults.token_interval().unwrap_or_default()
            };
            if !self.state.pause(delay).await {
                self.ended = true;
                return Some(Event::Cut);
            }
            self.first_token.get_or_insert_with(Instant::now);
            let token = self.plan.tokens[self.emitted].clone();
            self.emitted += 1;
            return Some(Event::Token(token));
        }
        // An empty answer still takes the time to first token.
        if total == 0
            && !self
                .state
                .pause(Duration::from_millis(self.ticket.faults.ttft_ms))
                .await
        {
            self.ended = true;
            return Some(Event::Cut);
        }
        self.ended = true;
        self.ticket.tracker.finish(outcome::OK);
        let now = Instant::now();
        let first = self.first_token.unwrap_or(now);
        let arrived = self.ticket.tracker.started;
        Some(Event::Done {
            finish: self.plan.finish,
            tool_call: self.plan.tool_call.clone(),
            prompt_tokens: self.plan.prompt_tokens,
            completion_tokens: self.emitted as u64,
            timings: Timings {
                total: now.saturating_duration_since(arrived),
                load: started.saturating_duration_since(arrived),
                prompt_eval: first.saturating_duration_since(started),
                eval: now.saturating_duration_since(first),
            },
        })
    }

    /// Runs to the end for a non-streamed answer: the whole text, then how it ended.
    pub(crate) async fn collect(mut self) -> (String, Event) {
        let mut text = String::new();
        while let Some(event) = self.next().await {
            match event {
                Event::Token(token) => text.push_str(&token),
                other => return (text, other),
            }
        }
        (text, Event::Cut)
    }
}
