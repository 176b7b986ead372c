//! `GET /openapi.json`: the OpenAPI 3.1 description of this API, compiled
//! into every component. Public: it holds no secrets, only the API's shape.

use http::{HeaderValue, StatusCode, header};

use super::response::Response;

/// The document kept at the repository root.
pub const SPEC: &str = include_str!("../../../../openapi.json");

pub fn document() -> Response {
    let mut response = http::Response::new(SPEC.as_bytes().to_vec());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
