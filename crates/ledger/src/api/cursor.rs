//! Opaque pagination cursors: the sort key of the last row, base64url-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::request::ApiRequest;
use crate::error::{ApiError, ApiResult};

const SEPARATOR: char = '\u{1f}';

pub fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join(&SEPARATOR.to_string()))
}

/// `None` when the text is not a cursor this API produced.
pub fn decode(cursor: &str) -> Option<Vec<String>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    Some(text.split(SEPARATOR).map(str::to_owned).collect())
}

fn invalid() -> ApiError {
    ApiError::invalid("cursor", "is not a cursor returned by this list")
}

/// The request's `cursor` parameter split into its `n` parts; 422 when it
/// is not a cursor of that shape.
pub fn from_request(req: &ApiRequest, n: usize) -> ApiResult<Option<Vec<String>>> {
    match req.query_param("cursor").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(raw) => decode(raw).filter(|parts| parts.len() == n).map(Some).ok_or_else(invalid),
    }
}

/// A `(timestamp, id)` cursor, the key of lists ordered newest first.
pub fn time_and_id(req: &ApiRequest) -> ApiResult<Option<(i64, String)>> {
    from_request(req, 2)?.map(|parts| Ok((parts[0].parse().map_err(|_| invalid())?, parts[1].clone()))).transpose()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let c = super::encode(&["1700000000000", "abc:def"]);
        assert_eq!(super::decode(&c).unwrap(), vec!["1700000000000", "abc:def"]);
        assert!(super::decode("%%%").is_none());
    }
}
