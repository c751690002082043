//! The parts of Alice that every other crate needs and that depend on nothing of Alice:
//!
//! - [`config`]: the one typed configuration, read from `alice.toml` and `ALICE_*` environment
//!   variables, validated once at start-up so the rest of the program never sees a bad value;
//! - [`brownout`]: the brownout levels;
//! - [`chat`]: the chat message types that travel from the HTTP API through the store to the
//!   LLM backends;
//! - [`latency_buckets`]: the one bucket layout of every latency histogram;
//! - [`normalise`]: the prompt text as the response cache's key sees it;
//! - [`personal_number`]: finding and masking Swedish personal identity numbers;
//! - [`priority`]: a request's priority class at a backend's queue (interactive, batch);
//! - [`tools`]: tools offered to a model, the calls it makes and the choice it is given;
//! - [`usernames`]: what a user name may be.

pub mod brownout;
pub mod chat;
pub mod config;
pub mod latency_buckets;
pub mod normalise;
pub mod personal_number;
pub mod priority;
pub mod tools;
pub mod usernames;

pub use brownout::BrownoutLevel;
pub use chat::{ChatMessage, Role};
pub use config::{BackendConfig, BackendKind, Config, ConfigError};
pub use normalise::normalise_prompt;
pub use priority::Priority;
pub use tools::{ToolCall, ToolChoice, ToolSpec};
