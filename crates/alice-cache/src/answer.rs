//! An answer as the cache keeps it: the pieces in the order the backend streamed them, so a
//! streaming client that hits the cache receives an answer shaped like a fresh one.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub chunks: Vec<String>,
    /// The backend and model that produced it.
    pub backend: String,
    pub model: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl CachedAnswer {
    pub fn text(&self) -> String {
        self.chunks.concat()
    }

    /// What the answer costs to keep: its text and the names, roughly.
    pub fn size_bytes(&self) -> u64 {
        let text: usize = self.chunks.iter().map(String::len).sum();
        (text + self.backend.len() + self.model.len() + 16 * self.chunks.len()) as u64
    }
}
