//! Bounded deletes of old executions, traces and spans. Rollups are never
//! touched here.

use super::spans::in_list;
use crate::ports::{Db, DbError, Value};

/// Ids of finished executions created before `cutoff_ms`, oldest first.
pub async fn old_execution_ids<D: Db>(db: &D, cutoff_ms: i64, limit: i64) -> Result<Vec<String>, DbError> {
    db.query(
        "SELECT id FROM executions WHERE created_at < $1 AND status IN ('succeeded', 'failed', 'canceled') \
         ORDER BY created_at, id LIMIT $2",
        &[cutoff_ms.into(), limit.into()],
    )
    .await?
    .iter()
    .map(|r| r.str("id"))
    .collect()
}

/// Deletes these executions and their inputs (one transaction); returns
/// how many executions this call deleted.
pub async fn delete_executions<D: Db>(db: &D, ids: &[String], cutoff_ms: i64) -> Result<u64, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let id_params: Vec<Value> = ids.iter().map(Value::from).collect();
    let mut params: Vec<Value> = vec![cutoff_ms.into()];
    params.extend(id_params.iter().cloned());
    super::transaction(db, async || {
        let inputs = format!("DELETE FROM execution_inputs WHERE execution_id IN ({})", in_list(1, ids.len()));
        db.execute(&inputs, &id_params).await?;
        let executions = format!("DELETE FROM executions WHERE id IN ({}) AND created_at < $1", in_list(2, ids.len()));
        db.execute(&executions, &params).await
    })
    .await
}

/// Ids of traces that started before `cutoff_us`, oldest first.
pub async fn old_trace_ids<D: Db>(db: &D, cutoff_us: i64, limit: i64) -> Result<Vec<String>, DbError> {
    db.query(
        "SELECT trace_id FROM traces WHERE started_at_us < $1 ORDER BY started_at_us, trace_id LIMIT $2",
        &[cutoff_us.into(), limit.into()],
    )
    .await?
    .iter()
    .map(|r| r.str("trace_id"))
    .collect()
}

/// Deletes up to `limit` spans of these traces.
pub async fn delete_spans_of<D: Db>(db: &D, trace_ids: &[String], limit: i64) -> Result<u64, DbError> {
    if trace_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM spans WHERE (trace_id, span_id) IN \
         (SELECT trace_id, span_id FROM spans WHERE trace_id IN ({}) LIMIT $1)",
        in_list(2, trace_ids.len())
    );
    let mut params: Vec<Value> = vec![limit.into()];
    params.extend(trace_ids.iter().map(Value::from));
    db.execute(&sql, &params).await
}

/// Deletes the rows of these traces that still started before the cutoff
/// and have no spans left.
pub async fn delete_empty_traces<D: Db>(db: &D, trace_ids: &[String], cutoff_us: i64) -> Result<u64, DbError> {
    if trace_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM traces WHERE trace_id IN ({}) AND started_at_us < $1 \
         AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = traces.trace_id)",
        in_list(2, trace_ids.len())
    );
    let mut params: Vec<Value> = vec![cutoff_us.into()];
    params.extend(trace_ids.iter().map(Value::from));
    db.execute(&sql, &params).await
}

/// Deletes up to `limit` spans stored before `cutoff_ms` whose trace has no
/// summary row (spans written by other paths, or left by a trace deleted
/// while they arrived).
pub async fn delete_stray_spans<D: Db>(db: &D, cutoff_ms: i64, limit: i64) -> Result<u64, DbError> {
    db.execute(
        "DELETE FROM spans WHERE (trace_id, span_id) IN \
         (SELECT s.trace_id, s.span_id FROM spans s WHERE s.created_at < $1 \
          AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = s.trace_id) LIMIT $2)",
        &[cutoff_ms.into(), limit.into()],
    )
    .await
}
