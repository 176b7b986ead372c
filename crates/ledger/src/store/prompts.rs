//! `prompts`: one row per prompt name. The row doubles as the per-prompt lock
//! every registry write takes first, so writes to one prompt serialise.

use crate::ports::{Db, DbError, Dialect, Row, Value};

#[derive(Debug, Clone, serde::Serialize)]
pub struct PromptRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner_team: Option<String>,
    pub mode: String,
    pub latest_version: i64,
    #[serde(serialize_with = "crate::lineage::time::serialize_opt_ms")]
    pub archived_at: Option<i64>,
    #[serde(serialize_with = "crate::lineage::time::serialize_ms")]
    pub created_at: i64,
    #[serde(serialize_with = "crate::lineage::time::serialize_ms")]
    pub updated_at: i64,
}

impl PromptRecord {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(PromptRecord {
            id: r.str("id")?,
            name: r.str("name")?,
            description: r.str("description")?,
            owner_team: r.opt_str("owner_team")?,
            mode: r.str("mode")?,
            latest_version: r.i64("latest_version")?,
            archived_at: r.opt_i64("archived_at")?,
            created_at: r.i64("created_at")?,
            updated_at: r.i64("updated_at")?,
        })
    }
}

const COLUMNS: &str = "id, name, description, owner_team, mode, latest_version, archived_at, created_at, updated_at";

fn first(rows: Vec<Row>) -> Result<Option<PromptRecord>, DbError> {
    rows.first().map(PromptRecord::from_row).transpose()
}

/// Inserts a prompt; a taken name is [`DbError::Unique`].
pub async fn insert<D: Db>(db: &D, p: &PromptRecord) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO prompts (id, name, description, owner_team, mode, latest_version, archived_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &insert_params(p),
    )
    .await
    .map(drop)
}

/// Inserts a prompt unless the name exists; true when this call created it.
/// On PostgreSQL a concurrent insert of the same name waits for the other
/// transaction and then does nothing.
pub async fn insert_if_absent<D: Db>(db: &D, p: &PromptRecord) -> Result<bool, DbError> {
    db.execute(
        "INSERT INTO prompts (id, name, description, owner_team, mode, latest_version, archived_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING",
        &insert_params(p),
    )
    .await
    .map(|n| n > 0)
}

fn insert_params(p: &PromptRecord) -> [Value; 9] {
    [
        (&p.id).into(),
        (&p.name).into(),
        (&p.description).into(),
        p.owner_team.as_deref().into(),
        (&p.mode).into(),
        p.latest_version.into(),
        p.archived_at.into(),
        p.created_at.into(),
        p.updated_at.into(),
    ]
}

pub async fn find_by_name<D: Db>(db: &D, name: &str) -> Result<Option<PromptRecord>, DbError> {
    first(db.query(&format!("SELECT {COLUMNS} FROM prompts WHERE name = $1"), &[name.into()]).await?)
}

/// Locks the prompt row until the transaction ends (a no-op UPDATE: a row
/// lock on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the write
/// lock) and returns it as it is after any write that committed first.
pub async fn lock_by_name<D: Db>(db: &D, name: &str) -> Result<Option<PromptRecord>, DbError> {
    let sql = format!("UPDATE prompts SET latest_version = latest_version WHERE name = $1 RETURNING {COLUMNS}");
    first(db.query(&sql, &[name.into()]).await?)
}

/// Takes the next version number. Call with the row locked, inside the
/// transaction that inserts the version, so numbers have no gaps.
pub async fn next_version<D: Db>(db: &D, prompt_id: &str, now_ms: i64) -> Result<i64, DbError> {
    let rows = db
        .query(
            "UPDATE prompts SET latest_version = latest_version + 1, updated_at = $2 WHERE id = $1 \
             RETURNING latest_version",
            &[prompt_id.into(), now_ms.into()],
        )
        .await?;
    rows.first().ok_or_else(|| DbError::Decode(format!("prompt {prompt_id} vanished")))?.i64("latest_version")
}

pub async fn touch<D: Db>(db: &D, prompt_id: &str, now_ms: i64) -> Result<(), DbError> {
    db.execute("UPDATE prompts SET updated_at = $2 WHERE id = $1", &[prompt_id.into(), now_ms.into()]).await.map(drop)
}

/// Changes description and/or owner team (`Some(None)` clears the team).
pub async fn update_metadata<D: Db>(
    db: &D,
    name: &str,
    description: Option<&str>,
    owner_team: Option<Option<&str>>,
    now_ms: i64,
) -> Result<Option<PromptRecord>, DbError> {
    let mut sets = vec!["updated_at = $2".to_owned()];
    let mut params: Vec<Value> = vec![name.into(), now_ms.into()];
    if let Some(d) = description {
        params.push(d.into());
        sets.push(format!("description = ${}", params.len()));
    }
    if let Some(team) = owner_team {
        params.push(team.into());
        sets.push(format!("owner_team = ${}", params.len()));
    }
    let sql = format!("UPDATE prompts SET {} WHERE name = $1 RETURNING {COLUMNS}", sets.join(", "));
    first(db.query(&sql, &params).await?)
}

/// Archives (`Some(now)`) or restores (`None`) a prompt; idempotent.
pub async fn set_archived<D: Db>(
    db: &D,
    name: &str,
    archived_at: Option<i64>,
    now_ms: i64,
) -> Result<Option<PromptRecord>, DbError> {
    let sql = match archived_at {
        Some(_) => "UPDATE prompts SET archived_at = $2, updated_at = $2 WHERE name = $1 AND archived_at IS NULL",
        None => "UPDATE prompts SET archived_at = NULL, updated_at = $2 WHERE name = $1 AND archived_at IS NOT NULL",
    };
    db.execute(sql, &[name.into(), archived_at.unwrap_or(now_ms).into()]).await?;
    find_by_name(db, name).await
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub mode: Option<String>,
    pub owner_team: Option<String>,
    /// Names starting with this (validated to the name alphabet by the caller).
    pub prefix: Option<String>,
    pub include_archived: bool,
    /// Only names after this one (the page cursor).
    pub after: Option<String>,
}

/// A prompt in a list, with the number of its active version.
#[derive(Debug, Clone)]
pub struct ListedPrompt {
    pub prompt: PromptRecord,
    pub active_version: Option<i64>,
}

/// Prompts in byte order of name, at most `limit`.
pub async fn list<D: Db>(db: &D, filter: &ListFilter, limit: i64) -> Result<Vec<ListedPrompt>, DbError> {
    // Byte order on both databases: SQLite's default, `COLLATE "C"` (indexed
    // by migration 0003) on PostgreSQL.
    let name = match db.dialect() {
        Dialect::Postgres => "p.name COLLATE \"C\"",
        Dialect::Sqlite => "p.name",
    };
    let mut clauses: Vec<String> = Vec::new();
    if !filter.include_archived {
        clauses.push("p.archived_at IS NULL".into());
    }
    let mut params: Vec<Value> = Vec::new();
    let mut bind = |clause: &str, value: Value, params: &mut Vec<Value>| {
        params.push(value);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(mode) = &filter.mode {
        bind("p.mode = ?", mode.into(), &mut params);
    }
    if let Some(team) = &filter.owner_team {
        bind("p.owner_team = ?", team.into(), &mut params);
    }
    if let Some(prefix) = filter.prefix.as_deref().filter(|p| !p.is_empty()) {
        bind(&format!("{name} >= ?"), prefix.into(), &mut params);
        bind(&format!("{name} < ?"), prefix_upper_bound(prefix).into(), &mut params);
    }
    if let Some(after) = &filter.after {
        bind(&format!("{name} > ?"), after.into(), &mut params);
    }
    params.push(limit.into());
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!(
        "SELECT p.id, p.name, p.description, p.owner_team, p.mode, p.latest_version, p.archived_at, p.created_at, \
         p.updated_at, v.version AS active_version \
         FROM prompts p LEFT JOIN prompt_versions v ON v.prompt_id = p.id AND v.status = 'active' \
         {where_sql} ORDER BY {name} LIMIT ${}",
        params.len()
    );
    db.query(&sql, &params)
        .await?
        .iter()
        .map(|r| Ok(ListedPrompt { prompt: PromptRecord::from_row(r)?, active_version: r.opt_i64("active_version")? }))
        .collect()
}

/// The smallest string greater than every string starting with `prefix`,
/// for an ASCII prefix: its last byte incremented.
fn prefix_upper_bound(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last = last.saturating_add(1);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bound_covers_every_name_with_the_prefix() {
        assert_eq!(prefix_upper_bound("abc"), "abd");
        assert_eq!(prefix_upper_bound("a-"), "a.");
        assert_eq!(prefix_upper_bound("z"), "{");
        for name in ["abc", "abc-1", "abc.z", "abc_Z", "abczzz"] {
            assert!(name >= "abc" && name < prefix_upper_bound("abc").as_str(), "{name}");
        }
        assert!("abd" >= prefix_upper_bound("abc").as_str());
    }
}
