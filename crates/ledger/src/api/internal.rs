//! `/v1/internal/...`: the beat's pass as an authenticated route, so any
//! scheduler (Kubernetes CronJob, Railway/Render cron) can drive it.

use super::request::ApiRequest;
use super::response::{self, Response};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::ports::Host;

pub async fn route<H: Host>(host: &H, req: &ApiRequest, who: &Principal, segs: &[&str]) -> ApiResult<Response> {
    match segs {
        ["internal", "beat"] => by_method!(req, {
            POST => {
                who.require(Scope::Admin)?;
                Ok(response::ok(&crate::beat::run_pass(host).await))
            }
        }),
        _ => Err(ApiError::not_found(format!("no route for {}", req.path))),
    }
}
