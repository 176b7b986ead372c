-- The root span a trace's name comes from (its earliest span without a
-- parent), so each write can fold its spans into the summary on its own.
ALTER TABLE traces ADD COLUMN root_started_at_us BIGINT;
ALTER TABLE traces ADD COLUMN root_span_id TEXT;
UPDATE traces SET (root_started_at_us, root_span_id) = (
    SELECT started_at_us, span_id FROM spans
    WHERE spans.trace_id = traces.trace_id AND parent_span_id IS NULL
    ORDER BY started_at_us, span_id LIMIT 1
);
