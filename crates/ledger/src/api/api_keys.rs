//! `/v1/api-keys`: admins create, list and revoke keys. A key's secret is
//! returned once, at creation.

use serde::Deserialize;
use serde_json::json;

use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{self, Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;
use crate::store::api_keys::{self, ApiKeyRecord};

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    who.require(Scope::Admin)?;
    match segs {
        ["api-keys"] => by_method!(req, {
            GET => list(host, req).await,
            POST => create(host, req).await,
        }),
        ["api-keys", id] => by_method!(req, { DELETE => revoke(host, id).await }),
        _ => Err(ApiError::not_found("no such route")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scope: Scope,
}

async fn create<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let body: CreateKey = req.json()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let secret = auth::generate_key();
    let record = ApiKeyRecord {
        id: host.ids().new_id().to_string(),
        name: name.to_owned(),
        scope: body.scope.as_str().to_owned(),
        key_prefix: secret[..10].to_owned(),
        created_at: host.clock().now_ms(),
        revoked_at: None,
    };
    api_keys::insert(host.db(), &record, &auth::hash_key(&secret)).await?;
    auth::keys_changed(host).await;
    let mut body = serde_json::to_value(&record).map_err(|e| ApiError::internal(e.to_string()))?;
    body["key"] = json!(secret);
    let mut answer = response::created(&body, &format!("/v1/api-keys/{}", record.id));
    // The secret is shown once: no cache along the way may keep a copy.
    answer.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    Ok(answer)
}

async fn list<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let keys = api_keys::list(host.db(), req.query_bool("include_revoked")?).await?;
    Ok(response::ok(&json!({ "data": keys })))
}

async fn revoke<H: Host>(host: &H, id: &str) -> ApiResult<Response> {
    let key = api_keys::revoke(host.db(), id, host.clock().now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no API key with id `{id}`")))?;
    auth::keys_changed(host).await;
    Ok(response::ok(&key))
}
