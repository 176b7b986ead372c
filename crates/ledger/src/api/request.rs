//! Request parsing shared by every route: body limits, content type, JSON
//! decoding with the failing field named, query strings.

use std::borrow::Cow;
use std::io::Read;

use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Largest accepted request body. Span batches are the biggest legitimate
/// bodies; 4 MiB holds a batch of 100 spans with large inputs and outputs.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub struct ApiRequest {
    pub method: http::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn from_http(req: http::Request<Vec<u8>>) -> Self {
        let (parts, body) = req.into_parts();
        let query =
            parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        ApiRequest { method: parts.method, path: parts.uri.path().to_owned(), query, headers: parts.headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter parsed as `T`; 422 names the parameter when it does not parse.
    pub fn query_parsed<T: std::str::FromStr>(&self, name: &str) -> ApiResult<Option<T>> {
        match self.query_param(name) {
            None | Some("") => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| ApiError::invalid(name, format!("cannot parse `{raw}`"))),
        }
    }

    /// A query-string instant (RFC 3339 or epoch milliseconds), in ms.
    pub fn query_time_ms(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.query_param(name) {
            None | Some("") => Ok(None),
            Some(raw) => crate::lineage::time::parse_query_ms(raw)
                .map(Some)
                .ok_or_else(|| ApiError::invalid(name, "must be RFC 3339 or epoch milliseconds")),
        }
    }

    pub fn query_bool(&self, name: &str) -> ApiResult<bool> {
        match self.query_param(name) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::invalid(name, format!("expected true or false, got `{other}`"))),
        }
    }

    /// Decodes a JSON body: 415 for another content type, 400 for malformed
    /// JSON, 422 naming the field for JSON of the wrong shape.
    pub fn json<T: DeserializeOwned>(&self) -> ApiResult<T> {
        self.require_json_type()?;
        parse_json(&self.body)
    }

    /// [`Self::json`] into a plain JSON value ([`parse_json_value`]).
    pub fn json_value(&self) -> ApiResult<serde_json::Value> {
        self.require_json_type()?;
        parse_json_value(&self.body)
    }

    /// The media type without parameters, lower-cased.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    }

    pub fn require_json_type(&self) -> ApiResult<()> {
        match self.content_type() {
            Some(essence) if essence != "application/json" && !essence.ends_with("+json") => {
                Err(ApiError::unsupported_media_type())
            }
            _ => Ok(()),
        }
    }

    /// The body with its `Content-Encoding` undone (gzip or identity),
    /// inflated to at most [`MAX_BODY_BYTES`].
    pub fn decoded_body(&self) -> ApiResult<Cow<'_, [u8]>> {
        match self.header("content-encoding").map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("identity") => Ok(Cow::Borrowed(&self.body)),
            Some("gzip") | Some("x-gzip") => {
                let mut inflated = Vec::new();
                let limit = MAX_BODY_BYTES as u64 + 1;
                flate2::read::MultiGzDecoder::new(self.body.as_slice())
                    .take(limit)
                    .read_to_end(&mut inflated)
                    .map_err(|e| ApiError::bad_request(format!("the gzip body does not decode: {e}")))?;
                if inflated.len() > MAX_BODY_BYTES {
                    return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
                }
                Ok(Cow::Owned(inflated))
            }
            Some(other) => Err(ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Encoding `{other}` is not supported; send gzip or identity"),
            )),
        }
    }

    /// Like [`Self::json`], but an empty body decodes as `{}`.
    pub fn json_or_empty<T: DeserializeOwned>(&self) -> ApiResult<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) { parse_json(b"{}") } else { self.json() }
    }
}

/// A JSON body as a plain value, which has no fields to name: parsed
/// without the path tracking (a quarter faster on a batch of spans). A body
/// that does not parse is parsed again by [`parse_json`] for the usual error.
pub fn parse_json_value(body: &[u8]) -> ApiResult<serde_json::Value> {
    reject_nul(body)?;
    serde_json::from_slice(body).or_else(|_| parse_json(body))
}

pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    reject_nul(body)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { missing_field(&inner.to_string()) } else { path };
                ApiError::invalid(&field, strip_position(&inner.to_string()))
            }
            _ => ApiError::bad_request(format!("malformed JSON body: {inner}")),
        }
    })?;
    // Only whitespace may follow the value.
    de.end().map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

/// PostgreSQL cannot store U+0000 in text or jsonb, so no backend accepts
/// it: a 422 naming the first field that holds one. The byte scan keeps the
/// common case to one pass; only a body with a `\u0000` escape is walked.
fn reject_nul(body: &[u8]) -> ApiResult<()> {
    let may_hold_nul = body.windows(6).any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..] == *b"0000");
    if !may_hold_nul {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(()) };
    reject_nul_in(&value)
}

/// Whether any string or key in `value` holds U+0000.
pub fn has_nul(value: &serde_json::Value) -> bool {
    nul_path(value).is_some()
}

/// [`reject_nul`] for a value decoded from another encoding.
pub fn reject_nul_in(value: &serde_json::Value) -> ApiResult<()> {
    match nul_path(value) {
        Some(path) => Err(nul_error(&path)),
        None => Ok(()),
    }
}

pub fn nul_error(field: &str) -> ApiError {
    ApiError::invalid(field, "must not contain the NUL character (\\u0000)")
}

/// The dotted path of the first string (or key) holding U+0000.
fn nul_path(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let join = |prefix: String, rest: Option<String>| match rest.as_deref() {
        Some("") | None => prefix,
        Some(rest) if rest.starts_with('[') => format!("{prefix}{rest}"),
        Some(rest) => format!("{prefix}.{rest}"),
    };
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_path(item).map(|rest| join(format!("[{i}]"), Some(rest))))
        }
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\\u0000"));
            }
            nul_path(item).map(|rest| join(key.clone(), Some(rest)))
        }),
        _ => None,
    }
}

/// serde reports a missing top-level field at path "."; recover its name.
fn missing_field(message: &str) -> String {
    message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).unwrap_or("body").to_owned()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn nul_characters_are_found_anywhere() {
        assert!(has_nul(&serde_json::json!({ "messages": [{ "content": "a\u{0}b" }] })));
        assert!(!has_nul(&serde_json::json!({ "messages": [{ "content": "ab" }] })));
    }

    #[test]
    fn nul_characters_are_refused_with_their_field() {
        let e = parse_json::<serde_json::Value>(br#"{"a": {"b": ["ok", "x\u0000y"]}}"#).unwrap_err();
        let field = |e: &ApiError| e.details.as_ref().and_then(|d| d["field"].as_str()).map(str::to_owned);
        assert_eq!((e.status.as_u16(), field(&e).as_deref()), (422, Some("a.b[1]")));
        let e = parse_json::<serde_json::Value>(br#"["\u0000"]"#).unwrap_err();
        assert_eq!(field(&e).as_deref(), Some("[0]"));
        // An escaped backslash before `u0000` is four ordinary characters.
        assert!(parse_json::<serde_json::Value>(br#"{"a": "\\u0000"}"#).is_ok());
    }

    /// Found by the hostile-input tests: a body with something after its
    /// value was accepted (the typed parse never checked the end).
    #[test]
    fn nothing_but_whitespace_may_follow_the_body() {
        for body in [&b"{\"name\": \"a\"} x"[..], b"{\"name\": \"a\"}{}", b"{\"name\": \"a\"}\0"] {
            assert_eq!(parse_json::<Body>(body).unwrap_err().status, 400);
            assert_eq!(parse_json_value(body).unwrap_err().status, 400);
        }
        assert!(parse_json::<Body>(b" {\"name\": \"a\"}\r\n\t ").is_ok());
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(b"{").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!((e.status.as_u16(), e.details.unwrap()["field"].as_str().unwrap()), (422, "name"));
        let e = parse_json::<Body>(br#"{"name":"a","inner":{"count":-1}}"#).unwrap_err();
        assert_eq!(e.details.unwrap()["field"], "inner.count");
    }

    #[test]
    fn json_values_fail_as_typed_bodies_do() {
        let request = |content_type: &str, body: &[u8]| {
            let req = http::Request::builder().uri("/v1/x").header("content-type", content_type);
            ApiRequest::from_http(req.body(body.to_vec()).unwrap())
        };
        assert_eq!(request("application/json", br#"{"a":[1]}"#).json_value().unwrap(), serde_json::json!({"a": [1]}));
        for (content_type, body) in [("application/json", &b"{\"a\": tru"[..]), ("text/plain", b"{}")] {
            let (fast, typed) =
                (request(content_type, body).json_value(), request(content_type, body).json::<serde_json::Value>());
            assert_eq!(format!("{:?}", fast.unwrap_err()), format!("{:?}", typed.unwrap_err()));
        }
    }
}
