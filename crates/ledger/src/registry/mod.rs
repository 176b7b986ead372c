//! The prompt registry: prompts, immutable checksummed versions, environment
//! labels, rendering, and registration from code (tracking mode).
//!
//! Other areas (executions) use [`resolve`], [`render`] and
//! [`register_inline`]; the HTTP routes live in `api/prompts.rs`, SQL in
//! `store/prompt*.rs`.

pub mod cache;
pub mod checksum;
pub mod diff;
pub mod input;
pub mod ops;
pub mod template;
pub mod views;

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::error::{ApiError, ApiResult};
use crate::ports::{Db, Host};
use crate::store::prompt_labels;
use crate::store::prompt_versions::{self, NamedVersion, Pick, VersionRecord};
use crate::store::prompts;

/// Which version of a prompt to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Active,
    Label(String),
    Number(i64),
}

impl VersionSelector {
    /// The resolution order used everywhere: an explicit version number,
    /// else a label, else the active version.
    pub fn from_parts(version: Option<i64>, label: Option<String>) -> VersionSelector {
        match (version, label) {
            (Some(n), _) => VersionSelector::Number(n),
            (None, Some(label)) => VersionSelector::Label(label),
            (None, None) => VersionSelector::Active,
        }
    }

    fn pick(&self) -> Pick<'_> {
        match self {
            VersionSelector::Active => Pick::Active,
            VersionSelector::Label(label) => Pick::Label(label),
            VersionSelector::Number(n) => Pick::Number(*n),
        }
    }
}

/// A version's content: one template, or chat messages with templated content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PromptBody {
    Text(String),
    Chat(Vec<ChatMessage>),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// A prompt version ready to render.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedVersion {
    pub prompt_id: String,
    pub prompt_name: String,
    pub version_id: String,
    pub version: i64,
    pub checksum_hash: String,
    pub body: PromptBody,
    /// `{"model": .., "provider": .., "params": {..}}`, any part absent, or `{}`.
    pub config: Json,
    /// Variables the template reads, sorted.
    pub variables: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// Resolves a prompt name to one version: through the key-value cache when
/// it may be used, else (and on any cache failure) one indexed query.
///
/// # Errors
/// 404 for an unknown prompt, version or label, and for archived prompts;
/// 503 when the database is unreachable.
pub async fn resolve<H: Host>(host: &H, name: &str, selector: &VersionSelector) -> ApiResult<ResolvedVersion> {
    check_resolvable(name, selector)?;
    // The generation is read before the database (see `crate::cache`).
    let generation = cache::usable_generation(host, name).await;
    if let Some(generation) = &generation
        && let Some(hit) = cache::get(host.kv(), name, generation, selector, host.clock().now_ms()).await
    {
        return Ok(hit);
    }
    let resolved = resolve_from_db(host.db(), name, selector).await?;
    if let Some(generation) = &generation {
        cache::put(host.kv(), name, generation, selector, &resolved, host.clock().now_ms()).await;
    }
    Ok(resolved)
}

/// The body of `GET /v1/prompts/{name}`: the prompt (archived ones
/// included) with its active version and labels, through the cache.
///
/// # Errors
/// 404 for an unknown prompt; 503 when the database is unreachable.
pub async fn view<H: Host>(host: &H, name: &str) -> ApiResult<Rc<[u8]>> {
    let now = host.clock().now_ms();
    let generation = cache::usable_generation(host, name).await;
    if let Some(generation) = &generation
        && let Some(hit) = cache::get_view(host.kv(), name, generation, now).await
    {
        return Ok(hit);
    }
    let db = host.db();
    let prompt = prompts::find_by_name(db, name).await?.ok_or_else(|| ops::prompt_not_found(name))?;
    let active = prompt_versions::find_active(db, &prompt.id).await?;
    let labels = prompt_labels::list(db, &prompt.id).await?;
    let body = serde_json::to_vec(&views::prompt(&prompt, active.as_ref(), &labels))
        .map_err(|e| ApiError::internal(format!("could not encode the prompt: {e}")))?;
    if let Some(generation) = &generation {
        cache::put_view(host.kv(), name, generation, &body, now).await;
    }
    Ok(body.into())
}

/// [`resolve`] without the cache: one indexed query on success.
///
/// # Errors
/// As [`resolve`].
pub async fn resolve_from_db<D: Db>(db: &D, name: &str, selector: &VersionSelector) -> ApiResult<ResolvedVersion> {
    check_resolvable(name, selector)?;
    match prompt_versions::resolve(db, name, selector.pick()).await? {
        Some(found) => resolved_from(found),
        None => Err(explain_miss(db, name, selector).await),
    }
}

/// A version by its id, even when its prompt is archived (executions keep
/// the id of the version they ran).
///
/// # Errors
/// 404 when no version has this id.
pub async fn resolve_by_version_id<D: Db>(db: &D, version_id: &str) -> ApiResult<ResolvedVersion> {
    match prompt_versions::find_by_id(db, version_id).await? {
        Some(found) => resolved_from(found),
        None => Err(ApiError::not_found(format!("no prompt version with id `{version_id}`"))),
    }
}

fn check_resolvable(name: &str, selector: &VersionSelector) -> ApiResult<()> {
    if !input::is_valid_name(name) {
        return Err(ApiError::not_found(format!("no prompt named `{name}`")));
    }
    if let VersionSelector::Label(label) = selector
        && !input::is_valid_label(label)
    {
        return Err(ApiError::not_found(format!("prompt `{name}` has no label `{label}`")));
    }
    Ok(())
}

/// Why a resolution found nothing (only on the miss path).
async fn explain_miss<D: Db>(db: &D, name: &str, selector: &VersionSelector) -> ApiError {
    match prompts::find_by_name(db, name).await {
        Ok(Some(p)) if p.archived_at.is_some() => ApiError::not_found(format!("prompt `{name}` is archived")),
        Ok(Some(_)) => ApiError::not_found(match selector {
            VersionSelector::Active => format!("prompt `{name}` has no active version"),
            VersionSelector::Label(label) => format!("prompt `{name}` has no label `{label}`"),
            VersionSelector::Number(n) => format!("prompt `{name}` has no version {n}"),
        }),
        Ok(None) => ApiError::not_found(format!("no prompt named `{name}`")),
        Err(e) => e.into(),
    }
}

fn resolved_from(found: NamedVersion) -> ApiResult<ResolvedVersion> {
    let NamedVersion { prompt_name, version } = found;
    Ok(ResolvedVersion {
        body: body_of(&version)?,
        prompt_id: version.prompt_id,
        prompt_name,
        version_id: version.id,
        version: version.version,
        checksum_hash: version.checksum_hash,
        config: version.config,
        variables: version.variables,
    })
}

/// The body stored in a version row.
pub fn body_of(v: &VersionRecord) -> ApiResult<PromptBody> {
    let corrupt = || ApiError::internal(format!("prompt version {} has an unreadable body", v.id));
    match (v.kind.as_str(), &v.template, &v.messages) {
        ("text", Some(template), _) => Ok(PromptBody::Text(template.clone())),
        ("chat", _, Some(messages)) => {
            serde_json::from_value(messages.clone()).map(PromptBody::Chat).map_err(|_| corrupt())
        }
        _ => Err(corrupt()),
    }
}

/// Renders a version with `variables`. Every variable the version lists must
/// be present; `null` counts and prints as nothing.
///
/// # Errors
/// 422 `missing_variables` (`details.missing` names each), 422
/// `template_limit` (fuel, recursion or output size), 422 `render_failed`.
pub fn render(version: &ResolvedVersion, variables: &Map<String, Json>) -> ApiResult<Rendered> {
    let missing: Vec<&str> =
        version.variables.iter().map(String::as_str).filter(|v| !variables.contains_key(*v)).collect();
    if !missing.is_empty() {
        return Err(missing_variables(&missing, json!({ "missing": missing })));
    }
    let context = minijinja::Value::from_serialize(variables);
    let mut budget = template::MAX_OUTPUT_BYTES;
    match &version.body {
        PromptBody::Text(source) => {
            template::render(source, &context, &mut budget).map(Rendered::Text).map_err(|e| render_error(e, None))
        }
        PromptBody::Chat(messages) => {
            let mut out = Vec::with_capacity(messages.len());
            for (i, message) in messages.iter().enumerate() {
                let content =
                    template::render(&message.content, &context, &mut budget).map_err(|e| render_error(e, Some(i)))?;
                out.push(ChatMessage { role: message.role.clone(), content });
            }
            Ok(Rendered::Chat(out))
        }
    }
}

fn missing_variables(missing: &[&str], details: Json) -> ApiError {
    ApiError::new(
        http::StatusCode::UNPROCESSABLE_ENTITY,
        "missing_variables",
        format!("missing template variables: {}", missing.join(", ")),
    )
    .with_details(details)
}

fn render_error(e: template::RenderError, message_index: Option<usize>) -> ApiError {
    use template::RenderError;
    let unprocessable = http::StatusCode::UNPROCESSABLE_ENTITY;
    let (error, mut details) = match e {
        RenderError::Undefined { expression, line } => {
            let missing: Vec<String> = expression.into_iter().collect();
            let names: Vec<&str> = missing.iter().map(String::as_str).collect();
            (missing_variables(&names, Json::Null), json!({ "missing": missing, "line": line }))
        }
        RenderError::Limit { message } => (
            ApiError::new(unprocessable, "template_limit", message),
            json!({
                "max_fuel": template::FUEL,
                "max_recursion": template::RECURSION_LIMIT,
                "max_output_bytes": template::MAX_OUTPUT_BYTES,
            }),
        ),
        RenderError::Failed { message, line } => {
            (ApiError::new(unprocessable, "render_failed", message), json!({ "line": line }))
        }
    };
    if let Some(i) = message_index {
        details["message_index"] = json!(i);
    }
    error.with_details(details)
}

/// For inline templates in executions: makes sure prompt `name` exists in
/// tracking mode with `body` as its active version (the same logic as
/// `POST /v1/prompts:register` for one prompt) and returns that version.
/// Idempotent; concurrent calls with the same body create one version.
///
/// # Errors
/// 422 for an invalid name, body or config; 409 when the name belongs to a
/// prompt managed through the API (`mode_conflict`) or archived.
pub async fn register_inline<H: Host>(
    host: &H,
    name: &str,
    body: PromptBody,
    config: Json,
) -> ApiResult<ResolvedVersion> {
    input::validate_name("prompt_name", name)?;
    let prepared = input::prepare("", body, Some(&config))?;
    // The common case is a body that is already active: one cached lookup.
    match resolve(host, name, &VersionSelector::Active).await {
        Ok(active) if active.checksum_hash == prepared.checksum => return Ok(active),
        Ok(_) => {}
        Err(e) if e.status == http::StatusCode::NOT_FOUND => {}
        Err(e) => return Err(e),
    }
    let registered = ops::register_one(host, name, &prepared).await?;
    resolved_from(NamedVersion { prompt_name: registered.prompt.name, version: registered.version })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(body: PromptBody, variables: &[&str]) -> ResolvedVersion {
        ResolvedVersion {
            prompt_id: "p".into(),
            prompt_name: "p".into(),
            version_id: "v".into(),
            version: 1,
            checksum_hash: "c".into(),
            body,
            config: json!({}),
            variables: variables.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn vars(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn selector_order_is_version_then_label_then_active() {
        assert_eq!(VersionSelector::from_parts(Some(3), Some("prod".into())), VersionSelector::Number(3));
        assert_eq!(VersionSelector::from_parts(None, Some("prod".into())), VersionSelector::Label("prod".into()));
        assert_eq!(VersionSelector::from_parts(None, None), VersionSelector::Active);
    }

    #[test]
    fn render_lists_every_missing_variable() {
        let v = version(PromptBody::Text("{{ a }} {{ b }} {{ c }}".into()), &["a", "b", "c"]);
        let e = render(&v, &vars(json!({ "b": 1 }))).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "missing_variables"));
        assert_eq!(e.details.unwrap()["missing"], json!(["a", "c"]));
        assert_eq!(render(&v, &vars(json!({ "a": 1, "b": "x", "c": null }))).unwrap(), Rendered::Text("1 x ".into()));
    }

    #[test]
    fn chat_messages_render_each_content() {
        let body = PromptBody::Chat(vec![
            ChatMessage { role: "system".into(), content: "Be {{ tone }}.".into() },
            ChatMessage { role: "user".into(), content: "{{ q }}".into() },
        ]);
        let v = version(body, &["q", "tone"]);
        let out = render(&v, &vars(json!({ "tone": "brief", "q": "Why?" }))).unwrap();
        assert_eq!(
            out,
            Rendered::Chat(vec![
                ChatMessage { role: "system".into(), content: "Be brief.".into() },
                ChatMessage { role: "user".into(), content: "Why?".into() },
            ])
        );
        let e = render(
            &version(
                PromptBody::Chat(vec![ChatMessage { role: "user".into(), content: "{{ 'x' * 2000000 }}".into() }]),
                &[],
            ),
            &Map::new(),
        )
        .unwrap_err();
        assert_eq!(e.code, "template_limit");
        assert_eq!(e.details.unwrap()["message_index"], 0);
    }

    #[test]
    fn cached_entries_round_trip() {
        let v = version(PromptBody::Chat(vec![ChatMessage { role: "user".into(), content: "hi".into() }]), &[]);
        let back: ResolvedVersion = serde_json::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(back.body, v.body);
        assert_eq!(back.version_id, v.version_id);
    }
}
