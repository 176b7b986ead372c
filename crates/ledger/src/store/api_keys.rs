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
        })
    }
}

const COLUMNS: &str = "id, name, scope, key_prefix, created_at, revoked_at";

pub async fn insert<D: Db>(db: &D, key: &ApiKeyRecord, key_hash: &str) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO api_keys (id, name, scope, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&key.id).into(),
            (&key.name).into(),
            (&key.scope).into(),
            key_hash.into(),
            (&key.key_prefix).into(),
            key.created_at.into(),
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

/// Revokes a key; idempotent. Returns the key, or `None` when it does not exist.
pub async fn revoke<D: Db>(db: &D, id: &str, now_ms: i64) -> Result<Option<ApiKeyRecord>, DbError> {
    db.execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[id.into(), now_ms.into()])
        .await?;
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    db.query(&sql, &[id.into()]).await?.first().map(ApiKeyRecord::from_row).transpose()
}
