-- Per-key guard rails: requests per minute and a spend limit per calendar
-- month (nano-USD, from recorded cost); NULL means no limit.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute BIGINT CHECK (rate_limit_per_minute > 0);
ALTER TABLE api_keys ADD COLUMN monthly_budget_nanos BIGINT CHECK (monthly_budget_nanos >= 0);

-- The key that started each execution.
ALTER TABLE executions ADD COLUMN api_key_id TEXT;

-- Requests per key per minute, counted where every replica sees them.
-- Unlogged: no WAL flush on the hot path; after a crash the counts restart,
-- which only forgives part of one minute.
CREATE UNLOGGED TABLE api_key_windows (
    api_key_id   TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests     BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);

-- Recorded cost per key per calendar month (UTC), added in the statement
-- that records each execution's cost, so a budget check reads one row.
CREATE TABLE api_key_spend (
    api_key_id  TEXT NOT NULL,
    month_start BIGINT NOT NULL,
    cost_nanos  BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, month_start)
);
