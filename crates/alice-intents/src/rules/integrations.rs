//! Requests for an integration Alice may not have: weather, music, volume, mail, calendar.
//!
//! They are recognised so that Alice can say plainly that the integration is not connected,
//! instead of letting the model make up a forecast or pretend to play a song. Each is a set of
//! whole-message patterns; a few take a free slot ("vädret i <ort>", "spela <artist>"), which
//! scores [`LOOSE`]. Writing about a topic stays with the model: "skriv ett mejl till chefen"
//! is a text to draft, while "skicka ett mejl" and "läs mina mejl" need the mail integration.

use super::{Candidate, Request};
use crate::confidence::LOOSE;
use crate::intent::{Integration, Intent};
use crate::pattern::{match_any, pattern_confidence};

const WEATHER: &[&str] = &[
    "hur|vad blir|är vädret idag|imorgon|ikväll|nu|sen|ute?",
    "hur|vad blir|är vädret i dag|morgon|kväll|helgen",
    "vad blir det för väder idag|imorgon|ikväll|nu?",
    "vad blir det för väder i dag|morgon|kväll|helgen",
    "vad är det för väder ute|idag|nu?",
    "vad är det för väder i dag",
    "vad säger väderprognosen|prognosen idag|imorgon?",
    "väder|vädret idag|imorgon|nu?",
    "vädret i dag|morgon|helgen",
    "väderprognos|väderprognosen",
    "kommer det att? regna|snöa idag|imorgon|ikväll?",
    "kommer det att? regna|snöa i dag|morgon|kväll|helgen",
    "regnar|snöar det ute|nu?",
    "blir det regn|sol|snö idag|imorgon|ikväll?",
    "blir det regn|sol|snö i dag|morgon|helgen",
    "behöver jag paraply idag|imorgon?",
    "hur varmt|kallt är det ute|nu?",
    "hur många grader är det ute|nu",
    "what's|whats the weather like? today|tomorrow|now?",
    "what is the weather like? today|tomorrow|now?",
    "how is the weather today|tomorrow?",
    "how's|hows the weather today|tomorrow?",
    "will it rain|snow today|tomorrow|tonight?",
    "is it raining|snowing outside?",
    "do i need an umbrella today?",
    "weather forecast|today|tomorrow?",
    "how cold|warm is it outside",
];

/// Weather with a place: the pattern before "i"/"in", then one or two words.
const WEATHER_AT: &[&str] = &[
    "hur|vad blir|är vädret",
    "vad blir det för väder",
    "vad är det för väder",
    "väder|vädret",
    "regnar|snöar det",
    "what's|whats the weather like?",
    "what is the weather like?",
    "how is the weather",
    "is it raining",
];

const MUSIC: &[&str] = &[
    "spela musik|låtar|radio|radion|spellistan|podden|låten",
    "sätt på lite? musik|radion|radio",
    "spela lite musik|jazz|rock|pop|klassiskt",
    "spela något|nåt",
    "spela upp musik",
    "pausa|stoppa musiken|låten|radion",
    "stäng av musiken|radion",
    "pausa",
    "fortsätt spela|spelningen",
    "nästa låt",
    "nästa spår",
    "förra låten|spåret",
    "hoppa över låten",
    "hoppa över den här låten?",
    "byt låt",
    "vad är det här för låt",
    "vilken låt är detta",
    "vilken låt är det här",
    "play music|something|radio",
    "play some music|jazz|rock|pop",
    "pause|stop the? music|song?",
    "pause",
    "resume music?",
    "next song|track?",
    "skip this? song|track?",
    "previous song|track",
    "what song is this",
];

/// The start of "spela <artist or genre>" (one to four words).
const PLAY: &[&str] = &["spela|play", "spela|play lite|some", "kan du spela"];

/// What "spela …" is not about: games, instruments, roles, recording.
const NOT_MUSIC: &[&str] = &[
    "schack",
    "spel",
    "spelet",
    "ett",
    "en",
    "roll",
    "rollen",
    "rollspel",
    "fotboll",
    "gitarr",
    "piano",
    "kort",
    "tennis",
    "golf",
    "in",
    "luffarschack",
    "teater",
    "chess",
    "game",
    "a",
    "the",
    "role",
    "guitar",
    "football",
    "cards",
    "fia",
    "sten",
    "memory",
    "quiz",
    "tjugo",
    "dum",
    "roligt",
    "kul",
    "inte",
    "tic",
    "tac",
    "toe",
    "games",
    "död",
    "dod",
    "med",
    "mot",
    "bort",
];

const VOLUME: &[&str] = &[
    "höj|sänk volymen|ljudet",
    "höj|sänk volymen|ljudet lite|mer",
    "sätt volymen|ljudet till? %|procent?",
    "volymen|volym till? upp|ner",
    "högre volym",
    "lägre volym",
    "stäng av ljudet",
    "sätt på ljudet",
    "mer|mindre ljud",
    "turn the? volume|it|sound up|down",
    "turn up|down the? volume|sound|music",
    "volume up|down",
    "set the? volume to",
    "mute|unmute",
];

const MAIL: &[&str] = &[
    "kolla|läs|läsa|visa|öppna min|mina? mejl|mail|mejlen|mailen|inkorgen|e-post|epost",
    "kolla|läs|läsa|visa mina nya? mejl|mail|meddelanden",
    "har jag fått några? nya? mejl|mail|e-post|epost",
    "har jag fått något? nytt? mejl|mail",
    "har jag några nya? mejl|mail",
    "har det kommit något|några nya? mejl|mail",
    "skicka ett mejl|mail",
    "skicka ett mejl|mail till",
    "check|read|show my? email|emails|mail|inbox",
    "do i have any? new? email|emails|mail",
    "any new email|emails|mail",
    "send an email|e-mail",
    "send an email|e-mail to",
];

const CALENDAR: &[&str] = &[
    "vad har jag för mig? idag|imorgon|ikväll|nu",
    "vad har jag idag|imorgon|ikväll",
    "vad har jag i dag|morgon|kväll",
    "vad har jag för mig i dag|morgon|eftermiddag|helgen",
    "vad har jag för möten idag|imorgon?",
    "vad har jag för möten i dag|morgon",
    "vad har jag inbokat|bokat idag|imorgon?",
    "vad står det? i kalendern|kalendern idag|imorgon?",
    "vad har jag i kalendern idag|imorgon?",
    "visa|kolla min kalender|kalendern",
    "mina möten idag|imorgon?",
    "visa|kolla mina möten idag|imorgon?",
    "har jag några möten idag|imorgon?",
    "har jag något möte idag|imorgon?",
    "när är mitt nästa möte",
    "boka ett möte",
    "lägg till|in ett möte",
    "skapa ett möte",
    "what's|whats on my calendar today|tomorrow?",
    "what is on my calendar today|tomorrow?",
    "what do i have today|tomorrow",
    "do i have any meetings today|tomorrow?",
    "show|check my calendar",
    "what meetings do i have today|tomorrow?",
    "when is my next meeting",
    "schedule|book a meeting",
];

pub(super) fn classify(request: &Request<'_>) -> Option<Candidate> {
    let words = request.core();
    for (patterns, integration) in [
        (WEATHER, Integration::Weather),
        (MUSIC, Integration::Music),
        (VOLUME, Integration::Volume),
        (MAIL, Integration::Mail),
        (CALENDAR, Integration::Calendar),
    ] {
        if let Some(typos) = match_any(&words, patterns) {
            let intent = Intent::External(integration);
            return Some(Candidate::new(intent, pattern_confidence(typos)));
        }
    }
    volume_level(&words)
        .or_else(|| with_place(&words))
        .or_else(|| play_something(&words))
        .or_else(|| mail_or_meeting_with_slot(&words))
}

/// "sätt volymen till 30 %", "volume to 50".
fn volume_level(words: &[&str]) -> Option<Candidate> {
    let number_at = words
        .iter()
        .position(|word| word.bytes().all(|byte| byte.is_ascii_digit()))?;
    let mut shape: Vec<&str> = words.to_vec();
    shape.remove(number_at);
    let typos = match_any(&shape, VOLUME)?;
    Some(Candidate::new(
        Intent::External(Integration::Volume),
        pattern_confidence(typos),
    ))
}

/// "vädret i Göteborg imorgon", "regnar det i Malmö".
fn with_place(words: &[&str]) -> Option<Candidate> {
    let at = words.iter().position(|word| matches!(*word, "i" | "in"))?;
    match_any(&words[..at], WEATHER_AT)?;
    let place = &words[at + 1..];
    let place = match place {
        [
            head @ ..,
            "idag" | "imorgon" | "ikvall" | "nu" | "today" | "tomorrow",
        ] => head,
        [head @ .., "i", "dag" | "morgon" | "helgen"] => head,
        _ => place,
    };
    let plain = place
        .iter()
        .all(|word| word.chars().all(char::is_alphabetic));
    ((1..=2).contains(&place.len()) && plain)
        .then(|| Candidate::new(Intent::External(Integration::Weather), LOOSE))
}

/// "spela Abba", "spela lite Bach", "play Taylor Swift".
fn play_something(words: &[&str]) -> Option<Candidate> {
    (1..=3.min(words.len().saturating_sub(1)))
        .rev()
        .find_map(|opening| {
            match_any(&words[..opening], PLAY)?;
            let what = &words[opening..];
            let musical = (1..=4).contains(&what.len())
                && !what.iter().any(|word| NOT_MUSIC.contains(word))
                && what
                    .iter()
                    .all(|word| word.chars().all(char::is_alphanumeric));
            musical.then(|| Candidate::new(Intent::External(Integration::Music), LOOSE))
        })
}

/// "skicka ett mejl till Anna", "boka ett möte med Per imorgon".
fn mail_or_meeting_with_slot(words: &[&str]) -> Option<Candidate> {
    let shapes: [(&[&str], Integration, &str); 4] = [
        (&["skicka", "ett"], Integration::Mail, "till"),
        (&["send", "an"], Integration::Mail, "to"),
        (&["boka", "ett"], Integration::Calendar, "med"),
        (&["book", "a"], Integration::Calendar, "with"),
    ];
    shapes.iter().find_map(|(opening, integration, to)| {
        let [_, _, object, marker, name @ ..] = words else {
            return None;
        };
        let object_fits = matches!(
            *object,
            "mejl" | "mail" | "email" | "e-mail" | "mote" | "meeting"
        );
        (words.starts_with(opening) && object_fits && marker == to && (1..=2).contains(&name.len()))
            .then(|| Candidate::new(Intent::External(*integration), LOOSE))
    })
}
