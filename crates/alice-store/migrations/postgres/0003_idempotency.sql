-- Idempotent retries of chat requests (the `Idempotency-Key` header), as in the SQLite migration
-- 0004_idempotency.sql: one row per user and key, `running` while the first request is answered,
-- then `completed` with the answer a retry gets back. A row past `expires_at` counts as gone.
-- Rows hold answer text, so an erasure takes the user's own rows (ON DELETE CASCADE) and the
-- rows whose `subject` (the user whose turn the answer is) they are.

CREATE TABLE idempotency_records (
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    claim_token     TEXT NOT NULL,
    subject         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'completed')),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    status          BIGINT,
    content_type    TEXT,
    body            BYTEA,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_records_expiry ON idempotency_records(expires_at);
CREATE INDEX idempotency_records_subject ON idempotency_records(subject);
