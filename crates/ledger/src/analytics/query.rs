//! Reading analytics: rollups for the hours the fold has covered (day
//! totals for whole days when hours are not needed), live aggregates of raw
//! executions for everything else (the current hour, anything after the
//! watermark, and partial hours at the range's edges).
//! Both are the same aggregation, so the answer does not depend on whether
//! the beat has run.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::rollup::{HOUR_MS, ceil_day, ceil_hour, floor_day, floor_hour};
use super::stats::{Stats, labelled};
use crate::lineage::time::format_ms;
use crate::ports::{Db, DbError};
use crate::store::rollups::{self, Grain, RollupRow};

/// A half-open range of `created_at` instants (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_ms: i64,
    pub until_ms: i64,
}

/// The open end of a range: far in the future, with room for hour rounding.
pub const OPEN_END_MS: i64 = 253_402_300_800_000;

/// How many prompts the summary ranks.
pub const TOP_PROMPTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    fn start_of(self, ms: i64) -> i64 {
        match self {
            Bucket::Hour => floor_hour(ms),
            Bucket::Day => ms - ms.rem_euclid(24 * HOUR_MS),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }
}

/// How finely a reader needs its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Totals only: day rows where whole days are covered, live rows not split by hour.
    Totals,
    /// Every row dated to its hour.
    Hours,
    /// Every row dated within its day.
    Days,
}

/// Rows covering `window`, and the instant before which rollups were used.
pub async fn collect<D: Db>(
    db: &D,
    window: Window,
    prompt_id: Option<&str>,
    detail: Detail,
) -> Result<(Vec<RollupRow>, Option<i64>), DbError> {
    let live_by_hour = detail != Detail::Totals;
    let rolled_until = rollups::watermark(db).await?.map(floor_hour);
    let from_hour = ceil_hour(window.since_ms);
    let to_hour = floor_hour(window.until_ms).min(rolled_until.unwrap_or(i64::MIN));
    if to_hour <= from_hour {
        let rows = rollups::aggregate_executions(db, window.since_ms, window.until_ms, prompt_id, live_by_hour).await?;
        return Ok((rows, None));
    }
    let mut rows = rolled_up(db, from_hour, to_hour, prompt_id, detail != Detail::Hours).await?;
    for (from, to) in [(window.since_ms, from_hour), (to_hour, window.until_ms)] {
        if from < to {
            rows.extend(rollups::aggregate_executions(db, from, to, prompt_id, live_by_hour).await?);
        }
    }
    Ok((rows, Some(to_hour)))
}

/// Rollups of the whole hours [from_hour, to_hour): whole days from day
/// rows when allowed, the rest from hour rows.
async fn rolled_up<D: Db>(
    db: &D,
    from_hour: i64,
    to_hour: i64,
    prompt_id: Option<&str>,
    days: bool,
) -> Result<Vec<RollupRow>, DbError> {
    let (first_day, end_day) = (ceil_day(from_hour), floor_day(to_hour));
    if !days || end_day <= first_day {
        return rollups::read(db, Grain::Hour, from_hour, to_hour, prompt_id).await;
    }
    let mut rows = rollups::read(db, Grain::Day, first_day, end_day, prompt_id).await?;
    for (from, to) in [(from_hour, first_day), (end_day, to_hour)] {
        if from < to {
            rows.extend(rollups::read(db, Grain::Hour, from, to, prompt_id).await?);
        }
    }
    Ok(rows)
}

fn window_json(window: Window, out: &mut Json) {
    out["since"] = json!((window.since_ms > 0).then(|| format_ms(window.since_ms)));
    out["until"] = json!((window.until_ms < OPEN_END_MS).then(|| format_ms(window.until_ms)));
}

fn ranked<K: Ord>(groups: BTreeMap<K, Stats>) -> Vec<(K, Stats)> {
    let mut list: Vec<(K, Stats)> = groups.into_iter().collect();
    list.sort_by(|a, b| b.1.executions.cmp(&a.1.executions).then_with(|| a.0.cmp(&b.0)));
    list
}

fn by_model(rows: &[&RollupRow]) -> Vec<Json> {
    let mut groups: BTreeMap<(String, String), Stats> = BTreeMap::new();
    for r in rows {
        groups.entry((r.provider.clone(), r.model_name.clone())).or_default().add(r);
    }
    ranked(groups)
        .into_iter()
        .map(|((provider, model), s)| labelled(json!({ "provider": provider, "model_name": model }), &s))
        .collect()
}

/// `GET /v1/analytics/summary`.
pub async fn summary<D: Db>(db: &D, window: Window) -> Result<Json, DbError> {
    let (rows, rolled_until) = collect(db, window, None, Detail::Totals).await?;
    let refs: Vec<&RollupRow> = rows.iter().collect();
    let mut providers: BTreeMap<String, Stats> = BTreeMap::new();
    let mut prompts: BTreeMap<String, Stats> = BTreeMap::new();
    for r in &rows {
        providers.entry(r.provider.clone()).or_default().add(r);
        if !r.prompt_id.is_empty() {
            prompts.entry(r.prompt_id.clone()).or_default().add(r);
        }
    }
    let mut top = ranked(prompts);
    top.truncate(TOP_PROMPTS);
    let ids: Vec<String> = top.iter().map(|(id, _)| id.clone()).collect();
    let names = rollups::prompt_names(db, &ids).await?;
    let mut out = Stats::of(refs.iter().copied()).to_json();
    window_json(window, &mut out);
    out["by_provider"] = ranked(providers).into_iter().map(|(p, s)| labelled(json!({ "provider": p }), &s)).collect();
    out["by_model"] = by_model(&refs).into();
    out["top_prompts"] = top
        .into_iter()
        .map(|(id, s)| labelled(json!({ "prompt_id": id, "prompt_name": names.get(&id) }), &s))
        .collect();
    out["rollups_through"] = json!(rolled_until.map(format_ms));
    Ok(out)
}

/// `GET /v1/analytics/prompts/{name}`: totals, per version (A/B), and a time series.
pub async fn prompt<D: Db>(
    db: &D,
    prompt_id: &str,
    name: &str,
    window: Window,
    bucket: Bucket,
) -> Result<Json, DbError> {
    let detail = match bucket {
        Bucket::Hour => Detail::Hours,
        Bucket::Day => Detail::Days,
    };
    let (rows, rolled_until) = collect(db, window, Some(prompt_id), detail).await?;
    let version_key = |r: &RollupRow| (r.version, r.prompt_version_id.clone());
    let mut versions: BTreeMap<(Option<i64>, String), Vec<&RollupRow>> = BTreeMap::new();
    let mut series: BTreeMap<i64, Vec<&RollupRow>> = BTreeMap::new();
    for r in &rows {
        versions.entry(version_key(r)).or_default().push(r);
        series.entry(bucket.start_of(r.bucket_start)).or_default().push(r);
    }
    let version_label = |(version, id): &(Option<i64>, String)| json!({ "version": version, "prompt_version_id": id });
    let mut out = Stats::of(&rows).to_json();
    out["prompt"] = json!({ "id": prompt_id, "name": name });
    window_json(window, &mut out);
    out["bucket"] = json!(bucket.as_str());
    out["versions"] = versions
        .iter()
        .map(|(key, rows)| {
            let mut v = labelled(version_label(key), &Stats::of(rows.iter().copied()));
            v["by_model"] = by_model(rows).into();
            v
        })
        .collect();
    out["series"] = series
        .iter()
        .map(|(start, rows)| {
            let mut per_version: BTreeMap<(Option<i64>, String), Stats> = BTreeMap::new();
            for r in rows {
                per_version.entry(version_key(r)).or_default().add(r);
            }
            let mut point = labelled(json!({ "bucket_start": format_ms(*start) }), &Stats::of(rows.iter().copied()));
            point["versions"] = per_version.iter().map(|(key, s)| labelled(version_label(key), s)).collect();
            point
        })
        .collect();
    out["rollups_through"] = json!(rolled_until.map(format_ms));
    Ok(out)
}
