//! `analytics_rollups` and the reads of `executions` that feed them: the
//! same aggregation serves the hourly fold and the live tail, so both give
//! identical numbers. Also the fold's watermark and lock in `ledger_state`.

use std::collections::HashMap;

use super::spans::in_list;
use crate::analytics::histogram::{BOUNDS_MS, Histogram};
use crate::ports::{Db, DbError, Row, Value};

pub const HOUR_MS: i64 = 3_600_000;

/// Statuses of finished executions; only these are counted.
const FINISHED: &str = "('succeeded', 'failed', 'canceled')";

/// Rows per multi-row upsert of rollup rows.
const CHUNK: usize = 50;

/// `($1, ..., $w), ($w+1, ...)`: placeholders for `rows` rows of `width` values.
fn values_placeholders(rows: usize, width: usize) -> String {
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

const WATERMARK_KEY: &str = "analytics.rollup.watermark";
const LOCK_KEY: &str = "analytics.rollup.lock";

/// Aggregates of one group of executions over one hour (or one range).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    /// Start of the hour (ms); 0 when the rows were not grouped by hour.
    pub bucket_start: i64,
    /// Empty for executions of inline templates.
    pub prompt_version_id: String,
    pub prompt_id: String,
    pub version: Option<i64>,
    pub provider: String,
    pub model_name: String,
    pub status: String,
    /// Empty when none.
    pub error_type: String,
    pub executions: i64,
    pub prompt_tokens: i64,
    pub response_tokens: i64,
    pub cost_nanos: i64,
    /// Sum of the latencies that were recorded (the histogram counts them).
    pub latency_sum_ms: i64,
    pub latency: Histogram,
}

pub type GroupKey = (i64, String, String, Option<i64>, String, String, String, String);

impl RollupRow {
    /// Adds another row's counts, sums and histogram to this one.
    pub fn absorb(&mut self, other: &RollupRow) {
        self.executions += other.executions;
        self.prompt_tokens += other.prompt_tokens;
        self.response_tokens += other.response_tokens;
        self.cost_nanos += other.cost_nanos;
        self.latency_sum_ms += other.latency_sum_ms;
        self.latency.merge(&other.latency);
    }

    /// The row's bucket and dimensions.
    pub fn key(&self) -> GroupKey {
        (
            self.bucket_start,
            self.prompt_version_id.clone(),
            self.prompt_id.clone(),
            self.version,
            self.provider.clone(),
            self.model_name.clone(),
            self.status.clone(),
            self.error_type.clone(),
        )
    }

    fn dims_from_row(r: &Row) -> Result<RollupRow, DbError> {
        Ok(RollupRow {
            bucket_start: r.i64("bucket_start")?,
            prompt_version_id: r.str("prompt_version_id")?,
            prompt_id: r.str("prompt_id")?,
            version: r.opt_i64("version")?,
            provider: r.str("provider")?,
            model_name: r.str("model_name")?,
            status: r.str("status")?,
            error_type: r.str("error_type")?,
            executions: r.i64("executions")?,
            prompt_tokens: r.i64("prompt_tokens")?,
            response_tokens: r.i64("response_tokens")?,
            cost_nanos: r.i64("cost_nanos")?,
            latency_sum_ms: r.i64("latency_sum_ms")?,
            latency: Histogram::default(),
        })
    }
}

/// `CASE` mapping `total_latency_ms` to its histogram bucket (-1 when unknown).
fn latency_bucket_sql() -> String {
    let mut sql = String::from("CASE WHEN total_latency_ms IS NULL THEN -1");
    for (i, bound) in BOUNDS_MS.iter().enumerate() {
        sql.push_str(&format!(" WHEN total_latency_ms <= {bound} THEN {i}"));
    }
    sql.push_str(&format!(" ELSE {} END", BOUNDS_MS.len()));
    sql
}

/// Finished executions created in [from_ms, to_ms), optionally of one
/// prompt, grouped like rollup rows (by hour of `created_at` when `by_hour`).
pub async fn aggregate_executions<D: Db>(
    db: &D,
    from_ms: i64,
    to_ms: i64,
    prompt_id: Option<&str>,
    by_hour: bool,
) -> Result<Vec<RollupRow>, DbError> {
    let hour = if by_hour { format!("(created_at - created_at % {HOUR_MS})") } else { "CAST(0 AS BIGINT)".into() };
    let latency = latency_bucket_sql();
    let dims = "COALESCE(prompt_version_id, ''), COALESCE(prompt_id, ''), version, provider, model_name, status, \
                COALESCE(error_type, '')";
    let mut params: Vec<Value> = vec![from_ms.into(), to_ms.into()];
    let prompt_filter = match prompt_id {
        Some(id) => {
            params.push(id.into());
            "AND prompt_id = $3"
        }
        None => "",
    };
    let sql = format!(
        "SELECT {hour} AS bucket_start, COALESCE(prompt_version_id, '') AS prompt_version_id, \
            COALESCE(prompt_id, '') AS prompt_id, version, provider, model_name, status, \
            COALESCE(error_type, '') AS error_type, {latency} AS latency_bucket, \
            CAST(COUNT(*) AS BIGINT) AS executions, \
            CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
            CAST(COALESCE(SUM(response_tokens), 0) AS BIGINT) AS response_tokens, \
            CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost_nanos, \
            CAST(COALESCE(SUM(total_latency_ms), 0) AS BIGINT) AS latency_sum_ms \
         FROM executions \
         WHERE created_at >= $1 AND created_at < $2 AND status IN {FINISHED} {prompt_filter} \
         GROUP BY {}{dims}, {latency}",
        if by_hour { format!("{hour}, ") } else { String::new() },
    );
    let mut groups: Vec<RollupRow> = Vec::new();
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    for r in db.query(&sql, &params).await? {
        let mut part = RollupRow::dims_from_row(&r)?;
        if let Ok(bucket) = usize::try_from(r.i64("latency_bucket")?) {
            part.latency.add(bucket, part.executions);
        }
        match index.get(&part.key()) {
            Some(&at) => groups[at].absorb(&part),
            None => {
                index.insert(part.key(), groups.len());
                groups.push(part);
            }
        }
    }
    Ok(groups)
}

const COLUMNS_BUT_HISTOGRAM: &str = "bucket_start, prompt_version_id, prompt_id, version, provider, model_name, status, \
    error_type, executions, prompt_tokens, response_tokens, cost_nanos, latency_sum_ms";

/// Rollup rows come in two grains. Hour rows sit at the hour's start;
/// day rows, the sums of a day's hour rows, sit one millisecond after the
/// day's start, which no hour row can use. Long ranges read day rows, so a
/// summary's cost grows with days rather than hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

pub const DAY_MS: i64 = 24 * HOUR_MS;
const DAY_MARK: i64 = 1;

impl Grain {
    fn offset(self) -> i64 {
        match self {
            Grain::Hour => 0,
            Grain::Day => DAY_MARK,
        }
    }
}

/// Rollup rows of one grain starting in [from_ms, to_ms), optionally of
/// one prompt. `bucket_start` is the hour's or the day's start.
pub async fn read<D: Db>(
    db: &D,
    grain: Grain,
    from_ms: i64,
    to_ms: i64,
    prompt_id: Option<&str>,
) -> Result<Vec<RollupRow>, DbError> {
    let offset = grain.offset();
    let mut params: Vec<Value> = vec![(from_ms + offset).into(), (to_ms + offset).into(), offset.into()];
    let prompt_filter = match prompt_id {
        Some(id) => {
            params.push(id.into());
            " AND prompt_id = $4"
        }
        None => "",
    };
    // The histogram is read as text and parsed here, which is much cheaper
    // than having the driver build a JSON value first.
    let sql = format!(
        "SELECT {COLUMNS_BUT_HISTOGRAM}, CAST(latency_hist AS TEXT) AS latency_hist FROM analytics_rollups \
         WHERE bucket_start >= $1 AND bucket_start < $2 AND bucket_start % {HOUR_MS} = $3{prompt_filter}"
    );
    db.query(&sql, &params)
        .await?
        .iter()
        .map(|r| {
            let mut row = RollupRow::dims_from_row(r)?;
            row.bucket_start -= offset;
            row.latency = Histogram::parse(&r.str("latency_hist")?).map_err(DbError::Decode)?;
            Ok(row)
        })
        .collect()
}

/// Replaces the hour rows of one hour. Call inside a transaction, after [`lock`].
pub async fn replace_hour<D: Db>(db: &D, hour: i64, rows: &[RollupRow], now_ms: i64) -> Result<(), DbError> {
    replace(db, hour, rows, now_ms).await
}

/// Replaces the day rows of one day. Call inside a transaction, after [`lock`].
pub async fn replace_day<D: Db>(db: &D, day: i64, rows: &[RollupRow], now_ms: i64) -> Result<(), DbError> {
    replace(db, day + DAY_MARK, rows, now_ms).await
}

async fn replace<D: Db>(db: &D, bucket_start: i64, rows: &[RollupRow], now_ms: i64) -> Result<(), DbError> {
    db.execute("DELETE FROM analytics_rollups WHERE bucket_start = $1", &[bucket_start.into()]).await?;
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO analytics_rollups ({COLUMNS_BUT_HISTOGRAM}, latency_hist, updated_at) VALUES {} \
             ON CONFLICT (bucket_start, prompt_version_id, provider, model_name, status, error_type) DO UPDATE SET \
                prompt_id = excluded.prompt_id, version = excluded.version, executions = excluded.executions, \
                prompt_tokens = excluded.prompt_tokens, response_tokens = excluded.response_tokens, \
                cost_nanos = excluded.cost_nanos, latency_sum_ms = excluded.latency_sum_ms, \
                latency_hist = excluded.latency_hist, updated_at = excluded.updated_at",
            values_placeholders(chunk.len(), 15)
        );
        let mut params = Vec::with_capacity(chunk.len() * 15);
        for r in chunk {
            params.extend([
                bucket_start.into(),
                Value::from(&r.prompt_version_id),
                Value::from(&r.prompt_id),
                r.version.into(),
                Value::from(&r.provider),
                Value::from(&r.model_name),
                Value::from(&r.status),
                Value::from(&r.error_type),
                r.executions.into(),
                r.prompt_tokens.into(),
                r.response_tokens.into(),
                r.cost_nanos.into(),
                r.latency_sum_ms.into(),
                Value::Json(r.latency.to_json().to_string()),
                now_ms.into(),
            ]);
        }
        db.execute(&sql, &params).await?;
    }
    Ok(())
}

/// Serialises rollup writers: the first statement of every fold
/// transaction, holding one row lock until it ends.
pub async fn lock<D: Db>(db: &D, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO ledger_state (key, value, updated_at) VALUES ($1, '', $2) \
         ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at",
        &[LOCK_KEY.into(), now_ms.into()],
    )
    .await
    .map(drop)
}

/// Completion time up to which finished executions have been folded.
pub async fn watermark<D: Db>(db: &D) -> Result<Option<i64>, DbError> {
    let rows = db.query("SELECT value FROM ledger_state WHERE key = $1", &[WATERMARK_KEY.into()]).await?;
    match rows.first() {
        None => Ok(None),
        Some(r) => {
            let value = r.str("value")?;
            value.parse().map(Some).map_err(|_| DbError::Decode(format!("{WATERMARK_KEY}: `{value}` is not a number")))
        }
    }
}

/// Moves the watermark forward (never back, whatever order runs finish in).
pub async fn advance_watermark<D: Db>(db: &D, to_ms: i64, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO ledger_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET \
            value = CASE WHEN CAST(ledger_state.value AS BIGINT) < CAST(excluded.value AS BIGINT) \
                    THEN excluded.value ELSE ledger_state.value END, \
            updated_at = excluded.updated_at",
        &[WATERMARK_KEY.into(), to_ms.to_string().into(), now_ms.into()],
    )
    .await
    .map(drop)
}

/// The completion time of the `offset`-th (0-based) execution finished in
/// [from_ms, to_ms), in completion order: bounds how much one fold takes on.
pub async fn nth_completion<D: Db>(db: &D, from_ms: i64, to_ms: i64, offset: i64) -> Result<Option<i64>, DbError> {
    let sql = format!(
        "SELECT completed_at FROM executions \
         WHERE completed_at >= $1 AND completed_at < $2 AND status IN {FINISHED} \
         ORDER BY completed_at LIMIT 1 OFFSET $3"
    );
    db.query(&sql, &[from_ms.into(), to_ms.into(), offset.into()])
        .await?
        .first()
        .map(|r| r.i64("completed_at"))
        .transpose()
}

/// Hours (of `created_at`) holding executions that finished in
/// [from_ms, to_ms), with each hour's first completion in that window,
/// ordered by it.
pub async fn hours_finished_between<D: Db>(db: &D, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, i64)>, DbError> {
    let hour = format!("(created_at - created_at % {HOUR_MS})");
    let sql = format!(
        "SELECT {hour} AS hour_start, MIN(completed_at) AS first_completed FROM executions \
         WHERE completed_at >= $1 AND completed_at < $2 AND status IN {FINISHED} \
         GROUP BY {hour} ORDER BY first_completed, hour_start"
    );
    db.query(&sql, &[from_ms.into(), to_ms.into()])
        .await?
        .iter()
        .map(|r| Ok((r.i64("hour_start")?, r.i64("first_completed")?)))
        .collect()
}

/// A prompt's id by its name.
pub async fn prompt_id_by_name<D: Db>(db: &D, name: &str) -> Result<Option<String>, DbError> {
    db.query("SELECT id FROM prompts WHERE name = $1", &[name.into()]).await?.first().map(|r| r.str("id")).transpose()
}

/// Names of the given prompts.
pub async fn prompt_names<D: Db>(db: &D, ids: &[String]) -> Result<HashMap<String, String>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT id, name FROM prompts WHERE id IN ({})", in_list(1, ids.len()));
    let params: Vec<Value> = ids.iter().map(Value::from).collect();
    db.query(&sql, &params).await?.iter().map(|r| Ok((r.str("id")?, r.str("name")?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_consecutively() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
