//! Swedish search terms for memories: the words of a text, lowercased, without stop words,
//! reduced to their Snowball stems, so "hundar", "hunden" and "hund" find each other.
//!
//! SQLite's FTS5 has no Swedish stemmer, so Alice stems both the memory (when it is written)
//! and the question (when it is searched) with the same function; PostgreSQL stems with its
//! own `swedish` text-search configuration instead. English text is stemmed with the Swedish
//! rules too: crude, but an exact word still matches itself.

use rust_stemmers::{Algorithm, Stemmer};
use std::sync::LazyLock;

static SWEDISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::Swedish));

/// Function words that say nothing about what a memory is about (Swedish and English).
const STOP_WORDS: &[&str] = &[
    "alla", "allt", "att", "av", "blev", "bli", "blir", "da", "dag", "de", "dem", "den", "denna",
    "det", "detta", "dig", "din", "dina", "ditt", "du", "då", "där", "efter", "ej", "eller", "en",
    "er", "era", "ert", "ett", "från", "för", "ha", "hade", "han", "hans", "har", "hej", "henne",
    "hennes", "hon", "honom", "hur", "här", "i", "icke", "ingen", "inom", "inte", "jag", "ju",
    "kan", "kunde", "man", "med", "mellan", "men", "mig", "min", "mina", "mitt", "mot", "mycket",
    "ni", "nu", "när", "någon", "något", "några", "och", "om", "oss", "på", "samma", "sedan",
    "sig", "sin", "sina", "sitt", "själv", "skulle", "som", "så", "sådan", "till", "under", "upp",
    "ut", "utan", "vad", "var", "vara", "varför", "varit", "varje", "vars", "vart", "vem", "vi",
    "vid", "vilka", "vilken", "vill", "vår", "våra", "vårt", "än", "är", "åt", "över", "a",
    "about", "am", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "has",
    "have", "he", "her", "his", "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or",
    "our", "she", "that", "the", "their", "them", "they", "this", "to", "was", "we", "what",
    "when", "where", "which", "who", "why", "will", "with", "you", "your",
];

/// The stemmed, lowercase search terms of `text`, in order, without stop words or repeats.
/// Terms are made of letters and digits only, so they are safe to quote in a query.
pub fn search_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let word = word.to_lowercase();
        if STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        let stem = SWEDISH.stem(&word).into_owned();
        if !terms.contains(&stem) {
            terms.push(stem);
        }
    }
    terms
}

/// The terms of `text` joined by spaces: what a memory's `search_text` column holds.
pub fn search_text(text: &str) -> String {
    search_terms(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::search_terms;

    #[test]
    fn inflections_share_a_stem() {
        let one = search_terms("Min hund heter Fido");
        let other = search_terms("Vad heter hunden?");
        assert!(one.iter().any(|t| other.contains(t)), "{one:?} {other:?}");
        assert!(!one.contains(&"min".to_owned()), "stop words are dropped");
    }

    #[test]
    fn keeps_swedish_letters_and_digits() {
        let terms = search_terms("Jag är allergisk mot jordnötter, sedan 2019!");
        assert!(terms.iter().any(|t| t.starts_with("jordnöt")), "{terms:?}");
        assert!(terms.contains(&"2019".to_owned()));
        assert!(terms.iter().all(|t| t.chars().all(char::is_alphanumeric)));
    }

    #[test]
    fn no_words_no_terms() {
        assert!(search_terms("?! ... och att").is_empty());
    }
}
