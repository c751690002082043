//! What the load says: everyday Swedish assistant requests and multi-turn conversations.
//!
//! A benchmark of an assistant should send what its users send (short questions, follow-ups
//! that need the conversation so far), not a fixed "hello" that a cache answers for free. The
//! built-in corpus (`corpus/sv.jsonl`, written for this project) is compiled in; `--corpus`
//! reads another file of the same shape, one JSON object per line:
//!
//! ```text
//! {"kind":"single","category":"weather","messages":["Hur blir vädret i Göteborg imorgon?"]}
//! {"kind":"conversation","category":"timers","messages":["Sätt en timer på tolv minuter.","Hur lång tid är det kvar?"]}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The corpus shipped with the tool.
pub const BUILT_IN: &str = include_str!("../corpus/sv.jsonl");

/// Whether an item is one request or a conversation whose turns go out one after another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Single,
    Conversation,
}

/// One line of the corpus.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub kind: Kind,
    pub category: String,
    /// The user's turns, in order; a `single` has exactly one.
    pub messages: Vec<String>,
}

/// A checked corpus.
#[derive(Clone, Debug)]
pub struct Corpus {
    items: Vec<Item>,
    /// "built-in" or the file's path, for the report.
    source: String,
}

impl Corpus {
    /// The compiled-in Swedish corpus.
    pub fn built_in() -> anyhow::Result<Self> {
        Self::parse(BUILT_IN, "built-in")
    }

    /// Reads and checks a JSONL corpus file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the corpus {}; give a JSONL file (see docs/bench.md) or leave out \
                 --corpus for the built-in one",
                path.display()
            )
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses JSONL text; blank lines are skipped, anything else must be a valid item.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let mut items = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let item: Item = serde_json::from_str(line).with_context(|| {
                format!(
                    "{source} line {number}: not a corpus item; expected \
                     {{\"kind\":\"single\"|\"conversation\",\"category\":\"...\",\"messages\":[...]}}"
                )
            })?;
            check(&item).with_context(|| format!("{source} line {number}"))?;
            items.push(item);
        }
        if items.is_empty() {
            bail!("{source} holds no requests; add at least one line");
        }
        Ok(Self {
            items,
            source: source.to_owned(),
        })
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn get(&self, index: usize) -> Option<&Item> {
        self.items.get(index)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Number of multi-turn conversations.
    pub fn conversations(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.kind == Kind::Conversation)
            .count()
    }

    /// Items per category.
    pub fn categories(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for item in &self.items {
            *counts.entry(item.category.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

fn check(item: &Item) -> anyhow::Result<()> {
    if item.category.trim().is_empty() {
        bail!("the category is empty; name one, e.g. \"weather\"");
    }
    match (item.kind, item.messages.len()) {
        (_, 0) => bail!("no messages"),
        (Kind::Single, 1) => {}
        (Kind::Single, n) => {
            bail!(
                "a single request has exactly one message, this one has {n}; use \"kind\":\"conversation\""
            )
        }
        (Kind::Conversation, 1) => {
            bail!("a conversation needs at least two turns; use \"kind\":\"single\" for one")
        }
        (Kind::Conversation, _) => {}
    }
    if let Some(turn) = item.messages.iter().position(|m| m.trim().is_empty()) {
        bail!("turn {} is empty", turn + 1);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_built_in_corpus_is_large_varied_and_well_formed() {
        let corpus = Corpus::built_in().unwrap();
        assert!(corpus.len() >= 150, "{} items", corpus.len());
        assert!(
            corpus.conversations() >= 25,
            "{} conversations",
            corpus.conversations()
        );
        let categories = corpus.categories();
        for needed in [
            "greetings",
            "weather",
            "time",
            "music",
            "timers",
            "reminders",
            "facts",
            "maths",
            "memory",
            "translation",
            "cooking",
        ] {
            assert!(
                categories.get(needed).copied().unwrap_or(0) >= 3,
                "category {needed} has fewer than 3 items: {categories:?}"
            );
        }
        // Every non-blank line is valid JSON of the documented shape (parse checked it), and no
        // request is there twice as a single.
        let lines = BUILT_IN.lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(lines, corpus.len());
        let mut seen = HashSet::new();
        for item in corpus.items().iter().filter(|i| i.kind == Kind::Single) {
            assert!(
                seen.insert(&item.messages[0]),
                "duplicate {:?}",
                item.messages
            );
        }
        // "kom ihåg" requests are there, as singles and inside conversations.
        let remember = corpus
            .items()
            .iter()
            .filter(|i| i.messages.iter().any(|m| m.contains("Kom ihåg")))
            .count();
        assert!(remember >= 8, "{remember} kom ihåg items");
    }

    #[test]
    fn bad_lines_are_refused_with_their_line_number() {
        let cases = [
            (
                "{\"kind\":\"single\",\"category\":\"x\",\"messages\":[]}",
                "no messages",
            ),
            (
                "{\"kind\":\"single\",\"category\":\"x\",\"messages\":[\"a\",\"b\"]}",
                "exactly one",
            ),
            (
                "{\"kind\":\"conversation\",\"category\":\"x\",\"messages\":[\"a\"]}",
                "two turns",
            ),
            (
                "{\"kind\":\"conversation\",\"category\":\"x\",\"messages\":[\"a\",\" \"]}",
                "turn 2 is empty",
            ),
            (
                "{\"kind\":\"single\",\"category\":\"\",\"messages\":[\"a\"]}",
                "category",
            ),
            (
                "{\"kind\":\"poem\",\"category\":\"x\",\"messages\":[\"a\"]}",
                "not a corpus item",
            ),
            ("not json", "not a corpus item"),
        ];
        for (line, expected) in cases {
            let text = format!(
                "{{\"kind\":\"single\",\"category\":\"ok\",\"messages\":[\"hej\"]}}\n\n{line}\n"
            );
            let error = format!("{:#}", Corpus::parse(&text, "test.jsonl").unwrap_err());
            assert!(error.contains("test.jsonl line 3"), "{error}");
            assert!(error.contains(expected), "{error}");
        }
        assert!(Corpus::parse("\n\n", "empty.jsonl").is_err());
    }
}
