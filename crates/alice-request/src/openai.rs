//! A `/v1/chat/completions` body checked and turned into what Alice asks the backend: the
//! prompt (system messages first, then as much history as fits the context window, then the
//! last user message and, in a tool round, the calls and results after it), token limit,
//! temperature, stop sequences and the tools offered ([`tools`]). What Alice cannot do
//! (several choices, the legacy functions) is refused rather than ignored; the server's
//! `api::openai` module describes the rules.

pub mod tools;

use crate::Invalid;
use crate::context_budget::{DoesNotFit, estimate_tokens, fit_prompt};
use alice_core::config::ChatConfig;
use alice_core::{ChatMessage, Role, ToolChoice, ToolSpec};
use serde::Deserialize;
use serde_json::Value;
use tools::{InTool, InToolCall};

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
    /// Checked by [`tools::tools`]; `null` and `[]` offer none.
    #[serde(default)]
    pub tools: Option<Vec<InTool>>,
    /// Checked by [`tools::tool_choice`].
    #[serde(default)]
    pub tool_choice: Value,
    // Taken as raw values only to refuse them when they ask for something.
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
    /// An assistant message's calls; its `content` may then be `null`.
    #[serde(default)]
    tool_calls: Option<Vec<InToolCall>>,
    /// A `tool` message: the call it answers.
    #[serde(default)]
    tool_call_id: Option<String>,
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
    /// Tools offered to the model, passed to the backend.
    pub tools: Vec<ToolSpec>,
    /// None when the client made no choice (or none that means anything without tools).
    pub tool_choice: Option<ToolChoice>,
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
        let tools = tools::tools(body.tools.unwrap_or_default())?;
        let tool_choice = tools::tool_choice(&body.tool_choice, &tools)?;
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
            tools,
            tool_choice,
        })
    }
}

/// Refuses what Alice cannot do rather than ignoring it, so a client never takes a plain answer
/// for several choices or for a model that saw its functions.
fn refuse_unsupported(body: &CompletionBody) -> Result<(), Invalid> {
    if let Some(n) = body.n.filter(|&n| n != 1) {
        return Err(Invalid::new(
            "n",
            format!("n = {n} asks for several answers; Alice gives one, so leave n out or send 1"),
        )
        .with_code("unsupported_value"));
    }
    tools::refuse_legacy(&body.functions, &body.function_call)
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
    let mut checked: Vec<ChatMessage> = Vec::with_capacity(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        let message = checked_message(index, message)?;
        if message.role == Role::Tool && !follows_calls(&checked) {
            return Err(invalid(
                format!("messages[{index}].role"),
                "a tool message must follow the assistant message whose tool_calls it answers",
            ));
        }
        checked.push(message);
    }
    let chars: usize = checked.iter().map(message_chars).sum();
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
    if !matches!(checked[last].role, Role::User | Role::Tool) {
        return Err(invalid(
            format!("messages[{last}].role"),
            "the last message must be from the user, or a tool's result; Alice does not \
             continue an assistant's message",
        ));
    }
    // The turn being answered: the last user message, then (in a tool round) the assistant's
    // calls and the tools' results after it. It is kept whole.
    let (system, mut earlier): (Vec<_>, Vec<_>) =
        checked.into_iter().partition(|m| m.role == Role::System);
    let Some(asked) = earlier.iter().rposition(|m| m.role == Role::User) else {
        return Err(invalid(
            "messages",
            "there is no user message; send the user's question before the tools' results",
        ));
    };
    let mut turn = earlier.split_off(asked);
    let history = earlier;
    let new = turn.remove(0);
    let system = if system.is_empty() {
        (!settings.system_prompt.trim().is_empty())
            .then(|| ChatMessage::new(Role::System, settings.system_prompt.clone()))
    } else {
        let joined: Vec<String> = system.into_iter().map(|m| m.content).collect();
        Some(ChatMessage::new(Role::System, joined.join("\n\n")))
    };
    let offered = history.len() + usize::from(system.is_some()) + 1 + turn.len();
    // The calls and results after the question are reserved like the answer's tokens.
    let after_question: usize = turn.iter().map(estimate_tokens).sum();
    let reserved = u32::try_from(after_question)
        .unwrap_or(u32::MAX)
        .saturating_add(max_tokens);
    let prompt = fit_prompt(system, history, new, settings.num_ctx, reserved).map_err(
        |DoesNotFit { needed, available }| {
            let needed = needed + after_question;
            let available = available + after_question;
            Invalid::new(
                "messages",
                format!(
                    "the system messages and the last user message (with the tool calls and \
                         results after it) need about {needed} \
                         tokens, but the context window of {} tokens leaves {available} after \
                         the {max_tokens} reserved for the answer; shorten them or ask for fewer \
                         max_tokens",
                    settings.num_ctx
                ),
            )
            .with_code("context_length_exceeded")
        },
    )?;
    let mut prompt = prompt;
    drop_orphaned_results(&mut prompt);
    prompt.extend(turn);
    let dropped = offered - prompt.len();
    Ok((prompt, dropped))
}

/// Whether a tool message may come next: after an assistant's calls, or after another result.
fn follows_calls(before: &[ChatMessage]) -> bool {
    before
        .iter()
        .rev()
        .find(|m| m.role != Role::Tool)
        .is_some_and(|m| m.role == Role::Assistant && !m.tool_calls.is_empty())
}

/// Characters a message holds, its calls' names and arguments included.
fn message_chars(message: &ChatMessage) -> usize {
    message.content.chars().count()
        + message
            .tool_calls
            .iter()
            .map(|call| call.name.chars().count() + call.arguments.chars().count())
            .sum::<usize>()
}

/// History whose oldest messages were left out may begin with tool results whose calls went
/// with them; backends refuse results without their calls, so those go too.
fn drop_orphaned_results(prompt: &mut Vec<ChatMessage>) {
    let system = prompt.iter().take_while(|m| m.role == Role::System).count();
    let orphans = prompt[system..]
        .iter()
        .take_while(|m| m.role == Role::Tool)
        .count();
    prompt.drain(system..system + orphans);
}

/// One message as Alice passes it on: its role, text, and calls or the call it answers.
fn checked_message(index: usize, message: InMessage) -> Result<ChatMessage, Invalid> {
    let role = role(index, &message.role)?;
    let calls = match message.tool_calls {
        Some(calls) if role == Role::Assistant => tools::calls(index, calls)?,
        Some(calls) if !calls.is_empty() => {
            return Err(invalid(
                format!("messages[{index}].tool_calls"),
                "only an assistant message carries tool_calls",
            ));
        }
        _ => Vec::new(),
    };
    // An assistant message that only calls tools has `null` (or no) content.
    let content = if !calls.is_empty() && message.content.is_null() {
        String::new()
    } else {
        content_text(index, message.content)?
    };
    if role != Role::Tool {
        return Ok(ChatMessage {
            tool_calls: calls,
            ..ChatMessage::new(role, content)
        });
    }
    match message.tool_call_id.filter(|id| !id.is_empty()) {
        Some(id) => Ok(ChatMessage::tool_result(id, content)),
        None => Err(invalid(
            format!("messages[{index}].tool_call_id"),
            "a tool message needs the id of the call it answers",
        )),
    }
}

fn role(index: usize, role: &str) -> Result<Role, Invalid> {
    match role {
        // OpenAI's newer name for the system role.
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        "function" => Err(Invalid::new(
            format!("messages[{index}].role"),
            "function messages belong to the legacy functions, which are not supported; send \
             the result as a tool message with the call's tool_call_id",
        )
        .with_code("unsupported_value")),
        other => Err(invalid(
            format!("messages[{index}].role"),
            format!("unknown role {other:?}; use system, user, assistant or tool"),
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
