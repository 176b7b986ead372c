//! The fold the beat runs: recomputes whole hourly rollups from raw
//! executions, so re-running it, or running it on two replicas at once,
//! writes the same rows.
//!
//! Each pass looks at executions that finished since the last watermark
//! (less [`OVERLAP_MS`], for transactions that committed late), recomputes
//! every hour (by `created_at`) those executions belong to, replacing that
//! hour's rows, and the totals of its day, in one transaction, then
//! advances the watermark.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::ports::{DbError, Host};
use crate::store::rollups::{Grain, RollupRow};
use crate::store::{self, rollups};

pub use crate::store::rollups::{DAY_MS, HOUR_MS};

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
    /// Everything finished before this pass is folded; `false` while a
    /// backlog takes several passes.
    pub caught_up: bool,
}

pub fn floor_hour(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

pub fn ceil_hour(ms: i64) -> i64 {
    floor_hour(ms.saturating_add(HOUR_MS - 1))
}

pub fn floor_day(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

pub fn ceil_day(ms: i64) -> i64 {
    floor_day(ms.saturating_add(DAY_MS - 1))
}

/// Hours before this may already be partly deleted by retention and are
/// never recomputed (one spare hour covers clock skew between replicas).
pub fn oldest_foldable_hour(retention_days: i64, now_ms: i64) -> i64 {
    if retention_days <= 0 { i64::MIN } else { floor_hour(now_ms - retention_days * 86_400_000) + HOUR_MS }
}

/// One bounded pass.
///
/// # Errors
/// Database errors; days already recomputed stay recomputed and the
/// watermark stays put, so the next pass redoes the rest.
pub async fn fold<H: Host>(host: &H, now_ms: i64) -> Result<RollupReport, DbError> {
    let db = host.db();
    let from = rollups::watermark(db).await?.map_or(0, |w| w - OVERLAP_MS);
    let mut to = now_ms;
    if to <= from {
        return Ok(RollupReport { caught_up: true, ..Default::default() });
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
    let mut days: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (hour, _) in hours.into_iter().filter(|(hour, _)| *hour >= oldest) {
        days.entry(floor_day(hour)).or_default().push(hour);
    }
    let mut report = RollupReport { caught_up: to == now_ms, ..Default::default() };
    for (day, hours) in &days {
        report.executions_folded += recompute(host, *day, hours, now_ms).await?;
        report.hours_recomputed += hours.len() as u64;
    }
    rollups::advance_watermark(db, to, now_ms).await?;
    Ok(report)
}

/// Replaces the rollups of some hours of one day with aggregates of their
/// raw rows, and the day's totals with the sum of its hours, in one
/// transaction. The lock comes first, so a concurrent recomputation waits
/// and then reads everything this one saw.
async fn recompute<H: Host>(host: &H, day: i64, hours: &[i64], now_ms: i64) -> Result<u64, DbError> {
    let db = host.db();
    store::transaction(db, async || {
        rollups::lock(db, now_ms).await?;
        let mut folded = 0;
        for &hour in hours {
            let rows = rollups::aggregate_executions(db, hour, hour + HOUR_MS, None, true).await?;
            rollups::replace_hour(db, hour, &rows, now_ms).await?;
            folded += rows.iter().map(|r| r.executions.max(0) as u64).sum::<u64>();
        }
        let hour_rows = rollups::read(db, Grain::Hour, day, day + DAY_MS, None).await?;
        rollups::replace_day(db, day, &day_totals(day, &hour_rows), now_ms).await?;
        Ok(folded)
    })
    .await
}

/// Sums hour rows into one row per dimension set, dated `day`.
pub fn day_totals(day: i64, hours: &[RollupRow]) -> Vec<RollupRow> {
    let mut out: Vec<RollupRow> = Vec::new();
    let mut index: HashMap<rollups::GroupKey, usize> = HashMap::new();
    for row in hours {
        let mut row = row.clone();
        row.bucket_start = day;
        match index.get(&row.key()) {
            Some(&at) => out[at].absorb(&row),
            None => {
                index.insert(row.key(), out.len());
                out.push(row);
            }
        }
    }
    out
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
        let midnight = 1_714_521_600_000;
        assert_eq!((floor_day(t), ceil_day(t), ceil_day(midnight)), (midnight, midnight + DAY_MS, midnight));
    }

    #[test]
    fn day_totals_sum_hours_per_dimension_set() {
        let row = |hour: i64, model: &str, executions: i64, latency: i64| {
            let mut h = crate::analytics::histogram::Histogram::default();
            h.record(latency);
            RollupRow {
                bucket_start: hour,
                prompt_version_id: "v".into(),
                prompt_id: "p".into(),
                version: Some(1),
                provider: "openai".into(),
                model_name: model.into(),
                status: "succeeded".into(),
                error_type: String::new(),
                executions,
                prompt_tokens: 10,
                response_tokens: 1,
                cost_nanos: 5,
                latency_sum_ms: latency,
                latency: h,
            }
        };
        let day = 1_714_521_600_000;
        let totals = day_totals(day, &[row(day, "a", 2, 10), row(day + HOUR_MS, "a", 3, 500), row(day, "b", 1, 7)]);
        assert_eq!(totals.len(), 2);
        let a = &totals[0];
        assert_eq!(
            (a.bucket_start, a.executions, a.prompt_tokens, a.cost_nanos, a.latency_sum_ms),
            (day, 5, 20, 10, 510)
        );
        assert_eq!(a.latency.total(), 2);
        assert_eq!(totals[1].model_name, "b");
    }
}
