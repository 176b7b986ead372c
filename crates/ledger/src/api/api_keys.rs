//! `/v1/api-keys`: admins create, list and revoke keys. A key's secret is
//! returned once, at creation.

use serde::Deserialize;
use serde_json::json;

use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{self, Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::executions::cost::{nanos_to_usd, usd_to_nanos};
use crate::limits;
use crate::lineage::time::month_bounds_ms;
use crate::ports::Host;
use crate::store::api_keys::{self, ApiKeyRecord};

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    who.require(Scope::Admin)?;
    match segs {
        ["api-keys"] => by_method!(req, {
            GET => list(host, req).await,
            POST => create(host, req).await,
        }),
        ["api-keys", id] => by_method!(req, {
            GET => get(host, id).await,
            PATCH => set_limits(host, req, id).await,
            DELETE => revoke(host, id).await,
        }),
        _ => Err(ApiError::not_found("no such route")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scope: Scope,
    rate_limit_per_minute: Option<i64>,
    monthly_budget_usd: Option<f64>,
}

/// A change of limits: a field left out keeps its value, `null` removes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLimits {
    #[serde(default, deserialize_with = "present")]
    rate_limit_per_minute: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    monthly_budget_usd: Option<Option<f64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn checked_rate(rate: Option<i64>) -> ApiResult<Option<i64>> {
    match rate {
        Some(r) if !(1..=1_000_000).contains(&r) => {
            Err(ApiError::invalid("rate_limit_per_minute", "must be between 1 and 1000000, or null for no limit"))
        }
        r => Ok(r),
    }
}

fn checked_budget(usd: Option<f64>) -> ApiResult<Option<i64>> {
    usd.map(|usd| {
        usd_to_nanos(usd).ok_or_else(|| {
            ApiError::invalid("monthly_budget_usd", "must be between 0 and 1000000000 USD, or null for no limit")
        })
    })
    .transpose()
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
        rate_limit_per_minute: checked_rate(body.rate_limit_per_minute)?,
        monthly_budget_nanos: checked_budget(body.monthly_budget_usd)?,
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

/// One key with where it stands: requests this minute, spend this month.
async fn get<H: Host>(host: &H, id: &str) -> ApiResult<Response> {
    let key =
        api_keys::get(host.db(), id).await?.ok_or_else(|| ApiError::not_found(format!("no API key with id `{id}`")))?;
    let now = host.clock().now_ms();
    let window_start = now - now.rem_euclid(limits::WINDOW_MS);
    let (month_start, _) = month_bounds_ms(now);
    let mut body = serde_json::to_value(&key).map_err(|e| ApiError::internal(e.to_string()))?;
    body["usage"] = json!({
        "requests_this_minute": api_keys::requests_in_window(host.db(), id, window_start).await?,
        "spent_this_month_usd": nanos_to_usd(api_keys::spend_in_month(host.db(), id, month_start).await?),
    });
    Ok(response::ok(&body))
}

async fn set_limits<H: Host>(host: &H, req: &ApiRequest, id: &str) -> ApiResult<Response> {
    let change: SetLimits = req.json()?;
    let not_found = || ApiError::not_found(format!("no active API key with id `{id}`"));
    let current = api_keys::get(host.db(), id).await?.filter(|k| k.revoked_at.is_none()).ok_or_else(not_found)?;
    let rate = match change.rate_limit_per_minute {
        Some(rate) => checked_rate(rate)?,
        None => current.rate_limit_per_minute,
    };
    let budget = match change.monthly_budget_usd {
        Some(usd) => checked_budget(usd)?,
        None => current.monthly_budget_nanos,
    };
    let key = api_keys::set_limits(host.db(), id, rate, budget).await?.ok_or_else(not_found)?;
    // Checked keys are memoized with their limits.
    auth::keys_changed(host).await;
    Ok(response::ok(&key))
}

async fn revoke<H: Host>(host: &H, id: &str) -> ApiResult<Response> {
    let key = api_keys::revoke(host.db(), id, host.clock().now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no API key with id `{id}`")))?;
    auth::keys_changed(host).await;
    Ok(response::ok(&key))
}
