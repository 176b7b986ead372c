//! The fold the beat runs: recomputes whole hourly rollups from raw
//! executions, so re-running it, or running it on two replicas at once,
//! writes the same rows.
//!
//! Each pass looks at executions that finished since the last watermark
//! (less [`OVERLAP_MS`], for transactions that committed late), recomputes
//! every hour (by `created_at`) those executions belong to, replacing that
//! hour's rows in one transaction, then advances the watermark.

use serde::Serialize;

use crate::ports::{DbError, Host};
use crate::store::{self, rollups};

pub use crate::store::rollups::HOUR_MS;

/// Completions are looked at again for this long after the watermark, so an
/// execution whose transaction committed late is still folded.
pub const OVERLAP_MS: i64 = 5 * 60_000;
/// Most finished executions one pass takes on (a backfill takes several passes).
pub const MAX_COMPLETIONS_PER_PASS: i64 = 50_000;
/// Most hours one pass recomputes.
pub const MAX_HOURS_PER_PASS: usize = 48;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RollupReport {
    pub hours_recomputed: u64,
    pub executions_folded: u64,
}

pub fn floor_hour(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

pub fn ceil_hour(ms: i64) -> i64 {
    floor_hour(ms.saturating_add(HOUR_MS - 1))
}

/// Hours before this may already be partly deleted by retention and are
/// never recomputed (one spare hour covers clock skew between replicas).
pub fn oldest_foldable_hour(retention_days: i64, now_ms: i64) -> i64 {
    if retention_days <= 0 { i64::MIN } else { floor_hour(now_ms - retention_days * 86_400_000) + HOUR_MS }
}

/// One bounded pass.
///
/// # Errors
/// Database errors; hours already recomputed stay recomputed and the
/// watermark stays put, so the next pass redoes the rest.
pub async fn fold<H: Host>(host: &H, now_ms: i64) -> Result<RollupReport, DbError> {
    let db = host.db();
    let from = rollups::watermark(db).await?.map_or(0, |w| w - OVERLAP_MS);
    let mut to = now_ms;
    if to <= from {
        return Ok(RollupReport::default());
    }
    if let Some(boundary) = rollups::nth_completion(db, from, to, MAX_COMPLETIONS_PER_PASS).await? {
        // Never an empty window, even when many executions share one instant.
        to = boundary.max(from + 1);
    }
    let mut hours = rollups::hours_finished_between(db, from, to).await?;
    if hours.len() > MAX_HOURS_PER_PASS && hours[MAX_HOURS_PER_PASS].1 > from {
        // The hours left out have no completion before their first one.
        to = hours[MAX_HOURS_PER_PASS].1;
        hours.truncate(MAX_HOURS_PER_PASS);
    }
    let oldest = oldest_foldable_hour(host.config().retention_days, now_ms);
    let mut report = RollupReport::default();
    for (hour, _) in hours.into_iter().filter(|(hour, _)| *hour >= oldest) {
        report.executions_folded += recompute_hour(host, hour, now_ms).await?;
        report.hours_recomputed += 1;
    }
    rollups::advance_watermark(db, to, now_ms).await?;
    Ok(report)
}

/// Replaces one hour's rollups with aggregates of its raw rows. The lock
/// comes first, so a concurrent recomputation of the same hour waits and
/// then reads everything this one saw.
async fn recompute_hour<H: Host>(host: &H, hour: i64, now_ms: i64) -> Result<u64, DbError> {
    let db = host.db();
    store::transaction(db, async || {
        rollups::lock(db, now_ms).await?;
        let rows = rollups::aggregate_executions(db, hour, hour + HOUR_MS, None, true).await?;
        rollups::replace_hour(db, hour, &rows, now_ms).await?;
        Ok(rows.iter().map(|r| r.executions.max(0) as u64).sum())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_arithmetic() {
        let t = 1_714_557_600_000; // 10:00:00
        assert_eq!((floor_hour(t), ceil_hour(t)), (t, t));
        assert_eq!((floor_hour(t + 1), ceil_hour(t + 1)), (t, t + HOUR_MS));
        assert_eq!(floor_hour(t - 1), t - HOUR_MS);
        assert_eq!(oldest_foldable_hour(0, t), i64::MIN);
        assert_eq!(oldest_foldable_hour(1, t + 5), t - 86_400_000 + HOUR_MS);
    }
}
