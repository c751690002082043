//! Where an answer comes from: the response cache, an identical request already in flight, or
//! a backend.
//!
//! Both chat APIs ask [`open`] instead of the router. A request that may not be shared (by
//! [`shareable`]) goes straight to the router, with no lookup and no waiting. A shareable one
//! is answered from the cache when it can be; otherwise it joins the flight for its key, or
//! starts one. The flight's backend call runs in its own task, so it finishes (and its answer
//! is cached) even when the client that started it goes away, as long as another request in
//! the flight still reads it; when none does, the call is stopped. Every request in the flight
//! receives the same events from the first one.
//!
//! Whatever the source, the caller gets the router's kind of stream: `Started`, deltas,
//! `Done`, so the APIs build replies, streams and stored turns the same way for all three.

use crate::runtime::experiments::Assigned;
use crate::service::ChatService;
use crate::service::answer_cache::FlightEvent;
use alice_cache::{CacheKey, CachedAnswer, Joined, KeyParts, Reason, Tier, classify};
use alice_core::{BrownoutLevel, Role};
use alice_llm::{
    AnsweredBy, ChatRequest, Completion, FinishReason, LlmError, RoutedEvent, RoutedStream,
};
use futures_util::StreamExt;

/// How an answer was obtained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Served {
    /// A backend call made for this request.
    #[default]
    Backend,
    /// A kept answer, from this process or from Redis.
    Cache(Tier),
    /// A backend call made for an identical request in flight at the same time.
    Coalesced,
    /// Alice answered herself, without a backend (a memory command).
    Alice,
}

/// The answer's events, and where they come from.
pub struct Answer {
    pub events: RoutedStream,
    pub served: Served,
}

/// The cache key of a request whose answer may be shared, or why it may not.
/// `in_conversation`: the request continues a stored conversation (even when no earlier turn
/// made it into the prompt, its meaning may lean on them). `assigned`: the A/B experiment's
/// variant the request is served under, part of the key so variants never share answers.
pub fn shareable(
    service: &ChatService,
    request: &ChatRequest,
    level: BrownoutLevel,
    in_conversation: bool,
    assigned: Option<&Assigned>,
) -> Result<CacheKey, Reason> {
    // Nothing to share with: classifying and hashing would be wasted on every request.
    if service.cache.cache().is_none() {
        return Err(Reason::CacheOff);
    }
    if !request.tools.is_empty() {
        return Err(Reason::ToolsOffered);
    }
    let mut turns = request.messages.iter().filter(|m| m.role != Role::System);
    let (Some(question), None) = (turns.next(), turns.next()) else {
        return Err(Reason::ConversationHistory);
    };
    if in_conversation || question.role != Role::User {
        return Err(Reason::ConversationHistory);
    }
    if let alice_cache::Verdict::Uncacheable(reason) = classify(&question.content) {
        return Err(reason);
    }
    let system_prompt: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let system_prompt = system_prompt.join("\n");
    Ok(CacheKey::new(KeyParts {
        prompt: &question.content,
        system_prompt: &system_prompt,
        model: request
            .model
            .as_deref()
            .unwrap_or_else(|| service.llm.model()),
        brownout: level,
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        stop: &request.stop,
        experiment: assigned.map(|a| (a.experiment.as_str(), a.variant.name.as_str())),
    }))
}

/// The answer to `request`: from the cache, a flight or a backend (see the module's doc).
/// Fails as the router fails, before any event, so the APIs can answer with a status code.
pub async fn open(
    service: &ChatService,
    request: ChatRequest,
    share: Result<CacheKey, Reason>,
) -> Result<Answer, LlmError> {
    let Some(cache) = service.cache.cache() else {
        return direct(service, request).await;
    };
    let key = match share {
        Ok(key) => key,
        Err(reason) => {
            cache.metrics().uncacheable(reason);
            return direct(service, request).await;
        }
    };
    if let Some((answer, tier)) = cache.get(&key).await {
        return Ok(Answer {
            events: replay(&answer),
            served: Served::Cache(tier),
        });
    }
    let (mut reader, served) = match service.cache.flights().join(&key) {
        Joined::Leader(writer, reader) => {
            tokio::spawn(lead(service.clone(), key, request, writer));
            (reader, Served::Backend)
        }
        Joined::Follower(reader) => {
            cache.metrics().coalesced();
            (reader, Served::Coalesced)
        }
    };
    let first = match reader.next().await {
        Some(Ok(event)) => event,
        Some(Err(error)) => return Err(error),
        None => return Err(stream_ended(service)),
    };
    let rest = futures_util::stream::unfold(reader, |mut reader| async move {
        reader.next().await.map(|event| (event, reader))
    });
    Ok(Answer {
        events: futures_util::stream::once(async move { Ok(first) })
            .chain(rest)
            .boxed(),
        served,
    })
}

async fn direct(service: &ChatService, request: ChatRequest) -> Result<Answer, LlmError> {
    Ok(Answer {
        events: service.llm.chat_stream(request).await?,
        served: Served::Backend,
    })
}

/// The leader's backend call: every event goes to the flight; a complete answer (not cut by
/// the token limit, not failed, not the last resort's, no tool calls) is cached before the flight leaves the map, so a request
/// arriving in between joins the flight and one arriving after finds the answer: either way
/// no second call is made.
async fn lead(
    service: ChatService,
    key: CacheKey,
    request: ChatRequest,
    writer: alice_cache::FlightWriter<CacheKey, FlightEvent>,
) {
    let mut events = match service.llm.chat_stream(request).await {
        Ok(events) => events,
        Err(error) => {
            writer.push(Err(error));
            return;
        }
    };
    let mut kept = CachedAnswer::default();
    // The last resort's answers are a tiny model's: never kept for later askers, who should
    // get a real backend's answer once one is back.
    let mut last_resort = false;
    let mut called = false;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = writer.unwatched() => {
                if writer.abandon_if_unwatched() {
                    // Every client left: dropping the stream stops the generation.
                    tracing::info!(evt = "flight_abandoned", "no client waits for the answer any more");
                    return;
                }
                continue;
            }
        };
        let Some(event) = event else {
            return;
        };
        let (last, keep) = match &event {
            Ok(RoutedEvent::Started(by)) => {
                kept.backend.clone_from(&by.backend);
                kept.model.clone_from(&by.model);
                last_resort = by.last_resort;
                (false, false)
            }
            Ok(RoutedEvent::Delta(text)) => {
                kept.chunks.push(text.clone());
                (false, false)
            }
            // Requests offering tools are never shared in the first place; a call that came
            // anyway is no answer to keep.
            Ok(RoutedEvent::ToolCalls(_)) => {
                called = true;
                (false, false)
            }
            Ok(RoutedEvent::Done(completion)) => {
                kept.prompt_tokens = completion.prompt_tokens;
                kept.completion_tokens = completion.completion_tokens;
                let whole = completion.finish_reason == FinishReason::Stop;
                (
                    true,
                    whole && !kept.backend.is_empty() && !last_resort && !called,
                )
            }
            Err(_) => (true, false),
        };
        // Clients first: storing (Redis may take its timeout) must not delay the answer.
        writer.push(event);
        if last {
            if keep && let Some(cache) = service.cache.cache() {
                cache.put(key, kept).await;
            }
            return;
        }
    }
}

/// Alice's own answer (to a memory command, the time, a sum: `model` names which) as the
/// events of a backend's answer, so the APIs reply, stream and store it like any other.
pub fn said_by_alice(model: &str, text: String) -> Answer {
    let events = [
        RoutedEvent::Started(AnsweredBy {
            backend: "alice".into(),
            model: model.into(),
            failover: false,
            attempts: 0,
            failover_ms: 0,
            queue_wait_ms: 0,
            last_resort: false,
        }),
        RoutedEvent::Delta(text),
        RoutedEvent::Done(Completion {
            finish_reason: FinishReason::Stop,
            prompt_tokens: None,
            completion_tokens: None,
            upstream_total_ms: None,
        }),
    ];
    Answer {
        events: futures_util::stream::iter(events.map(Ok)).boxed(),
        served: Served::Alice,
    }
}

/// A kept answer as events, in the pieces it was generated in.
fn replay(answer: &CachedAnswer) -> RoutedStream {
    let started = RoutedEvent::Started(AnsweredBy {
        backend: answer.backend.clone(),
        model: answer.model.clone(),
        failover: false,
        attempts: 0,
        failover_ms: 0,
        queue_wait_ms: 0,
        last_resort: false,
    });
    let done = RoutedEvent::Done(Completion {
        finish_reason: FinishReason::Stop,
        prompt_tokens: answer.prompt_tokens,
        completion_tokens: answer.completion_tokens,
        upstream_total_ms: None,
    });
    let events: Vec<Result<RoutedEvent, LlmError>> = std::iter::once(started)
        .chain(answer.chunks.iter().cloned().map(RoutedEvent::Delta))
        .chain(std::iter::once(done))
        .map(Ok)
        .collect();
    futures_util::stream::iter(events).boxed()
}

/// The backend failure behind [`crate::service::generation::ended_early`].
pub fn stream_ended(service: &ChatService) -> alice_llm::LlmError {
    let backend = &service.llm;
    alice_llm::LlmError {
        backend: backend.name().to_owned(),
        url: backend.url().to_owned(),
        kind: alice_llm::ErrorKind::StreamBroken,
        detail: "the answer ended before the backend said it was done".into(),
        advice: "try again; if it repeats, see the backend's log".into(),
    }
}
