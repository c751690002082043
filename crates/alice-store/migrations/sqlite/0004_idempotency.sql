-- Idempotent retries of chat requests (the `Idempotency-Key` header): one row per user and key.
-- A row is `running` while its first request is answered, then `completed` with the answer's
-- status, content type and body, which a retry with the same key gets back instead of a second
-- turn. `fingerprint` (SHA-256 of the route and the canonical JSON body) tells a retry from a
-- different request under the same key. `claim_token` names the request that holds a running
-- row, so only it completes or releases it. A row past `expires_at` counts as gone: a running one
-- was abandoned (its instance died), a completed one is older than chat.idempotency_ttl.
-- `subject` names the user whose turn the answer is (the caller, or the user an admin chatted
-- for). Rows hold answer text, so an erasure takes the user's own rows (ON DELETE CASCADE) and
-- the rows whose subject they are.

CREATE TABLE idempotency_records (
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    claim_token     TEXT NOT NULL,
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'completed')),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    status          INTEGER,
    content_type    TEXT,
    body            BLOB,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_records_expiry ON idempotency_records(expires_at);
CREATE INDEX idempotency_records_subject ON idempotency_records(subject);
