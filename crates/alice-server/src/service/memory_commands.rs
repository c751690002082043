//! "Kom ihåg att …" and "glöm …": the chat messages that store or delete a personal memory.
//!
//! They are recognised by rules, before any model is asked (the original assistant's fast
//! path), and answered by Alice herself: a memory command never reaches a backend or the
//! response cache. Swedish first; the English forms ("remember that …", "forget …") work too,
//! and the reply follows the command's language.

use crate::error::ApiError;
use alice_core::config::MemoryConfig;
use alice_core::personal_number;
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

/// The language a command was given in, and so the reply's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Swedish,
    English,
}

/// Words a command may start with that do not change it: "Alice, snälla kom ihåg …".
const POLITE_OPENINGS: &[&str] = &[
    "alice", "snälla", "please", "hej", "hey", "kan du", "can you",
];

/// The command in `message`, if it is one.
pub fn parse(message: &str) -> Option<(MemoryCommand, Language)> {
    let text = strip_openings(message.trim());
    let lower = text.to_lowercase();
    let rest = |prefix: &str| -> Option<String> {
        let tail = lower.strip_prefix(prefix)?;
        // A whole word: "kom ihåg" but not "kom ihågkommen".
        if !(tail.is_empty() || tail.starts_with(|c: char| c.is_whitespace() || c == ':')) {
            return None;
        }
        // The same bytes in the original, to keep the user's capitals (when lowercasing kept
        // every length, as it does for Swedish and English).
        let source = if lower.len() == text.len() {
            text
        } else {
            lower.as_str()
        };
        Some(clean(source.get(source.len() - tail.len()..)?))
    };

    for (exact, command, language) in [
        ("glöm det där", MemoryCommand::ForgetLast, Language::Swedish),
        ("glöm det", MemoryCommand::ForgetLast, Language::Swedish),
        (
            "radera minnet",
            MemoryCommand::ForgetLast,
            Language::Swedish,
        ),
        ("glöm allt", MemoryCommand::ForgetAll, Language::Swedish),
        (
            "radera alla minnen",
            MemoryCommand::ForgetAll,
            Language::Swedish,
        ),
        ("forget that", MemoryCommand::ForgetLast, Language::English),
        ("forget it", MemoryCommand::ForgetLast, Language::English),
        (
            "forget everything",
            MemoryCommand::ForgetAll,
            Language::English,
        ),
    ] {
        if clean(&lower) == exact {
            return Some((command, language));
        }
    }
    for (prefix, language, remember) in [
        ("kom ihåg att", Language::Swedish, true),
        ("kom ihåg", Language::Swedish, true),
        ("remember that", Language::English, true),
        ("remember", Language::English, true),
        ("glöm att", Language::Swedish, false),
        ("glöm", Language::Swedish, false),
        ("forget that", Language::English, false),
        ("forget about", Language::English, false),
        ("forget", Language::English, false),
    ] {
        if let Some(what) = rest(prefix).filter(|what| !what.is_empty()) {
            let command = if remember {
                MemoryCommand::Remember(what)
            } else {
                MemoryCommand::Forget(what)
            };
            return Some((command, language));
        }
    }
    None
}

fn strip_openings(mut text: &str) -> &str {
    loop {
        let lower = text.to_lowercase();
        let Some(opening) = POLITE_OPENINGS.iter().find(|opening| {
            lower.starts_with(*opening)
                && lower[opening.len()..].starts_with(|c: char| c.is_whitespace() || c == ',')
        }) else {
            return text;
        };
        text = text[opening.len()..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    }
}

/// Without the separator after the command word and the sentence's end punctuation.
fn clean(text: &str) -> String {
    text.trim()
        .trim_start_matches(':')
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .trim()
        .to_owned()
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

#[cfg(test)]
mod tests {
    use super::{Language, MemoryCommand, parse};

    fn remember(text: &str) -> Option<(MemoryCommand, Language)> {
        Some((MemoryCommand::Remember(text.into()), Language::Swedish))
    }

    #[test]
    fn swedish_remember() {
        assert_eq!(
            parse("Kom ihåg att min hund heter Fido."),
            remember("min hund heter Fido")
        );
        assert_eq!(
            parse("kom ihåg: tandläkaren på fredag"),
            remember("tandläkaren på fredag")
        );
        assert_eq!(
            parse("Alice, snälla kom ihåg att jag är vegetarian!"),
            remember("jag är vegetarian")
        );
    }

    #[test]
    fn english_remember_and_forget() {
        assert_eq!(
            parse("Remember that my sister lives in Malmö"),
            Some((
                MemoryCommand::Remember("my sister lives in Malmö".into()),
                Language::English
            ))
        );
        assert_eq!(
            parse("forget about the dentist"),
            Some((
                MemoryCommand::Forget("the dentist".into()),
                Language::English
            ))
        );
        assert_eq!(
            parse("Forget that."),
            Some((MemoryCommand::ForgetLast, Language::English))
        );
    }

    #[test]
    fn swedish_forget() {
        assert_eq!(
            parse("Glöm att min hund heter Fido"),
            Some((
                MemoryCommand::Forget("min hund heter Fido".into()),
                Language::Swedish
            ))
        );
        assert_eq!(
            parse("glöm det där"),
            Some((MemoryCommand::ForgetLast, Language::Swedish))
        );
        assert_eq!(
            parse("Radera minnet."),
            Some((MemoryCommand::ForgetLast, Language::Swedish))
        );
        assert_eq!(
            parse("Glöm allt!"),
            Some((MemoryCommand::ForgetAll, Language::Swedish))
        );
    }

    #[test]
    fn questions_are_not_commands() {
        assert_eq!(parse("Kommer du ihåg vad min hund heter?"), None);
        assert_eq!(parse("Vad ska jag komma ihåg till mötet?"), None);
        assert_eq!(parse("Kom ihåg"), None, "nothing to remember");
        assert_eq!(parse("Remembering names is hard"), None);
        assert_eq!(parse("Glömde du något?"), None);
    }
}
