//! `traces`: one summary row per trace, kept in step with its spans.
//!
//! Writers lock the rows of the traces they touch ([`lock`]) before writing
//! spans, then recompute the summaries from `spans` ([`states`]) and store
//! them ([`upsert`]). The lock makes concurrent batches for one trace take
//! turns, so each recomputation sees every span committed before it.

use super::spans::{in_list, values_placeholders};
use crate::ports::{Db, DbError, Row, Value};

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

/// Creates or touches the rows of `trace_ids`, taking their row locks until
/// the transaction ends. Pass the ids sorted so concurrent writers lock in
/// the same order.
pub async fn lock<D: Db>(db: &D, trace_ids: &[String], now_ms: i64) -> Result<(), DbError> {
    for chunk in trace_ids.chunks(super::spans::CHUNK) {
        let sql = format!(
            "INSERT INTO traces (trace_id, span_count, created_at, updated_at) VALUES {} \
             ON CONFLICT (trace_id) DO UPDATE SET updated_at = excluded.updated_at",
            values_placeholders(chunk.len(), 4)
        );
        let params: Vec<Value> =
            chunk.iter().flat_map(|id| [Value::from(id), Value::Int(0), now_ms.into(), now_ms.into()]).collect();
        db.execute(&sql, &params).await?;
    }
    Ok(())
}

/// What the spans of a trace say about it.
#[derive(Debug, Clone, Default)]
pub struct SpanSummary {
    pub span_count: i64,
    pub started_at_us: Option<i64>,
    pub ended_at_us: Option<i64>,
    pub error_spans: i64,
    pub any_service: Option<String>,
    /// The earliest span without a parent.
    pub root_name: Option<String>,
    pub root_service: Option<String>,
    pub root_status: Option<String>,
}

/// The stored row and the span summary of each trace in `trace_ids`.
pub async fn states<D: Db>(db: &D, trace_ids: &[String]) -> Result<Vec<(TraceRow, SpanSummary)>, DbError> {
    let mut out = Vec::with_capacity(trace_ids.len());
    for chunk in trace_ids.chunks(super::spans::CHUNK) {
        let ids = in_list(1, chunk.len());
        // The root comes from a window over the traces' parentless spans, not
        // from a subquery per column: those were estimated so costly that
        // PostgreSQL JIT-compiled the query, which took far longer than
        // running it (about a second on a trace of 1,000 spans).
        let sql = format!(
            "SELECT t.trace_id, t.service_name, t.name, t.status, t.has_error, t.started_at_us, t.ended_at_us, \
                t.span_count, t.created_at, t.updated_at, \
                a.n AS s_count, a.min_started AS s_started, a.max_ended AS s_ended, a.errors AS s_errors, \
                a.any_service AS s_service, \
                r.name AS root_name, r.service_name AS root_service_name, r.status AS root_status \
             FROM traces t LEFT JOIN ( \
                SELECT trace_id, CAST(COUNT(*) AS BIGINT) AS n, MIN(started_at_us) AS min_started, \
                    MAX(ended_at_us) AS max_ended, \
                    CAST(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
                    MAX(service_name) AS any_service \
                FROM spans WHERE trace_id IN ({ids}) GROUP BY trace_id \
             ) a ON a.trace_id = t.trace_id LEFT JOIN ( \
                SELECT trace_id, name, service_name, status, \
                    ROW_NUMBER() OVER (PARTITION BY trace_id ORDER BY started_at_us, span_id) AS k \
                FROM spans WHERE trace_id IN ({ids}) AND parent_span_id IS NULL \
             ) r ON r.trace_id = t.trace_id AND r.k = 1 \
             WHERE t.trace_id IN ({ids})"
        );
        let params: Vec<Value> = chunk.iter().map(Value::from).collect();
        for r in db.query(&sql, &params).await? {
            let stored = TraceRow::from_row(&r)?;
            let summary = SpanSummary {
                span_count: r.opt_i64("s_count")?.unwrap_or_default(),
                started_at_us: r.opt_i64("s_started")?,
                ended_at_us: r.opt_i64("s_ended")?,
                error_spans: r.opt_i64("s_errors")?.unwrap_or_default(),
                any_service: r.opt_str("s_service")?,
                root_name: r.opt_str("root_name")?,
                root_service: r.opt_str("root_service_name")?,
                root_status: r.opt_str("root_status")?,
            };
            out.push((stored, summary));
        }
    }
    Ok(out)
}

/// Writes trace summaries (multi-row upsert, replacing every column but `created_at`).
pub async fn upsert<D: Db>(db: &D, rows: &[TraceRow]) -> Result<(), DbError> {
    for chunk in rows.chunks(super::spans::CHUNK) {
        let sql = format!(
            "INSERT INTO traces ({COLUMNS}) VALUES {} ON CONFLICT (trace_id) DO UPDATE SET \
                service_name = excluded.service_name, name = excluded.name, status = excluded.status, \
                has_error = excluded.has_error, started_at_us = excluded.started_at_us, \
                ended_at_us = excluded.ended_at_us, span_count = excluded.span_count, \
                updated_at = excluded.updated_at",
            values_placeholders(chunk.len(), 10)
        );
        let mut params = Vec::with_capacity(chunk.len() * 10);
        for t in chunk {
            params.extend([
                Value::from(&t.trace_id),
                t.service_name.as_deref().into(),
                t.name.as_deref().into(),
                t.status.as_deref().into(),
                t.has_error.into(),
                t.started_at_us.into(),
                t.ended_at_us.into(),
                t.span_count.into(),
                t.created_at.into(),
                t.updated_at.into(),
            ]);
        }
        db.execute(&sql, &params).await?;
    }
    Ok(())
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
