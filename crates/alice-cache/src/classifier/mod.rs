//! May this request's answer be shared with anyone who asks the same thing?
//!
//! A cached answer is served to whoever asks next, so a prompt may only be cached when its
//! answer depends on nothing but the words of the question: not on the clock ("vad är klockan",
//! "idag"), not on who asks ("min katt", "kom ihåg"), not on a tool or live data ("vädret",
//! "sätt en timer") and not on earlier turns ("och den andra då?"). The classifier is a small
//! rule set, not a model, so every verdict can be explained by pointing at a word list:
//!
//! 1. The prompt is folded (Unicode NFC, lowercase) and cut into words at every character that
//!    is not a letter or digit. Text inside quotation marks is left out first: a quoted word is
//!    mentioned, not used ("vad betyder \"idag\"" does not depend on today).
//! 2. Word lists per [`Reason`] are matched as whole words, word beginnings (Swedish inflects
//!    and compounds at the end: "kalendern", "påminnelse"), word parts (compound heads come
//!    last: "helgvädret", "ytterdörren") and runs of words ("just nu", "i morgon").
//! 3. A few rules look at the shape of the prompt: a bare first name, an English "I", a command
//!    to a device as the first word, "who won" without a year, an office holder without a year
//!    or a name after the title, and the shapes of a follow-up (a leading "och"/"and", a trailing
//!    "då", a short question made only of pronouns and small words, a command whose object is a
//!    pronoun, "han"/"she"/"den" with no name before it).
//! 4. One shape lets a prompt through: "vad är en timer?" / "what is an exchange rate?" asks what
//!    a kind of thing is, so the tool and time words in it do not count.
//!
//! It is conservative by design: a wrong "uncacheable" costs one model call, a wrong
//! "cacheable" serves one user's answer to another. `docs/cacheability.md` describes the
//! labelled set the rules are measured against and the confusion matrix.

mod lexicon;
#[cfg(test)]
mod tests;
mod words;

use lexicon::{
    AWARDED, CLAUSE_STARTS, COMMANDS, COURTESY, ENGLISH_SMALL_WORDS, FIRST, FIRST_NAMES,
    FOLLOW_UPS, INDEFINITE_ARTICLES, LEADING_CONNECTIVES, LEADING_PREPOSITIONS, Lexicon, MUSIC,
    OBJECTS, OFFICES, PARTICLES, PERSON_PRONOUNS, PERSONAL, PLAYING, PRIZES, REFERRING, REPLIES,
    SWEDISH_SMALL_WORDS, THANKS, THING_PRONOUNS, TIME, TITLES, TOOLS, WINNING,
};
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use words::{Words, without_quotations};

/// Why an answer may not be shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Depends on the clock or calendar: "vad är klockan", "idag", "imorgon", "just nu",
    /// "senaste", "this week", "latest news"…
    TimeDependent,
    /// Depends on who asks: first/second person about the user ("jag", "min", "mitt", "mina",
    /// "mig", "my", "I", "me"), personal names, "kom ihåg"/"remember"…
    Personal,
    /// Needs a tool or live data: weather, calendar, mail, music playback, timers, alarms,
    /// reminders, smart-home, stock prices…
    NeedsTool,
    /// Reads as a follow-up that only makes sense after earlier turns ("och den andra då?",
    /// "förklara mer", "what about it?", "fortsätt").
    FollowUp,
    /// Set by the caller, not by [`classify`]: the request carries earlier turns of a
    /// conversation.
    ConversationHistory,
    /// Set by the caller, not by [`classify`]: the response cache is off, so nothing is shared
    /// and the prompt is not classified at all.
    CacheOff,
    /// Set by the caller, not by [`classify`]: the request offers the model tools, so its
    /// answer may be a call, and the caller's next request carries a result from the caller's
    /// own world. Neither is an answer to share.
    ToolsOffered,
}

impl Reason {
    /// A short, stable name, used as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TimeDependent => "time",
            Reason::Personal => "personal",
            Reason::NeedsTool => "tool",
            Reason::FollowUp => "follow_up",
            Reason::ConversationHistory => "history",
            Reason::CacheOff => "cache_off",
            Reason::ToolsOffered => "tools_offered",
        }
    }

    /// Which reason to report when several rules fire: the most specific first (a weather
    /// question asked "idag" is first of all a tool call).
    fn rank(self) -> u8 {
        match self {
            Reason::CacheOff | Reason::ConversationHistory | Reason::ToolsOffered => 0,
            Reason::NeedsTool => 1,
            Reason::TimeDependent => 2,
            Reason::FollowUp => 3,
            Reason::Personal => 4,
        }
    }

    /// The more specific of two reasons.
    fn strongest(a: Option<Reason>, b: Option<Reason>) -> Option<Reason> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if y.rank() < x.rank() { y } else { x }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// The classifier's answer for one prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer depends only on the question and may be shared.
    Cacheable,
    /// The answer must not be shared, and why.
    Uncacheable(Reason),
}

impl Verdict {
    /// True when the answer may be served from and stored in the shared cache.
    pub fn is_cacheable(self) -> bool {
        matches!(self, Verdict::Cacheable)
    }
}

/// Classifies one user prompt (Swedish or English). Pure, allocation-light, no I/O.
pub fn classify(prompt: &str) -> Verdict {
    let text = without_quotations(prompt);
    let words = Words::new(&text);
    match find_reason(&words) {
        Some(reason) => Verdict::Uncacheable(reason),
        None => Verdict::Cacheable,
    }
}

fn find_reason(words: &Words) -> Option<Reason> {
    // Nothing but punctuation or an emoji reacts to the previous turn.
    if words.is_empty() {
        return Some(Reason::FollowUp);
    }
    let index = &*INDEX;
    let mut found = index.lexicons.find(words);
    // "Vad är en timer?" asks what a kind of thing is, not for the user's timer.
    if asks_for_a_definition(words)
        && matches!(found, Some(Reason::NeedsTool | Reason::TimeDependent))
    {
        found = None;
    }
    if found == Some(Reason::NeedsTool) {
        return found;
    }
    for rule in [
        commands_a_device,
        plays_music,
        asks_for_the_latest_winner,
        asks_for_an_office_holder,
        names_someone_the_user_knows,
        says_i_in_english,
        is_shaped_like_a_follow_up,
    ] {
        found = Reason::strongest(found, rule(words, index));
    }
    found
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Language {
    Swedish,
    English,
}

/// The word lists compiled for lookup, once per process.
struct Index {
    lexicons: Matcher,
    offices: Matcher,
    small_words: HashMap<&'static str, Language>,
    first_names: HashSet<&'static str>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut small_words = HashMap::new();
    for &w in SWEDISH_SMALL_WORDS {
        small_words.insert(w, Language::Swedish);
    }
    for &w in ENGLISH_SMALL_WORDS {
        small_words.entry(w).or_insert(Language::English);
    }
    Index {
        lexicons: Matcher::new(&[&TOOLS, &TIME, &FOLLOW_UPS, &PERSONAL]),
        offices: Matcher::new(&[&OFFICES]),
        small_words,
        first_names: FIRST_NAMES.iter().copied().collect(),
    }
});

/// Lexicons compiled into hash lookups, so a prompt costs a few lookups per word rather than a
/// scan of every list.
struct Matcher {
    words: HashMap<&'static str, Reason>,
    prefixes: HashMap<&'static str, Reason>,
    longest_prefix: usize,
    infixes: Vec<(&'static str, Reason)>,
    phrases: HashMap<&'static str, Vec<(&'static [&'static str], Reason)>>,
}

impl Matcher {
    fn new(lexicons: &[&Lexicon]) -> Self {
        let mut matcher = Matcher {
            words: HashMap::new(),
            prefixes: HashMap::new(),
            longest_prefix: 0,
            infixes: Vec::new(),
            phrases: HashMap::new(),
        };
        for lexicon in lexicons {
            let reason = lexicon.reason;
            for &w in lexicon.words {
                let entry = matcher.words.entry(w).or_insert(reason);
                *entry = Reason::strongest(Some(*entry), Some(reason)).unwrap_or(reason);
            }
            for &p in lexicon.prefixes {
                let entry = matcher.prefixes.entry(p).or_insert(reason);
                *entry = Reason::strongest(Some(*entry), Some(reason)).unwrap_or(reason);
                matcher.longest_prefix = matcher.longest_prefix.max(p.len());
            }
            matcher
                .infixes
                .extend(lexicon.infixes.iter().map(|&i| (i, reason)));
            for &phrase in lexicon.phrases {
                if let Some(&head) = phrase.first() {
                    matcher
                        .phrases
                        .entry(head)
                        .or_default()
                        .push((phrase, reason));
                }
            }
        }
        matcher
    }

    /// The most specific reason any word or phrase of the prompt matches.
    fn find(&self, words: &Words) -> Option<Reason> {
        let mut found = None;
        for (i, word) in words.iter().enumerate() {
            found = Reason::strongest(found, self.match_word(word));
            found = Reason::strongest(found, self.match_phrase_at(words, i));
            if found == Some(Reason::NeedsTool) {
                break;
            }
        }
        found
    }

    /// The most specific reason of the phrases that start at word `i`.
    fn match_phrase_at(&self, words: &Words, i: usize) -> Option<Reason> {
        let mut found = None;
        for &(phrase, reason) in self.phrases.get(words.get(i))? {
            let matches = phrase
                .iter()
                .enumerate()
                .all(|(k, &part)| words.get(i + k) == part);
            if matches {
                found = Reason::strongest(found, Some(reason));
            }
        }
        found
    }

    fn match_word(&self, word: &str) -> Option<Reason> {
        let mut found = self.words.get(word).copied();
        let ends = word
            .char_indices()
            .map(|(at, _)| at)
            .skip(1)
            .chain(std::iter::once(word.len()))
            .take_while(|&end| end <= self.longest_prefix);
        for end in ends {
            let prefix = word.get(..end).and_then(|p| self.prefixes.get(p)).copied();
            found = Reason::strongest(found, prefix);
        }
        for &(infix, reason) in &self.infixes {
            if word.contains(infix) {
                found = Reason::strongest(found, Some(reason));
            }
        }
        found
    }
}

// ---------------------------------------------------------------------------------------------
// Rules on the shape of a prompt
// ---------------------------------------------------------------------------------------------

/// The index of the first word after greetings and "kan du"/"could you".
fn first_content_word(words: &Words) -> usize {
    (0..words.len())
        .find(|&i| !COURTESY.contains(&words.get(i)))
        .unwrap_or(words.len())
}

/// "Spela ABBA", "ring pappa", "could you turn off the lights": a command to a device or an
/// account, which the model cannot answer from knowledge.
fn commands_a_device(words: &Words, _: &Index) -> Option<Reason> {
    COMMANDS
        .contains(&words.get(first_content_word(words)))
        .then_some(Reason::NeedsTool)
}

/// "Kan man spela musik…" is rare next to "spela lite jazz": "play" with any music word is a
/// request to the player.
fn plays_music(words: &Words, _: &Index) -> Option<Reason> {
    (words.has(PLAYING) && words.has(MUSIC)).then_some(Reason::NeedsTool)
}

/// "Vad är en timer?", "what is an exchange rate?": what a kind of thing is, asked with an
/// indefinite article and at most two words after it. Such a question is general knowledge
/// even when its noun is a tool or a time word.
fn asks_for_a_definition(words: &Words) -> bool {
    (4..=5).contains(&words.len())
        && ["vad", "what"].contains(&words.first())
        && ["är", "is", "s"].contains(&words.get(1))
        && INDEFINITE_ARTICLES.contains(&words.get(2))
}

/// "Vem vann Melodifestivalen?" and "vem fick Nobelpriset?" without a year ask for the latest
/// winner, which changes.
fn asks_for_the_latest_winner(words: &Words, _: &Index) -> Option<Reason> {
    let asks_who_won = words.has(WINNING) || (words.has(AWARDED) && words.has(PRIZES));
    (asks_who_won && !words.has_year()).then_some(Reason::TimeDependent)
}

/// "Vem är statsminister?" changes with elections; "Sveriges första statsminister", "USA:s
/// president 1960" and "drottning Kristina" (a title before a name) do not.
fn asks_for_an_office_holder(words: &Words, index: &Index) -> Option<Reason> {
    let pinned = words.has(FIRST) || words.has_year();
    if pinned {
        return None;
    }
    let offices = &index.offices;
    let unnamed_office = (0..words.len()).any(|i| {
        let office = offices.match_word(words.get(i)).is_some();
        office && !is_a_name(words, i + 1, index)
    });
    let office_phrase = (0..words.len()).any(|i| offices.match_phrase_at(words, i).is_some());
    (unnamed_office || office_phrase).then_some(Reason::TimeDependent)
}

/// Whether word `i` is typed with a capital letter and is neither a small word nor the English
/// "I": the shape of a name inside a sentence ("Olof Palme", "Mona Lisa", "kung Gustav").
fn is_a_name(words: &Words, i: usize, index: &Index) -> bool {
    let word = words.get(i);
    i < words.len() && words.capitalised(i) && word != "i" && !index.small_words.contains_key(word)
}

/// A first name alone ("vad gillar Erik?") is someone the user knows. A first name next to a
/// capitalised word that is not another first name ("Olof Palme", "Mona Lisa") or after a title
/// ("drottning Kristina") may be a public person or a work, and questions about those are general
/// knowledge; two first names together ("Anna Karin") are still one person the user knows. The
/// word before only counts inside the sentence, since the first word is always capitalised.
/// Typed all in lowercase ("har lisa ringt", "vem var olof palme") a surname cannot be told from
/// a verb, so the name counts as bare. A genitive ("Annas") counts as the name.
fn names_someone_the_user_knows(words: &Words, index: &Index) -> Option<Reason> {
    let first_name_at = |i: usize| {
        let word = words.get(i);
        index.first_names.contains(word)
            || word
                .strip_suffix('s')
                .is_some_and(|stem| index.first_names.contains(stem))
    };
    let other_name_at = |i: usize| is_a_name(words, i, index) && !first_name_at(i);
    let bare_name_at = |i: usize| {
        if !first_name_at(i) {
            return false;
        }
        let after_title = i > 0 && TITLES.contains(&words.get(i - 1));
        let with_surname = other_name_at(i + 1);
        let after_other_name = i > 1 && other_name_at(i - 1);
        !after_title && !with_surname && !after_other_name
    };
    (0..words.len())
        .any(bare_name_at)
        .then_some(Reason::Personal)
}

/// The language with more small words in the prompt; Swedish when it is a tie.
fn language(words: &Words, index: &Index) -> Language {
    let (mut swedish, mut english) = (0_usize, 0_usize);
    for word in words.iter() {
        match index.small_words.get(word) {
            Some(Language::Swedish) => swedish += 1,
            Some(Language::English) => english += 1,
            None if word.contains(['å', 'ä', 'ö']) => swedish += 1,
            None => {}
        }
    }
    if english > swedish {
        Language::English
    } else {
        Language::Swedish
    }
}

/// "I" is the user in English but the preposition "in" in Swedish ("huvudstaden i Norge").
fn says_i_in_english(words: &Words, index: &Index) -> Option<Reason> {
    (words.iter().any(|w| w == "i") && language(words, index) == Language::English)
        .then_some(Reason::Personal)
}

/// Shapes that only make sense after earlier turns.
fn is_shaped_like_a_follow_up(words: &Words, index: &Index) -> Option<Reason> {
    let n = words.len();
    let only_small_words = words
        .iter()
        .all(|w| index.small_words.contains_key(w) || REFERRING.contains(&w));
    let shapes = [
        // "Och den andra då?", "but why?": a continuation.
        LEADING_CONNECTIVES.contains(&words.first()),
        // "Och i Norge då?", "hur då": Swedish ends a follow-up with "då".
        n > 1 && words.last() == "då",
        // "Vad menar du med det?", "vem var han?", "is it safe?": a pronoun and little else.
        n <= 6 && only_small_words && words.has(REFERRING),
        n <= 4 && words.has(REFERRING),
        // "Översätt det till tyska", "summarise that": a command whose object came before.
        acts_on_an_earlier_answer(words, index),
        // "Hur gammal var hon när hon dog?", "vad heter den på svenska?": someone or something
        // named only by a pronoun.
        refers_to_someone_unnamed(words, index),
        // "Ja", "nej tack", "varför?": a reply to Alice's last turn.
        n <= 3
            && words
                .iter()
                .all(|w| REPLIES.contains(&w) || THANKS.contains(&w))
            && words.has(REPLIES),
        // "På engelska?", "in French please": the last question again, somewhere else. An
        // English "I" opening the prompt is the user, not the Swedish "i".
        n <= 4
            && LEADING_PREPOSITIONS.contains(&words.first())
            && !(words.first() == "i" && language(words, index) == Language::English),
    ];
    shapes.contains(&true).then_some(Reason::FollowUp)
}

/// "Översätt det till tyska", "kan du skriva om den på rim", "summarise that": a command (after
/// any "kan du"/"please") whose object is a pronoun, so the thing it acts on came before. Two
/// readings are let through: English "that" opening a clause ("remember that I like tea",
/// "prove that the sum…"), and a Swedish particle verb followed by an article and a noun
/// ("berätta om den franska revolutionen"), where the pronoun is only an object when nothing
/// but small words follow it.
fn acts_on_an_earlier_answer(words: &Words, index: &Index) -> bool {
    let verb = first_content_word(words);
    let verb_word = words.get(verb);
    if verb_word.is_empty() || index.small_words.contains_key(verb_word) {
        return false;
    }
    let after_particle = PARTICLES.contains(&words.get(verb + 1));
    let at = if after_particle { verb + 2 } else { verb + 1 };
    let pronoun = words.get(at);
    if !OBJECTS.contains(&pronoun) {
        return false;
    }
    let next = words.get(at + 1);
    let opens_a_clause =
        pronoun == "that" && (CLAUSE_STARTS.contains(&next) || next.starts_with(char::is_numeric));
    let ends_the_object = next.is_empty() || index.small_words.contains_key(next);
    !opens_a_clause && (!after_particle || ends_the_object)
}

/// A pronoun for a person ("han", "she") or a thing ("den", "dem") with no name before it in
/// the prompt: who or what it stands for was said in an earlier turn. "Vem var Strindberg och
/// vad skrev han?" names him first; "den franska revolutionen" uses "den" as an article, which
/// in Swedish comes before an adjective ending in -a or -e and a noun.
fn refers_to_someone_unnamed(words: &Words, index: &Index) -> bool {
    let n = words.len();
    let is_article = |i: usize| {
        let next = words.get(i + 1);
        i + 2 < n && (next.ends_with('a') || next.ends_with('e'))
    };
    let Some(pronoun_at) = (0..n).find(|&i| {
        let word = words.get(i);
        PERSON_PRONOUNS.contains(&word) || (THING_PRONOUNS.contains(&word) && !is_article(i))
    }) else {
        return false;
    };
    !(1..pronoun_at).any(|i| is_a_name(words, i, index))
}
