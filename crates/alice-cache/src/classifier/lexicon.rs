//! The classifier's vocabulary: the word lists that say why an answer may not be shared, and
//! the smaller lists its rules on the shape of a prompt look for.
//!
//! Each [`Lexicon`] belongs to one [`Reason`]: a prompt that holds one of its words, word
//! beginnings, word parts or runs of words is uncacheable for that reason (the index in the
//! parent module compiles them into hash lookups once per process). The plain lists (`COMMANDS`,
//! `FIRST_NAMES`, `REFERRING`, the small words …) are read by the shape rules there: a first
//! name alone, a command as the first word, a pronoun with nothing named before it. Every entry
//! is lowercase NFC, as the prompt is folded before it is matched; the lists are laid out by
//! hand, so rustfmt leaves them alone.

use super::Reason;

/// One reason's vocabulary. Every entry is lowercase NFC, as [`Words`](super::words::Words)
/// folds the prompt.
pub(super) struct Lexicon {
    pub(super) reason: Reason,
    /// Whole words.
    pub(super) words: &'static [&'static str],
    /// Word beginnings: Swedish inflects and compounds at the end ("kalendern", "påminnelse").
    pub(super) prefixes: &'static [&'static str],
    /// Anywhere inside a word: the head of a Swedish compound comes last ("helgvädret").
    pub(super) infixes: &'static [&'static str],
    /// Runs of whole words ("just nu", "i morgon").
    pub(super) phrases: &'static [&'static [&'static str]],
}

#[rustfmt::skip]
pub(super) const TOOLS: Lexicon = Lexicon {
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
pub(super) const TIME: Lexicon = Lexicon {
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
pub(super) const FOLLOW_UPS: Lexicon = Lexicon {
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
pub(super) const PERSONAL: Lexicon = Lexicon {
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
pub(super) const OFFICES: Lexicon = Lexicon {
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
pub(super) const FIRST: &[&str] = &["första", "förste", "sista", "siste", "first"];

/// "Who won" without a year asks for the latest winner.
#[rustfmt::skip]
pub(super) const WINNING: &[&str] = &[
    "vann", "vinner", "vinnare", "vinnaren", "vinnarna", "won", "wins", "winner", "winners",
];

/// "Vem fick Nobelpriset?" asks for the latest laureate, as "who won" does; "vad är
/// Nobelpriset?" asks what the prize is and is general knowledge.
#[rustfmt::skip]
pub(super) const AWARDED: &[&str] = &[
    "fick", "får", "tilldelades", "tilldelas", "got", "gets", "received", "receives", "awarded",
];
#[rustfmt::skip]
pub(super) const PRIZES: &[&str] = &[
    "pris", "priset", "nobelpris", "nobelpriset", "augustpriset", "guldbaggen", "oscar", "oscarn",
    "prize", "award",
];

/// Commands that act on a device or an account when they open the request (after any "kan du",
/// "please" or greeting): "spela ABBA", "ring pappa", "could you turn off…".
#[rustfmt::skip]
pub(super) const COMMANDS: &[&str] = &[
    "spela", "pausa", "skippa", "ring", "ringa", "sätt", "sätta", "ställ", "ställa", "starta",
    "tänd", "tända", "släck", "släcka", "lås", "låsa", "öppna", "beställ", "beställa", "sök",
    "söka", "googla", "navigera", "väck", "väcka", "stäng", "stänga", "höj", "höja", "sänk",
    "sänka", "stoppa", "play", "pause", "skip", "resume", "call", "text", "set", "turn", "lock",
    "unlock", "open", "order", "search", "google", "navigate", "wake", "dim", "mute", "start",
    "stop",
];

/// What may come before a command without changing it.
#[rustfmt::skip]
pub(super) const COURTESY: &[&str] = &[
    "hej", "hallå", "hey", "hi", "alice", "snälla", "please", "kan", "kunde", "skulle", "du",
    "can", "could", "would", "will", "you", "ok", "okej",
];

/// "Spela"/"play" with any of these is a request to a music player, wherever it stands.
#[rustfmt::skip]
pub(super) const PLAYING: &[&str] = &["spela", "play", "lyssna", "listen"];
#[rustfmt::skip]
pub(super) const MUSIC: &[&str] = &[
    "musik", "music", "låt", "låten", "låtar", "song", "songs", "album", "albumet", "radio",
    "radion", "p1", "p2", "p3", "p4", "podd", "podden", "podcast", "podcasts", "jazz", "rock",
    "pop", "hiphop", "klassisk", "playlist", "spellista",
];

/// Common first names. Alone they mean someone the user knows ("när fyller Anna år?"); followed
/// by a surname they may be a famous person ("Olof Palme"), which is general knowledge. Names
/// that are also everyday words ("Björn", "Per", "Bo", "Tom", "Will") are left out.
#[rustfmt::skip]
pub(super) const FIRST_NAMES: &[&str] = &[
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
pub(super) const TITLES: &[&str] = &[
    "kung", "drottning", "prins", "prinsessa", "kejsare", "påve", "sankt", "king", "queen",
    "prince", "princess", "emperor", "pope", "saint", "st", "tsar",
];

/// Words that start a continuation of something said before.
#[rustfmt::skip]
pub(super) const LEADING_CONNECTIVES: &[&str] = &["och", "men", "så", "eller", "plus", "and", "but", "so", "or", "also"];

/// Prepositions that, opening a short prompt, continue the last question ("på engelska?",
/// "och i Norge?", "in French please").
#[rustfmt::skip]
pub(super) const LEADING_PREPOSITIONS: &[&str] = &[
    "på", "i", "in", "on", "om", "about", "för", "for", "med", "with", "utan", "without", "till",
    "into", "to", "från", "from",
];

/// One-word answers and reactions that only mean something after a question from Alice.
#[rustfmt::skip]
pub(super) const REPLIES: &[&str] = &[
    "ja", "nej", "japp", "nä", "jo", "ok", "okej", "yes", "no", "yeah", "yep", "nope", "sure",
    "varför", "why", "hur", "how", "mer", "more", "fler", "inte", "not", "verkligen", "really",
    "seriöst", "seriously", "så", "so",
];
#[rustfmt::skip]
pub(super) const THANKS: &[&str] = &["tack", "snälla", "please", "thanks"];

/// Pronouns and adverbs that point back at something earlier in the conversation.
#[rustfmt::skip]
pub(super) const REFERRING: &[&str] = &[
    "det", "den", "dem", "de", "denna", "detta", "dessa", "där", "dit", "då", "sen", "sedan", "han",
    "hon", "hen", "honom", "henne", "hans", "hennes", "it", "that", "this", "these", "those",
    "they", "them", "he", "she", "him", "her", "his", "there", "then", "one",
];

/// Pronouns that, right after a command, make it act on an earlier answer.
#[rustfmt::skip]
pub(super) const OBJECTS: &[&str] = &[
    "det", "den", "dem", "detta", "denna", "dessa", "it", "that", "this", "them", "these", "those",
];

/// Swedish verb particles that may stand between a command and its object ("skriv om den",
/// "läs upp det").
#[rustfmt::skip]
pub(super) const PARTICLES: &[&str] = &["om", "upp", "ut", "ihop", "igenom", "över"];

/// Words that, after English "that", start a clause rather than end an object: "remember that
/// I like tea", "prove that the square root of 2 is irrational".
#[rustfmt::skip]
pub(super) const CLAUSE_STARTS: &[&str] = &[
    "i", "you", "he", "she", "it", "we", "they", "my", "your", "his", "her", "our", "their", "the",
    "a", "an", "there", "all", "every", "no", "some",
];

/// Pronouns for a person, who must have been named before when the prompt names no one.
#[rustfmt::skip]
pub(super) const PERSON_PRONOUNS: &[&str] = &[
    "han", "hon", "hen", "honom", "henne", "hans", "hennes", "he", "she", "him", "her", "his",
    "hers",
];

/// Pronouns for a thing that, unlike "det", are never an empty subject ("hur långt är det till
/// månen"). "Den" is also the article before an adjective ("den franska revolutionen").
#[rustfmt::skip]
pub(super) const THING_PRONOUNS: &[&str] = &["den", "dem"];

/// Indefinite articles, which make "vad är en timer?" a question about a kind of thing.
#[rustfmt::skip]
pub(super) const INDEFINITE_ARTICLES: &[&str] = &["en", "ett", "a", "an"];

/// Swedish small words: question words, pronouns, prepositions, common verbs and adjectives.
/// They tell the language ("i" is Swedish "in" but English "I") and whether a short question
/// has any content of its own.
#[rustfmt::skip]
pub(super) const SWEDISH_SMALL_WORDS: &[&str] = &[
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
pub(super) const ENGLISH_SMALL_WORDS: &[&str] = &[
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
