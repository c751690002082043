-- Thumbs up or down on one of Alice's answers, given by the user whose conversation it is: what
-- the A/B experiments count. One row per answer (an answer has one owner, who may change their
-- rating or take it back), with an optional comment in the user's own words. A row goes with
-- its message (retention, a deleted conversation) and with its user (erasure): ON DELETE
-- CASCADE both ways.

CREATE TABLE answer_feedback (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rating     TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment    TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The GDPR export reads a user's feedback a page at a time by key, and an erasure's cascade
-- finds it by user.
CREATE INDEX answer_feedback_by_user ON answer_feedback (user_id, message_id);
