// The page's words in Swedish (the default) and English, and the switch between them.
// Static text carries data-i18n (text), data-i18n-label (aria-label) or data-i18n-placeholder.

const WORDS = {
  sv: {
    skip: "Hoppa till innehållet",
    views: "Vyer",
    chat: "Chatt",
    dashboard: "Översikt",
    other_language: "English",
    log_out: "Logga ut",
    log_in_title: "Logga in",
    login_method: "Inloggningssätt",
    with_password: "Med lösenord",
    with_key: "Med API-nyckel",
    username: "Användarnamn",
    password: "Lösenord",
    api_key: "API-nyckel",
    log_in: "Logga in",
    first_start: "Första start?",
    first_start_help:
      "Vid första starten skapar Alice användaren admin och skriver dess nyckel till data/admin.key, läsbar bara för dig. Visa den med ”cat data/admin.key” och logga in med API-nyckel.",
    conversations: "Samtal",
    new_conversation: "Nytt samtal",
    search_conversations: "Sök bland samtalen",
    no_conversations: "Inga samtal än.",
    no_matches: "Inga samtal matchar.",
    my_memories: "Mina minnen",
    export_data: "Exportera mina data",
    forget_me: "Glöm mig",
    message: "Meddelande",
    ask: "Fråga Alice …",
    send: "Skicka",
    stop: "Stoppa",
    copy: "Kopiera",
    copied: "Kopierat",
    regenerate: "Svara igen",
    good_answer: "Bra svar",
    bad_answer: "Dåligt svar",
    no_memories: "Alice minns inget om dig än.",
    new_memory: "Nytt minne",
    add: "Lägg till",
    delete: "Ta bort",
    delete_memory: "Ta bort minnet",
    close: "Stäng",
    cancel: "Avbryt",
    confirm: "Bekräfta",
    connecting: "Ansluter …",
    live: "Live",
    reconnecting: "Återansluter …",
    controls: "Styrning",
    brownout_level: "Brownout-nivå",
    brownout_on: "Slå på brownout",
    brownout_off: "Slå av brownout",
    model_switch: "Byt modell",
    model_placeholder: "t.ex. llama3.2:3b (tomt: den konfigurerade)",
    switch: "Byt",
    you: "Du",
    alice: "Alice",
    stopped: "Stoppad.",
    cached: "från cachen",
    failover: "reservbackend efter {ms} ms",
    brownout: "brownout {level}",
    ttft: "första ord {ms} ms",
    confirm_forget:
      "Glöm mig: alla dina samtal, minnen och nycklar raderas för gott och du loggas ut. Det går inte att ångra.",
    confirm_brownout: "Slå på brownout på nivå {level}? Svaren blir kortare och enklare tills du slår av den.",
    confirm_brownout_off: "Slå av den manuella brownouten?",
    confirm_model: "Byt modell till {model}?",
    confirm_model_default: "Gå tillbaka till den konfigurerade modellen?",
    done: "Klart.",
    wrong_login: "Fel användarnamn, lösenord eller nyckel.",
    error_429: "För många förfrågningar: {why}",
    error_503: "Alice kan inte svara just nu: {why}",
    retry_in: "Försök igen om {seconds} sekunder.",
    retry_in_minutes: "Försök igen om {minutes} minuter.",
    retry_later: "Försök igen om en stund.",
    error_network: "Alice svarar inte. Kontrollera att servern är igång och försök igen.",
    error_generic: "Något gick fel: {why}",
    state: "Läge",
    level: "Brownout",
    manual: "manuell",
    transitions: "Lägesbyten",
    no_transitions: "Inga lägesbyten än.",
    machine: "Maskinen",
    ram: "RAM",
    cpu: "CPU",
    disk: "Disk",
    error_rate: "Fel nu",
    shed: "avvisade",
    rate_limited: "över gränsen",
    requests: "Förfrågningar",
    rate: "per sekund",
    errors: "Fel och avvisade",
    backends: "Backends",
    backend: "Backend",
    breaker: "Brytare",
    in_flight: "Pågår",
    queue: "Kö",
    limit: "Gräns",
    cache: "Cache",
    hit_rate: "Träffgrad",
    entries: "Poster",
    store: "Lagring",
    batches: "Skrivomgångar",
    turns_per_batch: "Turer per omgång",
    instance: "Instans",
    applied: "Ändrat.",
  },
  en: {
    skip: "Skip to content",
    views: "Views",
    chat: "Chat",
    dashboard: "Dashboard",
    other_language: "Svenska",
    log_out: "Log out",
    log_in_title: "Log in",
    login_method: "How to log in",
    with_password: "With password",
    with_key: "With API key",
    username: "User name",
    password: "Password",
    api_key: "API key",
    log_in: "Log in",
    first_start: "First start?",
    first_start_help:
      "On its first start Alice creates the user admin and writes its key to data/admin.key, readable by you alone. Show it with “cat data/admin.key” and log in with the API key.",
    conversations: "Conversations",
    new_conversation: "New conversation",
    search_conversations: "Search conversations",
    no_conversations: "No conversations yet.",
    no_matches: "No conversation matches.",
    my_memories: "My memories",
    export_data: "Export my data",
    forget_me: "Forget me",
    message: "Message",
    ask: "Ask Alice …",
    send: "Send",
    stop: "Stop",
    copy: "Copy",
    copied: "Copied",
    regenerate: "Answer again",
    good_answer: "Good answer",
    bad_answer: "Bad answer",
    no_memories: "Alice remembers nothing about you yet.",
    new_memory: "New memory",
    add: "Add",
    delete: "Delete",
    delete_memory: "Delete the memory",
    close: "Close",
    cancel: "Cancel",
    confirm: "Confirm",
    connecting: "Connecting …",
    live: "Live",
    reconnecting: "Reconnecting …",
    controls: "Controls",
    brownout_level: "Brownout level",
    brownout_on: "Start brownout",
    brownout_off: "End brownout",
    model_switch: "Switch model",
    model_placeholder: "e.g. llama3.2:3b (empty: the configured one)",
    switch: "Switch",
    you: "You",
    alice: "Alice",
    stopped: "Stopped.",
    cached: "from the cache",
    failover: "fallback backend after {ms} ms",
    brownout: "brownout {level}",
    ttft: "first token {ms} ms",
    confirm_forget:
      "Forget me: all your conversations, memories and keys are deleted for good and you are logged out. This cannot be undone.",
    confirm_brownout: "Start a brownout at level {level}? Answers get shorter and simpler until you end it.",
    confirm_brownout_off: "End the manual brownout?",
    confirm_model: "Switch the model to {model}?",
    confirm_model_default: "Go back to the configured model?",
    done: "Done.",
    wrong_login: "Wrong user name, password or key.",
    error_429: "Too many requests: {why}",
    error_503: "Alice cannot answer right now: {why}",
    retry_in: "Try again in {seconds} seconds.",
    retry_in_minutes: "Try again in {minutes} minutes.",
    retry_later: "Try again in a while.",
    error_network: "Alice does not answer. Check that the server runs, then try again.",
    error_generic: "Something went wrong: {why}",
    state: "State",
    level: "Brownout",
    manual: "manual",
    transitions: "State changes",
    no_transitions: "No state changes yet.",
    machine: "The machine",
    ram: "RAM",
    cpu: "CPU",
    disk: "Disk",
    error_rate: "Errors now",
    shed: "shed",
    rate_limited: "rate limited",
    requests: "Requests",
    rate: "per second",
    errors: "Errors and shed",
    backends: "Backends",
    backend: "Backend",
    breaker: "Breaker",
    in_flight: "In flight",
    queue: "Queue",
    limit: "Limit",
    cache: "Cache",
    hit_rate: "Hit rate",
    entries: "Entries",
    store: "Store",
    batches: "Write batches",
    turns_per_batch: "Turns per batch",
    instance: "Instance",
    applied: "Applied.",
  },
};

let current = "sv";

/** The word for `key` in the current language, with `{name}` filled from `values`. */
export function t(key, values = {}) {
  const text = WORDS[current][key] ?? WORDS.sv[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function language() {
  return current;
}

/** Switches the page to `lang` and rewrites every marked element. */
export function setLanguage(lang) {
  current = WORDS[lang] ? lang : "sv";
  document.documentElement.lang = current;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of document.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
    element.setAttribute("placeholder", t(element.dataset.i18nPlaceholder));
  }
  const other = document.getElementById("language");
  if (other) other.lang = current === "sv" ? "en" : "sv";
}

/** Translates the marked elements inside a freshly cloned template. */
export function translate(root) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}
