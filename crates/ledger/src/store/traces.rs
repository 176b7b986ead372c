//! `traces`: one summary row per trace, kept in step with its spans.
//!
//! Every write of spans folds what it says about their traces into these
//! rows in the same statement ([`merge_sql`]), so summaries need no lock
//! and no re-reading of spans.

use crate::ports::{Db, DbError, Dialect, Row, Value};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceRow {
    pub trace_id: String,
    pub service_name: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub has_error: bool,
    pub started_at_us: Option<i64>,
    pub ended_at_us: Option<i64>,
    pub span_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "trace_id, service_name, name, status, has_error, started_at_us, ended_at_us, span_count, created_at, updated_at";

impl TraceRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(TraceRow {
            trace_id: r.str("trace_id")?,
            service_name: r.opt_str("service_name")?,
            name: r.opt_str("name")?,
            status: r.opt_str("status")?,
            has_error: r.bool("has_error")?,
            started_at_us: r.opt_i64("started_at_us")?,
            ended_at_us: r.opt_i64("ended_at_us")?,
            span_count: r.i64("span_count")?,
            created_at: r.i64("created_at")?,
            updated_at: r.i64("updated_at")?,
        })
    }
}

/// What one write says about one trace. [`merge_sql`] folds it into the
/// trace's row so that batches in any order, concurrent or repeated, end in
/// the same summary: bounds only widen, an error stays flagged, and the
/// root (the earliest span without a parent) names the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TraceDelta {
    pub trace_id: String,
    /// Given with the trace, else the root's, else any span's.
    pub service_name: Option<String>,
    /// The root's name.
    pub name: Option<String>,
    /// Given with the trace, else the root's.
    pub status: Option<String>,
    pub has_error: bool,
    pub started_at_us: Option<i64>,
    pub ended_at_us: Option<i64>,
    pub root_started_at_us: Option<i64>,
    pub root_span_id: Option<String>,
}

/// Insert columns of a merge, in the order its SELECT must yield them.
const MERGE_COLUMNS: &str = "trace_id, service_name, name, status, has_error, started_at_us, ended_at_us, \
    span_count, root_started_at_us, root_span_id, created_at, updated_at";

/// The write's root is earlier than (or the same as) the stored one.
const ROOT_WINS: &str = "(excluded.root_started_at_us IS NOT NULL AND (traces.root_started_at_us IS NULL \
    OR excluded.root_started_at_us < traces.root_started_at_us \
    OR (excluded.root_started_at_us = traces.root_started_at_us AND excluded.root_span_id <= traces.root_span_id)))";

/// `INSERT INTO traces ... SELECT {select} ON CONFLICT ... DO UPDATE`: the
/// upsert that folds a [`TraceDelta`] per row of `select` (columns as in
/// [`MERGE_COLUMNS`]) into stored traces. `span_count` is the trace's whole
/// count on SQLite, where the statement runs after the spans are written and
/// sees them; on PostgreSQL it is the number of spans this write added, since
/// a data-modifying CTE's rows are invisible to the rest of its statement.
fn merge_sql(dialect: Dialect, select: &str) -> String {
    let span_count = match dialect {
        Dialect::Postgres => "traces.span_count + excluded.span_count",
        Dialect::Sqlite => "excluded.span_count",
    };
    let min = |c: &str| {
        format!("CASE WHEN traces.{c} IS NULL OR excluded.{c} < traces.{c} THEN excluded.{c} ELSE traces.{c} END")
    };
    let max = |c: &str| {
        format!("CASE WHEN traces.{c} IS NULL OR excluded.{c} > traces.{c} THEN excluded.{c} ELSE traces.{c} END")
    };
    format!(
        "INSERT INTO traces ({MERGE_COLUMNS}) SELECT {select} ON CONFLICT (trace_id) DO UPDATE SET \
            service_name = CASE WHEN {ROOT_WINS} THEN COALESCE(excluded.service_name, traces.service_name) \
                ELSE COALESCE(traces.service_name, excluded.service_name) END, \
            name = CASE WHEN {ROOT_WINS} THEN excluded.name ELSE COALESCE(traces.name, excluded.name) END, \
            status = CASE WHEN traces.has_error OR excluded.has_error THEN 'error' \
                WHEN {ROOT_WINS} OR traces.status IS NULL OR traces.status = 'unset' \
                THEN COALESCE(excluded.status, traces.status) ELSE traces.status END, \
            has_error = traces.has_error OR excluded.has_error, \
            started_at_us = {}, ended_at_us = {}, span_count = {span_count}, \
            root_span_id = CASE WHEN {ROOT_WINS} THEN excluded.root_span_id ELSE traces.root_span_id END, \
            root_started_at_us = CASE WHEN {ROOT_WINS} THEN excluded.root_started_at_us \
                ELSE traces.root_started_at_us END, \
            updated_at = excluded.updated_at",
        min("started_at_us"),
        max("ended_at_us"),
    )
}

/// What a span upsert CTE `s` returns for [`ADDED_CTE`]: PostgreSQL leaves
/// `xmax` at zero on a row the statement inserted rather than updated.
pub(crate) const SPANS_RETURNING: &str = " RETURNING trace_id, (xmax = 0) AS inserted";

/// On PostgreSQL, the CTE counting the spans a write added per trace, from
/// a span upsert CTE `s` (see [`SPANS_RETURNING`]).
pub(crate) const ADDED_CTE: &str =
    "added AS (SELECT trace_id, CAST(COUNT(*) FILTER (WHERE inserted) AS BIGINT) AS n FROM s GROUP BY trace_id)";

/// Folds the [`TraceDelta`]s bound as a JSON array in `$deltas` into their
/// traces, with `$now` as the write time. On PostgreSQL the statement must
/// also define [`ADDED_CTE`]; only traces with a span in it are touched.
pub(crate) fn merge_deltas_sql(dialect: Dialect, deltas: usize, now: usize) -> String {
    let (source, boolean, span_count) = match dialect {
        Dialect::Postgres => (
            format!(
                "jsonb_array_elements(CAST(CAST(${deltas} AS TEXT) AS JSONB)) AS d(value) \
                 JOIN added ON added.trace_id = d.value ->> 'trace_id'"
            ),
            "CAST(d.value ->> 'has_error' AS BOOLEAN)",
            "added.n".to_owned(),
        ),
        // `WHERE true`: SQLite needs a WHERE clause before ON CONFLICT in INSERT ... SELECT.
        Dialect::Sqlite => (
            format!("json_each(${deltas}) AS d WHERE true"),
            "d.value ->> 'has_error'",
            "(SELECT COUNT(*) FROM spans WHERE spans.trace_id = d.value ->> 'trace_id')".to_owned(),
        ),
    };
    let text = |f: &str| format!("d.value ->> '{f}'");
    let integer = |f: &str| format!("CAST(d.value ->> '{f}' AS BIGINT)");
    let select = [
        text("trace_id"),
        text("service_name"),
        text("name"),
        text("status"),
        boolean.to_owned(),
        integer("started_at_us"),
        integer("ended_at_us"),
        span_count,
        integer("root_started_at_us"),
        text("root_span_id"),
        format!("CAST(${now} AS BIGINT)"),
        format!("CAST(${now} AS BIGINT)"),
    ];
    merge_sql(dialect, &format!("{} FROM {source} ORDER BY 1", select.join(", ")))
}

/// [`TraceDelta`]s as the JSON array [`merge_deltas_sql`] reads.
pub(crate) fn deltas_param(deltas: &[TraceDelta]) -> Result<Value, DbError> {
    serde_json::to_string(deltas).map(Value::Text).map_err(|e| DbError::Query(format!("cannot encode traces: {e}")))
}

pub async fn get<D: Db>(db: &D, trace_id: &str) -> Result<Option<TraceRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM traces WHERE trace_id = $1");
    db.query(&sql, &[trace_id.into()]).await?.first().map(TraceRow::from_row).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub service: Option<String>,
    pub status: Option<String>,
    pub has_error: Option<bool>,
    /// Traces that started at or after this instant.
    pub since_us: Option<i64>,
    /// Traces that started before this instant.
    pub until_us: Option<i64>,
    /// Keyset cursor: traces strictly before this (started_at_us, trace_id).
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// Traces, newest first.
pub async fn list<D: Db>(db: &D, f: &ListFilter) -> Result<Vec<TraceRow>, DbError> {
    let mut conditions = vec!["started_at_us IS NOT NULL".to_owned()];
    let mut params: Vec<Value> = Vec::new();
    let bind = |params: &mut Vec<Value>, v: Value| {
        params.push(v);
        format!("${}", params.len())
    };
    if let Some(service) = &f.service {
        conditions.push(format!("service_name = {}", bind(&mut params, service.into())));
    }
    if let Some(status) = &f.status {
        conditions.push(format!("status = {}", bind(&mut params, status.into())));
    }
    if let Some(has_error) = f.has_error {
        conditions.push(format!("has_error = {}", bind(&mut params, has_error.into())));
    }
    if let Some(since) = f.since_us {
        conditions.push(format!("started_at_us >= {}", bind(&mut params, since.into())));
    }
    if let Some(until) = f.until_us {
        conditions.push(format!("started_at_us < {}", bind(&mut params, until.into())));
    }
    if let Some((started, id)) = &f.before {
        let a = bind(&mut params, (*started).into());
        let b = bind(&mut params, id.into());
        conditions.push(format!("(started_at_us, trace_id) < ({a}, {b})"));
    }
    let limit = bind(&mut params, f.limit.into());
    let sql = format!(
        "SELECT {COLUMNS} FROM traces WHERE {} ORDER BY started_at_us DESC, trace_id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    db.query(&sql, &params).await?.iter().map(TraceRow::from_row).collect()
}
