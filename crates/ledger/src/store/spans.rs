//! `spans`: written a batch per statement together with their traces'
//! summaries, read back a hundred to a row,
//! with each span's execution and prompt version resolved in one more query.

use std::collections::{BTreeSet, HashMap};

use serde_json::value::RawValue;

use super::traces::{self, TraceDelta};
use crate::lineage::span::SpanRecord;
use crate::ports::{Db, DbError, Dialect, Row, Value};

const INSERT_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, span_type, service_name, status, \
    started_at_us, ended_at_us, execution_id, model, prompt_tokens, completion_tokens, input, output, \
    attributes, events, created_at";

/// A re-sent span replaces its name, status, times, attributes and events;
/// optional fields it leaves out keep their stored values. `created_at`
/// (first arrival) never changes.
const ON_CONFLICT: &str = " ON CONFLICT (trace_id, span_id) DO UPDATE SET \
    parent_span_id = COALESCE(excluded.parent_span_id, spans.parent_span_id), \
    name = excluded.name, \
    span_type = COALESCE(excluded.span_type, spans.span_type), \
    service_name = COALESCE(excluded.service_name, spans.service_name), \
    status = excluded.status, \
    started_at_us = excluded.started_at_us, \
    ended_at_us = COALESCE(excluded.ended_at_us, spans.ended_at_us), \
    execution_id = COALESCE(excluded.execution_id, spans.execution_id), \
    model = COALESCE(excluded.model, spans.model), \
    prompt_tokens = COALESCE(excluded.prompt_tokens, spans.prompt_tokens), \
    completion_tokens = COALESCE(excluded.completion_tokens, spans.completion_tokens), \
    input = COALESCE(excluded.input, spans.input), \
    output = COALESCE(excluded.output, spans.output), \
    attributes = excluded.attributes, \
    events = excluded.events";

/// `$from, $from+1, ...`: an IN list of `n` placeholders.
pub(crate) fn in_list(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Upserts spans and folds `deltas` (what the batch says about each of its
/// traces) into the trace rows. No two spans may share (trace_id, span_id);
/// pass them sorted by it, so concurrent writers lock rows in one order.
///
/// On PostgreSQL this is one statement, atomic without a transaction: the
/// span rows travel as one JSON array parameter that the database expands,
/// and the trace rows are merged from what the span upsert returns. SQLite,
/// without data-modifying CTEs, runs two statements in a transaction.
pub async fn write<D: Db>(db: &D, spans: &[&SpanRecord], deltas: &[TraceDelta], now_ms: i64) -> Result<(), DbError> {
    let rows = rows_param(spans)?;
    let deltas = traces::deltas_param(deltas)?;
    match db.dialect() {
        Dialect::Postgres => {
            let sql = format!(
                "WITH s AS ({}{}), {} {}",
                upsert_sql(Dialect::Postgres, 1, 2, "true"),
                traces::SPANS_RETURNING,
                traces::ADDED_CTE,
                traces::merge_deltas_sql(Dialect::Postgres, 3, 2)
            );
            db.execute(&sql, &[rows, now_ms.into(), deltas]).await?;
            Ok(())
        }
        Dialect::Sqlite => {
            crate::store::transaction(db, async || {
                db.execute(&upsert_sql(Dialect::Sqlite, 1, 2, "true"), &[rows, now_ms.into()]).await?;
                db.execute(&traces::merge_deltas_sql(Dialect::Sqlite, 1, 2), &[deltas, now_ms.into()]).await?;
                Ok(())
            })
            .await
        }
    }
}

/// One span as a JSON array, in [`INSERT_COLUMNS`] order up to `events`.
/// Attributes and events travel as JSON text inside a string, so SQLite
/// stores the very text serde_json wrote.
#[derive(serde::Serialize)]
struct SpanRow<'a>(
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    i64,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    String,
    String,
);

impl<'a> From<&'a SpanRecord> for SpanRow<'a> {
    fn from(s: &'a SpanRecord) -> Self {
        SpanRow(
            &s.trace_id,
            &s.span_id,
            s.parent_span_id.as_deref(),
            &s.name,
            s.span_type.as_deref(),
            s.service_name.as_deref(),
            &s.status,
            s.started_at_us,
            s.ended_at_us,
            s.execution_id.as_deref(),
            s.model.as_deref(),
            s.prompt_tokens,
            s.completion_tokens,
            s.input.as_deref(),
            s.output.as_deref(),
            s.attributes.to_string(),
            s.events.to_string(),
        )
    }
}

/// `INSERT ... SELECT` of the spans in the JSON array bound as `$rows`
/// (each a [`SpanRow`]), with `$created_at` as `created_at`, where
/// `condition` holds. Both dialects read elements with `->>`; they differ in
/// how an array is expanded and in PostgreSQL's JSON columns needing a cast
/// to jsonb.
pub(crate) fn upsert_sql(dialect: Dialect, rows: usize, created_at: usize, condition: &str) -> String {
    let (source, json_column): (String, fn(usize) -> String) = match dialect {
        Dialect::Postgres => (format!("jsonb_array_elements(CAST(CAST(${rows} AS TEXT) AS JSONB)) AS r(value)"), |i| {
            format!("CAST(r.value ->> {i} AS JSONB)")
        }),
        Dialect::Sqlite => (format!("json_each(${rows}) AS r"), |i| format!("r.value ->> {i}")),
    };
    let text = |i: usize| format!("r.value ->> {i}");
    let integer = |i: usize| format!("CAST(r.value ->> {i} AS BIGINT)");
    let values = [
        text(0),
        text(1),
        text(2),
        text(3),
        text(4),
        text(5),
        text(6),
        integer(7),
        integer(8),
        text(9),
        text(10),
        integer(11),
        integer(12),
        text(13),
        text(14),
        json_column(15),
        json_column(16),
        format!("CAST(${created_at} AS BIGINT)"),
    ];
    // A WHERE clause also keeps SQLite from reading ON CONFLICT as a join's ON.
    format!(
        "INSERT INTO spans ({INSERT_COLUMNS}) SELECT {} FROM {source} WHERE {condition}{ON_CONFLICT}",
        values.join(", ")
    )
}

/// Spans as the JSON array [`upsert_sql`] reads.
pub(crate) fn rows_param(spans: &[&SpanRecord]) -> Result<Value, DbError> {
    let rows: Vec<SpanRow<'_>> = spans.iter().map(|s| SpanRow::from(*s)).collect();
    serde_json::to_string(&rows).map(Value::Text).map_err(|e| DbError::Query(format!("cannot encode spans: {e}")))
}

/// The execution a span records, when its `execution_id` names one.
/// Fields are in alphabetical order, the order responses have always shown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExecutionLink {
    pub id: String,
    pub model: String,
    pub prompt_id: Option<String>,
    pub prompt_name: Option<String>,
    pub prompt_version_id: Option<String>,
    pub provider: String,
    pub status: String,
    pub version: Option<i64>,
}

/// A span as read back. Its JSON columns are kept as JSON text, since
/// responses only pass them on.
#[derive(Debug, Clone)]
pub struct StoredSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub span_type: Option<String>,
    pub service_name: Option<String>,
    pub status: String,
    pub started_at_us: i64,
    pub ended_at_us: Option<i64>,
    pub execution_id: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// JSON text as stored; see [`crate::lineage::span::StoredPayload`].
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: Box<RawValue>,
    pub events: Box<RawValue>,
    /// The execution `execution_id` names, when there is one.
    pub execution: Option<ExecutionLink>,
}

/// One span as the read query writes it: a JSON array in [`SPAN_COLUMNS`]
/// order.
#[derive(serde::Deserialize)]
struct SpanArray(
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Box<RawValue>,
    Box<RawValue>,
);

impl StoredSpan {
    fn from_array(a: SpanArray) -> Result<Self, DbError> {
        Ok(StoredSpan {
            trace_id: a.0,
            span_id: a.1,
            parent_span_id: a.2,
            name: a.3,
            span_type: a.4,
            service_name: a.5,
            status: a.6.unwrap_or_else(|| "unset".into()),
            started_at_us: a.7.unwrap_or_default(),
            ended_at_us: a.8,
            execution_id: a.9,
            model: a.10,
            prompt_tokens: a.11,
            completion_tokens: a.12,
            input: a.13,
            output: a.14,
            attributes: canonical_json(&a.15)?,
            events: canonical_json(&a.16)?,
            execution: None,
        })
    }
}

/// JSON as serde_json writes it (compact, keys sorted), as responses have
/// always shown stored JSON: PostgreSQL writes jsonb with spaces and its
/// own key order.
fn canonical_json(raw: &RawValue) -> Result<Box<RawValue>, DbError> {
    let invalid = |e: serde_json::Error| DbError::Decode(format!("stored JSON: {e}"));
    serde_json::value::to_raw_value(&serde_json::from_str::<serde_json::Value>(raw.get()).map_err(invalid)?)
        .map_err(invalid)
}

impl ExecutionLink {
    fn from_row(mut r: Row) -> Result<Self, DbError> {
        Ok(ExecutionLink {
            id: r.take_str("id")?,
            status: r.take_str("status")?,
            prompt_id: r.take_opt_str("prompt_id")?,
            prompt_name: r.take_opt_str("prompt_name")?,
            prompt_version_id: r.take_opt_str("prompt_version_id")?,
            version: r.opt_i64("version")?,
            provider: r.take_str("provider")?,
            model: r.take_str("model")?,
        })
    }
}

const SPAN_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, span_type, service_name, status, \
    started_at_us, ended_at_us, execution_id, model, prompt_tokens, completion_tokens, input, output, \
    attributes, events";

/// Spans per row read: Spin hands a component the rows of a result one
/// at a time, at a cost per row far above decoding it, so the database
/// packs spans into JSON arrays of this many. Bounded, so a row of spans
/// with the largest fields stays far below Spin's 128 MiB per row.
const SPANS_PER_ROW: usize = 100;

/// Spans matching `filter` (on `$1`) in `order`, at most `$2`, as rows of
/// JSON arrays of [`SPANS_PER_ROW`] spans, in order.
fn spans_sql(dialect: Dialect, filter: &str, order: &str) -> String {
    let aggregate = match dialect {
        Dialect::Postgres => format!("CAST(json_agg(json_build_array({SPAN_COLUMNS}) ORDER BY {order}) AS TEXT)"),
        Dialect::Sqlite => {
            let columns = SPAN_COLUMNS.replace("attributes, events", "json(attributes), json(events)");
            format!("json_group_array(json_array({columns}) ORDER BY {order})")
        }
    };
    format!(
        "SELECT {aggregate} AS spans FROM ( \
            SELECT {SPAN_COLUMNS}, (ROW_NUMBER() OVER (ORDER BY {order}) - 1) / {SPANS_PER_ROW} AS page \
            FROM spans WHERE {filter} ORDER BY {order} LIMIT $2 \
         ) s GROUP BY page ORDER BY page"
    )
}

async fn read<D: Db>(db: &D, filter: &str, order: &str, params: &[Value]) -> Result<Vec<StoredSpan>, DbError> {
    let mut spans = Vec::new();
    for mut row in db.query(&spans_sql(db.dialect(), filter, order), params).await? {
        let page: Vec<SpanArray> =
            serde_json::from_str(&row.take_str("spans")?).map_err(|e| DbError::Decode(format!("spans: {e}")))?;
        for span in page {
            spans.push(StoredSpan::from_array(span)?);
        }
    }
    with_executions(db, spans).await
}

/// A trace's spans by start time, at most `limit`, with their executions.
pub async fn for_trace<D: Db>(db: &D, trace_id: &str, limit: i64) -> Result<Vec<StoredSpan>, DbError> {
    read(db, "trace_id = $1", "started_at_us, span_id", &[trace_id.into(), limit.into()]).await
}

/// The spans that record one execution (usually one), by start time.
pub async fn for_execution<D: Db>(db: &D, execution_id: &str, limit: i64) -> Result<Vec<StoredSpan>, DbError> {
    read(db, "execution_id = $1", "started_at_us, trace_id, span_id", &[execution_id.into(), limit.into()]).await
}

/// Execution ids per lookup query.
const EXECUTIONS_PER_QUERY: usize = 500;

/// Fills in the execution (and prompt version) each span names, with one
/// query per 500 distinct executions, none when no span names one. Joining
/// the executions into the spans query instead cost every span eight more
/// columns and the query a four-table plan, though most spans name none.
async fn with_executions<D: Db>(db: &D, mut spans: Vec<StoredSpan>) -> Result<Vec<StoredSpan>, DbError> {
    let ids: BTreeSet<&str> = spans.iter().filter_map(|s| s.execution_id.as_deref()).collect();
    let ids: Vec<Value> = ids.into_iter().map(Value::from).collect();
    let mut links: HashMap<String, ExecutionLink> = HashMap::new();
    for chunk in ids.chunks(EXECUTIONS_PER_QUERY) {
        let sql = format!(
            "SELECT e.id, e.status, e.prompt_id, COALESCE(p.name, e.prompt_name) AS prompt_name, \
                e.prompt_version_id, COALESCE(v.version, e.version) AS version, e.provider, e.model_name AS model \
             FROM executions e \
             LEFT JOIN prompt_versions v ON v.id = e.prompt_version_id \
             LEFT JOIN prompts p ON p.id = e.prompt_id \
             WHERE e.id IN ({})",
            in_list(1, chunk.len())
        );
        for row in db.query(&sql, chunk).await? {
            let link = ExecutionLink::from_row(row)?;
            links.insert(link.id.clone(), link);
        }
    }
    for span in &mut spans {
        span.execution = span.execution_id.as_ref().and_then(|id| links.get(id)).cloned();
    }
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_number_placeholders_from_the_first() {
        assert_eq!(in_list(3, 2), "$3, $4");
    }
}
