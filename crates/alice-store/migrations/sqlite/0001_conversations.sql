-- Users, conversations and messages: the spine of Alice's history.
-- Ids of conversations and messages are UUIDv7 text (time-ordered); `seq` orders the messages of
-- one conversation exactly, whatever the clock did.

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT,
    language     TEXT NOT NULL DEFAULT 'sv',
    timezone     TEXT NOT NULL DEFAULT 'Europe/Stockholm',
    preferences  TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL
);

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'agent', 'voice', 'system')),
    started_at      TEXT NOT NULL,
    last_message_at TEXT NOT NULL,
    ended_at        TEXT,
    message_count   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_by_user ON conversations (user_id, last_message_at);

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    conversation_id   TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content           TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    model_used        TEXT,
    response_time_ms  INTEGER,
    ttft_ms           INTEGER,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    request_id        TEXT,
    cached            INTEGER NOT NULL DEFAULT 0,
    metadata          TEXT NOT NULL DEFAULT '{}',
    UNIQUE (conversation_id, seq)
);
