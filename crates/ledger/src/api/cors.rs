//! Cross-origin requests from browser front ends. Off unless `CORS_ORIGINS`
//! lists origins (or `*`); the dashboard is same-origin and needs none.

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::response::{self, Response};
use crate::error::ApiError;

/// Request headers a browser may send cross-origin when the preflight does
/// not list them (it usually does, and those are allowed as asked: the
/// vendors' SDKs send headers of their own).
const ALLOWED_HEADERS: &str = "authorization, x-api-key, content-type, idempotency-key, traceparent, tracestate";
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
/// Response headers scripts may read.
const EXPOSED_HEADERS: &str =
    "location, retry-after, ratelimit, ratelimit-policy, promptledger-execution-id, promptledger-served-model";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins the configuration allows.
pub struct Policy<'a> {
    origins: &'a [String],
}

impl<'a> Policy<'a> {
    pub fn new(origins: &'a [String]) -> Self {
        Policy { origins }
    }

    pub fn is_on(&self) -> bool {
        !self.origins.is_empty()
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`),
    /// or `None` when the request is not one or CORS is off.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response> {
        if !self.is_on() || method != Method::OPTIONS {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
        headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        if !self.allows(origin) {
            return Some(response::error(&ApiError::new(
                StatusCode::FORBIDDEN,
                "cors_origin_not_allowed",
                format!("origin `{origin}` is not in CORS_ORIGINS"),
            )));
        }
        let mut answer = http::Response::new(Vec::new());
        *answer.status_mut() = StatusCode::NO_CONTENT;
        let h = answer.headers_mut();
        self.allow_origin(h, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        let asked = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).filter(|v| !v.is_empty()).cloned();
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.unwrap_or(HeaderValue::from_static(ALLOWED_HEADERS)));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
        Some(answer)
    }

    /// Adds the CORS headers to an answer for an allowed origin.
    pub fn decorate(&self, request_headers: &HeaderMap, answer: &mut Response) {
        if !self.is_on() {
            return;
        }
        let h = answer.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("origin"));
        let Some(origin) = request_headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return };
        if self.allows(origin) {
            self.allow_origin(h, origin);
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }

    /// The origin itself rather than `*`, so a listed origin may send the
    /// `Authorization` header; `Vary` keeps caches from mixing origins.
    fn allow_origin(&self, h: &mut HeaderMap, origin: &str) {
        if let Ok(value) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        if !h.get_all(header::VARY).iter().any(|v| v == "origin") {
            h.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

/// `CORS_ORIGINS`: origins separated by commas or spaces.
pub(crate) fn parse_origins(raw: &str) -> Vec<String> {
    raw.split([',', ' ']).map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn off_without_origins() {
        let policy = Policy::new(&[]);
        let h = headers(&[("origin", "https://app.example"), ("access-control-request-method", "POST")]);
        assert!(policy.preflight(&Method::OPTIONS, &h).is_none());
        let mut answer = http::Response::new(Vec::new());
        policy.decorate(&h, &mut answer);
        assert!(answer.headers().is_empty());
    }

    #[test]
    fn listed_origins_get_preflight_and_headers() {
        let origins = parse_origins("https://app.example, https://admin.example/");
        assert_eq!(origins, ["https://app.example", "https://admin.example"]);
        let policy = Policy::new(&origins);
        let h = headers(&[("origin", "https://admin.example"), ("access-control-request-method", "POST")]);
        let answer = policy.preflight(&Method::OPTIONS, &h).expect("a preflight answer");
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://admin.example");
        assert!(answer.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("x-api-key"));

        let other = headers(&[("origin", "https://evil.example"), ("access-control-request-method", "POST")]);
        assert_eq!(policy.preflight(&Method::OPTIONS, &other).unwrap().status(), StatusCode::FORBIDDEN);
        let mut answer = http::Response::new(Vec::new());
        policy.decorate(&other, &mut answer);
        assert!(answer.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(answer.headers()[header::VARY], "origin");
    }

    #[test]
    fn a_wildcard_allows_every_origin() {
        let origins = parse_origins("*");
        let policy = Policy::new(&origins);
        let mut answer = http::Response::new(Vec::new());
        policy.decorate(&headers(&[("origin", "http://localhost:5173")]), &mut answer);
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        // An OPTIONS request that is not a preflight is routed as usual.
        assert!(policy.preflight(&Method::OPTIONS, &headers(&[("origin", "http://x")])).is_none());
    }
}
