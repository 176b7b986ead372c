//! Interim registry surface used by executions (replaced by the full registry).

use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::ports::{Db, Host};

pub enum VersionSelector {
    Active,
    Label(String),
    Number(i64),
}

#[derive(Clone, Debug)]
pub enum PromptBody {
    Text(String),
    Chat(Vec<ChatMessage>),
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

pub struct ResolvedVersion {
    pub prompt_id: String,
    pub prompt_name: String,
    pub version_id: String,
    pub version: i64,
    pub checksum_hash: String,
    pub body: PromptBody,
    pub config: Json,
    pub variables: Vec<String>,
}

pub enum Rendered {
    Text(String),
    Chat(Vec<ChatMessage>),
}

pub async fn resolve<H: Host>(host: &H, name: &str, selector: &VersionSelector) -> ApiResult<ResolvedVersion> {
    let db = host.db();
    let (clause, param): (&str, crate::ports::Value) = match selector {
        VersionSelector::Active => ("v.status = 'active'", crate::ports::Value::Null),
        VersionSelector::Number(n) => ("v.version = $2", (*n).into()),
        VersionSelector::Label(l) => {
            ("v.id = (SELECT version_id FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = $2)", l.into())
        }
    };
    let sql = format!(
        "SELECT p.id AS prompt_id, p.name, v.id AS version_id, v.version, v.checksum_hash, v.template, v.config \
         FROM prompts p JOIN prompt_versions v ON v.prompt_id = p.id WHERE p.name = $1 AND p.archived_at IS NULL AND {clause}"
    );
    let mut params = vec![name.into()];
    if !matches!(param, crate::ports::Value::Null) {
        params.push(param);
    }
    let rows = db.query(&sql, &params).await?;
    let r = rows.first().ok_or_else(|| ApiError::not_found(format!("no prompt version for `{name}`")))?;
    Ok(ResolvedVersion {
        prompt_id: r.str("prompt_id")?,
        prompt_name: r.str("name")?,
        version_id: r.str("version_id")?,
        version: r.i64("version")?,
        checksum_hash: r.str("checksum_hash")?,
        body: PromptBody::Text(r.opt_str("template")?.unwrap_or_default()),
        config: r.json("config")?,
        variables: Vec::new(),
    })
}

pub fn render(version: &ResolvedVersion, variables: &Map<String, Json>) -> ApiResult<Rendered> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let render = |t: &str| {
        env.render_str(t, variables)
            .map_err(|e| ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, "missing_variables", e.to_string()))
    };
    match &version.body {
        PromptBody::Text(t) => Ok(Rendered::Text(render(t)?)),
        PromptBody::Chat(ms) => Ok(Rendered::Chat(
            ms.iter()
                .map(|m| Ok(ChatMessage { role: m.role.clone(), content: render(&m.content)? }))
                .collect::<ApiResult<_>>()?,
        )),
    }
}

pub async fn register_inline<H: Host>(
    host: &H,
    name: &str,
    body: PromptBody,
    config: Json,
) -> ApiResult<ResolvedVersion> {
    let db = host.db();
    let PromptBody::Text(template) = &body else { return Err(ApiError::invalid("messages", "interim")) };
    let checksum = hex::encode(Sha256::digest(template.as_bytes()));
    let now = host.clock().now_ms();
    db.execute(
        "INSERT INTO prompts (id, name, mode, created_at, updated_at) VALUES ($1, $2, 'tracking', $3, $3) ON CONFLICT (name) DO NOTHING",
        &[host.ids().new_id().into(), name.into(), now.into()],
    )
    .await?;
    let pid = db.query("SELECT id FROM prompts WHERE name = $1", &[name.into()]).await?[0].str("id")?;
    crate::store::transaction(db, async || {
        let existing = db
            .query("SELECT id FROM prompt_versions WHERE prompt_id = $1 AND checksum_hash = $2", &[(&pid).into(), (&checksum).into()])
            .await?;
        if existing.is_empty() {
            let v = db.query("UPDATE prompts SET latest_version = latest_version + 1 WHERE id = $1 RETURNING latest_version", &[(&pid).into()]).await?[0].i64("latest_version")?;
            db.execute("UPDATE prompt_versions SET status = 'archived' WHERE prompt_id = $1 AND status = 'active'", &[(&pid).into()]).await?;
            db.execute(
                "INSERT INTO prompt_versions (id, prompt_id, version, kind, template, config, checksum_hash, status, created_at) VALUES ($1, $2, $3, 'text', $4, $5, $6, 'active', $7)",
                &[host.ids().new_id().into(), (&pid).into(), v.into(), template.into(), (&config).into(), (&checksum).into(), now.into()],
            )
            .await?;
        }
        Ok::<_, ApiError>(())
    })
    .await?;
    resolve(host, name, &VersionSelector::Active).await
}

#[allow(dead_code)]
fn _db<D: Db>(_: &D) {}
