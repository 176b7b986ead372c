-- Per-key guard rails: requests per minute and a spend limit per calendar
-- month (nano-USD, from recorded cost); NULL means no limit.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute BIGINT CHECK (rate_limit_per_minute > 0);
ALTER TABLE api_keys ADD COLUMN monthly_budget_nanos BIGINT CHECK (monthly_budget_nanos >= 0);

-- The key that started each execution, for its month's spend.
ALTER TABLE executions ADD COLUMN api_key_id TEXT;
CREATE INDEX executions_api_key ON executions (api_key_id, created_at) WHERE api_key_id IS NOT NULL;

-- Requests per key per minute, counted where every replica sees them.
CREATE TABLE api_key_windows (
    api_key_id   TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests     BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);
