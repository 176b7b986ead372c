//! `api_keys`: hashed keys with a scope.

use crate::ports::{Db, DbError, Row};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub key_prefix: String,
    #[serde(serialize_with = "crate::lineage::time::serialize_ms")]
    pub created_at: i64,
    #[serde(serialize_with = "crate::lineage::time::serialize_opt_ms")]
    pub revoked_at: Option<i64>,
    pub rate_limit_per_minute: Option<i64>,
    #[serde(rename = "monthly_budget_usd", serialize_with = "crate::executions::cost::serialize_opt_usd")]
    pub monthly_budget_nanos: Option<i64>,
}

impl ApiKeyRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(ApiKeyRecord {
            id: r.str("id")?,
            name: r.str("name")?,
            scope: r.str("scope")?,
            key_prefix: r.str("key_prefix")?,
            created_at: r.i64("created_at")?,
            revoked_at: r.opt_i64("revoked_at")?,
            rate_limit_per_minute: r.opt_i64("rate_limit_per_minute")?,
            monthly_budget_nanos: r.opt_i64("monthly_budget_nanos")?,
        })
    }
}

const COLUMNS: &str =
    "id, name, scope, key_prefix, created_at, revoked_at, rate_limit_per_minute, monthly_budget_nanos";

pub async fn insert<D: Db>(db: &D, key: &ApiKeyRecord, key_hash: &str) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO api_keys (id, name, scope, key_hash, key_prefix, created_at, rate_limit_per_minute, \
         monthly_budget_nanos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            (&key.id).into(),
            (&key.name).into(),
            (&key.scope).into(),
            key_hash.into(),
            (&key.key_prefix).into(),
            key.created_at.into(),
            key.rate_limit_per_minute.into(),
            key.monthly_budget_nanos.into(),
        ],
    )
    .await
    .map(drop)
}

/// The active (not revoked) key with this hash.
pub async fn find_active_by_hash<D: Db>(db: &D, key_hash: &str) -> Result<Option<ApiKeyRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
    db.query(&sql, &[key_hash.into()]).await?.first().map(ApiKeyRecord::from_row).transpose()
}

pub async fn list<D: Db>(db: &D, include_revoked: bool) -> Result<Vec<ApiKeyRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE ($1 OR revoked_at IS NULL) ORDER BY created_at, id");
    db.query(&sql, &[include_revoked.into()]).await?.iter().map(ApiKeyRecord::from_row).collect()
}

pub async fn get<D: Db>(db: &D, id: &str) -> Result<Option<ApiKeyRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    db.query(&sql, &[id.into()]).await?.first().map(ApiKeyRecord::from_row).transpose()
}

/// Revokes a key; idempotent. Returns the key, or `None` when it does not exist.
pub async fn revoke<D: Db>(db: &D, id: &str, now_ms: i64) -> Result<Option<ApiKeyRecord>, DbError> {
    db.execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[id.into(), now_ms.into()])
        .await?;
    get(db, id).await
}

/// Sets an active key's limits. Returns the key, or `None` when there is no
/// active key with this id.
pub async fn set_limits<D: Db>(
    db: &D,
    id: &str,
    rate_limit_per_minute: Option<i64>,
    monthly_budget_nanos: Option<i64>,
) -> Result<Option<ApiKeyRecord>, DbError> {
    let sql = format!(
        "UPDATE api_keys SET rate_limit_per_minute = $2, monthly_budget_nanos = $3 \
         WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"
    );
    let params = [id.into(), rate_limit_per_minute.into(), monthly_budget_nanos.into()];
    db.query(&sql, &params).await?.first().map(ApiKeyRecord::from_row).transpose()
}

/// Counts one request in the key's window and returns the window's count.
/// One atomic upsert, so replicas sharing the database count exactly.
pub async fn count_request<D: Db>(db: &D, key_id: &str, window_start_ms: i64) -> Result<i64, DbError> {
    let rows = db
        .query(
            "INSERT INTO api_key_windows (api_key_id, window_start, requests) VALUES ($1, $2, 1) \
             ON CONFLICT (api_key_id, window_start) DO UPDATE SET requests = api_key_windows.requests + 1 \
             RETURNING requests",
            &[key_id.into(), window_start_ms.into()],
        )
        .await?;
    rows.first().map_or(Ok(1), |r| r.i64("requests"))
}

/// Recorded cost (nano-USD) of the key's executions in the month starting at `month_start_ms`.
pub async fn spend_in_month<D: Db>(db: &D, key_id: &str, month_start_ms: i64) -> Result<i64, DbError> {
    let rows = db
        .query(
            "SELECT cost_nanos FROM api_key_spend WHERE api_key_id = $1 AND month_start = $2",
            &[key_id.into(), month_start_ms.into()],
        )
        .await?;
    rows.first().map_or(Ok(0), |r| r.i64("cost_nanos"))
}

const ADD_SPEND: &str = "INSERT INTO api_key_spend (api_key_id, month_start, cost_nanos)";
const ON_SPEND_CONFLICT: &str =
    "ON CONFLICT (api_key_id, month_start) DO UPDATE SET cost_nanos = api_key_spend.cost_nanos + excluded.cost_nanos";

/// A CTE `k` adding a recorded cost (`$cost`) to its key's month
/// (`$month`), for the key a CTE `u` returned as `api_key_id`: the cost
/// is counted in the statement that records it (PostgreSQL).
pub fn add_spend_cte(month: usize, cost: usize) -> String {
    format!(
        "k AS ({ADD_SPEND} SELECT api_key_id, CAST(${month} AS BIGINT), CAST(${cost} AS BIGINT) FROM u \
         WHERE api_key_id IS NOT NULL AND CAST(${cost} AS BIGINT) > 0 {ON_SPEND_CONFLICT})"
    )
}

/// [`add_spend_cte`] for SQLite, inside the transaction that recorded
/// execution `$1` with cost `$3`, in the month starting at `$2`.
pub fn add_spend_sqlite() -> String {
    format!(
        "{ADD_SPEND} SELECT api_key_id, $2, $3 FROM executions WHERE id = $1 AND api_key_id IS NOT NULL AND $3 > 0 \
         {ON_SPEND_CONFLICT}"
    )
}

/// Drops request windows that ended before `before_ms`.
pub async fn prune_windows<D: Db>(db: &D, before_ms: i64) -> Result<u64, DbError> {
    db.execute("DELETE FROM api_key_windows WHERE window_start < $1", &[before_ms.into()]).await
}

/// Requests counted in one window (0 when none were).
pub async fn requests_in_window<D: Db>(db: &D, key_id: &str, window_start_ms: i64) -> Result<i64, DbError> {
    let rows = db
        .query(
            "SELECT requests FROM api_key_windows WHERE api_key_id = $1 AND window_start = $2",
            &[key_id.into(), window_start_ms.into()],
        )
        .await?;
    rows.first().map_or(Ok(0), |r| r.i64("requests"))
}
