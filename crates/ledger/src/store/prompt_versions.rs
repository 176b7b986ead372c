//! `prompt_versions`: immutable, numbered, checksummed prompt bodies. Only
//! `status` and `activated_at` ever change; the partial unique index
//! `prompt_versions_one_active` keeps one active version per prompt.

use serde_json::Value as Json;

use crate::ports::{Db, DbError, Row, Value};

#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub id: String,
    pub prompt_id: String,
    pub version: i64,
    /// `text` (one template) or `chat` (messages).
    pub kind: String,
    pub template: Option<String>,
    pub messages: Option<Json>,
    pub config: Json,
    pub variables: Vec<String>,
    pub checksum_hash: String,
    /// `draft`, `active` or `archived`.
    pub status: String,
    pub created_by: Option<String>,
    pub message: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
}

impl VersionRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let variables = match r.json("variables")? {
            Json::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            other => return Err(DbError::Decode(format!("column `variables`: expected an array, got {other}"))),
        };
        Ok(VersionRecord {
            id: r.str("id")?,
            prompt_id: r.str("prompt_id")?,
            version: r.i64("version")?,
            kind: r.str("kind")?,
            template: r.opt_str("template")?,
            messages: r.opt_str("messages")?.map(|_| r.json("messages")).transpose()?,
            config: r.json("config")?,
            variables,
            checksum_hash: r.str("checksum_hash")?,
            status: r.str("status")?,
            created_by: r.opt_str("created_by")?,
            message: r.opt_str("message")?,
            created_at: r.i64("created_at")?,
            activated_at: r.opt_i64("activated_at")?,
        })
    }
}

const COLUMNS: &str = "v.id, v.prompt_id, v.version, v.kind, v.template, v.messages, v.config, v.variables, \
                       v.checksum_hash, v.status, v.created_by, v.message, v.created_at, v.activated_at";

fn first(rows: Vec<Row>) -> Result<Option<VersionRecord>, DbError> {
    rows.first().map(VersionRecord::from_row).transpose()
}

/// Inserts a version. A second version with the same number or checksum
/// for the prompt, or a second active one, is [`DbError::Unique`].
pub async fn insert<D: Db>(db: &D, v: &VersionRecord) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, messages, config, variables, \
         checksum_hash, status, created_by, message, created_at, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        &[
            (&v.id).into(),
            (&v.prompt_id).into(),
            v.version.into(),
            (&v.kind).into(),
            v.template.as_deref().into(),
            v.messages.as_ref().map_or(Value::Null, Value::from),
            (&v.config).into(),
            (&Json::from(v.variables.clone())).into(),
            (&v.checksum_hash).into(),
            (&v.status).into(),
            v.created_by.as_deref().into(),
            v.message.as_deref().into(),
            v.created_at.into(),
            v.activated_at.into(),
        ],
    )
    .await
    .map(drop)
}

pub async fn find_by_checksum<D: Db>(
    db: &D,
    prompt_id: &str,
    checksum: &str,
) -> Result<Option<VersionRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM prompt_versions v WHERE v.prompt_id = $1 AND v.checksum_hash = $2");
    first(db.query(&sql, &[prompt_id.into(), checksum.into()]).await?)
}

pub async fn find_by_number<D: Db>(db: &D, prompt_id: &str, version: i64) -> Result<Option<VersionRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM prompt_versions v WHERE v.prompt_id = $1 AND v.version = $2");
    first(db.query(&sql, &[prompt_id.into(), version.into()]).await?)
}

pub async fn find_active<D: Db>(db: &D, prompt_id: &str) -> Result<Option<VersionRecord>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM prompt_versions v WHERE v.prompt_id = $1 AND v.status = 'active'");
    first(db.query(&sql, &[prompt_id.into()]).await?)
}

/// Versions newest first, below `before` when given, at most `limit`.
pub async fn list<D: Db>(
    db: &D,
    prompt_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<VersionRecord>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM prompt_versions v WHERE v.prompt_id = $1 AND v.version < $2 \
         ORDER BY v.version DESC LIMIT $3"
    );
    let rows = db.query(&sql, &[prompt_id.into(), before.unwrap_or(i64::MAX).into(), limit.into()]).await?;
    rows.iter().map(VersionRecord::from_row).collect()
}

/// Demotes the prompt's active version (if any) to `archived`.
pub async fn demote_active<D: Db>(db: &D, prompt_id: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE prompt_versions SET status = 'archived' WHERE prompt_id = $1 AND status = 'active'",
        &[prompt_id.into()],
    )
    .await
    .map(drop)
}

/// Makes one version active; demote the current one first.
pub async fn promote<D: Db>(db: &D, version_id: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE prompt_versions SET status = 'active', activated_at = $2 WHERE id = $1",
        &[version_id.into(), now_ms.into()],
    )
    .await
    .map(drop)
}

/// A version together with the name of its prompt.
#[derive(Debug, Clone)]
pub struct NamedVersion {
    pub prompt_name: String,
    pub version: VersionRecord,
}

impl NamedVersion {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(NamedVersion { prompt_name: r.str("prompt_name")?, version: VersionRecord::from_row(r)? })
    }
}

/// Which version of a prompt to resolve.
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    Active,
    Label(&'a str),
    Number(i64),
}

/// The hot path: one indexed query from a prompt name to the chosen version
/// (unique name, then the one-active partial index, the label primary key or
/// the (prompt, version) key). Archived prompts do not resolve by name.
pub async fn resolve<D: Db>(db: &D, name: &str, pick: Pick<'_>) -> Result<Option<NamedVersion>, DbError> {
    let (join, params): (&str, Vec<Value>) = match pick {
        Pick::Active => ("JOIN prompt_versions v ON v.prompt_id = p.id AND v.status = 'active'", vec![name.into()]),
        Pick::Label(label) => (
            "JOIN prompt_labels l ON l.prompt_id = p.id AND l.label = $2 JOIN prompt_versions v ON v.id = l.version_id",
            vec![name.into(), label.into()],
        ),
        Pick::Number(n) => {
            ("JOIN prompt_versions v ON v.prompt_id = p.id AND v.version = $2", vec![name.into(), n.into()])
        }
    };
    let sql = format!(
        "SELECT p.name AS prompt_name, {COLUMNS} FROM prompts p {join} WHERE p.name = $1 AND p.archived_at IS NULL"
    );
    db.query(&sql, &params).await?.first().map(NamedVersion::from_row).transpose()
}

/// A version by id, whatever the state of its prompt (executions keep the id).
pub async fn find_by_id<D: Db>(db: &D, version_id: &str) -> Result<Option<NamedVersion>, DbError> {
    let sql = format!(
        "SELECT p.name AS prompt_name, {COLUMNS} FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id \
         WHERE v.id = $1"
    );
    db.query(&sql, &[version_id.into()]).await?.first().map(NamedVersion::from_row).transpose()
}
