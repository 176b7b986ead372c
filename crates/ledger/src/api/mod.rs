//! The HTTP API: one entry point, a route table, and a module per area.
//! Every component calls [`handle`]; Spin's manifest decides which paths
//! reach which component.

/// Dispatches on the request method; anything else is a 405 with `Allow`.
macro_rules! by_method {
    ($req:expr, { $($method:ident => $handler:expr),+ $(,)? }) => {
        match $req.method {
            $(http::Method::$method => $handler,)+
            _ => Err($crate::error::ApiError::method_not_allowed(&[$(stringify!($method)),+])),
        }
    };
}

mod analytics;
mod api_keys;
pub(crate) mod cors;
pub mod cursor;
mod executions;
mod health;
mod internal;
mod models;
pub mod openapi;
mod prompts;
pub mod request;
pub mod response;
pub mod routes;
mod traces;

use request::{ApiRequest, MAX_BODY_BYTES};
use response::Response;

use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits;
use crate::ports::Host;

/// Handles one request. Never panics on bad input; every failure becomes the
/// shared JSON error body.
pub async fn handle<H: Host>(host: &H, req: http::Request<Vec<u8>>) -> Response {
    let cors = cors::Policy::new(&host.config().cors_origins);
    if let Some(preflight) = cors.preflight(req.method(), req.headers()) {
        return preflight;
    }
    let request_headers = cors.is_on().then(|| req.headers().clone());
    let mut answer = answer(host, req).await;
    if let Some(request_headers) = request_headers {
        cors.decorate(&request_headers, &mut answer);
    }
    answer
}

async fn answer<H: Host>(host: &H, req: http::Request<Vec<u8>>) -> Response {
    if req.body().len() > MAX_BODY_BYTES {
        return response::error(&ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let req = ApiRequest::from_http(req);
    if let Some((name, _)) = req.query.iter().find(|(name, value)| name.contains('\0') || value.contains('\0')) {
        return response::error(&request::nul_error(name));
    }
    match route(host, &req).await {
        Ok(response) => response,
        Err(e) => {
            if e.status.is_server_error() {
                eprintln!("{} {} -> {e}", req.method, req.path);
            }
            response::error(&e)
        }
    }
}

async fn route<H: Host>(host: &H, req: &ApiRequest) -> ApiResult<Response> {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        // Only what the route table lists reaches a handler (after the key check on keyed paths).
        ["health"] => {
            routes::admit(req)?;
            by_method!(req, {
                GET => Ok(health::check(host).await),
                HEAD => Ok(health::check(host).await),
            })
        }
        ["openapi.json"] => routes::admit(req).map(|_| openapi::document()),
        // The gateway answers in the vendors' shapes, its auth errors too.
        ["v1", "chat", "completions"] => Ok(crate::gateway::serve(host, req, crate::gateway::Api::OpenAi).await),
        ["v1", "messages"] => Ok(crate::gateway::serve(host, req, crate::gateway::Api::Anthropic).await),
        ["v1", rest @ ..] => {
            let who = auth::authenticate(host, req).await?;
            let rate = limits::admit_request(host, &who).await?;
            routes::admit(req)?;
            with_rate_headers(route_v1(host, req, &who, rest).await, rate)
        }
        // The original smoke-test path: an inline prompt, run synchronously.
        ["api", "v1", "prompts", "execute"] => {
            let who = auth::authenticate(host, req).await?;
            let rate = limits::admit_request(host, &who).await?;
            routes::admit(req)?;
            with_rate_headers(executions::route(host, req, &who, &["prompts", "execute"]).await, rate)
        }
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}

/// A rate-limited key's standing, on whatever the route answered.
fn with_rate_headers(answer: ApiResult<Response>, rate: Option<limits::RateState>) -> ApiResult<Response> {
    let Some(rate) = rate else { return answer };
    match answer {
        Ok(mut response) => {
            for (name, value) in rate.headers() {
                if let Ok(value) = http::HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
            Ok(response)
        }
        Err(e) => Err(rate.headers().into_iter().fold(e, |e, (name, value)| e.with_header(name, value))),
    }
}

async fn route_v1<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    let area = segs.first().map(|s| s.split(':').next().unwrap_or_default());
    match area {
        Some("api-keys") => api_keys::route(host, req, who, segs).await,
        Some("prompts") => prompts::route(host, req, who, segs).await,
        Some("executions") => executions::route(host, req, who, segs).await,
        Some("models") => models::route(host, req, who, segs).await,
        Some("traces") | Some("spans") => traces::route(host, req, who, segs).await,
        Some("analytics") => analytics::route(host, req, who, segs).await,
        Some("internal") => internal::route(host, req, who, segs).await,
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}
