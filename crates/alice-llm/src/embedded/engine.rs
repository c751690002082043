//! The one thread that computes every answer of a loaded model: continuous batching.
//!
//! One llama.cpp context holds a sequence per answer that may run at once (`n_seq_max`, each
//! sequence with its own part of the memory, not a unified one). Requests arrive over a
//! channel and join at the next step: every step decodes, in one `llama_decode` call, the last
//! sampled token of every answer that is generating plus a chunk of the prompt of answers that
//! are still reading theirs. Reading the weights once for several answers' tokens is what makes
//! several answers at once cheaper than one after the other. Each answer then samples its own
//! token and ends on its own ([`super::sequence`]); its sequence is freed at once, so a newcomer
//! can take it at the next step while the others go on.

use super::Ids;
use super::model::{Loaded, llama_backend};
use super::prompt_cache::{self, Candidate, SAVE_AT_LEAST, Saved};
use super::sequence::{End, Job, Seq};
use crate::ErrorKind;
use llama_cpp_2::LlamaStateSeqFlags;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Instant;

/// Tokens one step decodes at most (llama.cpp's `n_batch` and `n_ubatch`).
pub(super) const STEP_TOKENS: usize = 512;
/// Prompt tokens a step reads while other answers are generating: a newcomer's long prompt is
/// read in chunks of this size between their tokens, so they pause for a chunk, not a prompt.
const PROMPT_CHUNK_WHILE_GENERATING: usize = 128;

/// Answers holding a sequence in any engine of this process (for tests and figures).
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Answers computing now in this process's embedded engines.
pub fn running_answers() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// How an engine is set up.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) ids: Ids,
    /// Sequences: answers computed at once.
    pub(super) slots: usize,
    pub(super) threads: u32,
    /// Tokens each sequence holds.
    pub(super) context_tokens: u32,
    /// Bytes of host memory for sequences' saved memory; 0: the prompt cache is off, and a
    /// finished answer's tokens are dropped at once.
    pub(super) cache_bytes: usize,
    /// Prompt tokens found in memory instead of decoded, over the engine's life.
    pub(super) reused: Arc<AtomicU64>,
}

/// Starts an engine for `loaded` on a thread of its own; it runs until `jobs`' sender is
/// dropped and its last answer has ended. Fails when llama.cpp cannot make the context.
pub(super) fn start(loaded: Arc<Loaded>, settings: Settings) -> Result<Sender<Job>, String> {
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("alice-embedded".into())
        .spawn(move || run(&loaded, &settings, &jobs_rx, &ready_tx))
        .map_err(|e| format!("cannot start the embedded engine's thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(jobs_tx),
        Ok(Err(detail)) => Err(detail),
        Err(_) => Err("the embedded engine's thread ended while starting".into()),
    }
}

fn run(
    loaded: &Loaded,
    settings: &Settings,
    jobs: &Receiver<Job>,
    ready: &std::sync::mpsc::SyncSender<Result<(), String>>,
) {
    let slots = u32::try_from(settings.slots).unwrap_or(1).max(1);
    let threads = i32::try_from(settings.threads).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(
            settings.context_tokens.saturating_mul(slots),
        ))
        .with_n_seq_max(slots)
        .with_kv_unified(false)
        .with_n_batch(STEP_TOKENS as u32)
        .with_n_ubatch(STEP_TOKENS as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let context = llama_backend().and_then(|backend| {
        loaded.model.new_context(backend, params).map_err(|e| {
            format!(
                "llama.cpp could not make a context of {slots} sequences × {} tokens: {e}",
                settings.context_tokens
            )
        })
    });
    let context = match context {
        Ok(context) => context,
        Err(detail) => {
            let _ = ready.send(Err(detail));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut engine = Engine {
        loaded,
        settings,
        context,
        slots: (0..slots as i32)
            .map(|id| Slot {
                id,
                tokens: Vec::new(),
                last_used: 0,
                seq: None,
            })
            .collect(),
        pending: VecDeque::new(),
        batch: LlamaBatch::new(STEP_TOKENS, 1),
        saved: Saved::new(settings.cache_bytes),
        tick: 0,
        open: true,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        while engine.take_jobs(jobs) {
            engine.admit();
            engine.step();
        }
    }));
    if let Err(panic) = outcome {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::error!(evt = "embedded_engine_panicked", backend = %settings.ids.name, what);
        engine.fail_all(&format!("the embedded engine panicked: {what}"));
    }
}

/// One sequence of the context.
struct Slot {
    id: i32,
    /// Exactly the tokens in this sequence's memory, in order from position 0.
    tokens: Vec<LlamaToken>,
    last_used: u64,
    seq: Option<Seq>,
}

struct Engine<'m> {
    loaded: &'m Loaded,
    settings: &'m Settings,
    context: LlamaContext<'m>,
    slots: Vec<Slot>,
    /// Requests waiting for a free sequence (only when more come than there are sequences).
    pending: VecDeque<Job>,
    batch: LlamaBatch<'static>,
    /// Sequences' memory copied out before another conversation took their sequence.
    saved: Saved,
    tick: u64,
    /// New requests can still come.
    open: bool,
}

impl Engine<'_> {
    fn active(&self) -> usize {
        self.slots.iter().filter(|s| s.seq.is_some()).count()
    }

    /// Takes the requests that came since the last step; waits for one when there is nothing
    /// to compute. False once no request can come and nothing is left to compute.
    fn take_jobs(&mut self, jobs: &Receiver<Job>) -> bool {
        if self.open && self.active() == 0 && self.pending.is_empty() {
            match jobs.recv() {
                Ok(job) => self.pending.push_back(job),
                Err(_) => self.open = false,
            }
        }
        while self.open {
            match jobs.try_recv() {
                Ok(job) => self.pending.push_back(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.open = false,
            }
        }
        self.open || self.active() > 0 || !self.pending.is_empty()
    }

    /// Gives waiting requests a free sequence each, reusing what the sequence already holds of
    /// their prompt; drops the ones whose caller left or whose deadline passed.
    fn admit(&mut self) {
        let now = Instant::now();
        self.pending.retain(|job| !job.ready.is_closed());
        while let Some(job) = self.pending.front() {
            if job.wait_deadline.is_some_and(|d| now >= d) {
                if let Some(job) = self.pending.pop_front() {
                    let _ = job.ready.send(Err(self.settings.ids.error(
                        ErrorKind::TimedOut,
                        "the deadline passed while waiting for a running answer to end".into(),
                    )));
                }
                continue;
            }
            let free = self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.seq.is_none())
                .map(|(index, s)| Candidate {
                    index,
                    tokens: &s.tokens,
                    last_used: s.last_used,
                });
            let Some((index, shared)) = prompt_cache::choose(free, &job.prompt) else {
                break;
            };
            let Some(job) = self.pending.pop_front() else {
                break;
            };
            let shared = self.reuse(index, &job.prompt, shared);
            let Some(seq) = Seq::new(job, self.settings.ids.clone(), &self.loaded.model, shared)
            else {
                continue;
            };
            RUNNING.fetch_add(1, Ordering::Relaxed);
            self.settings
                .reused
                .fetch_add(shared as u64, Ordering::Relaxed);
            tracing::debug!(
                evt = "embedded_answer_started",
                sequence = self.slots[index].id,
                prompt_tokens = seq.prompt.len(),
                reused = seq.reused,
            );
            self.slots[index].seq = Some(seq);
        }
    }

    /// Readies free slot `index` for `prompt`, which shares `shared` tokens with it: a saved
    /// copy that shares more is put back first, and what the prompt would overwrite is saved
    /// when it is worth it. How many of the prompt's tokens are in the slot's memory then.
    fn reuse(&mut self, index: usize, prompt: &[LlamaToken], shared: usize) -> usize {
        if self.settings.cache_bytes == 0 {
            return self.keep_only(index, 0);
        }
        // Taken out before the slot is saved: saving may evict copies and move the others.
        let better = self
            .saved
            .best(prompt)
            .filter(|&(_, s)| s > shared)
            .map(|(entry, shared)| (self.saved.take(entry), shared));
        if better.is_some() || self.slots[index].tokens.len() >= shared + SAVE_AT_LEAST {
            self.save(index);
        }
        let Some(((tokens, state), shared)) = better else {
            return self.keep_only(index, shared);
        };
        let slot = &mut self.slots[index];
        let _ = self.context.kv_cache_seq_rm(slot.id, None, None);
        slot.tokens.clear();
        match self.context.state_seq_set(&state, slot.id) {
            Ok(()) => {
                slot.tokens = tokens;
                self.keep_only(index, shared)
            }
            Err(e) => {
                tracing::warn!(evt = "embedded_cache_restore_failed", error = %e);
                let _ = self.context.kv_cache_seq_rm(slot.id, None, None);
                0
            }
        }
    }

    /// Copies slot `index`'s memory out to host memory (the prompt cache).
    fn save(&mut self, index: usize) {
        let slot = &self.slots[index];
        if slot.tokens.len() < SAVE_AT_LEAST {
            return;
        }
        match self
            .context
            .state_seq_get(slot.id, LlamaStateSeqFlags::empty())
        {
            Ok(state) => {
                self.saved.put(slot.tokens.clone(), state);
                tracing::debug!(
                    evt = "embedded_cache_saved",
                    tokens = slot.tokens.len(),
                    cache_bytes = self.saved.used(),
                );
            }
            Err(e) => tracing::warn!(evt = "embedded_cache_save_failed", error = %e),
        }
    }

    /// Drops all but the first `keep` tokens of slot `index`'s memory; how many are kept
    /// (none if llama.cpp cannot drop only part of it).
    fn keep_only(&mut self, index: usize, keep: usize) -> usize {
        let slot = &mut self.slots[index];
        if keep >= slot.tokens.len() {
            return slot.tokens.len();
        }
        let from = u32::try_from(keep).unwrap_or(u32::MAX);
        let keep = if self
            .context
            .kv_cache_seq_rm(slot.id, Some(from), None)
            .is_ok()
        {
            keep
        } else {
            let _ = self.context.kv_cache_seq_rm(slot.id, None, None);
            0
        };
        slot.tokens.truncate(keep);
        keep
    }

    /// One decode for every answer that computes: their sampled tokens and prompt chunks,
    /// then each samples its own next token.
    fn step(&mut self) {
        for index in 0..self.slots.len() {
            if let Some(end) = self.slots[index].seq.as_ref().and_then(Seq::before_step) {
                self.finish(index, end);
            }
        }
        self.batch.clear();
        // (slot, batch index) of each answer whose logits this step computes.
        let mut owners: Vec<(usize, i32)> = Vec::with_capacity(self.slots.len());
        let mut failed = None;
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(token) = slot.seq.as_mut().and_then(|s| s.next.take()) else {
                continue;
            };
            if let Err(e) = self
                .batch
                .add(token, slot.tokens.len() as i32, &[slot.id], true)
            {
                failed = Some(e.to_string());
                break;
            }
            slot.tokens.push(token);
            owners.push((index, self.batch.n_tokens() - 1));
        }
        let mut budget = if owners.is_empty() {
            STEP_TOKENS
        } else {
            PROMPT_CHUNK_WHILE_GENERATING.min(STEP_TOKENS - owners.len())
        };
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if budget == 0 || failed.is_some() {
                break;
            }
            let Some(seq) = slot.seq.as_mut().filter(|s| s.prompt_left() > 0) else {
                continue;
            };
            let take = seq.prompt_left().min(budget);
            for _ in 0..take {
                let token = seq.prompt[seq.fed];
                seq.fed += 1;
                let last = seq.fed == seq.prompt.len();
                if let Err(e) = self
                    .batch
                    .add(token, slot.tokens.len() as i32, &[slot.id], last)
                {
                    failed = Some(e.to_string());
                    break;
                }
                slot.tokens.push(token);
                if last {
                    owners.push((index, self.batch.n_tokens() - 1));
                }
            }
            budget -= take;
        }
        if self.batch.n_tokens() == 0 && failed.is_none() {
            return;
        }
        if let Some(detail) = failed.or_else(|| {
            self.context
                .decode(&mut self.batch)
                .err()
                .map(|e| e.to_string())
        }) {
            self.fail_all(&format!("llama.cpp could not decode: {detail}"));
            return;
        }
        for (index, at) in owners {
            let slot = &mut self.slots[index];
            let Some(seq) = slot.seq.as_mut() else {
                continue;
            };
            if let Some(end) = seq.sample(&self.context, &self.loaded.model, at, slot.tokens.len())
            {
                self.finish(index, end);
            }
        }
    }

    /// Ends slot `index`'s answer and frees its sequence. A complete answer's tokens stay in
    /// memory for the next turn when the prompt cache is on; otherwise they are dropped.
    fn finish(&mut self, index: usize, end: End) {
        let Some(seq) = self.slots[index].seq.take() else {
            return;
        };
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        self.tick += 1;
        let keep = matches!(end, End::Finished(_)) && self.settings.cache_bytes > 0;
        let slot = &mut self.slots[index];
        slot.last_used = self.tick;
        if !keep {
            let _ = self.context.kv_cache_seq_rm(slot.id, None, None);
            slot.tokens.clear();
        }
        seq.end(end);
    }

    /// Ends every running answer with an error (a decode failed, or the engine panicked),
    /// its memory dropped.
    fn fail_all(&mut self, detail: &str) {
        for index in 0..self.slots.len() {
            if self.slots[index].seq.is_some() {
                let error = self.settings.ids.failed(detail.to_owned());
                self.finish(index, End::Failed(error));
            }
        }
    }
}
