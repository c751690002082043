//! OpenAI's reply shapes: the whole `chat.completion` object, and the `chat.completion.chunk`
//! objects of a streamed answer (role, deltas, finish reason, usage), each carrying the same
//! id, creation time and model.

//!
//! The shapes are typed structs, serialized straight to the wire: building them as JSON values
//! first cost a map of boxed values per chunk.

use alice_llm::{Completion, FinishReason, ToolCall};
use alice_store::ExperimentTag;
use serde::Serialize;

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

/// A `chat.completion` or `chat.completion.chunk` object.
#[derive(Serialize)]
pub(super) struct Reply<'a, C: Serialize> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: C,
    #[serde(skip_serializing_if = "UsageField::is_absent")]
    usage: UsageField,
    #[serde(skip_serializing_if = "Option::is_none")]
    alice_experiment: Option<&'a ExperimentTag>,
}

/// The one choice of a whole answer.
#[derive(Serialize)]
pub(super) struct AnswerChoice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
pub(super) struct Message<'a> {
    role: &'static str,
    /// `null` when the model only called tools, as OpenAI sends it.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [WireCall<'a>],
}

/// A tool call as OpenAI's replies carry it; in a streamed chunk with its `index`.
#[derive(Serialize)]
pub(super) struct WireCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

impl<'a> WireCall<'a> {
    /// `calls` in a reply's shape; streamed ones numbered by `index`.
    pub(super) fn all(calls: &'a [ToolCall], streamed: bool) -> Vec<Self> {
        calls
            .iter()
            .enumerate()
            .map(|(index, call)| WireCall {
                index: streamed.then_some(index),
                id: &call.id,
                kind: "function",
                function: WireFunction {
                    name: &call.name,
                    arguments: &call.arguments,
                },
            })
            .collect()
    }
}

/// The one choice of a streamed chunk.
#[derive(Serialize)]
pub(super) struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// What a chunk adds to the answer: the role first, then text or tool calls, then nothing
/// (`{}`) with the finish reason.
#[derive(Serialize, Default)]
pub(super) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [WireCall<'a>],
}

impl<'a> Delta<'a> {
    /// The first chunk's: the role and empty text.
    pub(super) fn role() -> Self {
        Self {
            role: Some("assistant"),
            content: Some(""),
            tool_calls: &[],
        }
    }

    pub(super) fn text(text: &'a str) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }

    /// Tool calls, each whole in one piece (the SDKs join pieces, and one is a valid count).
    pub(super) fn calls(calls: &'a [WireCall<'a>]) -> Self {
        Self {
            tool_calls: calls,
            ..Self::default()
        }
    }
}

/// `usage`: left out, `null`, or the counts.
pub(super) enum UsageField {
    Absent,
    Null,
    Counts(Usage),
}

impl UsageField {
    fn is_absent(&self) -> bool {
        matches!(self, UsageField::Absent)
    }
}

impl Serialize for UsageField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            UsageField::Absent | UsageField::Null => serializer.serialize_none(),
            UsageField::Counts(usage) => usage.serialize(serializer),
        }
    }
}

/// Token counts as the backend reported them; 0 where it did not.
#[derive(Serialize)]
pub(super) struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

impl Usage {
    fn of(completion: &Completion) -> Self {
        let prompt = completion.prompt_tokens.unwrap_or(0);
        let answer = completion.completion_tokens.unwrap_or(0);
        Self {
            prompt_tokens: prompt,
            completion_tokens: answer,
            total_tokens: prompt.saturating_add(answer),
        }
    }
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

    fn reply<C: Serialize>(
        &self,
        object: &'static str,
        choices: C,
        usage: UsageField,
    ) -> Reply<'_, C> {
        Reply {
            id: &self.id,
            object,
            created: self.created,
            model: &self.model,
            choices,
            usage,
            alice_experiment: self.experiment.as_ref(),
        }
    }

    /// The non-streamed answer: its text, or its tool calls (`WireCall::all(.., false)`) with
    /// whatever text came with them.
    pub(super) fn completion<'a>(
        &'a self,
        text: &'a str,
        tool_calls: &'a [WireCall<'a>],
        completion: &Completion,
    ) -> Reply<'a, [AnswerChoice<'a>; 1]> {
        let choice = AnswerChoice {
            index: 0,
            message: Message {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason(&completion.finish_reason),
        };
        self.reply(
            "chat.completion",
            [choice],
            UsageField::Counts(Usage::of(completion)),
        )
    }

    /// One streamed chunk, as its JSON text. OpenAI puts `"usage": null` on every chunk when
    /// usage was asked for, and no `usage` key at all when it was not.
    pub(super) fn chunk(
        &self,
        delta: Delta<'_>,
        finish: Option<&'static str>,
        include_usage: bool,
    ) -> String {
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        };
        let usage = if include_usage {
            UsageField::Null
        } else {
            UsageField::Absent
        };
        json_text(&self.reply("chat.completion.chunk", [choice], usage))
    }

    /// The chunk `stream_options.include_usage` asks for: no choices, only the usage, as its
    /// JSON text.
    pub(super) fn usage_chunk(&self, completion: &Completion) -> String {
        let none: [ChunkChoice<'_>; 0] = [];
        json_text(&self.reply(
            "chat.completion.chunk",
            none,
            UsageField::Counts(Usage::of(completion)),
        ))
    }
}

/// A reply's JSON text. Serializing these structs cannot fail (no maps with non-string keys).
fn json_text(reply: &impl Serialize) -> String {
    serde_json::to_string(reply).unwrap_or_default()
}

/// OpenAI's finish reasons. Anything else a backend reports (Ollama's "load", "unload") ended
/// the answer normally as far as the client can tell, so it is "stop"; the log has the original.
pub(super) fn finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::Stop | FinishReason::Other(_) => "stop",
    }
}
