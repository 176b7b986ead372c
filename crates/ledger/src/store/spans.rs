//! `spans`: written in multi-row upserts, read back per trace with each
//! span's execution and prompt version resolved in the same query.

use serde_json::value::RawValue;

use crate::lineage::span::SpanRecord;
use crate::ports::{Db, DbError, Row, Value};

/// Rows per multi-row statement on small tables (trace summaries, rollups).
pub const CHUNK: usize = 50;

/// Spans per INSERT statement: a batch of up to 500 spans is written in one
/// statement (one round trip, one plan), with 9,000 parameters, well below
/// PostgreSQL's 65,535 and SQLite's 32,766.
pub const SPANS_PER_INSERT: usize = 500;

const INSERT_COLUMNS: &str = "trace_id, span_id, parent_span_id, name, span_type, service_name, status, \
    started_at_us, ended_at_us, execution_id, model, prompt_tokens, completion_tokens, input, output, \
    attributes, events, created_at";
const INSERT_WIDTH: usize = 18;

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

/// `($1, ..., $w), ($w+1, ...)`: placeholders for `rows` rows of `width` values.
pub(crate) fn values_placeholders(rows: usize, width: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::with_capacity(rows * width * 7);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            let separator = if c > 0 { ", " } else { "" };
            let _ = write!(sql, "{separator}${}", r * width + c + 1);
        }
        sql.push(')');
    }
    sql
}

/// `$from, $from+1, ...`: an IN list of `n` placeholders.
pub(crate) fn in_list(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Upserts spans in chunks. Call inside a transaction; no two spans of one
/// call may share (trace_id, span_id).
pub async fn upsert<D: Db>(db: &D, spans: &[&SpanRecord], now_ms: i64) -> Result<(), DbError> {
    for chunk in spans.chunks(SPANS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO spans ({INSERT_COLUMNS}) VALUES {}{ON_CONFLICT}",
            values_placeholders(chunk.len(), INSERT_WIDTH)
        );
        let mut params = Vec::with_capacity(chunk.len() * INSERT_WIDTH);
        for s in chunk {
            params.extend([
                Value::from(&s.trace_id),
                Value::from(&s.span_id),
                s.parent_span_id.as_deref().into(),
                Value::from(&s.name),
                s.span_type.as_deref().into(),
                s.service_name.as_deref().into(),
                Value::from(&s.status),
                s.started_at_us.into(),
                s.ended_at_us.into(),
                s.execution_id.as_deref().into(),
                s.model.as_deref().into(),
                s.prompt_tokens.into(),
                s.completion_tokens.into(),
                s.input.as_deref().into(),
                s.output.as_deref().into(),
                Value::Json(s.attributes.to_string()),
                Value::Json(s.events.to_string()),
                now_ms.into(),
            ]);
        }
        db.execute(&sql, &params).await?;
    }
    Ok(())
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

/// A span as read back. Its JSON columns stay text (checked, not parsed),
/// since responses only pass them on.
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
    pub execution: Option<ExecutionLink>,
}

impl StoredSpan {
    /// Moves the columns out of the row, in [`SELECT_WITH_EXECUTIONS`]
    /// order so each lookup by name finds its column at once.
    fn from_row(mut r: Row) -> Result<Self, DbError> {
        Ok(StoredSpan {
            trace_id: r.take_str("trace_id")?,
            span_id: r.take_str("span_id")?,
            parent_span_id: r.take_opt_str("parent_span_id")?,
            name: r.take_str("name")?,
            span_type: r.take_opt_str("span_type")?,
            service_name: r.take_opt_str("service_name")?,
            status: r.take_opt_str("status")?.unwrap_or_else(|| "unset".into()),
            started_at_us: r.opt_i64("started_at_us")?.unwrap_or_default(),
            ended_at_us: r.opt_i64("ended_at_us")?,
            execution_id: r.take_opt_str("execution_id")?,
            model: r.take_opt_str("model")?,
            prompt_tokens: r.opt_i64("prompt_tokens")?,
            completion_tokens: r.opt_i64("completion_tokens")?,
            input: r.take_opt_str("input")?,
            output: r.take_opt_str("output")?,
            attributes: r.take_raw_json("attributes")?,
            events: r.take_raw_json("events")?,
            execution: ExecutionLink::from_row(&mut r)?,
        })
    }
}

impl ExecutionLink {
    fn from_row(r: &mut Row) -> Result<Option<Self>, DbError> {
        let Some(id) = r.take_opt_str("e_id")? else { return Ok(None) };
        Ok(Some(ExecutionLink {
            id,
            status: r.take_str("e_status")?,
            prompt_id: r.take_opt_str("e_prompt_id")?,
            prompt_name: r.take_opt_str("e_prompt_name")?,
            prompt_version_id: r.take_opt_str("e_prompt_version_id")?,
            version: r.opt_i64("e_version")?,
            provider: r.take_str("e_provider")?,
            model: r.take_str("e_model")?,
        }))
    }
}

const SELECT_WITH_EXECUTIONS: &str = "SELECT s.trace_id, s.span_id, s.parent_span_id, s.name, s.span_type, \
        s.service_name, s.status, s.started_at_us, s.ended_at_us, s.execution_id, s.model, s.prompt_tokens, \
        s.completion_tokens, s.input, s.output, s.attributes, s.events, \
        e.id AS e_id, e.status AS e_status, e.prompt_id AS e_prompt_id, \
        COALESCE(p.name, e.prompt_name) AS e_prompt_name, e.prompt_version_id AS e_prompt_version_id, \
        COALESCE(v.version, e.version) AS e_version, e.provider AS e_provider, e.model_name AS e_model \
    FROM spans s \
    LEFT JOIN executions e ON e.id = s.execution_id \
    LEFT JOIN prompt_versions v ON v.id = e.prompt_version_id \
    LEFT JOIN prompts p ON p.id = e.prompt_id";

/// A trace's spans by start time, at most `limit`, each joined to its
/// execution and prompt version (one query for the whole trace).
pub async fn for_trace<D: Db>(db: &D, trace_id: &str, limit: i64) -> Result<Vec<StoredSpan>, DbError> {
    let sql = format!("{SELECT_WITH_EXECUTIONS} WHERE s.trace_id = $1 ORDER BY s.started_at_us, s.span_id LIMIT $2");
    db.query(&sql, &[trace_id.into(), limit.into()]).await?.into_iter().map(StoredSpan::from_row).collect()
}

/// The spans that record one execution (usually one), by start time.
pub async fn for_execution<D: Db>(db: &D, execution_id: &str, limit: i64) -> Result<Vec<StoredSpan>, DbError> {
    let sql = format!(
        "{SELECT_WITH_EXECUTIONS} WHERE s.execution_id = $1 ORDER BY s.started_at_us, s.trace_id, s.span_id LIMIT $2"
    );
    db.query(&sql, &[execution_id.into(), limit.into()]).await?.into_iter().map(StoredSpan::from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_consecutively() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(in_list(3, 2), "$3, $4");
    }
}
