//! The requests Alice answers herself, without a model: whatever [`alice_intents::classify`]
//! recognises with at least `intents.min_confidence` — the time and date in the user's time
//! zone, week numbers, days until a date, sums, conversions, small talk, timers and
//! reminders (kept in the store, see [`crate::runtime::timers`]), what she remembers, and the
//! "not connected" reply for integrations she does not have. They are answered in
//! milliseconds whether the model is tiny, busy, in brownout or down, and in correct Swedish
//! (English when asked in English).
//!
//! A request for an integration (weather, music, volume, mail, calendar) goes to the tool
//! configured for it (`[[tools.webhooks]]` with its `integration`), unless the brownout has
//! switched that tool's class off; without one Alice says she is not connected to it rather
//! than let a model invent an answer.
//!
//! The memory commands are recognised here too, so that one classifier decides; they are
//! carried out by [`memory_commands`] as before. With `intents.enabled = false` only they are
//! (they follow `memory.enabled`).

use crate::error::ApiError;
use crate::service::ChatService;
use crate::service::memory_commands::{self, MemoryCommand};
use crate::service::timers::{self, TimerRequest};
use alice_core::{BrownoutLevel, Config};
use alice_intents::{
    Classification, Integration, Intent, Language, When, answer_locally, describe_duration,
    describe_when,
};
use alice_store::{AnswerRoute, MemoryMatch, Page, TimerKind};
use alice_tools::{Tool, ToolCall};
use chrono::Utc;
use chrono_tz::Tz;
use uuid::Uuid;

/// How many memories a "vad vet du om mig?" lists at most.
const RECALLED: u32 = 10;

/// The local route for `message`, if Alice answers it herself under `config`.
pub fn route(config: &Config, message: &str) -> Option<Classification> {
    let classification = alice_intents::classify(message);
    if !classification.is_local(config.intents.min_confidence) {
        return None;
    }
    let memory = is_memory(&classification.intent);
    let allowed = if memory {
        config.memory.enabled
    } else {
        config.intents.enabled
    };
    allowed.then_some(classification)
}

/// Whether the intent is one of the memory commands (stored, deleted or recalled memories).
fn is_memory(intent: &Intent) -> bool {
    matches!(
        intent,
        Intent::Remember(_)
            | Intent::Forget(_)
            | Intent::ForgetLast
            | Intent::ForgetAll
            | Intent::Recall(_)
    )
}

/// What the answer names as its model: `alice:memory` for the memory commands (as before the
/// intent layer), `alice:<intent>` for the rest.
pub fn model_name(intent: &Intent) -> &'static str {
    if is_memory(intent) {
        "memory"
    } else {
        intent.name()
    }
}

/// The turn a local answer is for.
pub struct LocalTurn<'a> {
    pub username: Option<&'a str>,
    pub conversation_id: Uuid,
    /// The turn starts its conversation (which is written after the answer).
    pub starts_conversation: bool,
    /// The user's message, as a tool is given it.
    pub message: &'a str,
    /// The brownout level the turn is served at, which may switch tools off.
    pub level: BrownoutLevel,
}

/// Alice's answer and how she came to it.
pub struct LocalAnswer {
    pub text: String,
    pub route: AnswerRoute,
}

/// Carries out the request and returns Alice's answer with its route: "intent", or "tool"
/// when a configured integration answered.
pub async fn answer(
    service: &ChatService,
    turn: &LocalTurn<'_>,
    classification: Classification,
) -> Result<LocalAnswer, ApiError> {
    let mut route = AnswerRoute {
        kind: "intent".to_owned(),
        intent: Some(classification.intent.name().to_owned()),
        confidence: Some(classification.confidence),
        tool: None,
        calls: Vec::new(),
    };
    if let Intent::External(integration) = classification.intent
        && let Some(tool) = service.tools.for_integration(integration_name(integration))
    {
        let language = classification.language;
        route.tool = Some(tool.definition().name.clone());
        let (text, answered) = integration_answer(tool.as_ref(), turn, language).await;
        if answered {
            route.kind = "tool".to_owned();
        }
        return Ok(LocalAnswer { text, route });
    }
    let text = answer_by_alice(service, turn, classification).await?;
    Ok(LocalAnswer { text, route })
}

fn integration_name(integration: Integration) -> &'static str {
    match integration {
        Integration::Weather => "weather",
        Integration::Music => "music",
        Integration::Volume => "volume",
        Integration::Mail => "mail",
        Integration::Calendar => "calendar",
    }
}

/// The integration's answer, or Alice's word that it was switched off by the brownout or
/// failed; true when the tool answered.
async fn integration_answer(
    tool: &dyn Tool,
    turn: &LocalTurn<'_>,
    language: Language,
) -> (String, bool) {
    let say = |swedish: &str, english: &str| match language {
        Language::Swedish => swedish.to_owned(),
        Language::English => english.to_owned(),
    };
    if !tool.class().runs_at(turn.level) {
        let text = say(
            "Den tjänsten är avstängd en stund medan jag sparar på krafterna (hög belastning). \
             Fråga gärna igen om en liten stund.",
            "That service is switched off for a while as I save resources (high load). Please \
             ask again in a little while.",
        );
        return (text, false);
    }
    let call = ToolCall {
        arguments: serde_json::json!({}),
        user: turn.username,
        message: turn.message,
        language: match language {
            Language::Swedish => "sv",
            Language::English => "en",
        },
    };
    match tool.call(call).await {
        Ok(answer) => (answer.text, true),
        Err(error) => {
            tracing::warn!(evt = "tool_failed", tool = %tool.definition().name, error = %error);
            let text = say(
                "Jag når inte den tjänsten just nu, så det kan jag inte svara på. Försök igen \
                 om en stund.",
                "I cannot reach that service right now, so I cannot answer that. Please try \
                 again in a while.",
            );
            (text, false)
        }
    }
}

/// The answers Alice gives from her own state and clock.
async fn answer_by_alice(
    service: &ChatService,
    turn: &LocalTurn<'_>,
    classification: Classification,
) -> Result<String, ApiError> {
    let language = classification.language;
    let say = |swedish: String, english: String| match language {
        Language::Swedish => swedish,
        Language::English => english,
    };
    let zone = timezone(service, turn.username).await;
    let now = service.clock.now().with_timezone(&zone);
    let memory_command = match classification.intent {
        Intent::Remember(ref text) => Some(MemoryCommand::Remember(text.clone())),
        Intent::Forget(ref text) => Some(MemoryCommand::Forget(text.clone())),
        Intent::ForgetLast => Some(MemoryCommand::ForgetLast),
        Intent::ForgetAll => Some(MemoryCommand::ForgetAll),
        _ => None,
    };
    if let Some(command) = memory_command {
        return memory_commands::execute(
            &service.store,
            &service.config.memory,
            turn.username,
            turn.conversation_id,
            turn.starts_conversation,
            (command, language),
        )
        .await;
    }
    let stateful = matches!(
        classification.intent,
        Intent::Recall(_)
            | Intent::Timer { .. }
            | Intent::Reminder { .. }
            | Intent::ListTimers
            | Intent::CancelTimers
    );
    let username = match (stateful, turn.username) {
        (false, _) => "",
        (true, Some(username)) => username,
        (true, None) => {
            return Ok(say(
                "Det kan jag bara göra för en namngiven användare. Skicka med fältet \"user\" \
                 i förfrågan (eller en användares nyckel), så ordnar jag det."
                    .into(),
                "I can only do that for a named user. Send the \"user\" field with the request \
                 (or a user's key) and I will."
                    .into(),
            ));
        }
    };
    // A timer's message goes into the turn's conversation, also one the turn starts (it is
    // written with the answer, well before the timer can fire).
    let conversation = Some(turn.conversation_id);
    match classification.intent {
        Intent::Recall(topic) => recall(service, username, topic.as_deref(), language).await,
        Intent::Timer { duration, label } => {
            let length = describe_duration(duration, language);
            let due = When::In(duration).resolve(now);
            let label = label.unwrap_or_default();
            let message = timers::done_message(duration, &label, language);
            set_timer(
                service,
                username,
                conversation,
                TimerKind::Timer,
                &label,
                &message,
                due,
            )
            .await?;
            let when = describe_when(&due, &now, language);
            Ok(say(
                format!("Okej, en timer på {length} är satt. Jag säger till {when}."),
                format!("Okay, a {length} timer is set. I will tell you {when}."),
            ))
        }
        Intent::Reminder { when, text } => {
            let due = when.resolve(now);
            let message = say(format!("Påminnelse: {text}."), format!("Reminder: {text}."));
            set_timer(
                service,
                username,
                conversation,
                TimerKind::Reminder,
                &text,
                &message,
                due,
            )
            .await?;
            let when = describe_when(&due, &now, language);
            Ok(say(
                format!("Okej, jag påminner dig {when}: {text}."),
                format!("Okay, I will remind you {when}: {text}."),
            ))
        }
        Intent::ListTimers => {
            let pending = service.store.timers().pending(username).await?;
            if pending.is_empty() {
                return Ok(say(
                    "Du har inga timers eller påminnelser just nu.".into(),
                    "You have no timers or reminders right now.".into(),
                ));
            }
            let lines: Vec<String> = pending
                .iter()
                .map(|timer| {
                    let due = describe_when(&timer.due_at.with_timezone(&zone), &now, language);
                    let what = match (timer.kind, timer.label.is_empty(), language) {
                        (TimerKind::Timer, true, Language::Swedish) => "en timer".to_owned(),
                        (TimerKind::Timer, false, Language::Swedish) => {
                            format!("en timer för {}", timer.label)
                        }
                        (TimerKind::Reminder, _, Language::Swedish) => {
                            format!("en påminnelse: {}", timer.label)
                        }
                        (TimerKind::Timer, true, Language::English) => "a timer".to_owned(),
                        (TimerKind::Timer, false, Language::English) => {
                            format!("a timer for {}", timer.label)
                        }
                        (TimerKind::Reminder, _, Language::English) => {
                            format!("a reminder: {}", timer.label)
                        }
                    };
                    format!("- {due}: {what}")
                })
                .collect();
            Ok(say(
                format!("Det här har du på gång:\n{}", lines.join("\n")),
                format!("This is what you have coming up:\n{}", lines.join("\n")),
            ))
        }
        Intent::CancelTimers => {
            let cancelled = service.store.timers().cancel_all(username).await?;
            Ok(match cancelled {
                0 => say(
                    "Du hade inga timers eller påminnelser att avbryta.".into(),
                    "You had no timers or reminders to cancel.".into(),
                ),
                1 => say(
                    "Klart, jag har avbrutit den.".into(),
                    "Done, I have cancelled it.".into(),
                ),
                n => say(
                    format!("Klart, jag har avbrutit {n} timers och påminnelser."),
                    format!("Done, I have cancelled {n} timers and reminders."),
                ),
            })
        }
        _ => Ok(answer_locally(&classification, now).unwrap_or_else(|| {
            say(
                "Det där kan jag inte svara på själv just nu.".into(),
                "I cannot answer that myself right now.".into(),
            )
        })),
    }
}

/// The user's time zone from their profile, else `intents.default_timezone`.
pub(crate) async fn timezone(service: &ChatService, username: Option<&str>) -> Tz {
    let default = service.config.intents.timezone();
    let Some(username) = username else {
        return default;
    };
    match service.store.user(username).await {
        Ok(Some(user)) => user.timezone.parse().unwrap_or(default),
        Ok(None) => default,
        Err(error) => {
            tracing::warn!(evt = "user_timezone_failed", error = %error);
            default
        }
    }
}

async fn set_timer(
    service: &ChatService,
    username: &str,
    conversation_id: Option<Uuid>,
    kind: TimerKind,
    label: &str,
    message: &str,
    due: chrono::DateTime<Tz>,
) -> Result<(), ApiError> {
    timers::set(
        &service.store,
        &service.config.timers,
        TimerRequest {
            username,
            conversation_id,
            kind,
            label,
            message,
            due_at: due.with_timezone(&Utc),
        },
    )
    .await
    .map(drop)
}

/// "Vad vet du om mig?" (every memory, newest first, up to [`RECALLED`]) or "vad minns du om
/// min hund?" (the memories that mention the topic).
pub(crate) async fn recall(
    service: &ChatService,
    username: &str,
    topic: Option<&str>,
    language: Language,
) -> Result<String, ApiError> {
    let store = &service.store;
    let found = match topic {
        Some(topic) => {
            store
                .search_memories(username, topic, MemoryMatch::Any, RECALLED)
                .await?
        }
        None => {
            store
                .memories(
                    username,
                    Page {
                        offset: 0,
                        limit: RECALLED,
                    },
                )
                .await?
        }
    };
    if found.is_empty() {
        return Ok(match (topic, language) {
            (Some(topic), Language::Swedish) => {
                format!("Jag har inget sparat om {topic}.")
            }
            (Some(topic), Language::English) => format!("I have nothing saved about {topic}."),
            (None, Language::Swedish) => "Jag har inget sparat om dig än. Säg \"kom ihåg att …\" \
                 så sparar jag det."
                .to_owned(),
            (None, Language::English) => "I have nothing saved about you yet. Say \"remember \
                 that …\" and I will keep it."
                .to_owned(),
        });
    }
    let lines: Vec<String> = found.iter().map(|m| format!("- {}", m.content)).collect();
    Ok(match language {
        Language::Swedish => format!("Det här minns jag:\n{}", lines.join("\n")),
        Language::English => format!("This is what I remember:\n{}", lines.join("\n")),
    })
}
