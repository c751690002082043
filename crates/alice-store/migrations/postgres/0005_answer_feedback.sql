-- Thumbs up or down on one of Alice's answers, as in the SQLite migration
-- 0006_answer_feedback.sql: one row per answer, given by the user whose conversation it is, with
-- an optional comment. A row goes with its message (retention, a deleted conversation) and with
-- its user (erasure): ON DELETE CASCADE both ways.

CREATE TABLE answer_feedback (
    message_id UUID PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating     TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment    TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
-- The GDPR export reads a user's feedback a page at a time by key, and an erasure's cascade
-- finds it by user.
CREATE INDEX answer_feedback_by_user ON answer_feedback (user_id, message_id);
