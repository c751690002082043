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

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

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
        }
    }

    /// Which reason to report when several rules fire: the most specific first (a weather
    /// question asked "idag" is first of all a tool call).
    fn rank(self) -> u8 {
        match self {
            Reason::ConversationHistory => 0,
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

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// Quotation marks that open or close a quoted span.
fn is_quotation_mark(c: char) -> bool {
    matches!(
        c,
        '"' | '“' | '”' | '„' | '«' | '»' | '‹' | '›' | '\'' | '‘' | '’' | '‚' | '`'
    )
}

/// The prompt without its quoted spans, because a quoted word is mentioned, not used:
/// "översätt 'jag älskar dig' till engelska" is not about the user. A quotation mark only
/// opens at the start of a word and only closes at the end of one, so the apostrophes in
/// "don't" and "Anna's" never start a span; an unclosed quotation mark is ignored.
fn without_quotations(prompt: &str) -> Cow<'_, str> {
    let mut kept: Option<String> = None;
    let mut copied_up_to = 0;
    let mut chars = prompt.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((open_at, c)) = chars.next() {
        let opens = is_quotation_mark(c) && !previous.is_some_and(char::is_alphanumeric);
        previous = Some(c);
        if !opens {
            continue;
        }
        let Some(close_end) = closing_quotation(prompt, open_at + c.len_utf8()) else {
            continue;
        };
        let out = kept.get_or_insert_with(|| String::with_capacity(prompt.len()));
        out.push_str(&prompt[copied_up_to..open_at]);
        out.push(' ');
        copied_up_to = close_end;
        while chars.peek().is_some_and(|&(at, _)| at < close_end) {
            chars.next();
        }
        previous = Some(' ');
    }
    match kept {
        Some(mut out) => {
            out.push_str(&prompt[copied_up_to..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(prompt),
    }
}

/// The byte just past the quotation mark that closes a span starting at `from`, if any: the
/// first quotation mark after at least one character that is not followed by a letter or digit.
fn closing_quotation(prompt: &str, from: usize) -> Option<usize> {
    let rest = prompt.get(from..)?;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let next_is_word = chars.peek().is_some_and(|&(_, n)| n.is_alphanumeric());
        if at > 0 && is_quotation_mark(c) && !next_is_word {
            return Some(from + at + c.len_utf8());
        }
    }
    None
}

/// One word's place in [`Words::text`] and whether it was typed with a capital letter.
struct Span {
    start: usize,
    end: usize,
    capitalised: bool,
}

/// A prompt folded to NFC lowercase and cut into words at every character that is not a letter
/// or a digit ("e-post" is "e" "post", "what's" is "what" "s", "2+2" is "2" "2").
struct Words {
    text: String,
    spans: Vec<Span>,
}

impl Words {
    fn new(prompt: &str) -> Self {
        let mut text = String::with_capacity(prompt.len());
        let mut spans = Vec::with_capacity(16);
        let mut open: Option<(usize, bool)> = None;
        for c in prompt.nfc() {
            if c.is_alphanumeric() {
                if open.is_none() {
                    open = Some((text.len(), c.is_uppercase()));
                }
                text.extend(c.to_lowercase());
            } else if let Some((start, capitalised)) = open.take() {
                spans.push(Span {
                    start,
                    end: text.len(),
                    capitalised,
                });
            }
        }
        if let Some((start, capitalised)) = open {
            spans.push(Span {
                start,
                end: text.len(),
                capitalised,
            });
        }
        Self { text, spans }
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th word, or "" past the end.
    fn get(&self, i: usize) -> &str {
        self.spans
            .get(i)
            .and_then(|s| self.text.get(s.start..s.end))
            .unwrap_or("")
    }

    fn capitalised(&self, i: usize) -> bool {
        self.spans.get(i).is_some_and(|s| s.capitalised)
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }

    fn first(&self) -> &str {
        self.get(0)
    }

    fn last(&self) -> &str {
        self.get(self.len().saturating_sub(1))
    }

    fn has(&self, list: &[&str]) -> bool {
        self.iter().any(|w| list.contains(&w))
    }

    /// Whether some word is a year ("1969"), which pins a "who won" or an office to the past.
    fn has_year(&self) -> bool {
        self.iter()
            .any(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()))
    }
}

// ---------------------------------------------------------------------------------------------
// Word lists
// ---------------------------------------------------------------------------------------------

/// One reason's vocabulary. Every entry is lowercase NFC, as [`Words`] folds the prompt.
struct Lexicon {
    reason: Reason,
    /// Whole words.
    words: &'static [&'static str],
    /// Word beginnings: Swedish inflects and compounds at the end ("kalendern", "påminnelse").
    prefixes: &'static [&'static str],
    /// Anywhere inside a word: the head of a Swedish compound comes last ("helgvädret").
    infixes: &'static [&'static str],
    /// Runs of whole words ("just nu", "i morgon").
    phrases: &'static [&'static [&'static str]],
}

#[rustfmt::skip]
const TOOLS: Lexicon = Lexicon {
    reason: Reason::NeedsTool,
    words: &[
        // Weather is read from a live forecast, so are the things people ask it through.
        "regnar", "regna", "regnet", "regnigt", "snöar", "snöa", "blåser", "blåsigt", "soligt",
        "molnigt", "halt", "halka", "paraply", "ute", "temperaturen", "weather", "forecast",
        "rain", "raining", "rainy", "snowing", "windy", "sunny", "umbrella", "outside", "humidity",
        // Indoors and outdoors are the user's home and street, read from a sensor or forecast.
        "inne", "inomhus", "utomhus", "indoors", "outdoors",
        // Timers and stopwatches run on the user's device.
        "stoppur", "countdown", "stopwatch",
        // Calendars and bookings are the user's own data.
        "schemat", "boka", "bokar", "calendar", "meeting", "meetings", "schedule", "agenda",
        // Sending anything goes through the user's accounts.
        "skicka", "email", "emails", "inbox", "sms", "send",
        // Playback and volume act on a player.
        "musiken", "spotify", "volume",
        // A device in the definite form ("lampan") is one in the user's home.
        "lampan", "lamporna", "lyset", "värmen", "dammsugaren", "garaget", "lights", "thermostat",
        // Prices, currency rates and stock quotes change by the minute.
        "pris", "priset", "priser", "priserna", "kostar", "värd", "price", "prices", "cost",
        "costs", "worth", "kronor", "kronan", "kr", "sek", "dollar", "dollarn", "dollars", "euro",
        "euron", "euros", "usd", "eur", "gbp", "nok", "dkk", "yen", "bitcoin", "btc", "aktien",
        "aktierna", "börsen", "stocks",
        // Traffic and public transport are live.
        "bussen", "traffic",
        // Opening hours depend on the day and the shop.
        "öppet", "stänger", "stängt", "opens", "closes",
        // The radio in the definite form is the one playing now.
        "radion",
        // Match results and league tables change with every round.
        "matchen", "resultatet", "tabellen", "score", "scores", "standings",
    ],
    prefixes: &[
        // Forecasts, calendars, meetings, bookings, mail and messages: the user's own data.
        "prognos", "kalender", "möte", "bokning", "mejl", "mail", "epost", "inkorg", "meddelande",
        // Timers, alarms and reminders act on the user's device.
        "timer", "larm", "alarm", "påminn", "remind", "nedräkning",
        // Pollen counts ("pollenhalten", "pollenprognos") are measured daily.
        "pollen",
        // Playlists and volume belong to a player.
        "spellist", "playlist", "volym",
        // Lights and heating are smart-home devices.
        "belysning", "termostat",
        // Share prices and exchange rates are live data.
        "aktiekurs", "växelkurs", "valutakurs",
        // Traffic, delays and departures are live data.
        "trafik", "försen", "avgång", "delay",
        // Shopping lists are the user's own.
        "inköpslist", "handlingslist",
        // Opening hours depend on the day.
        "öppettid",
    ],
    infixes: &[
        // Compounds whose head is weather, a door, a train, a rate or a list:
        // "väderprognos", "helgvädret", "ytterdörren", "pendeltåget", "dollarkursen".
        "väder", "vädr", "dörren", "tåget", "kursen", "listan",
    ],
    phrases: &[
        // Mail written as two words.
        &["e", "post"],
        // Timing something is a stopwatch.
        &["ta", "tid"],
        // Skipping and switching things on or off act on a device.
        &["nästa", "låt"],
        &["next", "song"],
        &["next", "track"],
        &["the", "music"],
        &["stäng", "av"],
        &["sätt", "på"],
        &["slå", "på"],
        &["slå", "av"],
        &["turn", "on"],
        &["turn", "off"],
        &["switch", "on"],
        &["switch", "off"],
        // "The temperature" is the one outside now; "what temperature does water boil at" is not.
        &["the", "temperature"],
        // "Hur varmt är det?", "blir det snö?", "how cold is it?": the weather where the user is.
        &["varmt", "är", "det"],
        &["kallt", "är", "det"],
        &["grader", "är", "det"],
        &["varmt", "blir", "det"],
        &["kallt", "blir", "det"],
        &["blir", "det", "regn"],
        &["blir", "det", "snö"],
        &["blir", "det", "sol"],
        &["blir", "det", "varmt"],
        &["blir", "det", "kallt"],
        &["how", "warm", "is", "it"],
        &["how", "cold", "is", "it"],
        &["how", "hot", "is", "it"],
        &["will", "it", "snow"],
        // Lists and quotes named in English.
        &["shopping", "list"],
        &["to", "do", "list"],
        &["stock", "price"],
        &["share", "price"],
        &["exchange", "rate"],
        &["opening", "hours"],
        // Programmes, fixtures and departures are live listings.
        &["på", "tv"],
        &["on", "tv"],
        &["när", "spelar"],
        &["the", "train"],
        &["the", "bus"],
        // Booking a table, a flight or a free slot.
        &["book", "a"],
        &["lediga", "tider"],
    ],
};

#[rustfmt::skip]
const TIME: Lexicon = Lexicon {
    reason: Reason::TimeDependent,
    words: &[
        // Days relative to today move with the calendar.
        "idag", "imorgon", "imorn", "imorrn", "imon", "igår", "ikväll", "inatt", "imorse",
        "iförrgår", "iövermorgon", "övermorgon", "förrgår", "today", "todays", "tonight",
        "tomorrow", "tmrw", "yesterday",
        // "Now" and "still" ask about the present state of things.
        "nu", "nuförtiden", "numera", "nuvarande", "fortfarande", "kvar", "now", "nowadays",
        "currently", "current", "still", "yet", "ago", "alive", "nyss",
        // Rankings ("rikast i världen") change as the world does.
        "rikast", "richest",
        // Charts ("topplistan") change every week.
        // The latest and newest change as things happen.
        "senaste", "senast", "nyaste", "nyligen", "latest", "recent", "recently", "newest",
        "news", "headlines",
        // Weeks and weekends are counted from this one.
        "vecka", "veckan", "veckans", "helg", "helgen", "helgens", "week", "weekend",
        // "Today's", "next" and "last" are relative to the day of asking.
        "dagens", "morgondagens", "gårdagens", "kvällens", "nattens", "månadens", "årets",
        "förra", "nästa", "kommande", "next", "upcoming",
        // The clock and the date.
        "kl", "datum", "datumet", "clock", "date",
        // A weekday means the nearest one.
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
        "mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays",
    ],
    prefixes: &[
        // "Aktuell", "nyheter" and week numbers are about the present.
        "aktuell", "nyhet", "veckonummer", "topplist",
        // A weekday means the nearest one ("fredag", "fredagens").
        "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
    ],
    infixes: &[
        // "Klockan", "klockslag", "väckarklocka".
        "klock",
    ],
    phrases: &[
        // Relative days written as two words.
        &["just", "nu"],
        &["i", "dag"],
        &["i", "morgon"],
        &["i", "morrn"],
        &["i", "går"],
        &["i", "kväll"],
        &["i", "natt"],
        &["i", "morse"],
        &["i", "år"],
        &["i", "fjol"],
        &["i", "höst"],
        &["i", "vinter"],
        &["i", "sommar"],
        &["i", "vår"],
        &["right", "now"],
        &["these", "days"],
        &["so", "far"],
        // A living person's age changes every year; "hur gammal blev" (an age at death) does not.
        &["hur", "gammal", "är"],
        &["hur", "gammal", "e"],
        &["hur", "gamla", "är"],
        &["how", "old", "is"],
        &["how", "old", "are"],
        // "Vilket år är det?", "what day is it?": the calendar today.
        &["år", "är", "det"],
        &["dag", "är", "det"],
        &["månad", "är", "det"],
        &["what", "day", "is"],
        &["what", "year", "is"],
        &["what", "month", "is"],
        // Who leads a league or a race is who leads it now.
        &["vem", "leder"],
        &["vilka", "leder"],
        &["who", "leads"],
        &["who", "is", "leading"],
        &["who", "s", "leading"],
        // Asking for the time.
        &["what", "time"],
        &["the", "time"],
        &["time", "is", "it"],
        // "This week", "last year" and the like are counted from today.
        &["this", "week"],
        &["this", "weekend"],
        &["this", "month"],
        &["this", "year"],
        &["this", "morning"],
        &["this", "afternoon"],
        &["this", "evening"],
        &["this", "season"],
        &["last", "night"],
        &["last", "week"],
        &["last", "weekend"],
        &["last", "month"],
        &["last", "year"],
        &["last", "season"],
        // Counting towards or back from today.
        &["days", "until"],
        &["dagar", "till"],
        &["veckor", "till"],
        &["länge", "till"],
        &["länge", "är", "det", "till"],
        &["långt", "kvar"],
        // "Hur går det för Sverige?" asks how things stand now; "vad är det för tid" is the time.
        &["går", "det", "för"],
        &["för", "tid"],
        &["weeks", "until"],
        &["long", "until"],
        &["år", "sedan"],
        &["år", "sen"],
        &["länge", "sedan"],
        &["länge", "sen"],
    ],
};

#[rustfmt::skip]
const FOLLOW_UPS: Lexicon = Lexicon {
    reason: Reason::FollowUp,
    words: &[
        // Asking to go on, repeat or reshape an answer that came before.
        "fortsätt", "fortsätta", "utveckla", "förtydliga", "kortare", "igen", "istället",
        "continue", "elaborate", "shorter", "again", "instead",
        // Pointing back at earlier turns.
        "förut", "tidigare", "ovan", "above", "previous", "previously", "earlier",
        // Parts of an earlier answer, in the definite form: "det tredje exemplet", "svaret".
        "exemplet", "exemplen", "svaret", "svaren", "förslaget", "förslagen", "alternativet",
        "alternativen",
    ],
    prefixes: &[],
    infixes: &[],
    phrases: &[
        // "More" about something already said.
        &["förklara", "mer"],
        &["berätta", "mer"],
        &["mer", "om", "det"],
        &["förklara", "det"],
        &["tell", "me", "more"],
        &["more", "about", "that"],
        &["explain", "that"],
        &["explain", "it"],
        // Asking what an earlier answer meant ("hur menar du?", "vad menade du med…").
        &["menar", "du"],
        &["menade", "du"],
        &["du", "sa"],
        &["du", "nämnde"],
        &["säger", "du"],
        &["sa", "du"],
        &["sade", "du"],
        &["do", "you", "mean"],
        &["did", "you", "mean"],
        &["you", "said"],
        &["you", "mentioned"],
        &["you", "say", "that"],
        &["you", "say", "so"],
        &["did", "you", "say"],
        &["your", "answer"],
        &["your", "example"],
        &["the", "example"],
        &["the", "examples"],
        // Pointing at something on screen or said before.
        &["samma", "sak"],
        &["same", "thing"],
        &["det", "här"],
        &["det", "där"],
        &["den", "här"],
        &["den", "där"],
        &["de", "där"],
        &["i", "stället"],
        &["that", "one"],
        &["this", "one"],
        &["the", "other", "one"],
        &["what", "about"],
        &["how", "about"],
        &["go", "on"],
        &["make", "it"],
        // "One more" of whatever came before.
        &["en", "till"],
        &["ett", "till"],
        &["exempel", "till"],
        &["gång", "till"],
        &["one", "more"],
        &["another", "one"],
        &["fler", "exempel"],
        &["another", "example"],
        &["more", "examples"],
    ],
};

#[rustfmt::skip]
const PERSONAL: Lexicon = Lexicon {
    reason: Reason::Personal,
    words: &[
        // The first person: the answer is about the one who asks.
        "jag", "mig", "mej", "min", "mitt", "mina", "vi", "oss", "vår", "vårt", "våra", "me", "my",
        "mine", "myself", "we", "us", "our", "ours", "ourselves",
        // Remembering and forgetting are about the user's own memory.
        "ihåg", "minns", "glöm", "glömde", "remember", "forget", "forgot",
        // Where the user is.
        "här", "hem", "hemma", "närheten", "närmaste", "here", "nearest", "nearby", "closest",
        // Family and partners named by role are the user's own.
        "syster", "systern", "syrran", "bror", "brorsan", "frun", "frugan", "maken", "barnen", "chefen", "mom", "mum", "dad", "wife", "husband", "boyfriend",
        "girlfriend", "grandma", "grandpa",
    ],
    prefixes: &[
        // "Mamma", "mammas", "pappan", "mormors": the user's own relatives.
        "mamma", "pappa", "mormor", "morfar", "farmor", "farfar", "sambo", "pojkvän",
        "flickvän",
    ],
    infixes: &[],
    phrases: &[],
};

/// Offices and records whose holder changes: asked in the present they are time-dependent,
/// unless the prompt names a year or asks for the first one.
#[rustfmt::skip]
const OFFICES: Lexicon = Lexicon {
    reason: Reason::TimeDependent,
    words: &[
        "kung", "kungen", "drottning", "drottningen", "påve", "påven", "pope", "ceo", "vd", "mayor",
        "chancellor", "champion",
    ],
    prefixes: &[
        "president", "borgmästare", "förbundskapten", "världsmästar", "ordförande", "partiledar",
    ],
    infixes: &["minister", "rekord"],
    phrases: &[
        &["the", "king"],
        &["the", "queen"],
        &["world", "champion"],
        &["world", "record"],
    ],
};

/// Words that pin an office to one holder for good: the first and the final one ("Sveriges sista
/// kung som stupade i strid"). English "last" is left out: "the last president" is the latest.
#[rustfmt::skip]
const FIRST: &[&str] = &["första", "förste", "sista", "siste", "first"];

/// "Who won" without a year asks for the latest winner.
#[rustfmt::skip]
const WINNING: &[&str] = &[
    "vann", "vinner", "vinnare", "vinnaren", "vinnarna", "won", "wins", "winner", "winners",
];

/// "Vem fick Nobelpriset?" asks for the latest laureate, as "who won" does; "vad är
/// Nobelpriset?" asks what the prize is and is general knowledge.
#[rustfmt::skip]
const AWARDED: &[&str] = &[
    "fick", "får", "tilldelades", "tilldelas", "got", "gets", "received", "receives", "awarded",
];
#[rustfmt::skip]
const PRIZES: &[&str] = &[
    "pris", "priset", "nobelpris", "nobelpriset", "augustpriset", "guldbaggen", "oscar", "oscarn",
    "prize", "award",
];

/// Commands that act on a device or an account when they open the request (after any "kan du",
/// "please" or greeting): "spela ABBA", "ring pappa", "could you turn off…".
#[rustfmt::skip]
const COMMANDS: &[&str] = &[
    "spela", "pausa", "skippa", "ring", "ringa", "sätt", "sätta", "ställ", "ställa", "starta",
    "tänd", "tända", "släck", "släcka", "lås", "låsa", "öppna", "beställ", "beställa", "sök",
    "söka", "googla", "navigera", "väck", "väcka", "stäng", "stänga", "höj", "höja", "sänk",
    "sänka", "stoppa", "play", "pause", "skip", "resume", "call", "text", "set", "turn", "lock",
    "unlock", "open", "order", "search", "google", "navigate", "wake", "dim", "mute", "start",
    "stop",
];

/// What may come before a command without changing it.
#[rustfmt::skip]
const COURTESY: &[&str] = &[
    "hej", "hallå", "hey", "hi", "alice", "snälla", "please", "kan", "kunde", "skulle", "du",
    "can", "could", "would", "will", "you", "ok", "okej",
];

/// "Spela"/"play" with any of these is a request to a music player, wherever it stands.
#[rustfmt::skip]
const PLAYING: &[&str] = &["spela", "play", "lyssna", "listen"];
#[rustfmt::skip]
const MUSIC: &[&str] = &[
    "musik", "music", "låt", "låten", "låtar", "song", "songs", "album", "albumet", "radio",
    "radion", "p1", "p2", "p3", "p4", "podd", "podden", "podcast", "podcasts", "jazz", "rock",
    "pop", "hiphop", "klassisk", "playlist", "spellista",
];

/// Common first names. Alone they mean someone the user knows ("när fyller Anna år?"); followed
/// by a surname they may be a famous person ("Olof Palme"), which is general knowledge. Names
/// that are also everyday words ("Björn", "Per", "Bo", "Tom", "Will") are left out.
#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    "anna", "maria", "karin", "sara", "emma", "lisa", "elin", "johanna", "julia", "hanna", "ida",
    "maja", "elsa", "ebba", "wilma", "alva", "astrid", "ingrid", "kristina", "sofia", "malin",
    "frida", "stina", "erik", "lars", "anders", "johan", "karl", "peter", "mikael", "andreas",
    "daniel", "fredrik", "magnus", "stefan", "jonas", "oskar", "oscar", "william", "liam", "hugo",
    "lucas", "elias", "olle", "nils", "sven", "gustav", "kalle", "pelle", "olof", "henrik",
    "viktor", "linus", "filip", "isak", "john", "james", "mary", "michael", "david", "sarah",
    "emily", "jessica", "jennifer", "mike", "chris", "alex", "sam", "olivia", "sophie", "jack",
    "harry", "lucy", "kate", "dan", "matt", "steve", "paul", "george", "anne", "laura", "rachel",
    "josh", "ryan", "kevin",
];

/// Titles before a first name mark a historical or public person ("drottning Kristina").
#[rustfmt::skip]
const TITLES: &[&str] = &[
    "kung", "drottning", "prins", "prinsessa", "kejsare", "påve", "sankt", "king", "queen",
    "prince", "princess", "emperor", "pope", "saint", "st", "tsar",
];

/// Words that start a continuation of something said before.
#[rustfmt::skip]
const LEADING_CONNECTIVES: &[&str] = &["och", "men", "så", "eller", "plus", "and", "but", "so", "or", "also"];

/// Prepositions that, opening a short prompt, continue the last question ("på engelska?",
/// "och i Norge?", "in French please").
#[rustfmt::skip]
const LEADING_PREPOSITIONS: &[&str] = &[
    "på", "i", "in", "on", "om", "about", "för", "for", "med", "with", "utan", "without", "till",
    "into", "to", "från", "from",
];

/// One-word answers and reactions that only mean something after a question from Alice.
#[rustfmt::skip]
const REPLIES: &[&str] = &[
    "ja", "nej", "japp", "nä", "jo", "ok", "okej", "yes", "no", "yeah", "yep", "nope", "sure",
    "varför", "why", "hur", "how", "mer", "more", "fler", "inte", "not", "verkligen", "really",
    "seriöst", "seriously", "så", "so",
];
#[rustfmt::skip]
const THANKS: &[&str] = &["tack", "snälla", "please", "thanks"];

/// Pronouns and adverbs that point back at something earlier in the conversation.
#[rustfmt::skip]
const REFERRING: &[&str] = &[
    "det", "den", "dem", "de", "denna", "detta", "dessa", "där", "dit", "då", "sen", "sedan", "han",
    "hon", "hen", "honom", "henne", "hans", "hennes", "it", "that", "this", "these", "those",
    "they", "them", "he", "she", "him", "her", "his", "there", "then", "one",
];

/// Pronouns that, right after a command, make it act on an earlier answer.
#[rustfmt::skip]
const OBJECTS: &[&str] = &[
    "det", "den", "dem", "detta", "denna", "dessa", "it", "that", "this", "them", "these", "those",
];

/// Swedish verb particles that may stand between a command and its object ("skriv om den",
/// "läs upp det").
#[rustfmt::skip]
const PARTICLES: &[&str] = &["om", "upp", "ut", "ihop", "igenom", "över"];

/// Words that, after English "that", start a clause rather than end an object: "remember that
/// I like tea", "prove that the square root of 2 is irrational".
#[rustfmt::skip]
const CLAUSE_STARTS: &[&str] = &[
    "i", "you", "he", "she", "it", "we", "they", "my", "your", "his", "her", "our", "their", "the",
    "a", "an", "there", "all", "every", "no", "some",
];

/// Pronouns for a person, who must have been named before when the prompt names no one.
#[rustfmt::skip]
const PERSON_PRONOUNS: &[&str] = &[
    "han", "hon", "hen", "honom", "henne", "hans", "hennes", "he", "she", "him", "her", "his",
    "hers",
];

/// Pronouns for a thing that, unlike "det", are never an empty subject ("hur långt är det till
/// månen"). "Den" is also the article before an adjective ("den franska revolutionen").
#[rustfmt::skip]
const THING_PRONOUNS: &[&str] = &["den", "dem"];

/// Indefinite articles, which make "vad är en timer?" a question about a kind of thing.
#[rustfmt::skip]
const INDEFINITE_ARTICLES: &[&str] = &["en", "ett", "a", "an"];

/// Swedish small words: question words, pronouns, prepositions, common verbs and adjectives.
/// They tell the language ("i" is Swedish "in" but English "I") and whether a short question
/// has any content of its own.
#[rustfmt::skip]
const SWEDISH_SMALL_WORDS: &[&str] = &[
    "vad", "va", "vem", "vilken", "vilket", "vilka", "hur", "var", "vart", "när", "varför", "är",
    "e", "blir", "blev", "har", "hade", "kan", "ska", "skulle", "kunde", "vill", "måste", "gör",
    "gjorde", "gjort", "menar", "menade", "betyder", "heter", "hette", "hände", "händer",
    "fungerar", "funkar", "finns", "fanns", "stämmer", "ligger", "kommer", "bor", "bodde", "dog",
    "föddes", "levde", "sa", "sade", "skrev", "och", "men", "eller", "så", "om", "med", "på",
    "av", "för", "till", "från", "efter", "innan", "under", "över", "utan", "en", "ett", "den",
    "det", "de", "dem", "denna", "detta", "dessa", "där", "dit", "då", "sen", "sedan", "du",
    "dig", "han", "hon", "hen", "honom", "henne", "hans", "hennes", "deras", "sin", "sitt",
    "sina", "man", "inte", "också", "ju", "väl", "nog", "bara", "mer", "mindre", "fler", "andra",
    "annan", "annat", "första", "sista", "samma", "sant", "rätt", "fel", "säker", "verkligen",
    "igen", "exakt", "alltså", "egentligen", "typ", "ja", "nej", "tack", "snälla", "gärna", "år",
    "många", "mycket", "stor", "stort", "stora", "gammal", "gamla", "lång", "långt", "hög",
    "högt", "längre", "bra", "bättre", "bäst", "dålig", "viktig", "svårt", "lätt", "tar", "går",
    "spelar", "jag", "mig",
];

/// English small words, as [`SWEDISH_SMALL_WORDS`]. "s", "t" and "m" are the ends of "what's",
/// "don't" and "I'm".
#[rustfmt::skip]
const ENGLISH_SMALL_WORDS: &[&str] = &[
    "what", "whats", "who", "whom", "whose", "which", "how", "where", "when", "why", "is", "are",
    "was", "were", "be", "been", "am", "do", "does", "did", "can", "could", "would", "should",
    "will", "shall", "may", "might", "must", "have", "has", "had", "mean", "means", "meant",
    "happen", "happened", "happens", "work", "works", "live", "lives", "lived", "died", "born",
    "said", "wrote", "come", "comes", "located", "and", "but", "or", "so", "if", "of", "in",
    "on", "at", "to", "for", "from", "with", "about", "by", "a", "an", "the", "it", "its", "that",
    "this", "these", "those", "they", "them", "their", "he", "she", "him", "her", "his", "there",
    "then", "you", "your", "not", "also", "just", "really", "more", "less", "other", "another",
    "one", "first", "last", "same", "true", "right", "wrong", "sure", "again", "exactly", "s",
    "t", "m", "yes", "no", "okay", "please", "thanks", "many", "much", "big", "old", "long",
    "tall", "good", "better", "best", "bad", "important", "hard", "easy", "me", "my",
];

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Reason, Verdict, classify};

    fn reason(prompt: &str) -> Option<Reason> {
        match classify(prompt) {
            Verdict::Cacheable => None,
            Verdict::Uncacheable(r) => Some(r),
        }
    }

    #[test]
    fn general_knowledge_is_cacheable() {
        for prompt in [
            "Vad är Sveriges huvudstad?",
            "Förklara fotosyntes",
            "vad är huvudstaden i Norge",
            "Vem var Olof Palme?",
            "Vad är 2+2?",
            "What is the capital of Australia?",
            "Who was the first president of the United States?",
            "Vem var Sveriges första statsminister?",
            "Vem vann VM i fotboll 1958?",
            "Hej!",
            "tack",
        ] {
            assert_eq!(classify(prompt), Verdict::Cacheable, "{prompt}");
        }
    }

    #[test]
    fn the_clock_and_calendar_are_time_dependent() {
        for prompt in [
            "vad är klockan",
            "Vad händer idag?",
            "Är det skola imorgon",
            "är det skola i morgon",
            "Vad händer just nu i Ukraina?",
            "Vilka är de senaste nyheterna?",
            "vad hände idag 1969?",
            "Vem vann Melodifestivalen?",
            "Vem är Sveriges statsminister?",
            "What's the latest news?",
            "what are you doing this week",
        ] {
            assert_eq!(reason(prompt), Some(Reason::TimeDependent), "{prompt}");
        }
    }

    #[test]
    fn the_user_is_personal() {
        for prompt in [
            "vad heter min katt",
            "Vad heter mitt barn",
            "mina barn är sjuka",
            "Vad tycker du om mig?",
            "Vad heter jag?",
            "Kom ihåg att jag är vegetarian",
            "När fyller Anna år?",
            "vad gillar erik",
            "har lisa ringt",
            "vem var olof palme",
            "What is my name?",
            "What should I read?",
            "Remember that I like tea",
        ] {
            assert_eq!(reason(prompt), Some(Reason::Personal), "{prompt}");
        }
    }

    #[test]
    fn tools_and_live_data_need_a_tool() {
        for prompt in [
            "Hur blir vädret?",
            "väderprognos för Umeå",
            "Skriv ett mejl till Anna",
            "Vad står det i kalendern?",
            "Spela lite jazz",
            "kan du spela Dancing Queen",
            "Sätt en timer på 10 minuter",
            "ställ ett larm",
            "Påminn mig om att köpa mjölk",
            "tänd lampan i köket",
            "Hur mycket är 100 dollar i kronor?",
            "Will it rain?",
            // A forecast asked for a day is first of all a forecast.
            "Blir det kallt imorgon",
            "hur varmt är det inne?",
            "Set an alarm for 7",
            "play some music",
        ] {
            assert_eq!(reason(prompt), Some(Reason::NeedsTool), "{prompt}");
        }
    }

    #[test]
    fn follow_ups_are_follow_ups() {
        for prompt in [
            "och den andra då?",
            "förklara mer",
            "Fortsätt",
            "vad menar du med det?",
            "Vem var han?",
            "Varför då?",
            "ja",
            "på engelska",
            "what about it?",
            "continue",
            "Is it true?",
            "",
            "?!",
        ] {
            assert_eq!(reason(prompt), Some(Reason::FollowUp), "{prompt:?}");
        }
    }

    #[test]
    fn quoted_words_are_mentioned_not_used() {
        assert_eq!(
            classify("Översätt 'jag älskar dig' till engelska"),
            Verdict::Cacheable
        );
        assert_eq!(classify("Vad betyder ordet ”idag”?"), Verdict::Cacheable);
        assert_eq!(
            classify("What does \"right now\" mean?"),
            Verdict::Cacheable
        );
        // An apostrophe inside a word opens nothing.
        assert_eq!(
            reason("What's Anna's favourite colour"),
            Some(Reason::Personal)
        );
        // Quotes around the whole request leave nothing to answer from.
        assert_eq!(reason("\"vad är klockan\""), Some(Reason::FollowUp));
        // An unclosed quotation mark is ignored.
        assert_eq!(reason("Vad är \"klockan"), Some(Reason::TimeDependent));
    }

    #[test]
    fn swedish_i_is_a_preposition_and_english_i_is_the_user() {
        assert_eq!(
            classify("Vad är huvudstaden i Frankrike?"),
            Verdict::Cacheable
        );
        assert_eq!(reason("how do i boil an egg"), Some(Reason::Personal));
        assert_eq!(classify("Vad betyder I love you?"), Verdict::Cacheable);
    }

    #[test]
    fn compounds_and_inflections_match() {
        assert_eq!(reason("Hur blir helgvädret"), Some(Reason::NeedsTool));
        assert_eq!(reason("Lås ytterdörren"), Some(Reason::NeedsTool));
        assert_eq!(reason("vad säger kalendern"), Some(Reason::NeedsTool));
        assert_eq!(
            reason("Vad har mammas katt för ras"),
            Some(Reason::Personal)
        );
        assert_eq!(
            reason("Vad händer på lördagskvällen?"),
            Some(Reason::TimeDependent)
        );
    }

    #[test]
    fn pronouns_point_back_unless_the_prompt_names_what_they_stand_for() {
        for prompt in [
            "Kan du skriva om den på rim?",
            "Hur gammal var hon när hon flyttade till Norge?",
            "Vad heter den på svenska?",
            "Why do you say that?",
        ] {
            assert_eq!(reason(prompt), Some(Reason::FollowUp), "{prompt}");
        }
        for prompt in [
            "Berätta om den franska revolutionen",
            "Vem var Strindberg och vad skrev han?",
            "Prove that the square root of 2 is irrational",
            "How do you say thank you in Finnish?",
        ] {
            assert_eq!(classify(prompt), Verdict::Cacheable, "{prompt}");
        }
    }

    #[test]
    fn titles_definitions_and_prizes_are_general_knowledge() {
        for prompt in [
            "Vem var drottning Kristina?",
            "Vem målade Mona Lisa?",
            "Vad är en timer?",
            "What is an exchange rate?",
            "Vad är Nobelpriset?",
            "Hur gammal blev Ingvar Kamprad?",
        ] {
            assert_eq!(classify(prompt), Verdict::Cacheable, "{prompt}");
        }
        assert_eq!(reason("Vem är drottningen?"), Some(Reason::TimeDependent));
        assert_eq!(
            reason("Vem fick Nobelpriset i fysik?"),
            Some(Reason::TimeDependent)
        );
        assert_eq!(reason("När fyller Anna Karin år?"), Some(Reason::Personal));
    }

    #[test]
    fn composition_does_not_change_the_verdict() {
        let composed = "Hur blir vädret?";
        let decomposed = "Hur blir va\u{0308}dret?";
        assert_eq!(classify(composed), classify(decomposed));
    }

    #[test]
    fn reason_labels_are_stable() {
        assert_eq!(Reason::TimeDependent.as_str(), "time");
        assert_eq!(Reason::Personal.as_str(), "personal");
        assert_eq!(Reason::NeedsTool.as_str(), "tool");
        assert_eq!(Reason::FollowUp.as_str(), "follow_up");
        assert_eq!(Reason::ConversationHistory.as_str(), "history");
        assert!(Verdict::Cacheable.is_cacheable());
        assert!(!Verdict::Uncacheable(Reason::Personal).is_cacheable());
    }
}
