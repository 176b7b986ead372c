//! Per-key guard rails: requests per minute and a spend limit per calendar
//! month. Counted in the database, so every replica sees the same counts;
//! keys without limits pay nothing.

use http::{HeaderName, StatusCode, header};
use serde_json::json;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::executions::cost::nanos_to_usd;
use crate::lineage::time::{format_ms, month_bounds_ms};
use crate::ports::Host;
use crate::store::api_keys;

/// The rate limit's window: fixed, aligned minutes.
pub const WINDOW_MS: i64 = 60_000;

/// Where a key stands in its current window, for the `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    pub limit: i64,
    pub remaining: i64,
    /// Seconds until the window ends.
    pub reset_secs: i64,
}

impl RateState {
    /// The IETF `RateLimit-Policy` and `RateLimit` fields
    /// (draft-ietf-httpapi-ratelimit-headers).
    pub fn headers(&self) -> [(HeaderName, String); 2] {
        [
            (
                HeaderName::from_static("ratelimit-policy"),
                format!("\"per-key\";q={};w={}", self.limit, WINDOW_MS / 1000),
            ),
            (HeaderName::from_static("ratelimit"), format!("\"per-key\";r={};t={}", self.remaining, self.reset_secs)),
        ]
    }
}

/// Counts one request against the key's per-minute limit: `None` for an
/// unlimited key, 429 `rate_limited` with `Retry-After` beyond the limit.
pub async fn admit_request<H: Host>(host: &H, who: &Principal) -> ApiResult<Option<RateState>> {
    let (Some(key_id), Some(limit)) = (&who.key_id, who.rate_limit_per_minute) else { return Ok(None) };
    let now = host.clock().now_ms();
    let window_start = now - now.rem_euclid(WINDOW_MS);
    let count = api_keys::count_request(host.db(), key_id, window_start).await?;
    let state = rate_state(limit, count, window_start + WINDOW_MS - now);
    if count <= limit {
        return Ok(Some(state));
    }
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this key allows {limit} requests per minute; retry in {} s", state.reset_secs),
    )
    .with_details(json!({ "limit_per_minute": limit, "retry_after_seconds": state.reset_secs }))
    .with_header(header::RETRY_AFTER, state.reset_secs.to_string());
    Err(state.headers().into_iter().fold(error, |e, (name, value)| e.with_header(name, value)))
}

fn rate_state(limit: i64, count: i64, left_ms: i64) -> RateState {
    RateState { limit, remaining: (limit - count).max(0), reset_secs: (left_ms + 999) / 1000 }
}

/// Refuses a run once the key's recorded spend this month reached its
/// budget: 429 `budget_exceeded` until the next month. Runs in flight are
/// not yet priced, so concurrent runs may pass the budget by their cost.
pub async fn admit_spend<H: Host>(host: &H, who: &Principal) -> ApiResult<()> {
    let (Some(key_id), Some(budget)) = (&who.key_id, who.monthly_budget_nanos) else { return Ok(()) };
    let now = host.clock().now_ms();
    let (month_start, next_month) = month_bounds_ms(now);
    let spent = api_keys::spend_in_month(host.db(), key_id, month_start).await?;
    if spent < budget {
        return Ok(());
    }
    let retry_after = (next_month - now + 999) / 1000;
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "budget_exceeded",
        format!(
            "this key's monthly budget of ${} is spent (${} so far); it renews at {}",
            nanos_to_usd(budget),
            nanos_to_usd(spent),
            format_ms(next_month)
        ),
    )
    .with_details(json!({
        "monthly_budget_usd": nanos_to_usd(budget),
        "spent_usd": nanos_to_usd(spent),
        "renews_at": format_ms(next_month),
    }))
    .with_header(header::RETRY_AFTER, retry_after.to_string()))
}

/// Drops request windows older than an hour (the beat calls this).
pub async fn prune<H: Host>(host: &H) -> Result<u64, crate::ports::DbError> {
    api_keys::prune_windows(host.db(), host.clock().now_ms() - 60 * WINDOW_MS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_headers() {
        let state = rate_state(100, 42, 17_200);
        assert_eq!(state, RateState { limit: 100, remaining: 58, reset_secs: 18 });
        let [policy, now] = state.headers();
        assert_eq!(policy.1, "\"per-key\";q=100;w=60");
        assert_eq!(now.1, "\"per-key\";r=58;t=18");
        assert_eq!(rate_state(10, 11, 1).remaining, 0);
    }
}
