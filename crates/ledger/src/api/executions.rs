//! `/v1/executions...` and the original `/api/v1/prompts/execute`.

use http::StatusCode;
use serde_json::{Value as Json, json};

use super::cursor;
use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::executions::run::{self, LegacyExecute, RunRequest};
use crate::executions::view;
use crate::ports::Host;
use crate::store::executions::{self as store, ListFilter};

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    match segs {
        ["executions:run"] => by_method!(req, { POST => run(host, req, who).await }),
        ["prompts", "execute"] => by_method!(req, { POST => legacy_execute(host, req, who).await }),
        ["executions"] => by_method!(req, { GET => list(host, req, who).await }),
        ["executions", last] => match last.split_once(':') {
            Some((id, "cancel")) => by_method!(req, { POST => cancel(host, who, id).await }),
            Some(_) => Err(ApiError::not_found(format!("no route for {}", req.path))),
            None => by_method!(req, { GET => get(host, who, last).await }),
        },
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}

async fn run<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let raw: Json = req.json()?;
    let body: RunRequest = super::request::parse_json(&req.body)?;
    let (status, body) =
        run::run(host, who, body, &raw, req.header("idempotency-key"), req.header("traceparent")).await?;
    let mut response = response::json(status, &body);
    if status == StatusCode::ACCEPTED
        && let Some(id) = body["execution_id"].as_str()
        && let Ok(location) = http::HeaderValue::from_str(&format!("/v1/executions/{id}"))
    {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    Ok(response)
}

async fn legacy_execute<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let raw: Json = req.json()?;
    let body: LegacyExecute = super::request::parse_json(&req.body)?;
    let (status, body) =
        run::run(host, who, body.into(), &raw, req.header("idempotency-key"), req.header("traceparent")).await?;
    Ok(response::json(status, &body))
}

async fn get<H: Host>(host: &H, who: &Principal, id: &str) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let not_found = || ApiError::not_found(format!("no execution with id `{id}`"));
    let record = store::get(host.db(), id).await?.ok_or_else(not_found)?;
    let inputs = store::get_inputs(host.db(), id).await?;
    let mut body = view::with_inputs(&record, inputs.as_ref());
    body["span"] = span_of(host, &record).await?;
    Ok(response::ok(&body))
}

async fn span_of<H: Host>(host: &H, record: &store::ExecutionRecord) -> ApiResult<Json> {
    let (Some(trace_id), Some(span_id)) = (&record.trace_id, &record.span_id) else { return Ok(Json::Null) };
    Ok(store::get_span(host.db(), trace_id, span_id).await?.unwrap_or(Json::Null))
}

async fn list<H: Host>(host: &H, req: &ApiRequest, who: &Principal) -> ApiResult<Response> {
    who.require(Scope::Read)?;
    let limit = req.query_parsed::<i64>("limit")?.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let after = cursor::time_and_id(req)?;
    let status = req.query_param("status").map(str::to_owned);
    if let Some(s) = &status
        && !["queued", "running", "succeeded", "failed", "canceled"].contains(&s.as_str())
    {
        return Err(ApiError::invalid("status", "must be queued, running, succeeded, failed or canceled"));
    }
    let filter = ListFilter {
        prompt_name: req.query_param("prompt").or(req.query_param("prompt_name")).map(str::to_owned),
        version: req.query_parsed("version")?,
        status,
        provider: req.query_param("provider").map(str::to_owned),
        model_name: req.query_param("model").or(req.query_param("model_name")).map(str::to_owned),
        correlation_id: req.query_param("correlation_id").map(str::to_owned),
        since_ms: req.query_time_ms("since")?,
        until_ms: req.query_time_ms("until")?,
        after,
        limit: limit + 1,
    };
    let mut rows = store::list(host.db(), &filter).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|last| cursor::encode(&[&last.created_at.to_string(), &last.id]))
    } else {
        None
    };
    let data: Vec<Json> = rows.iter().map(view::execution).collect();
    Ok(response::ok(&json!({ "data": data, "next_cursor": next_cursor })))
}

async fn cancel<H: Host>(host: &H, who: &Principal, id: &str) -> ApiResult<Response> {
    who.require(Scope::Write)?;
    let changed = store::cancel(host.db(), id, host.clock().now_ms()).await?;
    let record =
        store::get(host.db(), id).await?.ok_or_else(|| ApiError::not_found(format!("no execution with id `{id}`")))?;
    if changed == 0 {
        return Err(ApiError::conflict(format!(
            "execution is {}; only queued executions can be canceled",
            record.status
        ))
        .with_details(json!({ "status": record.status })));
    }
    Ok(response::ok(&view::execution(&record)))
}
