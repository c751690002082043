-- Identity: a role and an optional web password per user, API keys and the page's sessions.
-- Keys and sessions are kept only as SHA-256 hashes of their secrets; a key's `id` is the public
-- part of the key, by which it is looked up. Both go with their user (ON DELETE CASCADE), so an
-- erasure takes them too.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label               TEXT NOT NULL DEFAULT '',
    secret_hash         TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    expires_at          TEXT,
    revoked_at          TEXT,
    requests_per_minute INTEGER,
    tokens_per_minute   INTEGER,
    max_in_flight       INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
