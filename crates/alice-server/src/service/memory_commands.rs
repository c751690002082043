//! "Kom ihåg att …" and "glöm …": the chat messages that store or delete a personal memory.
//!
//! They are recognised by the intent classifier ([`crate::service::local_answers`]), before
//! any model is asked, and carried out here by Alice herself: a memory command never reaches a
//! backend or the response cache. Swedish first; the English forms ("remember that …",
//! "forget …") work too, and the reply follows the command's language.

use crate::error::ApiError;
use alice_core::config::MemoryConfig;
use alice_core::personal_number;
use alice_intents::Language;
use alice_store::{MemoryMatch, NewMemory, Page, Store};
use chrono::Utc;
use uuid::Uuid;

/// What a message asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryCommand {
    /// Store this text as a memory.
    Remember(String),
    /// Delete the memories that mention every word of this text.
    Forget(String),
    /// Delete the newest memory ("glöm det där", "radera minnet").
    ForgetLast,
    /// Delete every memory ("glöm allt").
    ForgetAll,
}

/// Carries out a command for `username` and returns Alice's reply.
pub async fn execute(
    store: &Store,
    settings: &MemoryConfig,
    username: Option<&str>,
    conversation_id: Uuid,
    starts_conversation: bool,
    (command, language): (MemoryCommand, Language),
) -> Result<String, ApiError> {
    let say = |swedish: String, english: String| match language {
        Language::Swedish => swedish,
        Language::English => english,
    };
    let Some(username) = username else {
        return Ok(say(
            "Jag kan bara komma ihåg saker för en namngiven användare. Skicka med fältet \
             \"user\" i förfrågan, så sparar jag det."
                .into(),
            "I can only remember things for a named user. Send the \"user\" field with the \
             request and I will keep it."
                .into(),
        ));
    };
    match command {
        MemoryCommand::Remember(text) => {
            let text = memory_text(settings, &text)?;
            let mut memory = NewMemory::new(text.clone(), Utc::now());
            // A conversation this turn starts is written after the memory; link only to one
            // that exists already.
            memory.source_conversation_id = (!starts_conversation).then_some(conversation_id);
            let limit = settings.max_per_user;
            if store.add_memory(username, memory, limit).await?.is_none() {
                return Ok(say(
                    format!(
                        "Jag har redan {limit} minnen sparade om dig, vilket är gränsen. Be \
                         mig glömma något först."
                    ),
                    format!(
                        "I already keep {limit} memories about you, which is the limit. Ask \
                         me to forget something first."
                    ),
                ));
            }
            Ok(say(
                format!("Okej, det kommer jag ihåg: {text}"),
                format!("Okay, I will remember that: {text}"),
            ))
        }
        MemoryCommand::Forget(text) => {
            let deleted = forget_matching(store, settings, username, Some(&text)).await?;
            Ok(match deleted {
                0 => say(
                    format!("Jag hittade inget minne om \"{text}\"."),
                    format!("I found no memory about \"{text}\"."),
                ),
                1 => say(
                    "Klart, jag har glömt det.".into(),
                    "Done, I have forgotten it.".into(),
                ),
                n => say(
                    format!("Klart, jag har glömt {n} saker om det."),
                    format!("Done, I have forgotten {n} things about it."),
                ),
            })
        }
        MemoryCommand::ForgetLast => {
            let newest = store
                .memories(
                    username,
                    Page {
                        offset: 0,
                        limit: 1,
                    },
                )
                .await?;
            let ids: Vec<Uuid> = newest.iter().map(|memory| memory.id).collect();
            Ok(
                match (store.delete_memories(username, &ids).await?, newest.first()) {
                    (1, Some(memory)) => say(
                        format!("Klart, jag har glömt: {}", memory.content),
                        format!("Done, I have forgotten: {}", memory.content),
                    ),
                    _ => say(
                        "Jag har inget minne om dig att glömma.".into(),
                        "I have no memory about you to forget.".into(),
                    ),
                },
            )
        }
        MemoryCommand::ForgetAll => {
            let deleted = forget_matching(store, settings, username, None).await?;
            Ok(say(
                format!("Klart, jag har glömt allt jag visste om dig ({deleted} minnen)."),
                format!("Done, I have forgotten everything I knew about you ({deleted} memories)."),
            ))
        }
    }
}

/// Deletes the user's memories that hold every word of `words`, or all of them when None;
/// returns how many. The chat's "glöm …" and `DELETE /api/users/{u}/memories` both use it.
pub async fn forget_matching(
    store: &Store,
    settings: &MemoryConfig,
    username: &str,
    words: Option<&str>,
) -> Result<u64, ApiError> {
    let limit = settings.max_per_user;
    let found = match words {
        Some(words) => {
            store
                .search_memories(username, words, MemoryMatch::All, limit)
                .await?
        }
        None => store.memories(username, Page { offset: 0, limit }).await?,
    };
    let ids: Vec<Uuid> = found.iter().map(|memory| memory.id).collect();
    Ok(store.delete_memories(username, &ids).await?)
}

/// A memory's text as it may be kept: within the length limit, and with identity numbers
/// masked unless `memory.allow_personal_numbers`.
pub fn memory_text(settings: &MemoryConfig, text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let length = text.chars().count();
    if text.is_empty() || length > settings.max_chars {
        return Err(ApiError::invalid(
            "content",
            format!(
                "a memory is 1 to {} characters (memory.max_chars); this one has {length}",
                settings.max_chars
            ),
        ));
    }
    Ok(if settings.allow_personal_numbers {
        text.to_owned()
    } else {
        personal_number::mask(text).into_owned()
    })
}
