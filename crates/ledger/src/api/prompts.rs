//! `/v1/prompts` routes.

use super::request::ApiRequest;
use super::response::Response;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    let _ = (host, who, segs);
    Err(ApiError::not_found(format!("no route for {}", req.path)))
}
