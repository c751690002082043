//! One module per API surface. Handlers take the pieces of state they use (axum's `FromRef`
//! substates of [`crate::state::AppState`]) and leave the chat turn itself to
//! [`crate::service`]; the route table is [`crate::app`].
//!
//! - [`chat`]: `POST /api/chat`, Alice's own chat API (JSON or SSE, history kept);
//! - [`openai`]: `/v1/chat/completions` and `/v1/models`, OpenAI's API, stateless;
//! - [`conversations`]: reading conversations back (the caller's list and its search too);
//! - [`feedback`]: thumbs up or down on an answer;
//! - [`experiments`]: an A/B experiment's state and report, for admins;
//! - [`memories`]: a user's personal memories;
//! - [`timers`]: a user's timers and reminders;
//! - [`user_data`]: a user's GDPR export and erasure;
//! - [`session`]: the page's login, logout and `GET /api/auth/me`;
//! - [`db`]: `/api/db/…`, the database for the operator;
//! - [`brain`] and [`cache`]: the control API under `/api/brain/`;
//! - [`guardian`]: `GET /api/guardian/status`;
//! - [`health`]: `/health` and `/ready`;
//! - [`metrics`]: `/metrics` and `/api/metrics/summary`;
//! - [`events`]: `GET /api/events`, each caller's live feed (SSE): fired timers, and the
//!   operator dashboard's snapshots for admins;
//! - [`render`]: `POST /api/render`, Markdown answers as HTML safe for the page;
//! - [`guardian_daemon`]: the API of `alice guardian`, the Guardian as its own process;
//! - [`web_page`]: the web page at `/` and its files under `/assets/`.

pub mod brain;
pub mod cache;
pub mod chat;
pub mod conversations;
pub mod db;
pub mod events;
pub mod experiments;
pub mod feedback;
pub mod guardian;
pub mod guardian_daemon;
pub mod health;
pub mod memories;
pub mod metrics;
pub mod openai;
pub mod render;
pub mod session;
pub mod timers;
pub mod user_data;
pub mod user_path;
pub mod web_page;
