//! One generation on its own OS thread: the prompt decoded in chunks, tokens sampled and sent
//! as text, checked before every token for a reader that left or a passed deadline.
//!
//! An answer that is not streamed has to be whole by the request's deadline, and how many
//! tokens fit depends on this machine and how many answers share it. So it is measured as it
//! goes: once the time left is less than [`FIT_MARGIN_TOKENS`] tokens at this generation's own
//! pace (and at least [`FIT_MARGIN`]), the answer ends there, complete with
//! [`FinishReason::Length`], instead of running into the deadline and being lost. A stream
//! (`stream_deadline` set) is not shortened: its reader has every token as it comes.

use super::Ids;
use super::model::{Loaded, llama_backend};
use super::text::{Step, TextOut};
use crate::provider::{ChatEvent, ChatRequest, Completion, FinishReason};
use crate::{ErrorKind, LlmError};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

/// Prompt tokens decoded per llama.cpp call; cancellation and the deadline are checked between
/// two such calls.
const PROMPT_CHUNK: usize = 64;
/// Context sizes are rounded up to a multiple of this.
const CONTEXT_STEP: u32 = 256;
/// A whole answer ends early when fewer than this many tokens' time is left before the deadline
/// (the rest of the request, storing the turn and replying, needs a moment too)...
const FIT_MARGIN_TOKENS: u32 = 5;
/// ...or less than this.
const FIT_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);
/// Tokens generated before the pace is trusted.
const PACE_AFTER_TOKENS: u64 = 4;

pub(super) type Event = Result<ChatEvent, LlmError>;

/// One generation, run on its own thread.
pub(super) struct Job {
    pub(super) loaded: Arc<Loaded>,
    pub(super) ids: Ids,
    pub(super) threads: u32,
    pub(super) request: ChatRequest,
    pub(super) deadline: Option<Instant>,
    /// Told once the prompt is accepted (or why not).
    pub(super) ready: Option<oneshot::Sender<Result<(), LlmError>>>,
    pub(super) events: mpsc::Sender<Event>,
    /// Returned when the thread ends, however it ends.
    pub(super) _permit: OwnedSemaphorePermit,
}

/// Why generation stopped early without an answer to send.
enum Halt {
    /// The reader went away.
    Cancelled,
    Failed(LlmError),
}

impl Job {
    pub(super) fn run(mut self) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.generate()));
        let failure = match outcome {
            Ok(Ok(())) | Ok(Err(Halt::Cancelled)) => return,
            Ok(Err(Halt::Failed(error))) => error,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                self.ids
                    .failed(format!("the generation thread panicked: {what}"))
            }
        };
        // Before the prompt was accepted, the caller of `chat_stream` gets the error; after,
        // the stream does.
        match self.ready.take() {
            Some(ready) => {
                let _ = ready.send(Err(failure));
            }
            None => {
                let _ = self.events.blocking_send(Err(failure));
            }
        }
    }

    fn check(&self, generated: u64) -> Result<(), Halt> {
        if self.events.is_closed() {
            return Err(Halt::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Halt::Failed(self.ids.error(
                ErrorKind::TimedOut,
                format!("the request's deadline passed after {generated} generated tokens"),
            )));
        }
        Ok(())
    }

    /// Whether a whole (not streamed) answer must end now to be complete by its deadline:
    /// less time is left than a few more tokens at this generation's pace.
    fn out_of_time_for_a_whole_answer(&self, generated: u64, decoding: Instant) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        if self.request.stream_deadline.is_some() || generated < PACE_AFTER_TOKENS {
            return false;
        }
        let per_token = decoding.elapsed() / u32::try_from(generated).unwrap_or(u32::MAX);
        let margin = (per_token * FIT_MARGIN_TOKENS).max(FIT_MARGIN);
        Instant::now() + margin >= deadline
    }

    fn send(&self, event: Event) -> Result<(), Halt> {
        self.events
            .blocking_send(event)
            .map_err(|_| Halt::Cancelled)
    }

    fn generate(&mut self) -> Result<(), Halt> {
        let started = Instant::now();
        let loaded = Arc::clone(&self.loaded);
        let model = &loaded.model;
        let prompt = match loaded.prompt(&self.request.messages) {
            Ok(prompt) => prompt,
            Err(detail) => {
                return Err(Halt::Failed(
                    self.ids.error(ErrorKind::Rejected { status: 400 }, detail),
                ));
            }
        };
        let n_prompt = prompt.len() as u32;
        let limit = match self.request.num_ctx {
            0 => loaded.n_ctx_train,
            asked => asked.min(loaded.n_ctx_train),
        };
        if prompt.is_empty() || n_prompt >= limit {
            let detail = format!(
                "the prompt is {n_prompt} tokens; the context holds {limit} (num_ctx {}, the \
                 model's trained context {})",
                self.request.num_ctx, loaded.n_ctx_train
            );
            return Err(Halt::Failed(
                self.ids.error(ErrorKind::Rejected { status: 400 }, detail),
            ));
        }
        let needed = n_prompt.saturating_add(self.request.max_tokens.max(1));
        let n_ctx = needed
            .div_ceil(CONTEXT_STEP)
            .saturating_mul(CONTEXT_STEP)
            .min(limit);
        let threads = i32::try_from(self.threads).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(PROMPT_CHUNK as u32)
            .with_n_ubatch(PROMPT_CHUNK as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = {
            let _one_at_a_time = loaded.new_context.lock().unwrap_or_else(|p| p.into_inner());
            llama_backend().and_then(|backend| {
                model.new_context(backend, params).map_err(|e| {
                    format!("llama.cpp could not make a context of {n_ctx} tokens: {e}")
                })
            })
        };
        let mut context = match context {
            Ok(context) => context,
            Err(detail) => return Err(Halt::Failed(self.ids.failed(detail))),
        };
        if let Some(ready) = self.ready.take()
            && ready.send(Ok(())).is_err()
        {
            return Err(Halt::Cancelled);
        }

        let decode_failed = |e: &dyn std::fmt::Display| {
            Halt::Failed(self.ids.failed(format!("llama.cpp could not decode: {e}")))
        };
        let mut batch = LlamaBatch::new(PROMPT_CHUNK, 1);
        for (index, chunk) in prompt.chunks(PROMPT_CHUNK).enumerate() {
            self.check(0)?;
            batch.clear();
            for (offset, token) in chunk.iter().enumerate() {
                let position = index * PROMPT_CHUNK + offset;
                let last = position + 1 == prompt.len();
                batch
                    .add(*token, position as i32, &[0], last)
                    .map_err(|e| decode_failed(&e))?;
            }
            context.decode(&mut batch).map_err(|e| decode_failed(&e))?;
        }

        let vocab = model.vocab();
        let mut sampler = sampler(self.request.temperature, model.n_vocab());
        let mut text = TextOut::new(&self.request.stop);
        let mut piece = Vec::with_capacity(32);
        let mut position = n_prompt;
        let mut generated: u64 = 0;
        let max_tokens = u64::from(self.request.max_tokens);
        let decoding = Instant::now();
        let finish = loop {
            if generated >= max_tokens {
                break FinishReason::Length;
            }
            if self.out_of_time_for_a_whole_answer(generated, decoding) {
                tracing::info!(
                    evt = "embedded_answer_fitted_to_deadline",
                    generated,
                    max_tokens,
                );
                break FinishReason::Length;
            }
            self.check(generated)?;
            let token = sampler.sample(&context, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                break FinishReason::Stop;
            }
            generated += 1;
            piece.clear();
            vocab.token_to_piece_into(token, &mut piece, false, None);
            let (delta, stopped) = match text.push(&piece) {
                Step::Text(delta) => (delta, false),
                Step::Stopped(delta) => (delta, true),
            };
            if !delta.is_empty() {
                self.send(Ok(ChatEvent::Delta(delta)))?;
            }
            if stopped {
                break FinishReason::Stop;
            }
            if generated >= max_tokens || position >= n_ctx {
                break FinishReason::Length;
            }
            self.check(generated)?;
            batch.clear();
            batch
                .add(token, position as i32, &[0], true)
                .map_err(|e| decode_failed(&e))?;
            context.decode(&mut batch).map_err(|e| decode_failed(&e))?;
            position += 1;
        };
        // Text held back for a stop sequence that never came (none after a stop).
        let rest = text.finish();
        if !rest.is_empty() {
            self.send(Ok(ChatEvent::Delta(rest)))?;
        }
        self.send(Ok(ChatEvent::Done(Completion {
            finish_reason: finish,
            prompt_tokens: Some(u64::from(n_prompt)),
            completion_tokens: Some(generated),
            upstream_total_ms: Some(started.elapsed().as_millis() as u64),
        })))
    }
}

/// Greedy at temperature 0, else top-k 40 / top-p 0.9 / temperature / random draw; a repeat
/// penalty of 1.1 over the last 64 tokens either way (Ollama's defaults).
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
