//! The one error shape every route returns:
//! `{"error": {"code": "...", "message": "...", "details": ...}}`.

use http::StatusCode;
use serde_json::{Value as Json, json};

use crate::ports::DbError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Json>,
    /// Extra response headers (e.g. `Allow` on 405, `Retry-After` on 429/503).
    pub headers: Vec<(http::HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: None, headers: Vec::new() }
    }

    pub fn with_details(mut self, details: Json) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required in X-API-Key or Authorization: Bearer",
        )
        .with_header(http::header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn forbidden(needed: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", format!("this API key lacks the `{needed}` scope"))
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn method_not_allowed(allow: &[&str]) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
            .with_header(http::header::ALLOW, allow.join(", "))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("request body exceeds {limit} bytes"))
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "request body must be application/json")
    }

    /// 422 naming the offending field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("{field}: {message}"))
            .with_details(json!({ "field": field, "reason": message }))
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).with_header(http::header::RETRY_AFTER, "1")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn body(&self) -> Json {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => ApiError::unavailable("the database is unavailable"),
            DbError::Unique(c) => ApiError::conflict(format!("conflicts with an existing record ({c})")),
            DbError::Conflict(_) => ApiError::conflict("a concurrent write conflicted; retry the request")
                .with_header(http::header::RETRY_AFTER, "0"),
            DbError::Decode(m) | DbError::Query(m) => {
                // The cause goes to the log; the client gets no SQL.
                eprintln!("database error: {m}");
                ApiError::internal("internal database error")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
