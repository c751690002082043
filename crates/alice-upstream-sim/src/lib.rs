//! # alice-upstream-sim
//!
//! Alice talks to an LLM server (Ollama, or anything speaking OpenAI's chat API)
//! and must stay up when that server is slow, busy, broken or gone. Testing that
//! against a real model is slow, needs a GPU and is never repeatable. This crate
//! is a real HTTP server on 127.0.0.1 that *pretends* to be such a server: it
//! speaks Ollama's native API and OpenAI's chat API byte for byte, answers
//! deterministically from the prompt (see [`answer_for`]), calls offered tools as its
//! settings say ([`ToolCalling`]), and injects faults —
//! latency, slow tokens, errors, mid-stream failures, hangs, a full queue — only
//! from its settings ([`Faults`]), never from what a request says.
//!
//! Alice's integration tests and load tool start it with [`spawn`];
//! `alice serve --demo` runs it in-process as a demo backend; `alice upstream-sim`
//! runs it on its own, steered over the `/sim/*` control API.
//!
//! ## Module map
//! - [`config`]: [`SimConfig`] and [`Faults`], the settings.
//! - [`answer`]: the deterministic "model": answer text, tokens, limits, and the tool call
//!   it makes when offered tools ([`ToolCalling`] says which).
//! - `record`: [`RecordedRequest`], what is remembered about each chat request.
//! - `state`: state shared by the handlers (log, counters, loaded models, seeded RNG).
//! - `gate`: generation slots and the bounded queue (`max_concurrent` / `max_queue`).
//! - `faults`: the per-request fault pipeline (model check, capacity, latency, errors, hang).
//! - `generate`: tokens on the tokio clock (time to first token, tokens per second,
//!   mid-stream failure).
//! - `wire`: request parsing shared by both APIs.
//! - `models`: stable made-up facts about each model (size, digest, parameters).
//! - `ollama`: `/api/chat`, `/api/tags`, `/api/show`, `/api/ps`, `/api/version`, `/`.
//! - `openai`: `/v1/chat/completions`, `/v1/models`.
//! - `control`: `/sim/requests`, `/sim/faults`, `/sim/stats`.
//! - `server`: routing, [`spawn`] and [`SimHandle`].
//!
//! ## Example
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use alice_upstream_sim::{Faults, SimConfig, spawn};
//! let sim = spawn(SimConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! sim.set_faults(Faults { latency_ms: 50, ..Faults::default() });
//! println!("point Alice at {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod config;
mod control;
mod faults;
mod gate;
mod generate;
mod models;
mod ollama;
mod openai;
mod record;
mod server;
mod state;
mod wire;

pub use answer::SimToolCall;
pub use answer::{SimMessage, answer_for, prompt_token_count, tokenize};
pub use config::{Faults, SimConfig, ToolCalling, ToolRule};
pub use faults::{BUSY_MESSAGE, ERROR_PADDING, mid_stream_message, model_not_found_message};
pub use record::{Api, RecordedRequest};
pub use server::{SimHandle, spawn, spawn_local};
pub use state::SimStats;
