//! The model calls Alice's tools (`tools.offer_to_model`): on `/api/chat` the model is offered
//! Alice's own tools — the time (`current_time`), a calculator (`calculate`), timers
//! (`set_timer`) and the user's memories (`recall_memories`) — and every configured webhook and
//! MCP tool, as function calls. A round that ends in tool calls is carried out here: each call
//! runs (logged, and kept with the answer's route), its result goes back as a `tool` message,
//! and the model is asked again. After `tools.max_rounds` rounds the model is asked once more
//! without tools, so the answer is text.
//!
//! Each round streams: its events are read until the first piece of text (the answer has begun:
//! it is handed on as it comes, so the client still gets its first token as early as the model
//! gives it) or the tool calls. A model that writes text and then calls tools in the same round
//! has its text answered and its calls dropped.
//!
//! Tools the brownout has switched off at the turn's level are not offered; the embedded
//! backend is offered none (it ignores them). Requests that offer tools are never shared through
//! the response cache.

use crate::service::ChatService;
use crate::service::answers::{self, Answer};
use crate::service::local_answers;
use crate::service::timers::{self, TimerRequest};
use alice_core::{BrownoutLevel, ChatMessage, ToolCall, ToolSpec};
use alice_intents::{Classification, Intent, Language, answer_locally, describe_duration};
use alice_llm::{ChatRequest, LlmError, RoutedEvent};
use alice_store::{TimerKind, ToolUse};
use alice_tools::{ToolCall as Call, ToolClass};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Most characters of a tool's result kept with the answer (the model gets all of it).
const KEPT_RESULT_CHARS: usize = 300;

/// Who the tools act for.
pub struct ToolTurn<'a> {
    pub username: Option<&'a str>,
    pub conversation_id: Uuid,
    pub message: &'a str,
    pub level: BrownoutLevel,
}

/// Alice's own tools, as the model is offered them.
fn own_tools() -> Vec<ToolSpec> {
    let spec = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    };
    vec![
        spec(
            "current_time",
            "The current date, time and ISO week number in the user's time zone.",
            json!({"type": "object", "properties": {}}),
        ),
        spec(
            "calculate",
            "Exact arithmetic: + - * / ^, parentheses, percentages and square roots, in digits \
             or Swedish or English words.",
            json!({
                "type": "object",
                "properties": {"expression": {"type": "string", "description": "e.g. (17+4)*23"}},
                "required": ["expression"],
            }),
        ),
        spec(
            "set_timer",
            "Set a timer for the user; Alice tells them when it is done.",
            json!({
                "type": "object",
                "properties": {
                    "seconds": {"type": "integer", "minimum": 1},
                    "label": {"type": "string", "description": "what it is for"},
                },
                "required": ["seconds"],
            }),
        ),
        spec(
            "recall_memories",
            "What the user asked Alice to remember, optionally about one topic.",
            json!({"type": "object", "properties": {"topic": {"type": "string"}}}),
        ),
    ]
}

/// The tools offered for a turn at `level`: Alice's own (class "other") and the configured
/// ones whose class still runs.
pub fn offered(service: &ChatService, level: BrownoutLevel) -> Vec<ToolSpec> {
    if !service.config.tools.offer_to_model || !ToolClass::Other.runs_at(level) {
        return Vec::new();
    }
    let mut tools = own_tools();
    for definition in service.tools.definitions() {
        let runs = service
            .tools
            .get(&definition.name)
            .is_some_and(|tool| tool.class().runs_at(level));
        if runs {
            tools.push(ToolSpec {
                name: definition.name,
                description: definition.description,
                parameters: definition.parameters,
            });
        }
    }
    tools
}

/// The answer to `request` after its rounds of tool calls, and the calls made. `request`
/// offers tools (else this is one plain round).
pub async fn answer(
    service: &ChatService,
    turn: &ToolTurn<'_>,
    mut request: ChatRequest,
) -> Result<(Answer, Vec<ToolUse>), LlmError> {
    let mut uses = Vec::new();
    let max_rounds = service.config.tools.max_rounds;
    let mut round = 0;
    loop {
        if round >= max_rounds {
            request.tools.clear();
        }
        let answer = answers::open(
            service,
            request.clone(),
            Err(alice_cache::Reason::ToolsOffered),
        )
        .await?;
        let served = answer.served;
        let mut events = answer.events;
        let mut seen = Vec::new();
        let mut calls = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(RoutedEvent::ToolCalls(made)) => {
                    calls = Some(made);
                    break;
                }
                Ok(RoutedEvent::Delta(text)) if !text.is_empty() => {
                    seen.push(Ok(RoutedEvent::Delta(text)));
                    break;
                }
                Ok(RoutedEvent::Done(completion)) => {
                    seen.push(Ok(RoutedEvent::Done(completion)));
                    break;
                }
                Err(error) => {
                    seen.push(Err(error));
                    break;
                }
                other => seen.push(other),
            }
        }
        let Some(calls) = calls else {
            let events = futures_util::stream::iter(seen).chain(events).boxed();
            return Ok((Answer { events, served }, uses));
        };
        // The round ends with Done; what the model wrote beside its calls goes back with them.
        let written: String = seen
            .iter()
            .filter_map(|event| match event {
                Ok(RoutedEvent::Delta(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        while events.next().await.is_some() {}
        request
            .messages
            .push(ChatMessage::tool_calls(written, calls.clone()));
        for call in &calls {
            let started = Instant::now();
            let (ok, result) = run(service, turn, call).await;
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(evt = "tool_called", tool = %call.name, ok, ms, round);
            uses.push(ToolUse {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                ok,
                result: result.chars().take(KEPT_RESULT_CHARS).collect(),
                ms,
            });
            request
                .messages
                .push(ChatMessage::tool_result(call.id.clone(), result));
        }
        round += 1;
    }
}

/// Runs one call; (answered, what to tell the model).
async fn run(service: &ChatService, turn: &ToolTurn<'_>, call: &ToolCall) -> (bool, String) {
    let arguments: Value = match serde_json::from_str(&call.arguments) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) | Err(_) => {
            return (
                false,
                format!(
                    "the arguments must be a JSON object, not {:?}",
                    call.arguments
                ),
            );
        }
    };
    let language = Language::Swedish;
    let classified = |intent: Intent| Classification {
        intent,
        confidence: 1.0,
        language,
    };
    match call.name.as_str() {
        "current_time" => {
            let zone = local_answers::timezone(service, turn.username).await;
            let now = service.clock.now().with_timezone(&zone);
            let said: Vec<String> = [Intent::Time, Intent::Date, Intent::WeekNumber]
                .into_iter()
                .filter_map(|intent| answer_locally(&classified(intent), now))
                .collect();
            (true, format!("{} ({zone})", said.join(" ")))
        }
        "calculate" => {
            let expression = arguments["expression"].as_str().unwrap_or_default();
            match alice_intents::calculate(expression, language) {
                Some(intent) => {
                    let now = service.clock.now().with_timezone(&chrono_tz::Tz::UTC);
                    let said = answer_locally(&classified(intent.clone()), now);
                    let ok = matches!(intent, Intent::Arithmetic { .. });
                    (ok, said.unwrap_or_default())
                }
                None => (
                    false,
                    format!("{expression:?} is not an arithmetic expression"),
                ),
            }
        }
        "set_timer" => set_timer(service, turn, &arguments).await,
        "recall_memories" => {
            let Some(username) = turn.username else {
                return (
                    false,
                    "the user is anonymous: there are no memories".to_owned(),
                );
            };
            let topic = arguments["topic"].as_str().filter(|t| !t.trim().is_empty());
            match local_answers::recall(service, username, topic, language).await {
                Ok(text) => (true, text),
                Err(error) => (false, error.to_string()),
            }
        }
        name => {
            let Some(tool) = service.tools.get(name) else {
                return (false, format!("there is no tool {name:?}"));
            };
            if !tool.class().runs_at(turn.level) {
                return (
                    false,
                    "switched off for now (the server is under load)".to_owned(),
                );
            }
            let called = tool
                .call(Call {
                    arguments,
                    user: turn.username,
                    message: turn.message,
                    language: "sv",
                })
                .await;
            match called {
                Ok(answer) => (true, answer.text),
                Err(error) => (false, error.to_string()),
            }
        }
    }
}

async fn set_timer(
    service: &ChatService,
    turn: &ToolTurn<'_>,
    arguments: &Value,
) -> (bool, String) {
    let Some(username) = turn.username else {
        return (
            false,
            "the user is anonymous: timers need a named user".to_owned(),
        );
    };
    let Some(seconds) = arguments["seconds"].as_u64().filter(|s| *s >= 1) else {
        return (
            false,
            "seconds must be a whole number of at least 1".to_owned(),
        );
    };
    let label = arguments["label"].as_str().unwrap_or_default().trim();
    let duration = Duration::from_secs(seconds);
    let message = timers::done_message(duration, label, Language::Swedish);
    let length = describe_duration(duration, Language::Swedish);
    let due_at = Utc::now() + chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
    let set = timers::set(
        &service.store,
        &service.config.timers,
        TimerRequest {
            username,
            conversation_id: Some(turn.conversation_id),
            kind: TimerKind::Timer,
            label,
            message: &message,
            due_at,
        },
    )
    .await;
    match set {
        Ok(timer) => (true, format!("timer {} set: {length}", timer.id)),
        Err(error) => (false, error.to_string()),
    }
}
