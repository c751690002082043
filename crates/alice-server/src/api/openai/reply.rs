//! OpenAI's reply shapes: the whole `chat.completion` object, and the `chat.completion.chunk`
//! objects of a streamed answer (role, deltas, finish reason, usage), each carrying the same
//! id, creation time and model.

use alice_llm::{Completion, FinishReason};
use alice_store::ExperimentTag;
use serde_json::{Value, json};

/// What every chunk of one answer (or the whole answer) carries.
#[derive(Debug)]
pub(super) struct AnswerHead {
    pub(super) id: String,
    /// Unix seconds.
    pub(super) created: i64,
    pub(super) model: String,
    /// The A/B experiment's variant, as the extra top-level `alice_experiment`.
    pub(super) experiment: Option<ExperimentTag>,
}

impl AnswerHead {
    pub(super) fn new(model: String, experiment: Option<ExperimentTag>) -> Self {
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created: chrono::Utc::now().timestamp(),
            model,
            experiment,
        }
    }

    /// `alice_experiment` on a reply or chunk, when the request takes part in one.
    fn with_experiment(&self, mut value: Value) -> Value {
        if let Some(experiment) = &self.experiment {
            value["alice_experiment"] = json!(experiment);
        }
        value
    }

    /// The non-streamed answer.
    pub(super) fn completion(&self, text: &str, completion: &Completion) -> Value {
        self.with_experiment(json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "logprobs": null,
                "finish_reason": finish_reason(&completion.finish_reason),
            }],
            "usage": usage(completion),
        }))
    }

    /// One streamed chunk. OpenAI puts `"usage": null` on every chunk when usage was asked
    /// for, and no `usage` key at all when it was not.
    pub(super) fn chunk(&self, delta: Value, finish: Option<&str>, include_usage: bool) -> Value {
        let mut chunk = self.chunk_head(json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish,
        }]));
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The chunk `stream_options.include_usage` asks for: no choices, only the usage.
    pub(super) fn usage_chunk(&self, completion: &Completion) -> Value {
        let mut chunk = self.chunk_head(json!([]));
        chunk["usage"] = usage(completion);
        chunk
    }

    fn chunk_head(&self, choices: Value) -> Value {
        self.with_experiment(json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }))
    }
}

/// Token counts as the backend reported them; 0 where it did not.
fn usage(completion: &Completion) -> Value {
    let prompt = completion.prompt_tokens.unwrap_or(0);
    let answer = completion.completion_tokens.unwrap_or(0);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": answer,
        "total_tokens": prompt.saturating_add(answer),
    })
}

/// OpenAI's finish reasons. Anything else a backend reports (Ollama's "load", "unload") ended
/// the answer normally as far as the client can tell, so it is "stop"; the log has the original.
pub(super) fn finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Other(_) => "stop",
    }
}
