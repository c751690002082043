-- A/B experiments, as in the SQLite migration 0007_experiments.sql: one row per request an
-- experiment assigned a variant to (answered, error or shed), going with its user (erasure:
-- ON DELETE CASCADE) and outliving its answer (`message_id` becomes NULL), and the state an
-- operator or the guard rail set an experiment to.

CREATE TABLE experiment_outcomes (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment        TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           BIGINT REFERENCES users (id) ON DELETE CASCADE,
    request_id        TEXT NOT NULL,
    route             TEXT NOT NULL CHECK (route IN ('native', 'openai')),
    outcome           TEXT NOT NULL CHECK (outcome IN ('answered', 'error', 'shed')),
    status            INTEGER NOT NULL,
    latency_ms        BIGINT,
    ttft_ms           BIGINT,
    completion_tokens BIGINT,
    message_id        UUID REFERENCES messages (id) ON DELETE SET NULL,
    at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX experiment_outcomes_by_time ON experiment_outcomes (experiment, at);
CREATE INDEX experiment_outcomes_by_user ON experiment_outcomes (user_id, id);
-- ON DELETE SET NULL looks rows up by the message deleted.
CREATE INDEX experiment_outcomes_by_message ON experiment_outcomes (message_id);

CREATE TABLE experiment_states (
    name       TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    reason     TEXT,
    changed_at TIMESTAMPTZ NOT NULL
);
