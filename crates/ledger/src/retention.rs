//! Retention: deletes executions, spans and traces older than
//! `retention_days`, a bounded amount per pass. Rollups are kept for good,
//! so analytics of deleted periods stay available.

use serde::Serialize;

use crate::analytics::rollup::{OVERLAP_MS, floor_hour};
use crate::ports::{DbError, Host};
use crate::store::{retention as store, rollups};

/// Rows per delete statement.
pub const BATCH: i64 = 1_000;
/// Delete statements per kind of row per pass.
pub const MAX_BATCHES: usize = 20;
/// Traces handled per statement (their spans are deleted [`BATCH`] at a time).
const TRACES_PER_BATCH: i64 = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub executions_deleted: u64,
    pub spans_deleted: u64,
    pub traces_deleted: u64,
}

/// Where execution deletes stop: the start of the hour `retention_days`
/// ago, and never past what the rollups have folded (so no execution
/// disappears before it is counted). `None`: delete no executions yet.
pub fn execution_cutoff(retention_days: i64, now_ms: i64, watermark: Option<i64>) -> Option<i64> {
    if retention_days <= 0 {
        return None;
    }
    let age_cutoff = floor_hour(now_ms - retention_days * 86_400_000);
    watermark.map(|w| age_cutoff.min(floor_hour(w - OVERLAP_MS)))
}

/// Deletes executions (and their inputs) created before the retention
/// cutoff (hour-aligned, see [`execution_cutoff`]); traces that started
/// before it, with their spans; spans stored before it that have no trace
/// row. Bounded per pass; safe to run concurrently with itself (a row
/// deleted by the other run is simply not counted here). A write conflict
/// with a concurrent run ends the pass early with what was done.
///
/// # Errors
/// Database errors other than write conflicts.
pub async fn apply<H: Host>(host: &H, now_ms: i64) -> Result<RetentionReport, DbError> {
    let mut report = RetentionReport::default();
    let days = host.config().retention_days;
    if days <= 0 {
        return Ok(report);
    }
    match run(host, now_ms, days, &mut report).await {
        Ok(()) | Err(DbError::Conflict(_)) => Ok(report),
        Err(e) => Err(e),
    }
}

async fn run<H: Host>(host: &H, now_ms: i64, days: i64, report: &mut RetentionReport) -> Result<(), DbError> {
    let db = host.db();
    let cutoff_ms = now_ms - days * 86_400_000;
    if let Some(cutoff) = execution_cutoff(days, now_ms, rollups::watermark(db).await?) {
        for _ in 0..MAX_BATCHES {
            let ids = store::old_execution_ids(db, cutoff, BATCH).await?;
            report.executions_deleted += store::delete_executions(db, &ids, cutoff).await?;
            if (ids.len() as i64) < BATCH {
                break;
            }
        }
    }
    let cutoff_us = cutoff_ms.saturating_mul(1000);
    for _ in 0..MAX_BATCHES {
        let ids = store::old_trace_ids(db, cutoff_us, TRACES_PER_BATCH).await?;
        if ids.is_empty() {
            break;
        }
        let spans = store::delete_spans_of(db, &ids, BATCH).await?;
        report.spans_deleted += spans;
        if (spans as i64) < BATCH {
            report.traces_deleted += store::delete_empty_traces(db, &ids, cutoff_us).await?;
        }
    }
    for _ in 0..MAX_BATCHES {
        let deleted = store::delete_stray_spans(db, cutoff_ms, BATCH).await?;
        report.spans_deleted += deleted;
        if (deleted as i64) < BATCH {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_wait_for_the_fold() {
        let day = 86_400_000;
        let now = 1_714_557_600_000 + 1_234; // just after 10:00
        assert_eq!(execution_cutoff(0, now, Some(now)), None);
        assert_eq!(execution_cutoff(1, now, None), None);
        assert_eq!(execution_cutoff(1, now, Some(now)), Some(floor_hour(now - day)));
        let lagging = now - 3 * day;
        assert_eq!(execution_cutoff(1, now, Some(lagging)), Some(floor_hour(lagging - OVERLAP_MS)));
    }
}
