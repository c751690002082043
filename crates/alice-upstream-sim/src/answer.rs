//! The deterministic "model": what it answers, split into tokens, cut by limits.
//!
//! The answer depends only on the conversation, so a test can compute the text it
//! expects with [`answer_for`] and compare it with what came over the wire.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ToolCalling;

/// How many characters of the last user message are quoted back.
const QUOTE_CHARS: usize = 80;

/// The words a long answer is padded with, in turn.
const FILLER: [&str; 8] = [
    "Det",
    "här",
    "är",
    "ett",
    "längre",
    "svar",
    "från",
    "simulatorn.",
];

/// One chat message as the simulator sees it: its text, and the tool parts as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMessage {
    pub role: String,
    pub content: String,
    /// An assistant message's `tool_calls`, exactly as sent (OpenAI's or Ollama's shape).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Value>,
    /// A `tool` message's `tool_call_id` (OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A `tool` message's `tool_name` (Ollama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

impl SimMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
        }
    }
}

/// The call the "model" makes instead of answering with text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimToolCall {
    /// `call_<number of messages received>`: the same for the same conversation, and new
    /// for each round of it.
    pub id: String,
    pub name: String,
    /// An object (Ollama sends it so; OpenAI as its JSON text).
    pub arguments: Value,
}

/// The call to make for `messages` when the request offers tools named `offered`: none once
/// a tool result follows the last user message (the round is over), none when nothing
/// offered fits `calling`.
pub fn tool_call_for(
    messages: &[SimMessage],
    offered: &[String],
    calling: &ToolCalling,
) -> Option<SimToolCall> {
    let asked = messages.iter().rposition(|m| m.role == "user");
    let answered = messages[asked.map_or(0, |at| at + 1)..]
        .iter()
        .any(|m| m.role == "tool");
    if answered {
        return None;
    }
    let (name, arguments) = match calling {
        ToolCalling::Never => return None,
        ToolCalling::FirstOffered => (
            offered.first()?.clone(),
            Value::Object(serde_json::Map::new()),
        ),
        ToolCalling::Rules(rules) => rules
            .iter()
            .find(|rule| offered.contains(&rule.tool))
            .map(|rule| (rule.tool.clone(), rule.arguments.clone()))?,
    };
    Some(SimToolCall {
        id: format!("call_{}", messages.len()),
        name,
        arguments,
    })
}

/// The full answer to a conversation, before any length limit or stop sequence.
///
/// It quotes the first 80 characters of the last user message (whitespace runs
/// folded to one space), and of each tool result after it, and states how many messages
/// (all roles) were received.
pub fn answer_for(messages: &[SimMessage]) -> String {
    let count = messages.len();
    let noun = if count == 1 {
        "meddelande"
    } else {
        "meddelanden"
    };
    match messages.iter().rposition(|m| m.role == "user") {
        Some(at) => {
            let quoted = quote(&messages[at].content);
            // The tools' results after the question, quoted the same way.
            let results: Vec<String> = messages[at + 1..]
                .iter()
                .filter(|m| m.role == "tool")
                .map(|m| quote(&m.content))
                .collect();
            if results.is_empty() {
                format!("Hej! Du skrev: \"{quoted}\". Jag ser {count} {noun} i samtalet.")
            } else {
                format!(
                    "Hej! Du skrev: \"{quoted}\". Verktyget svarade: \"{}\". Jag ser {count} \
                     {noun} i samtalet.",
                    results.join("\", \"")
                )
            }
        }
        None => format!("Hej! Jag ser {count} {noun} i samtalet, men inget från dig."),
    }
}

/// The first 80 characters of `text`, whitespace runs folded to one space.
fn quote(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(QUOTE_CHARS).collect()
}

/// Splits text into tokens at word boundaries, each token carrying the whitespace
/// before its word (`"Hej! Du skrev:"` -> `["Hej!", " Du", " skrev:"]`).
/// Concatenating the tokens gives back the text exactly.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for ch in text.chars() {
        let space = ch.is_whitespace();
        if space && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        }
        if !space {
            in_word = true;
        }
        current.push(ch);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Words in the prompt: the simulator's deterministic prompt token count.
pub fn prompt_token_count(messages: &[SimMessage]) -> u64 {
    messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64)
        .sum()
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The answer ended or a stop sequence was met.
    Stop,
    /// The token limit (`num_predict` / `max_tokens`) was reached.
    Length,
    /// The answer is a tool call (OpenAI's name; Ollama says "stop").
    ToolCalls,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
        }
    }
}

/// What will be generated for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub tokens: Vec<String>,
    pub finish: Finish,
    pub prompt_tokens: u64,
    /// The call made instead of text (then `tokens` is empty).
    pub tool_call: Option<SimToolCall>,
}

impl Plan {
    /// Works out the tokens for `messages`: the answer, padded to `answer_tokens` tokens
    /// (when more than it has), is cut before the earliest stop sequence it contains, then
    /// limited to `max_tokens` tokens (if set).
    pub fn new(
        messages: &[SimMessage],
        answer_tokens: usize,
        max_tokens: Option<u64>,
        stop: &[String],
    ) -> Self {
        let mut text = answer_for(messages);
        let words = tokenize(&text).len();
        for word in FILLER
            .iter()
            .cycle()
            .take(answer_tokens.saturating_sub(words))
        {
            text.push(' ');
            text.push_str(word);
        }
        let cut = stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()))
            .min();
        if let Some(at) = cut {
            text.truncate(at);
        }
        let mut tokens = tokenize(&text);
        let mut finish = Finish::Stop;
        if let Some(limit) = max_tokens.and_then(|n| usize::try_from(n).ok())
            && limit < tokens.len()
        {
            tokens.truncate(limit);
            finish = Finish::Length;
        }
        Plan {
            tokens,
            finish,
            prompt_tokens: prompt_token_count(messages),
            tool_call: None,
        }
    }

    /// A tool call instead of text: no tokens, then the call.
    pub fn calling(messages: &[SimMessage], call: SimToolCall) -> Self {
        Plan {
            tokens: Vec::new(),
            finish: Finish::ToolCalls,
            prompt_tokens: prompt_token_count(messages),
            tool_call: Some(call),
        }
    }

    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn convo() -> Vec<SimMessage> {
        vec![
            SimMessage::new("system", "Du är Alice."),
            SimMessage::new("user", "Vad heter du?"),
            SimMessage::new("assistant", "Alice."),
            SimMessage::new("user", "Och  vad\ngör du?"),
        ]
    }

    #[test]
    fn answer_quotes_last_user_message_and_counts_all_messages() {
        assert_eq!(
            answer_for(&convo()),
            "Hej! Du skrev: \"Och vad gör du?\". Jag ser 4 meddelanden i samtalet."
        );
        assert_eq!(
            answer_for(&[SimMessage::new("user", "hej")]),
            "Hej! Du skrev: \"hej\". Jag ser 1 meddelande i samtalet."
        );
        assert_eq!(
            answer_for(&[SimMessage::new("system", "x")]),
            "Hej! Jag ser 1 meddelande i samtalet, men inget från dig."
        );
    }

    #[test]
    fn long_messages_are_quoted_to_80_chars() {
        let long = "å".repeat(200);
        let answer = answer_for(&[SimMessage::new("user", long)]);
        assert!(answer.contains(&format!("\"{}\"", "å".repeat(80))));
    }

    #[test]
    fn tokens_keep_whitespace_and_concatenate_back() {
        let text = "Hej! Du  skrev:\n\"x\". ";
        let tokens = tokenize(text);
        assert_eq!(tokens, ["Hej!", " Du", "  skrev:", "\n\"x\".", " "]);
        assert_eq!(tokens.concat(), text);
        let answer = answer_for(&convo());
        assert_eq!(tokenize(&answer).concat(), answer);
        assert!(tokenize("").is_empty());
    }

    #[test]
    fn prompt_tokens_count_words_of_all_messages() {
        assert_eq!(prompt_token_count(&convo()), 3 + 3 + 1 + 4);
    }

    #[test]
    fn plan_applies_limit_and_stop() {
        let messages = convo();
        let full = Plan::new(&messages, 0, None, &[]);
        assert_eq!(full.text(), answer_for(&messages));
        assert_eq!(full.finish, Finish::Stop);

        let short = Plan::new(&messages, 0, Some(3), &[]);
        assert_eq!(short.tokens, ["Hej!", " Du", " skrev:"]);
        assert_eq!(short.finish, Finish::Length);

        let exact = Plan::new(&messages, 0, Some(full.tokens.len() as u64), &[]);
        assert_eq!(exact.finish, Finish::Stop);

        let stopped = Plan::new(&messages, 0, None, &["Jag".to_owned(), "skrev".to_owned()]);
        assert_eq!(stopped.text(), "Hej! Du ");
        assert_eq!(stopped.finish, Finish::Stop);

        let ignored = Plan::new(&messages, 0, None, &[String::new(), "zzz".to_owned()]);
        assert_eq!(ignored.text(), answer_for(&messages));
    }

    #[test]
    fn a_long_answer_is_padded_to_its_length_and_cut_by_the_limit() {
        let messages = convo();
        let long = Plan::new(&messages, 300, None, &[]);
        assert_eq!(long.tokens.len(), 300);
        assert!(long.text().starts_with(&answer_for(&messages)));
        assert_eq!(long.finish, Finish::Stop);
        let cut = Plan::new(&messages, 300, Some(120), &[]);
        assert_eq!(cut.tokens.len(), 120);
        assert_eq!(cut.finish, Finish::Length);
        let shorter_than_the_answer = Plan::new(&messages, 2, None, &[]);
        assert_eq!(shorter_than_the_answer.text(), answer_for(&messages));
    }

    fn offered() -> Vec<String> {
        vec!["weather".to_owned(), "clock".to_owned()]
    }

    #[test]
    fn offered_tools_are_called_until_a_result_follows_the_question() {
        use crate::config::ToolRule;
        let asked = vec![SimMessage::new("user", "Vädret?")];
        let first = tool_call_for(&asked, &offered(), &ToolCalling::FirstOffered).unwrap();
        assert_eq!(
            first,
            SimToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                arguments: serde_json::json!({}),
            }
        );
        assert_eq!(tool_call_for(&asked, &[], &ToolCalling::FirstOffered), None);
        assert_eq!(tool_call_for(&asked, &offered(), &ToolCalling::Never), None);
        let rules = ToolCalling::Rules(vec![
            ToolRule {
                tool: "translate".into(),
                arguments: serde_json::json!({"to": "en"}),
            },
            ToolRule {
                tool: "clock".into(),
                arguments: serde_json::json!({"zone": "Europe/Stockholm"}),
            },
        ]);
        let ruled = tool_call_for(&asked, &offered(), &rules).unwrap();
        assert_eq!(ruled.name, "clock");
        assert_eq!(ruled.arguments["zone"], "Europe/Stockholm");
        assert_eq!(tool_call_for(&asked, &["weather".to_owned()], &rules), None);

        let mut answered = asked.clone();
        answered.push(SimMessage::new("assistant", ""));
        answered.push(SimMessage::new("tool", "Snö,  -8 grader"));
        assert_eq!(
            tool_call_for(&answered, &offered(), &ToolCalling::FirstOffered),
            None
        );
        assert_eq!(
            answer_for(&answered),
            "Hej! Du skrev: \"Vädret?\". Verktyget svarade: \"Snö, -8 grader\". Jag ser 3 \
             meddelanden i samtalet."
        );
        // A new question starts a new round.
        answered.push(SimMessage::new("user", "Och imorgon?"));
        assert_eq!(
            tool_call_for(&answered, &offered(), &ToolCalling::FirstOffered)
                .unwrap()
                .id,
            "call_4"
        );
    }
}
