//! A native chat turn (`/api/chat`): from a user's message to a stored, answered turn.
//!
//! [`prepare`] checks the input, finds (or plans) the conversation, assigns the user's A/B
//! experiment variant (whose settings then apply), loads its history and memories and fits
//! them into the context window; the API then streams the answer into a
//! [`Generation`](crate::service::generation::Generation); [`finish`] stores the user's
//! message and the answer in one transaction and builds the reply. A turn that fails or is abandoned before it finishes stores nothing, so a
//! conversation never holds a question without its answer.

use crate::error::ApiError;
use crate::http::request_context::RequestContext;
use crate::runtime::experiments::{self, Assigned, Route};
use crate::service::ChatService;
use crate::service::context_budget::{DoesNotFit, fit_prompt, fit_prompt_exactly};
use crate::service::generation::{Generation, record_chat_metrics};
use crate::service::local_answers;
use alice_core::{BrownoutLevel, ChatMessage, Role};
use alice_guardian::Preset;
use alice_identity::{Caller, Credential};
use alice_intents::Classification;
use alice_llm::{ChatRequest, Completion, FinishReason};
use alice_store::ExperimentTag;
use alice_store::{AnswerRoute, ConversationTarget, MemoryMatch, NewMessage, NewTurn, ToolUse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::time::Instant;
use uuid::Uuid;

/// The user a conversation belongs to when the request names none.
pub const ANONYMOUS_USER: &str = "anonymous";

pub use alice_request::native::ChatBody;

/// A checked request, ready to go to a backend.
#[derive(Debug)]
pub struct PreparedTurn {
    /// The brownout preset this request is served with, fixed when it was prepared.
    preset: Preset,
    /// Token limit and temperature after the preset's cuts.
    max_tokens: u32,
    temperature: f32,
    target: ConversationTarget,
    conversation_id: Uuid,
    user_message: String,
    user_message_at: DateTime<Utc>,
    /// The user the request named (None: anonymous).
    username: Option<String>,
    /// The caller's class at the backends' queues (its key's).
    priority: alice_core::Priority,
    /// The message is one Alice answers herself ([`local_answers`]): what it asks for.
    local: Option<Classification>,
    /// How the answer is made; a model's unless [`PreparedTurn::note_route`] says otherwise.
    route: Option<AnswerRoute>,
    /// The tools the model called on the way to its answer.
    tool_uses: Vec<ToolUse>,
    /// Memories of the user went into the prompt, so the answer is personal.
    uses_memories: bool,
    /// The response-cache key when the answer may be shared; kept with the answer so erasing
    /// the user erases the cache entry too.
    cache_key: Option<String>,
    /// The A/B experiment and variant the turn takes part in (never a memory command).
    assigned: Option<Assigned>,
    /// System prompt, fitted history and the new message.
    pub prompt: Vec<ChatMessage>,
}

impl PreparedTurn {
    pub fn conversation_id(&self) -> Uuid {
        self.conversation_id
    }

    /// The brownout level the turn is served at.
    pub fn level(&self) -> BrownoutLevel {
        self.preset.level
    }

    /// The turn continues a stored conversation.
    pub fn continues_conversation(&self) -> bool {
        matches!(self.target, ConversationTarget::Existing(_))
    }

    /// The memory command the message is, taken out (it is carried out once).
    pub fn take_local(&mut self) -> Option<Classification> {
        self.local.take()
    }

    /// Notes how Alice answered the turn herself (for an intent, perhaps through a tool): kept
    /// with the answer, in the reply and in the route metrics.
    pub fn note_route(&mut self, route: AnswerRoute) {
        self.route = Some(route);
    }

    /// Notes the tools the model called before it answered: kept with the answer's route.
    pub fn note_tool_uses(&mut self, uses: Vec<ToolUse>) {
        self.tool_uses = uses;
    }

    /// The user the request named.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The user's memories are in the prompt: the answer must not be shared.
    pub fn uses_memories(&self) -> bool {
        self.uses_memories
    }

    /// The A/B experiment and variant the turn takes part in.
    pub fn assigned(&self) -> Option<&Assigned> {
        self.assigned.as_ref()
    }

    /// Records the response-cache key the answer is shared under.
    pub fn set_cache_key(&mut self, key: &alice_cache::CacheKey) {
        self.cache_key = Some(key.to_hex());
    }

    /// What to ask the backend, to be finished by the request's deadline (a streamed answer by
    /// `deadlines.stream_max`, once its first token came in time): the configured options, made
    /// cheaper by the brownout preset (fewer tokens, lower temperature).
    pub fn backend_request(
        &self,
        service: &ChatService,
        context: &RequestContext,
        streamed: bool,
    ) -> ChatRequest {
        let chat = &service.config.chat;
        ChatRequest {
            messages: self.prompt.clone(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            num_ctx: chat.num_ctx,
            stop: Vec::new(),
            deadline: Some(context.deadline),
            stream_deadline: streamed
                .then(|| context.received + service.config.deadlines.stream_max),
            model: service.model_for_variant(&self.preset, self.assigned.as_ref()),
            // The backend's queue takes turns between users; anonymous turns share one.
            client: self.username.clone(),
            priority: self.priority,
            // A variant's backend answers alone: its figures are that backend's.
            backend: self
                .assigned
                .as_ref()
                .and_then(|a| a.variant.backend.clone()),
            tools: Vec::new(),
            tool_choice: None,
        }
    }
}

/// What `POST /api/chat` answers (and the final SSE event carries).
#[derive(Debug, Serialize)]
pub struct ChatReply {
    pub response: String,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// The provider and model that answered, e.g. "ollama:gpt-oss:20b".
    pub model: String,
    /// Milliseconds from Alice receiving the request to the first token of the answer.
    pub ttft_ms: Option<u64>,
    /// Milliseconds from Alice receiving the request to the stored, complete answer.
    pub total_ms: u64,
    pub cached: bool,
    /// When the answer was complete (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
    pub request_id: String,
    pub finish_reason: FinishReason,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Attempts the router made, across retries and backends (1 when all went well).
    pub attempts: Option<u32>,
    /// Milliseconds spent on backends that did not answer, when another one did (failover).
    pub failover_ms: Option<u64>,
    /// The brownout level the answer was served at (NONE normally).
    pub brownout_level: BrownoutLevel,
    /// The embedded model answered as the last resort (every configured backend had failed,
    /// was open or was full): a tiny model's answer, worse than usual.
    pub degraded: bool,
    /// The A/B experiment and variant the answer was given under, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentTag>,
    /// How the answer was made: `{"kind": "intent", "intent": "time", "confidence": 0.95}`
    /// when Alice answered herself, `{"kind": "model"}` otherwise.
    pub route: AnswerRoute,
}

/// Who a turn is for: the user the body names, which only an admin may set to someone else,
/// or else the caller. With `auth.mode = "off"` nobody is known, and a turn that names no user
/// is anonymous.
fn acting_user(caller: &Caller, named: Option<&str>) -> Result<Option<String>, ApiError> {
    match named {
        // The name's form was checked with the body (alice_request::native::check).
        Some(user) => {
            if caller.may_act_for(user) {
                Ok(Some(user.to_owned()))
            } else {
                Err(ApiError::Forbidden(format!(
                    "\"user\" is {user:?}, but the key belongs to {:?}: leave \"user\" out (a \
                     turn is always its caller's), or use an admin's key to act for another user",
                    caller.username
                )))
            }
        }
        None if caller.credential == Credential::Open => Ok(None),
        None => Ok(Some(caller.username.clone())),
    }
}

/// Checks the request, loads the conversation's history and fits the prompt. A turn for a
/// named user that Alice does not answer herself takes part in the user's A/B experiment, if one
/// runs for `/api/chat`: it is noted in `context` (for its outcome and its log lines) and the
/// variant's settings apply — its brownout floor, system prompt, model and backend.
pub async fn prepare(
    service: &ChatService,
    context: &RequestContext,
    caller: &Caller,
    body: &ChatBody,
) -> Result<PreparedTurn, ApiError> {
    let chat = &service.config.chat;
    // The message, and the user name if one is given, are well-formed.
    let message = alice_request::native::check(body, chat.max_message_chars)?;
    let mut user = acting_user(caller, body.user.as_deref())?;
    let user_message_at = Utc::now();

    let conversation = match body.conversation_id {
        Some(id) => {
            // An admin who names no user continues the conversation as its owner.
            let as_owner = caller.is_admin() && body.user.is_none();
            let conversation = service
                .store
                .conversation(id)
                .await?
                .filter(|c| as_owner || user.as_ref().is_none_or(|user| *user == c.username))
                .ok_or_else(|| ApiError::ConversationNotFound(id.to_string()))?;
            if as_owner {
                user = Some(conversation.username.clone()).filter(|u| u != ANONYMOUS_USER);
            }
            Some(conversation)
        }
        None => None,
    };
    let local = local_answers::route(&service.config, message);
    // The turn's user (whose conversation it is, also when an admin asks for them) is who the
    // variant is for: their feedback rates it. Alice's own answers are no variant's.
    let assigned = match (&user, &local) {
        (Some(user), None) => service.experiments.assign(Route::Native, user),
        _ => None,
    };
    if let Some(assigned) = &assigned {
        experiments::note_in_span(assigned);
        context.experiment.take_part(assigned.clone());
    }

    let preset = service.preset_for(assigned.as_ref());
    let (max_tokens, temperature) = under_preset(&preset, chat.max_tokens, chat.temperature);
    let history_messages = service
        .brain
        .history_messages(chat.history_messages)
        .min(preset.history_messages);
    let (target, conversation_id, history) = match conversation {
        // Alice's own answer needs no history.
        Some(conversation) if local.is_some() => (
            ConversationTarget::Existing(conversation.id),
            conversation.id,
            Vec::new(),
        ),
        Some(conversation) => {
            let history = service
                .store
                .recent_messages(conversation.id, history_messages)
                .await?
                .into_iter()
                .map(|m| ChatMessage::new(m.role, m.content))
                .collect();
            let id = conversation.id;
            (ConversationTarget::Existing(id), id, history)
        }
        None => {
            let id = Uuid::now_v7();
            let username = user.clone().unwrap_or_else(|| ANONYMOUS_USER.to_owned());
            (ConversationTarget::New { id, username }, id, Vec::new())
        }
    };

    // From MODERATE on, the preset's short-answer prompt replaces the configured one (or the
    // variant's, which otherwise does).
    let configured = assigned
        .as_ref()
        .and_then(|a| a.variant.system_prompt.as_deref())
        .unwrap_or(chat.system_prompt.as_str());
    let mut system_prompt = if preset.level >= BrownoutLevel::Moderate {
        preset.system_prompt
    } else {
        configured
    }
    .trim()
    .to_owned();
    let memories = match (&user, &local) {
        (Some(user), None) => relevant_memories(service, user, message, preset.rag_top_k).await,
        _ => Vec::new(),
    };
    if !memories.is_empty() {
        if !system_prompt.is_empty() {
            system_prompt.push_str("\n\n");
        }
        system_prompt.push_str("Det här vet du om användaren (från tidigare samtal):");
        for memory in &memories {
            system_prompt.push_str("\n- ");
            system_prompt.push_str(memory);
        }
    }
    let system = (!system_prompt.is_empty()).then(|| ChatMessage::new(Role::System, system_prompt));
    let new = ChatMessage::new(Role::User, message);
    if local.is_some() {
        // No backend reads this prompt: it is not fitted (nor its tokens counted).
        return Ok(PreparedTurn {
            preset,
            max_tokens,
            temperature,
            target,
            conversation_id,
            user_message: message.to_owned(),
            user_message_at,
            username: user,
            priority: caller.priority,
            local,
            route: None,
            tool_uses: Vec::new(),
            uses_memories: false,
            cache_key: None,
            assigned,
            prompt: system.into_iter().chain([new]).collect(),
        });
    }
    let backend = &service.llm;
    let counted = fit_prompt_exactly(
        |prompt| async move { backend.count_prompt_tokens(&prompt).await },
        system.clone(),
        history.clone(),
        new.clone(),
        chat.num_ctx,
        max_tokens,
    )
    .await;
    let prompt = counted
        .unwrap_or_else(|| fit_prompt(system, history, new, chat.num_ctx, max_tokens))
        .map_err(|DoesNotFit { needed, available }| {
        ApiError::invalid(
            "message",
            format!(
                "the message needs about {needed} tokens with the system prompt, but the context \
                 window leaves {available} (chat.num_ctx minus chat.max_tokens); shorten it"
            ),
        )
    })?;
    Ok(PreparedTurn {
        preset,
        max_tokens,
        temperature,
        target,
        conversation_id,
        user_message: message.to_owned(),
        user_message_at,
        username: user,
        priority: caller.priority,
        local: None,
        route: None,
        tool_uses: Vec::new(),
        uses_memories: !memories.is_empty(),
        cache_key: None,
        assigned,
        prompt,
    })
}

/// The user's memories most relevant to `message`, `top_k` at most (the brownout preset's
/// number). Memories make answers better, not possible: when the search fails, the request is
/// answered without them.
async fn relevant_memories(
    service: &ChatService,
    user: &str,
    message: &str,
    top_k: usize,
) -> Vec<String> {
    if !service.config.memory.enabled || top_k == 0 {
        return Vec::new();
    }
    let limit = u32::try_from(top_k).unwrap_or(u32::MAX);
    match service
        .store
        .search_memories(user, message, MemoryMatch::Any, limit)
        .await
    {
        Ok(found) => found.into_iter().map(|memory| memory.content).collect(),
        Err(error) => {
            tracing::warn!(evt = "memory_search_failed", error = %error);
            Vec::new()
        }
    }
}

/// Stores the turn and builds the reply, once the backend said it is done.
pub async fn finish(
    service: &ChatService,
    context: &RequestContext,
    turn: PreparedTurn,
    generation: Generation,
    completion: Completion,
) -> Result<ChatReply, ApiError> {
    let model = generation.model_label(service);
    let ttft_ms = generation
        .first_token_at
        .map(|at| millis(at.duration_since(context.received)));
    let cached = generation.cached();
    let answered_at = Utc::now();
    let total_ms = millis(context.received.elapsed());
    record_chat_metrics(service, "native", context, &generation);
    context.used_tokens(completion.prompt_tokens, completion.completion_tokens);

    let mut user = NewMessage::new(turn.user_message, turn.user_message_at);
    user.prompt_tokens = completion.prompt_tokens.map(to_i64);
    let mut assistant = NewMessage::new(generation.text.clone(), answered_at);
    assistant.model_used = Some(model.clone());
    assistant.response_time_ms = Some(to_i64(total_ms));
    assistant.ttft_ms = ttft_ms.map(to_i64);
    assistant.completion_tokens = completion.completion_tokens.map(to_i64);
    assistant.brownout_level = Some(turn.preset.level);
    assistant.cached = cached;
    assistant.cache_key = turn.cache_key;
    assistant.experiment = turn.assigned.as_ref().map(Assigned::tag);
    let route = turn.route.unwrap_or_else(|| AnswerRoute {
        kind: "model".to_owned(),
        intent: None,
        confidence: None,
        tool: None,
        calls: turn.tool_uses,
    });
    service.metrics.record_route(&route, total_ms);
    assistant.route = Some(route.clone());
    let writing = Instant::now();
    let recorded = service
        .store
        .record_turn(NewTurn {
            conversation: turn.target,
            request_id: context.request_id.clone(),
            user,
            assistant,
        })
        .await;
    service
        .metrics
        .record_turn_write(writing.elapsed(), recorded.is_ok());
    let recorded = recorded?;
    if turn.assigned.is_some() {
        context.experiment.answered(experiments::Answered {
            latency_ms: total_ms,
            ttft_ms,
            completion_tokens: completion.completion_tokens,
            message_id: Some(recorded.assistant_message_id),
        });
    }
    tracing::info!(
        evt = "chat_done",
        conversation_id = %recorded.conversation_id,
        model = %model,
        ttft_ms,
        total_ms,
        upstream_ms = completion.upstream_total_ms,
        completion_tokens = completion.completion_tokens,
        served = ?generation.served,
        attempts = generation.answered_by.as_ref().map(|by| by.attempts),
        failover_ms = generation.answered_by.as_ref().map(|by| by.failover_ms),
        route = route.kind.as_str(),
        intent = route.intent.as_deref(),
        confidence = route.confidence,
    );
    Ok(ChatReply {
        response: generation.text,
        conversation_id: recorded.conversation_id,
        message_id: recorded.assistant_message_id,
        model,
        ttft_ms,
        total_ms,
        cached,
        timestamp: answered_at,
        request_id: context.request_id.clone(),
        finish_reason: completion.finish_reason,
        brownout_level: turn.preset.level,
        degraded: generation
            .answered_by
            .as_ref()
            .is_some_and(|by| by.last_resort),
        prompt_tokens: completion.prompt_tokens,
        completion_tokens: completion.completion_tokens,
        attempts: generation.answered_by.as_ref().map(|by| by.attempts),
        failover_ms: generation
            .answered_by
            .as_ref()
            .filter(|by| by.failover)
            .map(|by| by.failover_ms),
        experiment: turn.assigned.as_ref().map(Assigned::tag),
        route,
    })
}

/// A request's token limit and temperature under a brownout preset: never more tokens than
/// the preset allows and, once a brownout is on, no hotter than its temperature. Both APIs use
/// this, so a preset cuts the same way whichever one a client calls.
pub fn under_preset(preset: &Preset, max_tokens: u32, temperature: f32) -> (u32, f32) {
    let temperature = if preset.level == BrownoutLevel::None {
        temperature
    } else {
        temperature.min(preset.temperature)
    };
    (max_tokens.min(preset.max_tokens), temperature)
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
