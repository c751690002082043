-- Memories with Swedish full-text search, the remaining tables of the schema, and what GDPR
-- erasure and retention need (a cache key per answer, messages by time).

ALTER TABLE conversations ADD COLUMN session_id TEXT;
ALTER TABLE messages ADD COLUMN cache_key TEXT;
CREATE INDEX messages_by_time ON messages (created_at);

-- `number` is the rowid the full-text index points at; an explicit INTEGER PRIMARY KEY keeps it
-- stable across VACUUM (which erasure runs).
CREATE TABLE memories (
    number                 INTEGER PRIMARY KEY,
    id                     TEXT NOT NULL UNIQUE,
    user_id                INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content                TEXT NOT NULL,
    -- The content as stemmed Swedish search terms (lowercase, stop words dropped), what FTS5
    -- indexes: the stemming is done by Alice, so queries are stemmed the same way.
    search_text            TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    source_conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL
);
CREATE INDEX memories_by_user ON memories (user_id, created_at);

CREATE VIRTUAL TABLE memories_fts USING fts5(
    search_text,
    content = 'memories',
    content_rowid = 'number',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, search_text) VALUES (new.number, new.search_text);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, search_text)
    VALUES ('delete', old.number, old.search_text);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, search_text)
    VALUES ('delete', old.number, old.search_text);
    INSERT INTO memories_fts (rowid, search_text) VALUES (new.number, new.search_text);
END;

-- A client's session (a browser tab, a voice device); conversations may name one.
CREATE TABLE chat_sessions (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client       TEXT,
    started_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at     TEXT,
    metadata     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX chat_sessions_by_user ON chat_sessions (user_id);

-- One run of an agent (a tool-using task) on a user's behalf.
CREATE TABLE agent_executions (
    id              TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    agent           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    input           TEXT NOT NULL DEFAULT '',
    output          TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    metadata        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX agent_executions_by_user ON agent_executions (user_id);

-- The Guardian's samples, downsampled: one row per interval with the mean readings.
CREATE TABLE system_metrics (
    id             INTEGER PRIMARY KEY,
    recorded_at    TEXT NOT NULL,
    guardian_state TEXT NOT NULL,
    brownout_level TEXT NOT NULL,
    ram_pct        REAL,
    cpu_pct        REAL,
    disk_pct       REAL,
    samples        INTEGER NOT NULL
);
CREATE INDEX system_metrics_by_time ON system_metrics (recorded_at);
