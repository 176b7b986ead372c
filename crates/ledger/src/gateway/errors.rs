//! Errors in the caller's vendor shape, so the official SDKs raise their
//! usual exceptions: OpenAI's `{"error": {"message", "type", "param",
//! "code"}}` and Anthropic's `{"type": "error", "error": {"type",
//! "message"}}`.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value as Json, json};

use super::Api;
use crate::error::ApiError;
use crate::executions::providers::{Failure, FailureKind};

/// A gateway failure before or after the provider: the status, the vendor
/// error type is derived from it, and PromptLedger's own code.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub headers: Vec<(http::HeaderName, String)>,
}

impl GatewayError {
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        GatewayError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request".into(),
            message: format!("{param}: {}", message.into()),
            param: Some(param.to_owned()),
            headers: Vec::new(),
        }
    }

    /// A parameter the serving provider has no equivalent for.
    pub fn unsupported(param: &str, provider: &str) -> Self {
        GatewayError {
            code: "unsupported_parameter".into(),
            ..Self::invalid(param, format!("is not supported when the model is served by `{provider}`"))
        }
    }

    /// The last attempt's provider failure, as the caller should see it: a
    /// request the provider refused keeps the provider's status; rate
    /// limits stay 429; the rest are the gateway's 502 or 504.
    pub fn from_failure(failure: &Failure) -> Self {
        let status = match failure.kind {
            FailureKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            FailureKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            FailureKind::ClientError => failure
                .provider_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(StatusCode::is_client_error)
                .unwrap_or(StatusCode::BAD_REQUEST),
            FailureKind::ServerError | FailureKind::Connection | FailureKind::BadResponse => StatusCode::BAD_GATEWAY,
        };
        let mut error = GatewayError {
            status,
            code: failure.kind.as_str().into(),
            message: failure.message.clone(),
            param: None,
            headers: Vec::new(),
        };
        if let Some(seconds) = failure.retry_after_s {
            error.headers.push((header::RETRY_AFTER, seconds.to_string()));
        }
        error
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&self, api: Api) -> Json {
        match api {
            Api::OpenAi => json!({ "error": {
                "message": self.message,
                "type": openai_type(self.status),
                "param": self.param,
                "code": self.code,
            }}),
            Api::Anthropic => json!({ "type": "error", "error": {
                "type": anthropic_type(self.status),
                "message": self.message,
            }}),
        }
    }

    pub fn response(&self, api: Api) -> http::Response<Vec<u8>> {
        let mut response = http::Response::new(serde_json::to_vec(&self.body(api)).unwrap_or_default());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), value);
            }
        }
        response
    }
}

/// PromptLedger's own errors (auth, validation, prompts, database) in the
/// gateway's shape. Validation failures are 400 here, as both vendors answer
/// them; the field becomes `param`.
impl From<ApiError> for GatewayError {
    fn from(e: ApiError) -> Self {
        let status = if e.status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { e.status };
        let param = e.details.as_ref().and_then(|d| d["field"].as_str()).map(str::to_owned);
        GatewayError { status, code: e.code.into(), message: e.message, param, headers: e.headers }
    }
}

impl From<crate::ports::DbError> for GatewayError {
    fn from(e: crate::ports::DbError) -> Self {
        ApiError::from(e).into()
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_become_400_with_the_field_as_param() {
        let e = GatewayError::from(ApiError::invalid("model", "is required"));
        assert_eq!(e.status, 400);
        let body = e.body(Api::OpenAi);
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "validation_failed");
        let body = e.body(Api::Anthropic);
        assert_eq!(
            (body["type"].as_str(), body["error"]["type"].as_str()),
            (Some("error"), Some("invalid_request_error"))
        );
    }

    #[test]
    fn provider_failures_keep_their_meaning() {
        let failure =
            |kind, status| Failure { kind, message: "m".into(), provider_status: status, retry_after_s: Some(2) };
        let e = GatewayError::from_failure(&failure(FailureKind::RateLimited, Some(429)));
        assert_eq!((e.status.as_u16(), e.headers[0].1.as_str()), (429, "2"));
        assert_eq!(GatewayError::from_failure(&failure(FailureKind::ClientError, Some(404))).status, 404);
        assert_eq!(GatewayError::from_failure(&failure(FailureKind::ServerError, Some(503))).status, 502);
        assert_eq!(GatewayError::from_failure(&failure(FailureKind::Timeout, None)).status, 504);
        assert_eq!(GatewayError::unsupported("n", "anthropic").body(Api::OpenAi)["error"]["param"], "n");
    }
}
