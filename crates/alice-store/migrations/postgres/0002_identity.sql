-- Identity: a role and an optional web password per user, API keys and the page's sessions, as
-- in the SQLite migration 0003_identity.sql. Keys and sessions are kept only as SHA-256 hashes
-- of their secrets; both go with their user (ON DELETE CASCADE).

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    user_id             BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    label               TEXT NOT NULL DEFAULT '',
    secret_hash         TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ,
    revoked_at          TIMESTAMPTZ,
    requests_per_minute BIGINT,
    tokens_per_minute   BIGINT,
    max_in_flight       BIGINT
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
