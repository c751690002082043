//! Made-up but stable facts about each served model (size, digest, parameter count),
//! shared by `/api/tags`, `/api/show`, `/api/ps` and `/v1/models`.

use serde::Serialize;

/// Stand-in for the time the models were "pulled".
pub(crate) const MODIFIED_AT: &str = "2025-08-05T12:00:00Z";
/// Unix time of [`MODIFIED_AT`].
pub(crate) const CREATED_UNIX: u64 = 1_754_395_200;
pub(crate) const ARCHITECTURE: &str = "llama";
const QUANTIZATION: &str = "Q4_K_M";

/// `details` object of Ollama's model listings.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Details {
    pub parent_model: String,
    pub format: &'static str,
    pub family: &'static str,
    pub families: Vec<&'static str>,
    pub parameter_size: String,
    pub quantization_level: &'static str,
}

#[derive(Clone, Debug)]
pub(crate) struct ModelCard {
    pub name: String,
    pub size: u64,
    pub digest: String,
    pub parameter_count: u64,
    pub details: Details,
}

impl ModelCard {
    pub(crate) fn for_name(name: &str) -> Self {
        let parameter_count = parameter_count(name);
        let size = match name {
            "gpt-oss:20b" => 13_780_173_734,
            "llama3.2:3b" => 2_019_393_189,
            // Q4_K_M is roughly 0.6 bytes per parameter.
            _ => parameter_count / 10 * 6,
        };
        Self {
            name: name.to_owned(),
            size,
            digest: digest(name),
            parameter_count,
            details: Details {
                parent_model: String::new(),
                format: "gguf",
                family: ARCHITECTURE,
                families: vec![ARCHITECTURE],
                parameter_size: parameter_size_label(parameter_count),
                quantization_level: QUANTIZATION,
            },
        }
    }
}

/// Reads the parameter count from a tag like `:20b` or `:0.5b`; 7B when there is none.
fn parameter_count(name: &str) -> u64 {
    let default = 7_000_000_000;
    let Some((_, tag)) = name.rsplit_once(':') else {
        return default;
    };
    let tag = tag.to_ascii_lowercase();
    let number = tag.split(['-', '_']).next().unwrap_or_default();
    let Some(billions) = number.strip_suffix('b') else {
        return default;
    };
    match billions.parse::<f64>() {
        Ok(b) if b.is_finite() && b > 0.0 && b < 100_000.0 => (b * 1e9).round() as u64,
        _ => default,
    }
}

fn parameter_size_label(count: u64) -> String {
    let billions = count as f64 / 1e9;
    if billions >= 1.0 && billions.fract().abs() < 1e-9 {
        format!("{billions:.0}B")
    } else if billions >= 1.0 {
        format!("{billions:.1}B")
    } else {
        format!("{:.0}M", count as f64 / 1e6)
    }
}

/// A sha256-looking hex digest that depends only on the name (FNV-1a, four lanes).
fn digest(name: &str) -> String {
    (0u64..4)
        .map(|lane| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ lane.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for byte in name.bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{hash:016x}")
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_stable_and_plausible() {
        let card = ModelCard::for_name("gpt-oss:20b");
        assert_eq!(card.size, 13_780_173_734);
        assert_eq!(card.details.parameter_size, "20B");
        assert_eq!(card.digest.len(), 64);
        assert!(card.digest.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(card.digest, ModelCard::for_name("gpt-oss:20b").digest);
        assert_ne!(card.digest, ModelCard::for_name("llama3.2:3b").digest);

        assert_eq!(
            ModelCard::for_name("llama3.2:3b").details.parameter_size,
            "3B"
        );
        assert_eq!(
            ModelCard::for_name("qwen2.5:0.5b").details.parameter_size,
            "500M"
        );
        assert_eq!(
            ModelCard::for_name("phi3:3.8b").details.parameter_size,
            "3.8B"
        );
        assert_eq!(ModelCard::for_name("mistral").details.parameter_size, "7B");
        assert_eq!(
            ModelCard::for_name("x:latest").parameter_count,
            7_000_000_000
        );
    }
}
