-- The erasure log: one tombstone per erased user, so that an erasure can be applied again to a
-- restored backup. A tombstone holds no personal data: the user is named only by a keyed hash
-- (HMAC-SHA256 of the username under the database's own erasure key), with when, by whom and
-- how many rows went.
--
-- The key is made here, once, from two random UUIDs (gen_random_uuid draws from the server's
-- cryptographic random source: 244 random bits); it travels with the database (and so with
-- every backup), which is what lets a tombstone be matched against an older backup.

CREATE TABLE erasure_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_hex    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO erasure_key (id, key_hex, created_at)
    VALUES (1,
            replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''),
            now());

CREATE TABLE erasures (
    id         UUID PRIMARY KEY,
    subject    TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    erased_at  TIMESTAMPTZ NOT NULL,
    erased_by  TEXT NOT NULL,
    counts     JSONB NOT NULL
);
CREATE INDEX erasures_erased_at ON erasures (erased_at);

-- The streamed GDPR export reads a user's conversations in the order they were started, a page
-- at a time from the last one read.
CREATE INDEX conversations_by_user_start ON conversations (user_id, started_at, id);
