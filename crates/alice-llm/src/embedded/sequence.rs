//! One answer in the engine's batch: its prompt, its own sampler, the text it sends its own
//! client, and how it ends. The engine decodes every sequence's tokens together; this module
//! decides, per sequence, what a sampled token means and when that answer is over.
//!
//! An answer that is not streamed has to be whole by the request's deadline, and how many
//! tokens fit depends on this machine and how many answers share it. So it is measured as it
//! goes: once the time left is less than [`FIT_MARGIN_TOKENS`] tokens at this answer's own
//! pace (and at least [`FIT_MARGIN`]), the answer ends there, complete with
//! [`FinishReason::Length`], instead of running into the deadline and being lost. A stream
//! (`stream_deadline` set) is not shortened: its reader has every token as it comes.

use super::Ids;
use super::text::{Step, TextOut};
use crate::provider::{ChatEvent, ChatRequest, Completion, FinishReason};
use crate::{ErrorKind, LlmError};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// A whole answer ends early when fewer than this many tokens' time is left before the deadline
/// (the rest of the request, storing the turn and replying, needs a moment too)...
const FIT_MARGIN_TOKENS: u32 = 5;
/// ...or less than this.
const FIT_MARGIN: Duration = Duration::from_millis(500);
/// Tokens generated before the pace is trusted.
const PACE_AFTER_TOKENS: u64 = 4;

pub(super) type Event = Result<ChatEvent, LlmError>;

/// A request on its way to the engine, its prompt already tokenized and known to fit.
pub(super) struct Job {
    pub(super) request: ChatRequest,
    pub(super) prompt: Vec<LlamaToken>,
    /// Tokens this answer may hold in its sequence, prompt included.
    pub(super) limit: u32,
    /// When generation must have ended (the request's, or its stream's, deadline).
    pub(super) deadline: Option<Instant>,
    /// The latest a request may wait for a free sequence (the request's deadline).
    pub(super) wait_deadline: Option<Instant>,
    /// Told once the answer has a sequence (or why it got none).
    pub(super) ready: oneshot::Sender<Result<(), LlmError>>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) received: Instant,
}

/// How an answer ended.
pub(super) enum End {
    /// Complete: the rest of its text and `Done` go to the client.
    Finished(FinishReason),
    /// The client went away: nothing to send.
    Cancelled,
    /// An error for the client (a passed deadline, a failed decode).
    Failed(LlmError),
}

/// An answer that holds a sequence of the engine's context.
pub(super) struct Seq {
    ids: Ids,
    events: mpsc::UnboundedSender<Event>,
    pub(super) prompt: Vec<LlamaToken>,
    /// Prompt tokens in the sequence's memory: reused from the cache, then decoded.
    pub(super) fed: usize,
    /// Prompt tokens that were already in memory (from an earlier turn) when it started.
    pub(super) reused: usize,
    /// The token sampled last, to be decoded in the next step.
    pub(super) next: Option<LlamaToken>,
    sampler: LlamaSampler,
    text: TextOut,
    piece: Vec<u8>,
    generated: u64,
    max_tokens: u64,
    limit: usize,
    deadline: Option<Instant>,
    /// Not streamed: shortened to fit its deadline.
    whole: bool,
    received: Instant,
    /// When its first token was sampled: the pace is measured from there.
    decoding: Option<Instant>,
}

impl Seq {
    /// The answer `job` asks for, `reused` of its prompt tokens already in its sequence; its
    /// caller told it has started. `None` if the caller is gone.
    pub(super) fn new(job: Job, ids: Ids, model: &LlamaModel, reused: usize) -> Option<Self> {
        let Job {
            request,
            prompt,
            limit,
            deadline,
            ready,
            events,
            received,
            ..
        } = job;
        ready.send(Ok(())).ok()?;
        Some(Self {
            ids,
            events,
            prompt,
            fed: reused,
            reused,
            next: None,
            sampler: sampler(request.temperature, model.n_vocab()),
            text: TextOut::new(&request.stop),
            piece: Vec::with_capacity(32),
            generated: 0,
            max_tokens: u64::from(request.max_tokens),
            limit: limit as usize,
            deadline,
            whole: request.stream_deadline.is_none(),
            received,
            decoding: None,
        })
    }

    /// Prompt tokens still to decode.
    pub(super) fn prompt_left(&self) -> usize {
        self.prompt.len() - self.fed
    }

    /// Before a step: whether this answer ends now instead of taking part in it (its client
    /// left, its deadline passed, or a whole answer must end to be complete in time).
    pub(super) fn before_step(&self) -> Option<End> {
        if self.events.is_closed() {
            return Some(End::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some(End::Failed(self.ids.error(
                ErrorKind::TimedOut,
                format!(
                    "the request's deadline passed after {} generated tokens",
                    self.generated
                ),
            )));
        }
        if self.generated >= self.max_tokens {
            return Some(End::Finished(FinishReason::Length));
        }
        if self.out_of_time_for_a_whole_answer() {
            tracing::info!(
                evt = "embedded_answer_fitted_to_deadline",
                generated = self.generated,
                max_tokens = self.max_tokens,
            );
            return Some(End::Finished(FinishReason::Length));
        }
        None
    }

    /// Less time is left before the deadline than a few more tokens at this answer's pace.
    fn out_of_time_for_a_whole_answer(&self) -> bool {
        let (Some(deadline), Some(decoding)) = (self.deadline, self.decoding) else {
            return false;
        };
        if !self.whole || self.generated < PACE_AFTER_TOKENS {
            return false;
        }
        let per_token = decoding.elapsed() / u32::try_from(self.generated).unwrap_or(u32::MAX);
        let margin = (per_token * FIT_MARGIN_TOKENS).max(FIT_MARGIN);
        Instant::now() + margin >= deadline
    }

    /// The logits at `index` of the batch just decoded are this answer's: sample its next
    /// token and send its text. `in_memory` is how many tokens its sequence holds now.
    pub(super) fn sample(
        &mut self,
        context: &LlamaContext<'_>,
        model: &LlamaModel,
        index: i32,
        in_memory: usize,
    ) -> Option<End> {
        let token = self.sampler.sample(context, index);
        self.decoding.get_or_insert_with(Instant::now);
        let vocab = model.vocab();
        if vocab.is_eog(token) {
            return Some(End::Finished(FinishReason::Stop));
        }
        self.generated += 1;
        self.piece.clear();
        vocab.token_to_piece_into(token, &mut self.piece, false, None);
        let (delta, stopped) = match self.text.push(&self.piece) {
            Step::Text(delta) => (delta, false),
            Step::Stopped(delta) => (delta, true),
        };
        if !delta.is_empty() && self.events.send(Ok(ChatEvent::Delta(delta))).is_err() {
            return Some(End::Cancelled);
        }
        if stopped {
            return Some(End::Finished(FinishReason::Stop));
        }
        if self.generated >= self.max_tokens || in_memory >= self.limit {
            return Some(End::Finished(FinishReason::Length));
        }
        self.next = Some(token);
        None
    }

    /// Tells the client how its answer ended.
    pub(super) fn end(mut self, end: End) {
        match end {
            End::Finished(finish_reason) => {
                // Text held back for a stop sequence that never came (none after a stop).
                let rest = self.text.finish();
                if !rest.is_empty() {
                    let _ = self.events.send(Ok(ChatEvent::Delta(rest)));
                }
                let _ = self.events.send(Ok(ChatEvent::Done(Completion {
                    finish_reason,
                    prompt_tokens: Some(self.prompt.len() as u64),
                    completion_tokens: Some(self.generated),
                    upstream_total_ms: Some(self.received.elapsed().as_millis() as u64),
                })));
            }
            End::Cancelled => {}
            End::Failed(error) => {
                let _ = self.events.send(Err(error));
            }
        }
    }
}

/// Greedy at temperature 0, else top-k 40 / top-p 0.9 / temperature / random draw; a repeat
/// penalty of 1.1 over the last 64 generated tokens either way (Ollama's defaults).
fn sampler(temperature: f32, n_vocab: i32) -> LlamaSampler {
    let penalties = LlamaSampler::penalties(n_vocab, 64, 1.1, 0.0, 0.0);
    if temperature <= 0.0 {
        LlamaSampler::chain_simple([penalties, LlamaSampler::greedy()])
    } else {
        LlamaSampler::chain_simple([
            penalties,
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(0.9, 1),
            LlamaSampler::temp(temperature),
            LlamaSampler::dist(rand::random()),
        ])
    }
}
