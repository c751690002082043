-- A/B experiments (docs/experiments.md): what became of every request an experiment assigned a
-- variant to, and the state an operator or the guard rail set an experiment to.
--
-- `experiment_outcomes` holds one row per assigned request: answered (with its latency, time to
-- first token, completion tokens and, on /api/chat, the stored answer), error (the status) or
-- shed (429/503). A row names its user, so it goes with them (erasure: ON DELETE CASCADE) and
-- is in their export; an anonymous request has none. A row outlives its answer (retention
-- deletes messages, not outcomes): `message_id` is then NULL, and the answer's rating with it.
-- The report and the guard read one experiment's rows by time, through
-- `experiment_outcomes_by_time`; the export and the erasure's count a user's through
-- `experiment_outcomes_by_user`.

CREATE TABLE experiment_outcomes (
    id                INTEGER PRIMARY KEY,
    experiment        TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           INTEGER REFERENCES users(id) ON DELETE CASCADE,
    request_id        TEXT NOT NULL,
    route             TEXT NOT NULL CHECK (route IN ('native', 'openai')),
    outcome           TEXT NOT NULL CHECK (outcome IN ('answered', 'error', 'shed')),
    status            INTEGER NOT NULL,
    latency_ms        INTEGER,
    ttft_ms           INTEGER,
    completion_tokens INTEGER,
    message_id        TEXT REFERENCES messages(id) ON DELETE SET NULL,
    at                TEXT NOT NULL
);
CREATE INDEX experiment_outcomes_by_time ON experiment_outcomes (experiment, at);
CREATE INDEX experiment_outcomes_by_user ON experiment_outcomes (user_id, id);
-- ON DELETE SET NULL looks rows up by the message deleted.
CREATE INDEX experiment_outcomes_by_message ON experiment_outcomes (message_id);

-- Whether an experiment runs: absent means running (its config decides, with start and stop);
-- `alice experiment stop` / `resume` and the guard rail write here, so every instance on the
-- database sees it within seconds.
CREATE TABLE experiment_states (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    reason     TEXT,
    changed_at TEXT NOT NULL
);
