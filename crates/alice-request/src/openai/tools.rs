//! The tool parts of a `/v1/chat/completions` body: the `tools` offered, `tool_choice`, an
//! assistant message's `tool_calls` and a `tool` message's `tool_call_id`, checked and turned
//! into Alice's types. They are passed to the backend as they are; Alice runs no tool here
//! (the client does, and sends the result back). The legacy `functions` / `function_call`
//! fields, which OpenAI replaced with `tools`, are refused with a pointer to `tools`.

use crate::Invalid;
use alice_core::{ToolCall, ToolChoice, ToolSpec};
use serde::Deserialize;
use serde_json::Value;

/// OpenAI's own limit on the tools of one request.
pub const MAX_TOOLS: usize = 128;
/// OpenAI's limit on a function's name, which is also `[a-zA-Z0-9_-]`.
const MAX_NAME_CHARS: usize = 64;

/// One offered tool as a client sends it.
#[derive(Debug, Deserialize)]
pub struct InTool {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: InFunction,
}

#[derive(Debug, Deserialize)]
struct InFunction {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Value,
}

/// One call in an assistant message as a client sends it back.
#[derive(Debug, Deserialize)]
pub struct InToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: InFunctionCall,
}

#[derive(Debug, Deserialize)]
struct InFunctionCall {
    name: String,
    /// JSON text, as the model wrote it; passed on unread.
    #[serde(default)]
    arguments: String,
}

/// Refuses the legacy function-calling fields: they ask for tools in a shape Alice does not
/// translate, and ignoring them would give a client a plain answer it takes for a model that
/// saw its functions.
pub fn refuse_legacy(functions: &Value, function_call: &Value) -> Result<(), Invalid> {
    for (field, value) in [("functions", functions), ("function_call", function_call)] {
        if asks_for_something(value) {
            return Err(Invalid::new(
                field,
                "the legacy functions and function_call are not supported; send the functions \
                 as tools ([{\"type\": \"function\", \"function\": {...}}]) and choose with \
                 tool_choice",
            )
            .with_code("unsupported_parameter"));
        }
    }
    Ok(())
}

/// Empty lists, `null` and `"none"` ask for nothing, and some clients always send them.
fn asks_for_something(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::String(choice) => !choice.is_empty() && choice != "none",
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The offered tools, checked: functions only, each with a valid name, no name twice, at most
/// [`MAX_TOOLS`]; `parameters` must be a JSON Schema object when given.
pub fn tools(tools: Vec<InTool>) -> Result<Vec<ToolSpec>, Invalid> {
    if tools.len() > MAX_TOOLS {
        return Err(Invalid::new(
            "tools",
            format!("{} tools were sent; send at most {MAX_TOOLS}", tools.len()),
        ));
    }
    let mut specs: Vec<ToolSpec> = Vec::with_capacity(tools.len());
    for (index, tool) in tools.into_iter().enumerate() {
        if let Some(kind) = tool.kind.as_deref().filter(|kind| *kind != "function") {
            return Err(Invalid::new(
                format!("tools[{index}].type"),
                format!("tools of type {kind:?} are not supported; send \"function\" tools"),
            )
            .with_code("unsupported_value"));
        }
        let name = tool.function.name;
        check_name(&name, &format!("tools[{index}].function.name"))?;
        if specs.iter().any(|spec| spec.name == name) {
            return Err(Invalid::new(
                format!("tools[{index}].function.name"),
                format!("the tool {name:?} is sent twice; give each tool its own name"),
            ));
        }
        let parameters = match tool.function.parameters {
            Value::Null => Value::Null,
            schema @ Value::Object(_) => schema,
            _ => {
                return Err(Invalid::new(
                    format!("tools[{index}].function.parameters"),
                    "send the parameters as a JSON Schema object, or leave them out",
                ));
            }
        };
        specs.push(ToolSpec {
            name,
            description: tool.function.description.unwrap_or_default(),
            parameters,
        });
    }
    Ok(specs)
}

fn check_name(name: &str, field: &str) -> Result<(), Invalid> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!(
                "{name:?} is not a function name; use 1 to {MAX_NAME_CHARS} letters a-z, \
                 digits, _ and -"
            ),
        ))
    }
}

/// `tool_choice`: "auto", "none", "required" or `{"type": "function", "function": {"name"}}`
/// naming an offered tool. Without tools, "auto" and "none" ask for nothing and are dropped;
/// a choice that wants a call is refused, as no tool could answer it.
pub fn tool_choice(choice: &Value, tools: &[ToolSpec]) -> Result<Option<ToolChoice>, Invalid> {
    let field = "tool_choice";
    let shape = "send \"auto\", \"none\", \"required\" or {\"type\": \"function\", \
                 \"function\": {\"name\": \"...\"}}";
    let choice = match choice {
        Value::Null => return Ok(None),
        Value::String(word) => match word.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(Invalid::new(
                    field,
                    format!("{other:?} is not a tool choice; {shape}"),
                ));
            }
        },
        Value::Object(_) => {
            let name = choice
                .get("function")
                .and_then(|function| function.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| Invalid::new(field, format!("no function name; {shape}")))?;
            if !tools.is_empty() && !tools.iter().any(|tool| tool.name == name) {
                return Err(Invalid::new(
                    field,
                    format!("the tool {name:?} is not among the tools sent; choose one of them"),
                ));
            }
            ToolChoice::Function(name.to_owned())
        }
        _ => return Err(Invalid::new(field, shape)),
    };
    if tools.is_empty() {
        return match choice {
            ToolChoice::Auto | ToolChoice::None => Ok(None),
            ToolChoice::Required | ToolChoice::Function(_) => Err(Invalid::new(
                field,
                "asks for a tool call, but no tools were sent; send tools or leave tool_choice \
                 out",
            )),
        };
    }
    Ok(Some(choice))
}

/// An assistant message's calls, as the client sends them back: each with an id and a
/// function's name; the arguments are the model's text and go back unread.
pub fn calls(index: usize, calls: Vec<InToolCall>) -> Result<Vec<ToolCall>, Invalid> {
    calls
        .into_iter()
        .enumerate()
        .map(|(at, call)| {
            let field = format!("messages[{index}].tool_calls[{at}]");
            if call.kind.as_deref().is_some_and(|kind| kind != "function") {
                return Err(Invalid::new(
                    format!("{field}.type"),
                    "only function calls are supported; send \"function\"",
                )
                .with_code("unsupported_value"));
            }
            if call.id.is_empty() {
                return Err(Invalid::new(
                    format!("{field}.id"),
                    "a call needs the id the model gave it",
                ));
            }
            check_name(&call.function.name, &format!("{field}.function.name"))?;
            Ok(ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            })
        })
        .collect()
}
