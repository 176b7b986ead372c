-- How the worker must send a queued execution: the rendered prompt is plain
-- text, or a JSON list of chat messages; and the provider timeout it asked for.
ALTER TABLE executions ADD COLUMN prompt_kind TEXT NOT NULL DEFAULT 'text' CHECK (prompt_kind IN ('text', 'chat'));
ALTER TABLE executions ADD COLUMN timeout_ms BIGINT;
