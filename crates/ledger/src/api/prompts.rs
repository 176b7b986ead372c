//! `/v1/prompts` routes: prompts, versions, activation, labels, rendering,
//! diffs and registration from code. Reads need the `read` scope (rendering
//! is a read), everything else `write`.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value as Json, json};

use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;
use crate::registry::input::{self, PreparedVersion};
use crate::registry::ops::{self, NewPrompt, RegisterStatus, prompt_not_found};
use crate::registry::{self, ChatMessage, Rendered, VersionSelector, diff, views};
use crate::store::prompt_labels;
use crate::store::prompt_versions::{self, VersionRecord};
use crate::store::prompts::{self, ListFilter, PromptRecord};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
/// Most prompts one `:register` call may carry.
pub const MAX_REGISTER_BATCH: usize = 500;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    match segs {
        ["prompts"] => by_method!(req, {
            GET => list_prompts(host, req, who).await,
            POST => create_prompt(host, req, who).await,
        }),
        ["prompts:register"] => by_method!(req, { POST => register(host, req, who).await }),
        ["prompts", target] => match split_action(target) {
            (name, None) => by_method!(req, {
                GET => get_prompt(host, who, name).await,
                PATCH => patch_prompt(host, req, who, name).await,
            }),
            (name, Some("archive")) => by_method!(req, { POST => archive(host, who, name, true).await }),
            (name, Some("unarchive")) => by_method!(req, { POST => archive(host, who, name, false).await }),
            (name, Some("render")) => by_method!(req, { POST => render(host, req, who, name).await }),
            _ => Err(no_route(req)),
        },
        ["prompts", name, "versions"] => by_method!(req, {
            GET => list_versions(host, req, who, name).await,
            POST => create_version(host, req, who, name).await,
        }),
        ["prompts", name, "versions", target] => match split_action(target) {
            (number, None) => by_method!(req, { GET => get_version(host, who, name, number).await }),
            (number, Some("activate")) => by_method!(req, { POST => activate(host, who, name, number).await }),
            _ => Err(no_route(req)),
        },
        ["prompts", name, "labels"] => by_method!(req, { GET => list_labels(host, who, name).await }),
        ["prompts", name, "labels", label] => by_method!(req, {
            GET => get_label(host, who, name, label).await,
            PUT => put_label(host, req, who, name, label).await,
            DELETE => delete_label(host, who, name, label).await,
        }),
        ["prompts", name, "diff"] => by_method!(req, { GET => diff(host, req, who, name).await }),
        _ => Err(no_route(req)),
    }
}

fn no_route(req: &ApiRequest) -> ApiError {
    ApiError::not_found(format!("no route for {}", req.path))
}

/// `name:action` → (`name`, `Some(action)`). Names never contain `:`.
fn split_action(segment: &str) -> (&str, Option<&str>) {
    match segment.rsplit_once(':') {
        Some((name, action)) => (name, Some(action)),
        None => (segment, None),
    }
}

/// A prompt by name (archived ones included), or 404.
async fn find_prompt<H: Host>(host: &H, name: &str) -> ApiResult<PromptRecord> {
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    prompts::find_by_name(host.db(), name).await?.ok_or_else(|| prompt_not_found(name))
}

fn version_number(name: &str, raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::not_found(format!("prompt `{name}` has no version `{raw}`")))
}

fn page_limit(req: &ApiRequest) -> ApiResult<i64> {
    let limit = req.query_parsed::<i64>("limit")?.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid("limit", format!("must be between 1 and {MAX_PAGE}")))
    }
}

/// Cursors name their list (`kind`), so one list's cursor is refused by another.
fn encode_cursor(kind: &str, value: &str) -> String {
    super::cursor::encode(&[kind, value])
}

fn decode_cursor(req: &ApiRequest, kind: &str) -> ApiResult<Option<String>> {
    match super::cursor::from_request(req, 2)? {
        None => Ok(None),
        Some(parts) if parts[0] == kind => Ok(Some(parts[1].clone())),
        Some(_) => Err(ApiError::invalid("cursor", "is not a cursor returned by this list")),
    }
}

// ---- prompts ----

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Full,
    Tracking,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Full => ops::MODE_FULL,
            Mode::Tracking => ops::MODE_TRACKING,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePrompt {
    name: String,
    #[serde(default)]
    description: String,
    owner_team: Option<String>,
    mode: Option<Mode>,
    template: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    config: Option<Json>,
    created_by: Option<String>,
}

const MAX_DESCRIPTION: usize = 2000;
const MAX_SHORT_TEXT: usize = 200;

fn owner_team(raw: Option<String>) -> ApiResult<Option<String>> {
    let team = raw.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if let Some(team) = &team {
        input::validate_text("owner_team", team, MAX_SHORT_TEXT)?;
    }
    Ok(team)
}

fn author(body: Option<String>, who: &Principal) -> ApiResult<Option<String>> {
    let author = body.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()).unwrap_or_else(|| who.name.clone());
    input::validate_text("created_by", &author, MAX_SHORT_TEXT)?;
    Ok(Some(author))
}

async fn create_prompt<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let body: CreatePrompt = req.json()?;
    input::validate_name("name", &body.name)?;
    input::validate_text("description", &body.description, MAX_DESCRIPTION)?;
    let initial = match (body.template, body.messages) {
        (None, None) if body.config.is_some() => {
            return Err(ApiError::invalid("config", "needs a `template` or `messages` to go with it"));
        }
        (None, None) => None,
        (template, messages) => {
            Some(input::prepare("", input::body_from("", template, messages)?, body.config.as_ref())?)
        }
    };
    let new = NewPrompt {
        name: body.name,
        description: body.description,
        owner_team: owner_team(body.owner_team)?,
        mode: body.mode.unwrap_or(Mode::Full).as_str(),
        initial,
        created_by: author(body.created_by, who)?,
    };
    let (prompt, version) = ops::create_prompt(host, new).await?;
    let view = views::prompt(&prompt, version.as_ref(), &[]);
    Ok(response::created(&view, &format!("/v1/prompts/{}", prompt.name)))
}

async fn list_prompts<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let limit = page_limit(req)?;
    let mode = match req.query_param("mode").filter(|m| !m.is_empty()) {
        None => None,
        Some(m @ ("full" | "tracking")) => Some(m.to_owned()),
        Some(_) => return Err(ApiError::invalid("mode", "must be `full` or `tracking`")),
    };
    let prefix = req.query_param("prefix").filter(|p| !p.is_empty()).map(str::to_owned);
    if let Some(prefix) = &prefix {
        input::validate_prefix(prefix)?;
    }
    let filter = ListFilter {
        mode,
        owner_team: req.query_param("owner_team").filter(|t| !t.is_empty()).map(str::to_owned),
        prefix,
        include_archived: req.query_bool("include_archived")?,
        after: decode_cursor(req, "p")?,
    };
    let mut rows = prompts::list(host.db(), &filter, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor("p", &r.prompt.name))
    } else {
        None
    };
    let data: Vec<Json> = rows.iter().map(views::listed_prompt).collect();
    Ok(response::ok(&json!({ "data": data, "next_cursor": next_cursor })))
}

async fn get_prompt<H: Host>(host: &H, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    Ok(response::ok_encoded(registry::view(host, name).await?.to_vec()))
}

/// `Some(None)` when the field is present and null, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchPrompt {
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    owner_team: Option<Option<String>>,
}

async fn patch_prompt<H: Host>(host: &H, req: &ApiRequest, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let body: PatchPrompt = req.json()?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    if let Some(description) = &body.description {
        input::validate_text("description", description, MAX_DESCRIPTION)?;
    }
    let team = body.owner_team.map(owner_team).transpose()?;
    if body.description.is_some() || team.is_some() {
        ops::update_metadata(host, name, body.description.as_deref(), team.as_ref().map(Option::as_deref)).await?;
    }
    get_prompt(host, who, name).await
}

async fn archive<H: Host>(host: &H, who: &Principal, name: &str, archived: bool) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    ops::set_archived(host, name, archived).await?;
    get_prompt(host, who, name).await
}

// ---- versions ----

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum NewStatus {
    Draft,
    Active,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateVersion {
    template: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    config: Option<Json>,
    status: Option<NewStatus>,
    created_by: Option<String>,
    message: Option<String>,
}

async fn create_version<H: Host>(host: &H, req: &ApiRequest, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let body: CreateVersion = req.json()?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    let prepared = input::prepare("", input::body_from("", body.template, body.messages)?, body.config.as_ref())?;
    let message = body.message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    if let Some(message) = &message {
        input::validate_text("message", message, MAX_DESCRIPTION)?;
    }
    let activate = body.status == Some(NewStatus::Active);
    let (version, created) =
        ops::create_version(host, name, &prepared, activate, author(body.created_by, who)?, message).await?;
    let view = views::version(&version, name);
    Ok(if created {
        response::created(&view, &format!("/v1/prompts/{name}/versions/{}", version.version))
    } else {
        response::ok(&view)
    })
}

async fn list_versions<H: Host>(host: &H, req: &ApiRequest, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let limit = page_limit(req)?;
    let before = match decode_cursor(req, "v")? {
        None => None,
        Some(raw) => {
            Some(raw.parse::<i64>().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))?)
        }
    };
    let prompt = find_prompt(host, name).await?;
    let mut rows = prompt_versions::list(host.db(), &prompt.id, before, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|v| encode_cursor("v", &v.version.to_string()))
    } else {
        None
    };
    let data: Vec<Json> = rows.iter().map(|v| views::version(v, name)).collect();
    Ok(response::ok(&json!({ "data": data, "next_cursor": next_cursor })))
}

async fn find_version<H: Host>(host: &H, prompt: &PromptRecord, number: i64) -> ApiResult<VersionRecord> {
    prompt_versions::find_by_number(host.db(), &prompt.id, number)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("prompt `{}` has no version {number}", prompt.name)))
}

async fn get_version<H: Host>(host: &H, who: &Principal, name: &str, raw: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let number = version_number(name, raw)?;
    let prompt = find_prompt(host, name).await?;
    let version = find_version(host, &prompt, number).await?;
    let labels: Vec<String> = prompt_labels::list(host.db(), &prompt.id)
        .await?
        .into_iter()
        .filter(|l| l.version_id == version.id)
        .map(|l| l.label)
        .collect();
    let mut view = views::version(&version, name);
    view["labels"] = json!(labels);
    Ok(response::ok(&view))
}

async fn activate<H: Host>(host: &H, who: &Principal, name: &str, raw: &str) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let number = version_number(name, raw)?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    let (version, _) = ops::activate(host, name, number).await?;
    Ok(response::ok(&views::version(&version, name)))
}

// ---- labels ----

async fn list_labels<H: Host>(host: &H, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let prompt = find_prompt(host, name).await?;
    let labels = prompt_labels::list(host.db(), &prompt.id).await?;
    Ok(response::ok(&json!({ "data": labels })))
}

fn label_not_found(name: &str, label: &str) -> ApiError {
    ApiError::not_found(format!("prompt `{name}` has no label `{label}`"))
}

async fn get_label<H: Host>(host: &H, who: &Principal, name: &str, label: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let prompt = find_prompt(host, name).await?;
    let record =
        prompt_labels::find(host.db(), &prompt.id, label).await?.ok_or_else(|| label_not_found(name, label))?;
    Ok(response::ok(&record))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutLabel {
    version: i64,
}

async fn put_label<H: Host>(
    host: &H,
    req: &ApiRequest,
    who: &Principal,
    name: &str,
    label: &str,
) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let body: PutLabel = req.json()?;
    input::validate_label("label", label)?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    let record = ops::set_label(host, name, label, body.version, Some(&who.name)).await?;
    Ok(response::ok(&record))
}

async fn delete_label<H: Host>(host: &H, who: &Principal, name: &str, label: &str) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    if !input::is_valid_name(name) {
        return Err(prompt_not_found(name));
    }
    if !input::is_valid_label(label) {
        return Err(label_not_found(name, label));
    }
    let record = ops::delete_label(host, name, label).await?;
    Ok(response::ok(&record))
}

// ---- rendering and diffs ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    #[serde(default)]
    variables: Map<String, Json>,
    version: Option<i64>,
    label: Option<String>,
}

async fn render<H: Host>(host: &H, req: &ApiRequest, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let body: RenderRequest = req.json_or_empty()?;
    if let Some(label) = &body.label {
        input::validate_label("label", label)?;
    }
    let selector = VersionSelector::from_parts(body.version, body.label);
    let version = registry::resolve(host, name, &selector).await?;
    let rendered = registry::render(&version, &body.variables)?;
    let mut out = json!({
        "prompt": { "id": version.prompt_id, "name": version.prompt_name },
        "version": { "id": version.version_id, "number": version.version, "checksum_hash": version.checksum_hash },
        "config": version.config,
        "variables": version.variables,
    });
    match rendered {
        Rendered::Text(text) => {
            out["kind"] = json!("text");
            out["rendered"] = json!(text);
        }
        Rendered::Chat(messages) => {
            out["kind"] = json!("chat");
            out["messages"] = json!(messages);
        }
    }
    Ok(response::ok(&out))
}

async fn diff<H: Host>(host: &H, req: &ApiRequest, who: &Principal, name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let from =
        req.query_parsed::<i64>("from")?.ok_or_else(|| ApiError::invalid("from", "a version number is required"))?;
    let to = req.query_parsed::<i64>("to")?.ok_or_else(|| ApiError::invalid("to", "a version number is required"))?;
    let prompt = find_prompt(host, name).await?;
    let old = find_version(host, &prompt, from).await?;
    let new = find_version(host, &prompt, to).await?;
    Ok(response::ok(&diff::between(name, &old, &new)))
}

// ---- registration from code ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    prompts: Vec<RegisterItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterItem {
    name: String,
    template: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    config: Option<Json>,
}

async fn register<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let body: RegisterRequest = req.json()?;
    if body.prompts.is_empty() || body.prompts.len() > MAX_REGISTER_BATCH {
        return Err(ApiError::invalid("prompts", format!("must hold 1 to {MAX_REGISTER_BATCH} prompts")));
    }
    // Everything is validated before anything is written.
    let mut batch: Vec<(String, PreparedVersion)> = Vec::with_capacity(body.prompts.len());
    for (i, item) in body.prompts.into_iter().enumerate() {
        let at = format!("prompts[{i}].");
        input::validate_name(&format!("{at}name"), &item.name)?;
        if batch.iter().any(|(name, _)| *name == item.name) {
            return Err(ApiError::invalid(&format!("{at}name"), format!("`{}` appears twice in the batch", item.name)));
        }
        let prepared = input::prepare(&at, input::body_from(&at, item.template, item.messages)?, item.config.as_ref())?;
        batch.push((item.name, prepared));
    }
    // One transaction per prompt: a conflict on one does not undo the others,
    // and a retry of the whole batch is harmless.
    let mut results = Vec::with_capacity(batch.len());
    let mut counts = [0usize; 4];
    for (name, prepared) in &batch {
        match ops::register_one(host, name, prepared).await {
            Ok(done) => {
                counts[match done.status {
                    RegisterStatus::Created => 0,
                    RegisterStatus::Updated => 1,
                    RegisterStatus::Unchanged => 2,
                }] += 1;
                results.push(json!({
                    "name": name,
                    "status": done.status.as_str(),
                    "version": done.version.version,
                    "version_id": done.version.id,
                    "checksum_hash": done.version.checksum_hash,
                    "previous_version": done.previous_version,
                }));
            }
            Err(e) if e.status == http::StatusCode::CONFLICT => {
                counts[3] += 1;
                results.push(
                    json!({ "name": name, "status": "error", "error": { "code": e.code, "message": e.message } }),
                );
            }
            Err(e) => return Err(e),
        }
    }
    let [created, updated, unchanged, failed] = counts;
    Ok(response::ok(&json!({
        "results": results,
        "summary": { "created": created, "updated": updated, "unchanged": unchanged, "failed": failed },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_split_off_the_last_colon() {
        assert_eq!(split_action("greet:render"), ("greet", Some("render")));
        assert_eq!(split_action("greet"), ("greet", None));
        assert_eq!(split_action("3:activate"), ("3", Some("activate")));
    }

    #[test]
    fn cursors_round_trip_and_reject_other_lists() {
        let cursor = encode_cursor("p", "a.b-c");
        let req = ApiRequest::from_http(
            http::Request::builder().uri(format!("/v1/prompts?cursor={cursor}")).body(Vec::new()).unwrap(),
        );
        assert_eq!(decode_cursor(&req, "p").unwrap().as_deref(), Some("a.b-c"));
        assert_eq!(decode_cursor(&req, "v").unwrap_err().status, 422);
    }
}
