//! Alice's HTTP server, in rooms that say what they hold:
//!
//! - [`server`]: starting and stopping an Alice (the composition root);
//! - [`app`]: the route table and the layers around it;
//! - [`http`]: what every request passes through: request id and context, the admission gate,
//!   the loopback gate, JSON bodies and paging;
//! - [`api`]: one module per API surface (native chat, OpenAI, conversations, memories, user
//!   data, the database, control, Guardian, health, metrics);
//! - [`service`]: the chat turn both chat APIs share;
//! - [`runtime`]: background work (the Guardian link and its emergency action, housekeeping,
//!   the choice of a backend);
//! - [`state`]: the pieces of state handlers take;
//! - [`metrics`]: the one metrics registry;
//! - [`error`]: the one mapping from failures to HTTP responses.
//!
//! Dependencies point downward: `server` → `app` → `api` → `service` → `http`, `runtime`,
//! `metrics`, `error` (which reads only `http::request_id`); no module imports one that
//! imports it. docs/architecture.md follows one request through them.

pub mod api;
pub mod app;
pub mod error;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod server;
pub mod service;
pub mod state;

pub use api::guardian_daemon::{RunningDaemon, start_daemon};
pub use server::{RunningServer, StartError, start, start_with_clock, start_with_sampler};
pub use service::wall_clock::WallClock;
