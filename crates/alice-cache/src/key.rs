//! The cache key: everything that decides what an answer says, hashed.
//!
//! Two requests share an answer only when all of these agree: the prompt as
//! [`normalise_prompt`] sees it, the system prompt, the model that will answer, the brownout
//! level (a preset changes the answer's length and style), the sampling options and the A/B
//! experiment's variant the request is served under (variants never share answers, even when
//! their settings agree: the report must see each variant's own). The
//! parts are taken apart field by field, so adding a field to [`KeyParts`] fails to compile
//! here until the key covers it. Each part goes into the hash with a length prefix, so no
//! choice of texts can make two different requests collide by shifting a boundary; the hash is
//! BLAKE3's 256 bits, so accidental collisions do not happen either.

use crate::normalise_prompt;
use alice_core::BrownoutLevel;
use std::fmt;

/// What a request's answer depends on, as the chat service knows it.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    /// The user's message, as typed.
    pub prompt: &'a str,
    /// Every system instruction the model gets, in order, joined.
    pub system_prompt: &'a str,
    /// The model asked for (after brownout and operator switches), e.g. "gpt-oss:20b".
    pub model: &'a str,
    pub brownout: BrownoutLevel,
    pub max_tokens: u32,
    pub temperature: f32,
    pub stop: &'a [String],
    /// The experiment and variant the request is served under (name, variant), if any.
    pub experiment: Option<(&'a str, &'a str)>,
}

/// A request's identity in the cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey(blake3::Hash);

impl CacheKey {
    pub fn new(parts: KeyParts<'_>) -> Self {
        let KeyParts {
            prompt,
            system_prompt,
            model,
            brownout,
            max_tokens,
            temperature,
            stop,
            experiment,
        } = parts;
        let mut hasher = blake3::Hasher::new();
        let mut part = |tag: &[u8], bytes: &[u8]| {
            hasher.update(tag);
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(b"prompt", normalise_prompt(prompt).as_bytes());
        part(b"system", system_prompt.as_bytes());
        part(b"model", model.as_bytes());
        part(b"brownout", &[brownout as u8]);
        part(b"max_tokens", &max_tokens.to_le_bytes());
        // Bits, not a rounded figure: 0.3 and 0.30000001 sample differently enough to matter
        // less than a wrong hit would.
        part(b"temperature", &temperature.to_bits().to_le_bytes());
        part(b"stop_count", &(stop.len() as u64).to_le_bytes());
        for sequence in stop {
            part(b"stop", sequence.as_bytes());
        }
        // Only when there is one, so the keys of requests outside experiments stay as they
        // were (entries in Redis keep their hits); the stop count above marks where the stop
        // sequences end, so the extra parts cannot be read as one.
        if let Some((name, variant)) = experiment {
            part(b"experiment", name.as_bytes());
            part(b"variant", variant.as_bytes());
        }
        Self(hasher.finalize())
    }

    /// The key as 64 hex digits (the Redis key's suffix, and what a stored message keeps).
    pub fn to_hex(&self) -> String {
        self.0.to_hex().to_string()
    }

    /// The key [`to_hex`](Self::to_hex) wrote; None for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        blake3::Hash::from_hex(hex).ok().map(Self)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", &self.to_hex()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(prompt: &str) -> KeyParts<'_> {
        KeyParts {
            prompt,
            system_prompt: "Du är Alice.",
            model: "gpt-oss:20b",
            brownout: BrownoutLevel::None,
            max_tokens: 2048,
            temperature: 0.3,
            stop: &[],
            experiment: None,
        }
    }

    #[test]
    fn the_same_question_typed_differently_has_one_key() {
        let key = CacheKey::new(parts("Vad är Sveriges huvudstad?"));
        assert_eq!(key, CacheKey::new(parts("  vad är  sveriges HUVUDSTAD ")));
        assert_eq!(key.to_hex().len(), 64);
    }

    #[test]
    fn every_part_changes_the_key() {
        let base = parts("Vad är Sveriges huvudstad?");
        let key = CacheKey::new(base);
        let stop = ["\n".to_owned()];
        let variants = [
            KeyParts {
                prompt: "Vad är Norges huvudstad?",
                ..base
            },
            KeyParts {
                system_prompt: "Svara på engelska.",
                ..base
            },
            KeyParts {
                model: "llama3.2:3b",
                ..base
            },
            KeyParts {
                brownout: BrownoutLevel::Light,
                ..base
            },
            KeyParts {
                max_tokens: 512,
                ..base
            },
            KeyParts {
                temperature: 0.7,
                ..base
            },
            KeyParts {
                stop: &stop,
                ..base
            },
            KeyParts {
                experiment: Some(("modell", "a")),
                ..base
            },
        ];
        for variant in variants {
            assert_ne!(CacheKey::new(variant), key, "{variant:?}");
        }
    }

    #[test]
    fn variants_never_share_a_key_and_outside_experiments_keys_stay_as_they_were() {
        let base = parts("Vad är Sveriges huvudstad?");
        let under = |name, variant| {
            CacheKey::new(KeyParts {
                experiment: Some((name, variant)),
                ..base
            })
        };
        assert_ne!(under("modell", "a"), under("modell", "b"));
        assert_ne!(under("modell", "a"), under("prompt", "a"));
        assert_ne!(under("ab", "c"), under("a", "bc"));
        assert_eq!(under("modell", "a"), under("modell", "a"));
        // The key of a request outside any experiment, as it was before experiments existed.
        assert_eq!(
            CacheKey::new(base).to_hex(),
            "41aa5c5d3330aef7aae7a2df06012b2a54bcaf4e975939f864ff5b81df1bb7c0"
        );
    }

    #[test]
    fn moving_text_between_parts_changes_the_key() {
        let a = KeyParts {
            system_prompt: "ab",
            model: "c",
            ..parts("x")
        };
        let b = KeyParts {
            system_prompt: "a",
            model: "bc",
            ..parts("x")
        };
        assert_ne!(CacheKey::new(a), CacheKey::new(b));
    }
}
