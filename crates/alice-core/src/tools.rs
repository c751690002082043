//! Tools a model may call, and the calls it makes, as every layer sees them.
//!
//! A client (or, later, Alice herself) offers tools with a request ([`ToolSpec`]); a model that
//! wants one answers with [`ToolCall`]s instead of (or after) text; the caller runs the tools
//! and sends each result back as a `tool` message naming the call's id. The types follow
//! OpenAI's chat API, which is the stricter of the two protocols Alice speaks: a call has an id
//! and its arguments are a JSON *string*. Ollama sends arguments as an object and no id; its
//! client converts both ways, so nothing above the clients needs to know.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool offered to the model: OpenAI's and Ollama's `{"type": "function", "function": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    /// What the tool does, for the model; empty when the client gave none.
    #[serde(default)]
    pub description: String,
    /// The arguments' JSON Schema, as the client sent it (`{}` when it sent none).
    #[serde(default)]
    pub parameters: Value,
}

/// One call the model asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Names the call, so its result (a `tool` message's `tool_call_id`) can refer to it.
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as OpenAI has them. The model wrote them: they are
    /// usually, but not surely, a JSON object.
    pub arguments: String,
}

/// Whether and which tool the model must call (OpenAI's `tool_choice`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (OpenAI's default when tools are offered).
    Auto,
    /// The model must not call a tool.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Function(String),
}
