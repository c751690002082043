//! A `/v1/chat/completions` body checked and turned into what Alice asks the backend: the
//! prompt (system messages first, then as much history as fits the context window, then the
//! last user message), token limit, temperature and stop sequences. What Alice cannot do
//! (several choices, tools) is refused rather than ignored; the server's `api::openai` module
//! describes the rules.

use crate::Invalid;
use crate::context_budget::{DoesNotFit, fit_prompt};
use alice_core::config::ChatConfig;
use alice_core::{ChatMessage, Role};
use serde::Deserialize;
use serde_json::Value;

/// OpenAI allows at most four stop sequences.
const MAX_STOP_SEQUENCES: usize = 4;
/// All messages together may hold this many times `chat.max_message_chars` characters.
const CONVERSATION_CHARS_FACTOR: usize = 4;

/// `POST /v1/chat/completions` body: the fields Alice reads. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub struct CompletionBody {
    /// Required, as by OpenAI; any value is accepted (see the module documentation).
    pub model: String,
    pub messages: Vec<InMessage>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// A string or an array of strings, checked by [`stop_sequences`].
    #[serde(default)]
    pub stop: Value,
    pub user: Option<String>,
    pub n: Option<i64>,
    // Taken as raw values only to refuse them when they ask for something.
    #[serde(default)]
    pub tools: Value,
    #[serde(default)]
    pub tool_choice: Value,
    #[serde(default)]
    pub functions: Value,
    #[serde(default)]
    pub function_call: Value,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    include_usage: Option<bool>,
}

/// One message as a client sends it; `content` is checked by [`content_text`].
#[derive(Debug, Deserialize)]
pub struct InMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

/// A checked request, ready to go to the backend.
#[derive(Debug)]
pub struct Plan {
    pub prompt: Vec<ChatMessage>,
    /// History messages left out to fit the context window.
    pub dropped: usize,
    pub max_tokens: u32,
    pub temperature: f32,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
}

impl Plan {
    /// Checks a request against OpenAI's rules and Alice's limits, and builds the prompt.
    pub fn from_body(body: CompletionBody, settings: &ChatConfig) -> Result<Plan, Invalid> {
        refuse_unsupported(&body)?;
        let max_tokens = max_tokens(&body, settings)?;
        let temperature = match body.temperature {
            None => settings.temperature,
            Some(t) if (0.0..=2.0).contains(&t) => t,
            Some(t) => {
                return Err(invalid(
                    "temperature",
                    format!("{t} is out of range; send a number from 0 to 2"),
                ));
            }
        };
        let stop = stop_sequences(&body.stop)?;
        let (prompt, dropped) = prompt(body.messages, settings, max_tokens)?;
        Ok(Plan {
            prompt,
            dropped,
            max_tokens,
            temperature,
            stop,
            stream: body.stream.unwrap_or(false),
            include_usage: body
                .stream_options
                .and_then(|options| options.include_usage)
                .unwrap_or(false),
        })
    }
}

/// Refuses what Alice cannot do rather than ignoring it, so a client never takes a plain answer
/// for several choices or for a model that saw its tools.
fn refuse_unsupported(body: &CompletionBody) -> Result<(), Invalid> {
    if let Some(n) = body.n.filter(|&n| n != 1) {
        return Err(Invalid::new(
            "n",
            format!("n = {n} asks for several answers; Alice gives one, so leave n out or send 1"),
        )
        .with_code("unsupported_value"));
    }
    for (field, value) in [
        ("tools", &body.tools),
        ("tool_choice", &body.tool_choice),
        ("functions", &body.functions),
        ("function_call", &body.function_call),
    ] {
        if asks_for_tools(value) {
            return Err(Invalid::new(
                field,
                "tools are not supported yet; send the request without tools, tool_choice, \
                     functions and function_call",
            )
            .with_code("unsupported_parameter"));
        }
    }
    Ok(())
}

/// Empty lists, `null` and `"none"` ask for nothing, and some clients always send them.
fn asks_for_tools(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::String(choice) => !choice.is_empty() && choice != "none",
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The answer's token limit: the client's, lowered to `chat.max_tokens`; that when not given.
fn max_tokens(body: &CompletionBody, settings: &ChatConfig) -> Result<u32, Invalid> {
    let (field, asked) = match (body.max_completion_tokens, body.max_tokens) {
        (Some(asked), _) => ("max_completion_tokens", asked),
        (None, Some(asked)) => ("max_tokens", asked),
        (None, None) => return Ok(settings.max_tokens),
    };
    if asked == 0 {
        return Err(invalid(
            field,
            "must be at least 1; leave it out for the server's limit",
        ));
    }
    Ok(asked.min(settings.max_tokens))
}

/// `stop` as a list: a string or an array of up to four strings. Empty strings can end nothing
/// and are dropped.
fn stop_sequences(stop: &Value) -> Result<Vec<String>, Invalid> {
    let shape = "send a string or an array of up to 4 strings";
    let sequences: Vec<String> = match stop {
        Value::Null => return Ok(Vec::new()),
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid(
                    "stop",
                    format!("every stop sequence must be a string; {shape}"),
                )
            })?,
        _ => {
            return Err(invalid(
                "stop",
                format!("{stop} is not a stop sequence; {shape}"),
            ));
        }
    };
    if sequences.len() > MAX_STOP_SEQUENCES {
        return Err(invalid(
            "stop",
            format!("{} stop sequences were sent; {shape}", sequences.len()),
        ));
    }
    Ok(sequences.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Turns the client's messages into the prompt: system first, then as much history as fits,
/// then the last user message. Returns it with the number of history messages left out.
fn prompt(
    messages: Vec<InMessage>,
    settings: &ChatConfig,
    max_tokens: u32,
) -> Result<(Vec<ChatMessage>, usize), Invalid> {
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "the list is empty; send at least one message, the last one from the user",
        ));
    }
    let mut checked = Vec::with_capacity(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        let role = role(index, &message.role)?;
        checked.push(ChatMessage::new(
            role,
            content_text(index, message.content)?,
        ));
    }
    let chars: usize = checked.iter().map(|m| m.content.chars().count()).sum();
    let limit = settings
        .max_message_chars
        .saturating_mul(CONVERSATION_CHARS_FACTOR);
    if chars > limit {
        return Err(invalid(
            "messages",
            format!(
                "the messages hold {chars} characters; the limit is {limit} \
                 ({CONVERSATION_CHARS_FACTOR} × chat.max_message_chars); send less history"
            ),
        ));
    }
    let last = checked.len() - 1;
    let Some(new) = checked.pop().filter(|m| m.role == Role::User) else {
        return Err(invalid(
            format!("messages[{last}].role"),
            "the last message must be from the user; Alice does not continue an assistant's \
             message",
        ));
    };
    let (system, history): (Vec<_>, Vec<_>) =
        checked.into_iter().partition(|m| m.role == Role::System);
    let system = if system.is_empty() {
        (!settings.system_prompt.trim().is_empty())
            .then(|| ChatMessage::new(Role::System, settings.system_prompt.clone()))
    } else {
        let joined: Vec<String> = system.into_iter().map(|m| m.content).collect();
        Some(ChatMessage::new(Role::System, joined.join("\n\n")))
    };
    let offered = history.len() + usize::from(system.is_some()) + 1;
    let prompt = fit_prompt(system, history, new, settings.num_ctx, max_tokens).map_err(
        |DoesNotFit { needed, available }| {
            Invalid::new(
                "messages",
                format!(
                    "the system messages and the last user message need about {needed} \
                         tokens, but the context window of {} tokens leaves {available} after \
                         the {max_tokens} reserved for the answer; shorten them or ask for fewer \
                         max_tokens",
                    settings.num_ctx
                ),
            )
            .with_code("context_length_exceeded")
        },
    )?;
    let dropped = offered - prompt.len();
    Ok((prompt, dropped))
}

fn role(index: usize, role: &str) -> Result<Role, Invalid> {
    match role {
        // OpenAI's newer name for the system role.
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" | "function" => Err(Invalid::new(
            format!("messages[{index}].role"),
            "tool results are not supported yet, as tools are not; leave them out",
        )
        .with_code("unsupported_value")),
        other => Err(invalid(
            format!("messages[{index}].role"),
            format!("unknown role {other:?}; use system, user or assistant"),
        )),
    }
}

/// A message's text: a string, or the text parts of an array joined by newlines.
fn content_text(index: usize, content: Value) -> Result<String, Invalid> {
    let field = format!("messages[{index}].content");
    let parts = match content {
        Value::String(text) => return Ok(text),
        Value::Array(parts) => parts,
        Value::Null => {
            return Err(invalid(field, "the message has no content; send its text"));
        }
        _ => {
            return Err(invalid(
                field,
                "send a string or an array of {\"type\": \"text\", \"text\": \"...\"} parts",
            ));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for (part_index, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => match part.get("text").and_then(Value::as_str) {
                Some(text) => texts.push(text),
                None => {
                    return Err(invalid(
                        field,
                        format!("part {part_index} is a text part without a \"text\" string"),
                    ));
                }
            },
            Some(other) => {
                return Err(Invalid::new(
                    field,
                    format!(
                        "part {part_index} is of type {other:?}; Alice reads only text parts, \
                             not images, audio or files, so send the text alone"
                    ),
                )
                .with_code("unsupported_value"));
            }
            None => {
                return Err(invalid(
                    field,
                    format!(
                        "part {part_index} has no \"type\"; send {{\"type\": \"text\", \"text\": \"...\"}}"
                    ),
                ));
            }
        }
    }
    Ok(texts.join("\n"))
}

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Invalid {
    Invalid::new(field, detail)
}

#[cfg(test)]
mod tests;
