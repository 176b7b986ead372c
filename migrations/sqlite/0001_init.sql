-- PromptLedger schema. Timestamps are UTC milliseconds since the Unix epoch
-- (span times are microseconds); ids are UUID strings; money is integer
-- nano-USD so sums stay exact.

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('admin', 'write', 'read')),
    key_hash      TEXT NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE prompts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL DEFAULT '',
    owner_team      TEXT,
    mode            TEXT NOT NULL CHECK (mode IN ('full', 'tracking')),
    latest_version  BIGINT NOT NULL DEFAULT 0,
    archived_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX prompts_owner_team ON prompts (owner_team, name);

CREATE TABLE prompt_versions (
    id             TEXT PRIMARY KEY,
    prompt_id      TEXT NOT NULL REFERENCES prompts (id),
    version        BIGINT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('text', 'chat')),
    template       TEXT,
    messages       TEXT,
    config         TEXT NOT NULL DEFAULT '{}',
    variables      TEXT NOT NULL DEFAULT '[]',
    checksum_hash  TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'active', 'archived')),
    created_by     TEXT,
    message        TEXT,
    created_at     BIGINT NOT NULL,
    activated_at   BIGINT,
    UNIQUE (prompt_id, version),
    UNIQUE (prompt_id, checksum_hash)
);
-- The database, not the code, guarantees one active version per prompt.
CREATE UNIQUE INDEX prompt_versions_one_active ON prompt_versions (prompt_id) WHERE status = 'active';

CREATE TABLE prompt_labels (
    prompt_id   TEXT NOT NULL REFERENCES prompts (id),
    label       TEXT NOT NULL,
    version_id  TEXT NOT NULL REFERENCES prompt_versions (id),
    updated_by  TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (prompt_id, label)
);

CREATE TABLE models (
    id                     TEXT PRIMARY KEY,
    provider               TEXT NOT NULL,
    model_name             TEXT NOT NULL,
    input_usd_per_mtok     REAL NOT NULL DEFAULT 0,
    output_usd_per_mtok    REAL NOT NULL DEFAULT 0,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    UNIQUE (provider, model_name)
);

CREATE TABLE executions (
    id                   TEXT PRIMARY KEY,
    prompt_id            TEXT REFERENCES prompts (id),
    prompt_version_id    TEXT REFERENCES prompt_versions (id),
    prompt_name          TEXT,
    version              BIGINT,
    model_id             TEXT REFERENCES models (id),
    provider             TEXT NOT NULL,
    model_name           TEXT NOT NULL,
    mode                 TEXT NOT NULL CHECK (mode IN ('sync', 'async')),
    status               TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    rendered_prompt      TEXT,
    response_text        TEXT,
    prompt_tokens        BIGINT,
    response_tokens      BIGINT,
    provider_latency_ms  BIGINT,
    total_latency_ms     BIGINT,
    cost_nanos           BIGINT,
    correlation_id       TEXT,
    idempotency_key      TEXT UNIQUE,
    request_hash         TEXT,
    attempts             BIGINT NOT NULL DEFAULT 0,
    max_attempts         BIGINT NOT NULL DEFAULT 3,
    lease_owner          TEXT,
    lease_expires_at     BIGINT,
    next_attempt_at      BIGINT,
    error_type           TEXT,
    error_message        TEXT,
    provider_status      BIGINT,
    trace_id             TEXT,
    span_id              TEXT,
    created_at           BIGINT NOT NULL,
    started_at           BIGINT,
    completed_at         BIGINT,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX executions_created ON executions (created_at, id);
CREATE INDEX executions_prompt ON executions (prompt_id, created_at);
CREATE INDEX executions_correlation ON executions (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX executions_queued ON executions (next_attempt_at) WHERE status = 'queued';
CREATE INDEX executions_leases ON executions (lease_expires_at) WHERE status = 'running';
CREATE INDEX executions_completed ON executions (completed_at);

CREATE TABLE execution_inputs (
    execution_id  TEXT PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    variables     TEXT NOT NULL DEFAULT '{}',
    model_config  TEXT NOT NULL DEFAULT '{}',
    params        TEXT NOT NULL DEFAULT '{}',
    template      TEXT
);

CREATE TABLE traces (
    trace_id       TEXT PRIMARY KEY,
    service_name   TEXT,
    name           TEXT,
    status         TEXT,
    has_error      INTEGER NOT NULL DEFAULT 0,
    started_at_us  BIGINT,
    ended_at_us    BIGINT,
    span_count     BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX traces_started ON traces (started_at_us, trace_id);

CREATE TABLE spans (
    trace_id           TEXT NOT NULL,
    span_id            TEXT NOT NULL,
    parent_span_id     TEXT,
    name               TEXT NOT NULL,
    span_type          TEXT,
    service_name       TEXT,
    status             TEXT,
    started_at_us      BIGINT,
    ended_at_us        BIGINT,
    execution_id       TEXT,
    model              TEXT,
    prompt_tokens      BIGINT,
    completion_tokens  BIGINT,
    input              TEXT,
    output             TEXT,
    attributes         TEXT NOT NULL DEFAULT '{}',
    events             TEXT NOT NULL DEFAULT '[]',
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX spans_execution ON spans (execution_id) WHERE execution_id IS NOT NULL;
CREATE INDEX spans_created ON spans (created_at);

CREATE TABLE analytics_rollups (
    bucket_start       BIGINT NOT NULL,
    prompt_version_id  TEXT NOT NULL DEFAULT '',
    prompt_id          TEXT NOT NULL DEFAULT '',
    version            BIGINT,
    provider           TEXT NOT NULL,
    model_name         TEXT NOT NULL,
    status             TEXT NOT NULL,
    error_type         TEXT NOT NULL DEFAULT '',
    executions         BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    response_tokens    BIGINT NOT NULL,
    cost_nanos         BIGINT NOT NULL,
    latency_sum_ms     BIGINT NOT NULL,
    latency_hist       TEXT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (bucket_start, prompt_version_id, provider, model_name, status, error_type)
);
CREATE INDEX analytics_rollups_prompt ON analytics_rollups (prompt_id, bucket_start);

-- Small named values the beat keeps between passes (watermarks, leases).
CREATE TABLE ledger_state (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
