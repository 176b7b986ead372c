//! `/v1/analytics`: summary and per-prompt statistics over a time range,
//! bucketed by the hour executions were created in.

use super::request::ApiRequest;
use super::response::{self, Response};
use super::traces::decode_segment;
use crate::analytics::query::{self, Bucket, OPEN_END_MS, Window};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;
use crate::store::rollups;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    match segs {
        ["analytics", "summary"] => by_method!(req, { GET => summary(host, req).await }),
        ["analytics", "prompts", name] => by_method!(req, { GET => prompt(host, req, name).await }),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}

/// `since` (inclusive) and `until` (exclusive): RFC 3339 or epoch ms; open when left out.
fn window(req: &ApiRequest) -> ApiResult<Window> {
    let since_ms = req.query_time_ms("since")?.unwrap_or(0);
    let until_ms = req.query_time_ms("until")?.unwrap_or(OPEN_END_MS);
    if until_ms <= since_ms {
        return Err(ApiError::invalid("until", "must be after since"));
    }
    Ok(Window { since_ms, until_ms })
}

async fn summary<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let body = query::summary(host.db(), window(req)?).await?;
    Ok(response::ok(&body))
}

async fn prompt<H: Host>(host: &H, req: &ApiRequest, raw_name: &str) -> ApiResult<Response> {
    let window = window(req)?;
    let bucket = match req.query_param("bucket").filter(|b| !b.is_empty()) {
        None => Bucket::Day,
        Some(raw) => Bucket::parse(raw).ok_or_else(|| ApiError::invalid("bucket", "must be hour or day"))?,
    };
    let name = decode_segment(raw_name)?;
    let id = rollups::prompt_id_by_name(host.db(), &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no prompt named `{name}`")))?;
    let body = query::prompt(host.db(), &id, &name, window, bucket).await?;
    Ok(response::ok(&body))
}
