-- Alice's whole schema for PostgreSQL: the same tables and columns as the SQLite migrations
-- (0001_conversations.sql and 0002_memories_gdpr.sql), with native types (UUID, TIMESTAMPTZ,
-- JSONB, BOOLEAN) and PostgreSQL's own Swedish full-text search for memories.
-- Ids of conversations and messages are UUIDv7 (time-ordered); `seq` orders the messages of one
-- conversation exactly, whatever the clock did.

CREATE TABLE users (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT,
    language     TEXT NOT NULL DEFAULT 'sv',
    timezone     TEXT NOT NULL DEFAULT 'Europe/Stockholm',
    preferences  JSONB NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE conversations (
    id              UUID PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT,
    title           TEXT NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'agent', 'voice', 'system')),
    started_at      TIMESTAMPTZ NOT NULL,
    last_message_at TIMESTAMPTZ NOT NULL,
    ended_at        TIMESTAMPTZ,
    message_count   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX conversations_by_user ON conversations (user_id, last_message_at);
-- Newest-active first across all users (`recent_conversations`).
CREATE INDEX conversations_by_activity ON conversations (last_message_at);

CREATE TABLE messages (
    id                UUID PRIMARY KEY,
    conversation_id   UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq               BIGINT NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content           TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    model_used        TEXT,
    response_time_ms  BIGINT,
    ttft_ms           BIGINT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    request_id        TEXT,
    cached            BOOLEAN NOT NULL DEFAULT FALSE,
    metadata          JSONB NOT NULL DEFAULT '{}',
    -- The response-cache key of an answer, so erasing the user also erases the cache entry.
    cache_key         TEXT,
    UNIQUE (conversation_id, seq)
);
-- Retention deletes messages by age.
CREATE INDEX messages_by_time ON messages (created_at);

-- Personal memories. `search` is the content as Swedish lexemes (stemmed, stop words dropped)
-- by PostgreSQL's `swedish` configuration; queries go through the same configuration.
CREATE TABLE memories (
    id                     UUID PRIMARY KEY,
    user_id                BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content                TEXT NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    source_conversation_id UUID REFERENCES conversations (id) ON DELETE SET NULL,
    search                 TSVECTOR GENERATED ALWAYS AS (to_tsvector('swedish', content)) STORED
);
CREATE INDEX memories_by_user ON memories (user_id, created_at);
CREATE INDEX memories_search ON memories USING GIN (search);
-- Deleting a conversation nulls its memories' source: found by index, not by a scan.
CREATE INDEX memories_by_source ON memories (source_conversation_id);

-- A client's session (a browser tab, a voice device); conversations may name one.
CREATE TABLE chat_sessions (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client       TEXT,
    started_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    metadata     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX chat_sessions_by_user ON chat_sessions (user_id);

-- One run of an agent (a tool-using task) on a user's behalf.
CREATE TABLE agent_executions (
    id              TEXT PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id UUID REFERENCES conversations (id) ON DELETE CASCADE,
    agent           TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    input           TEXT NOT NULL DEFAULT '',
    output          TEXT,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    metadata        JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX agent_executions_by_user ON agent_executions (user_id);
CREATE INDEX agent_executions_by_conversation ON agent_executions (conversation_id);

-- The Guardian's samples, downsampled: one row per interval with the mean readings.
CREATE TABLE system_metrics (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at    TIMESTAMPTZ NOT NULL,
    guardian_state TEXT NOT NULL,
    brownout_level TEXT NOT NULL,
    ram_pct        DOUBLE PRECISION,
    cpu_pct        DOUBLE PRECISION,
    disk_pct       DOUBLE PRECISION,
    samples        BIGINT NOT NULL
);
CREATE INDEX system_metrics_by_time ON system_metrics (recorded_at);
