-- An API key's priority class at the backends' queues: "interactive" (a person waiting) is
-- served before "batch" (jobs that can wait). Existing keys are interactive, as before.
ALTER TABLE api_keys ADD COLUMN priority TEXT NOT NULL DEFAULT 'interactive'
    CHECK (priority IN ('interactive', 'batch'));
