//! Alice's tools: what she can do beyond words, for a user, behind one trait.
//!
//! - [`Tool`] is the contract: a [`ToolDefinition`] (name, description, JSON Schema of its
//!   arguments, the shape models are offered), a [`ToolClass`] that decides from which brownout
//!   level it is switched off ([`ToolClass::switched_off_at`], the seed's table), and `call`.
//! - [`webhook`]: the integration that works anywhere, an HTTP URL Alice POSTs JSON to, with
//!   its own timeout and circuit breaker.
//! - [`mcp`]: MCP servers as tool sources (Streamable HTTP or a local command on stdio), each
//!   listed tool one of Alice's, each source with its own timeout and circuit breaker.
//! - [`Toolbox`]: the tools of one configuration, by name and by the integration they stand
//!   for (weather, music, volume, mail, calendar), and every definition to offer a model.
//!
//! The crate knows no HTTP server and no store: the chat service calls tools, and says in
//! Swedish when one was skipped or failed.

mod class;
pub mod mcp;
mod toolbox;
pub mod webhook;

pub use class::ToolClass;
pub use toolbox::Toolbox;

use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

/// What a tool is, as a model is offered it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolDefinition {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// One call of a tool, for a user.
#[derive(Clone, Debug)]
pub struct ToolCall<'a> {
    pub arguments: serde_json::Value,
    /// Who the call is for (None: anonymous).
    pub user: Option<&'a str>,
    /// The chat message that led to the call.
    pub message: &'a str,
    /// "sv" or "en": the language the answer is wanted in.
    pub language: &'a str,
}

/// What a tool answered: a text to say (or to give a model) and its data.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolAnswer {
    pub text: String,
    pub data: serde_json::Value,
}

/// Why a tool gave no answer. Each names the tool; the chat service words it for the user.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("tool {tool}: its circuit breaker is open after repeated failures; try again later")]
    Open { tool: String },
    #[error("tool {tool}: no answer within {after:?}")]
    Timeout { tool: String, after: Duration },
    #[error("tool {tool}: unreachable ({detail})")]
    Unreachable { tool: String, detail: String },
    #[error("tool {tool}: answered HTTP {status}")]
    Status { tool: String, status: u16 },
    #[error("tool {tool}: its answer is not what it should be ({detail})")]
    BadAnswer { tool: String, detail: String },
    /// The tool answered that it could not do this call (an MCP `isError` result or error).
    #[error("tool {tool}: refused the call ({detail})")]
    Refused { tool: String, detail: String },
}

/// A tool Alice can call.
#[async_trait]
pub trait Tool: Send + Sync + std::fmt::Debug {
    fn definition(&self) -> &ToolDefinition;

    fn class(&self) -> ToolClass;

    async fn call(&self, call: ToolCall<'_>) -> Result<ToolAnswer, ToolError>;
}
