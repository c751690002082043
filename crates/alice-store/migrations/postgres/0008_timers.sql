-- Timers and reminders a user set, in the chat or through the API. Each is due at a moment and
-- fired once: the instance that moves it from 'pending' to 'fired' (one conditional UPDATE)
-- delivers it, as an event to the user's open streams and, in the same transaction, as an
-- assistant message in the conversation it was set in. `message` is what Alice says then,
-- composed when the timer was set (in the language it was asked in). Timers go with their user.
-- `conversation_id` is no foreign key: a timer set by the first message of a conversation is
-- written before that conversation is (with the turn, after the answer); a timer whose
-- conversation is gone when it fires rings as an event only.
CREATE TABLE timers (
    id              UUID PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id UUID,
    kind            TEXT NOT NULL CHECK (kind IN ('timer', 'reminder')),
    label           TEXT NOT NULL DEFAULT '',
    message         TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'fired', 'cancelled')),
    fired_at        TIMESTAMPTZ,
    fired_by        TEXT
);
CREATE INDEX timers_pending_due ON timers (due_at) WHERE state = 'pending';
CREATE INDEX timers_by_user ON timers (user_id, state, due_at);
