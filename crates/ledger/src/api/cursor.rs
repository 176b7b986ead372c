//! Opaque pagination cursors: the sort key of the last row, base64url-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let c = super::encode(&["1700000000000", "abc:def"]);
        assert_eq!(super::decode(&c).unwrap(), vec!["1700000000000", "abc:def"]);
        assert!(super::decode("%%%").is_none());
    }
}
