//! The GDPR export document: everything Alice holds about one user as one JSON document
//! (article 15), with every text that holds a Swedish personal identity number flagged, so the
//! person (or the operator answering them) sees at once where such numbers are kept.
//!
//! The same document comes from `alice user export` and `GET /api/users/{u}/export`.

use crate::model::UserData;
use alice_core::personal_number;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The document's format name; bump the number when its shape changes.
pub const EXPORT_FORMAT: &str = "alice-user-export/1";

/// The export document of `data`, made at `now`.
pub fn export_document(data: &UserData, engine: &str, now: DateTime<Utc>) -> Value {
    let mut flagged: Vec<Value> = Vec::new();
    let mut flag = |kind: &str, id: String, text: &str| -> bool {
        let found = personal_number::contains(text);
        if found {
            flagged.push(json!({ "kind": kind, "id": id }));
        }
        found
    };
    let conversations: Vec<Value> = data
        .conversations
        .iter()
        .map(|conversation| {
            let mut value = json!(conversation);
            if let Some(messages) = value.get_mut("messages").and_then(Value::as_array_mut) {
                for (message, stored) in messages.iter_mut().zip(&conversation.messages) {
                    let found = flag("message", stored.id.to_string(), &stored.content);
                    message["contains_personal_identity_number"] = json!(found);
                }
            }
            value
        })
        .collect();
    let memories: Vec<Value> = data
        .memories
        .iter()
        .map(|memory| {
            let mut value = json!(memory);
            let found = flag("memory", memory.id.to_string(), &memory.content);
            value["contains_personal_identity_number"] = json!(found);
            value
        })
        .collect();
    let executions: Vec<Value> = data
        .agent_executions
        .iter()
        .map(|execution| {
            let mut value = json!(execution);
            let text = format!(
                "{}\n{}",
                execution.input,
                execution.output.as_deref().unwrap_or_default()
            );
            let found = flag("agent_execution", execution.id.clone(), &text);
            value["contains_personal_identity_number"] = json!(found);
            value
        })
        .collect();
    let messages: usize = data.conversations.iter().map(|c| c.messages.len()).sum();
    json!({
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "engine": engine,
        "user": data.user,
        "counts": {
            "conversations": data.conversations.len(),
            "messages": messages,
            "memories": data.memories.len(),
            "chat_sessions": data.chat_sessions.len(),
            "agent_executions": data.agent_executions.len(),
        },
        "personal_identity_numbers": {
            "note": "Texts below hold a Swedish personal identity number (personnummer or \
                     samordningsnummer); each is also marked where it appears.",
            "found_in": flagged,
        },
        "conversations": conversations,
        "memories": memories,
        "chat_sessions": data.chat_sessions,
        "agent_executions": executions,
    })
}
