//! `/v1/models`: the price table used for cost. Reading needs `read`,
//! changing prices needs `admin`.

use serde::Deserialize;
use serde_json::json;

use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::executions::providers::Provider;
use crate::ports::Host;
use crate::store::models;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    match segs {
        ["models"] => by_method!(req, { GET => list(host, who).await }),
        ["models", provider, model_name] => by_method!(req, {
            GET => get(host, who, provider, model_name).await,
            PUT => set_prices(host, req, who, provider, model_name).await,
        }),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}

async fn list<H: Host>(host: &H, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    Ok(response::ok(&json!({ "data": models::list(host.db()).await? })))
}

async fn get<H: Host>(host: &H, who: &Principal, provider: &str, model_name: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let model = models::find(host.db(), provider, model_name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no model `{provider}/{model_name}`")))?;
    Ok(response::ok(&model))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Prices {
    input_usd_per_mtok: f64,
    output_usd_per_mtok: f64,
}

async fn set_prices<H: Host>(
    host: &H,
    req: &ApiRequest,
    who: &Principal,
    provider: &str,
    model_name: &str,
) -> ApiResult<Response> {
    who.require(Scope::Admin)?;
    if Provider::parse(provider).is_none() {
        return Err(ApiError::invalid("provider", "must be openai, anthropic or mock"));
    }
    let prices: Prices = req.json()?;
    for (field, value) in
        [("input_usd_per_mtok", prices.input_usd_per_mtok), ("output_usd_per_mtok", prices.output_usd_per_mtok)]
    {
        if !value.is_finite() || !(0.0..=10_000.0).contains(&value) {
            return Err(ApiError::invalid(field, "must be a price between 0 and 10000 USD per million tokens"));
        }
    }
    let model = models::upsert_prices(
        host.db(),
        &host.ids().new_id().to_string(),
        provider,
        model_name,
        prices.input_usd_per_mtok,
        prices.output_usd_per_mtok,
        host.clock().now_ms(),
    )
    .await?;
    Ok(response::ok(&model))
}
