//! `prompt_labels`: environment names (production, staging, ...) pointing at
//! one version of a prompt each.

use crate::ports::{Db, DbError, Row};

#[derive(Debug, Clone, serde::Serialize)]
pub struct LabelRecord {
    pub label: String,
    pub version: i64,
    pub version_id: String,
    pub updated_by: Option<String>,
    #[serde(serialize_with = "crate::lineage::time::serialize_ms")]
    pub updated_at: i64,
}

impl LabelRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(LabelRecord {
            label: r.str("label")?,
            version: r.i64("version")?,
            version_id: r.str("version_id")?,
            updated_by: r.opt_str("updated_by")?,
            updated_at: r.i64("updated_at")?,
        })
    }
}

const SELECT: &str = "SELECT l.label, v.version, l.version_id, l.updated_by, l.updated_at \
                      FROM prompt_labels l JOIN prompt_versions v ON v.id = l.version_id";

/// Points `label` at a version, creating or moving it.
pub async fn upsert<D: Db>(
    db: &D,
    prompt_id: &str,
    label: &str,
    version_id: &str,
    updated_by: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO prompt_labels (prompt_id, label, version_id, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (prompt_id, label) DO UPDATE SET version_id = excluded.version_id, \
         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        &[prompt_id.into(), label.into(), version_id.into(), updated_by.into(), now_ms.into()],
    )
    .await
    .map(drop)
}

pub async fn find<D: Db>(db: &D, prompt_id: &str, label: &str) -> Result<Option<LabelRecord>, DbError> {
    let sql = format!("{SELECT} WHERE l.prompt_id = $1 AND l.label = $2");
    db.query(&sql, &[prompt_id.into(), label.into()]).await?.first().map(LabelRecord::from_row).transpose()
}

/// Every label of a prompt, by name.
pub async fn list<D: Db>(db: &D, prompt_id: &str) -> Result<Vec<LabelRecord>, DbError> {
    let sql = format!("{SELECT} WHERE l.prompt_id = $1 ORDER BY l.label");
    db.query(&sql, &[prompt_id.into()]).await?.iter().map(LabelRecord::from_row).collect()
}

/// Removes a label; false when it did not exist.
pub async fn delete<D: Db>(db: &D, prompt_id: &str, label: &str) -> Result<bool, DbError> {
    db.execute("DELETE FROM prompt_labels WHERE prompt_id = $1 AND label = $2", &[prompt_id.into(), label.into()])
        .await
        .map(|n| n > 0)
}
