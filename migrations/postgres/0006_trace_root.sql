-- The root span a trace's name comes from (its earliest span without a
-- parent), so each write can fold its spans into the summary on its own.
ALTER TABLE traces ADD COLUMN root_started_at_us BIGINT;
ALTER TABLE traces ADD COLUMN root_span_id TEXT;
UPDATE traces t SET root_started_at_us = r.started_at_us, root_span_id = r.span_id
FROM (
    SELECT DISTINCT ON (trace_id) trace_id, span_id, started_at_us FROM spans
    WHERE parent_span_id IS NULL ORDER BY trace_id, started_at_us, span_id
) r
WHERE r.trace_id = t.trace_id;
