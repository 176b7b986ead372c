//! `models`: provider + model name, with list prices used for cost.

use crate::ports::{Db, DbError, Row};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelRecord {
    pub id: String,
    pub provider: String,
    pub model_name: String,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    #[serde(serialize_with = "crate::lineage::time::serialize_ms")]
    pub updated_at: i64,
}

impl ModelRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(ModelRecord {
            id: r.str("id")?,
            provider: r.str("provider")?,
            model_name: r.str("model_name")?,
            input_usd_per_mtok: r.f64("input_usd_per_mtok")?,
            output_usd_per_mtok: r.f64("output_usd_per_mtok")?,
            updated_at: r.i64("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, provider, model_name, input_usd_per_mtok, output_usd_per_mtok, updated_at";

pub async fn find<D: Db>(db: &D, provider: &str, model_name: &str) -> Result<Option<ModelRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM models WHERE provider = $1 AND model_name = $2");
    db.query(&sql, &[provider.into(), model_name.into()]).await?.first().map(ModelRecord::from_row).transpose()
}

/// The model row, created at zero price on first use. Safe under concurrent
/// first uses: the unique (provider, model_name) decides, everyone reads the winner.
pub async fn find_or_create<D: Db>(
    db: &D,
    new_id: &str,
    provider: &str,
    model_name: &str,
    now_ms: i64,
) -> Result<ModelRecord, DbError> {
    if let Some(found) = find(db, provider, model_name).await? {
        return Ok(found);
    }
    db.execute(
        "INSERT INTO models (id, provider, model_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (provider, model_name) DO NOTHING",
        &[new_id.into(), provider.into(), model_name.into(), now_ms.into()],
    )
    .await?;
    find(db, provider, model_name).await?.ok_or_else(|| DbError::Query("model row vanished after insert".into()))
}

pub async fn list<D: Db>(db: &D) -> Result<Vec<ModelRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM models ORDER BY provider, model_name");
    db.query(&sql, &[]).await?.iter().map(ModelRecord::from_row).collect()
}

/// Sets a model's prices, creating the row when needed.
pub async fn upsert_prices<D: Db>(
    db: &D,
    new_id: &str,
    provider: &str,
    model_name: &str,
    input_usd_per_mtok: f64,
    output_usd_per_mtok: f64,
    now_ms: i64,
) -> Result<ModelRecord, DbError> {
    db.execute(
        "INSERT INTO models (id, provider, model_name, input_usd_per_mtok, output_usd_per_mtok, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (provider, model_name) DO UPDATE SET input_usd_per_mtok = excluded.input_usd_per_mtok, \
         output_usd_per_mtok = excluded.output_usd_per_mtok, updated_at = excluded.updated_at",
        &[
            new_id.into(),
            provider.into(),
            model_name.into(),
            input_usd_per_mtok.into(),
            output_usd_per_mtok.into(),
            now_ms.into(),
        ],
    )
    .await?;
    find(db, provider, model_name).await?.ok_or_else(|| DbError::Query("model row vanished after upsert".into()))
}
