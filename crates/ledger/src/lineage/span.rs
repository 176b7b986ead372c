//! One span as stored, and the rules every incoming span must meet,
//! whichever format it arrived in.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

/// Largest accepted `input`, `output`, `attributes` and `events`, each, as JSON text.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Prela-style ids: any printable string up to this many characters.
pub const MAX_ID_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 1024;
const MAX_LABEL_CHARS: usize = 256;

/// A validated span, ready to store. Times are microseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub span_type: Option<String>,
    pub service_name: Option<String>,
    /// One of [`STATUSES`].
    pub status: String,
    pub started_at_us: i64,
    pub ended_at_us: Option<i64>,
    pub execution_id: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// JSON text of the input / output value (a string stays a JSON string).
    pub input: Option<String>,
    pub output: Option<String>,
    /// A JSON object.
    pub attributes: Json,
    /// A JSON array.
    pub events: Json,
}

/// Span statuses as stored: OpenTelemetry's three codes.
pub const STATUSES: [&str; 3] = ["unset", "ok", "error"];

/// Maps the status words clients use onto [`STATUSES`].
pub fn normalize_status(raw: &str) -> Option<&'static str> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "unset" | "pending" | "running" | "in_progress" | "status_code_unset" => Some("unset"),
        "ok" | "success" | "succeeded" | "completed" | "status_code_ok" => Some("ok"),
        "error" | "failed" | "failure" | "status_code_error" => Some("error"),
        _ => None,
    }
}

/// Why one span of a batch was refused.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejection {
    pub index: usize,
    pub reason: String,
}

/// Checks a Prela-style (free-form) id.
pub fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{field}: must not be empty"));
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(format!("{field}: must be at most {MAX_ID_CHARS} characters"));
    }
    if id.chars().any(char::is_control) {
        return Err(format!("{field}: must not contain control characters"));
    }
    Ok(())
}

/// Checks an OpenTelemetry hex id of `hex_len` characters (not all zeros);
/// returns it in lower case.
pub fn check_hex_id(field: &str, id: &str, hex_len: usize) -> Result<String, String> {
    if id.len() != hex_len || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{field}: must be {hex_len} hex characters"));
    }
    if id.bytes().all(|b| b == b'0') {
        return Err(format!("{field}: must not be all zeros"));
    }
    Ok(id.to_ascii_lowercase())
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.chars().count() > max_chars {
        return Err(format!("{field}: must be at most {max_chars} characters"));
    }
    Ok(())
}

impl SpanRecord {
    /// The checks shared by every format (ids are checked by the parsers,
    /// which know which id syntax applies).
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name: must not be empty".into());
        }
        check_text("name", &self.name, MAX_NAME_CHARS)?;
        for (field, value) in [
            ("span_type", &self.span_type),
            ("service_name", &self.service_name),
            ("model", &self.model),
            ("execution_id", &self.execution_id),
        ] {
            if let Some(v) = value {
                check_text(field, v, MAX_LABEL_CHARS)?;
            }
        }
        if let Some(end) = self.ended_at_us
            && end < self.started_at_us
        {
            return Err("ended_at: must not be before started_at".into());
        }
        for (field, value) in [("prompt_tokens", self.prompt_tokens), ("completion_tokens", self.completion_tokens)] {
            if value.is_some_and(|v| v < 0) {
                return Err(format!("{field}: must not be negative"));
            }
        }
        for (field, text) in [("input", &self.input), ("output", &self.output)] {
            if text.as_ref().is_some_and(|t| t.len() > MAX_FIELD_BYTES) {
                return Err(format!("{field}: larger than {MAX_FIELD_BYTES} bytes"));
            }
        }
        if !self.attributes.is_object() {
            return Err("attributes: must be an object".into());
        }
        if !self.events.is_array() {
            return Err("events: must be an array".into());
        }
        for (field, value) in [("attributes", &self.attributes), ("events", &self.events)] {
            if value.to_string().len() > MAX_FIELD_BYTES {
                return Err(format!("{field}: larger than {MAX_FIELD_BYTES} bytes"));
            }
        }
        Ok(())
    }
}

/// Well-known attribute keys that fill the span's own fields.
pub const MODEL_KEYS: [&str; 3] = ["gen_ai.response.model", "gen_ai.request.model", "llm.model"];
pub const PROMPT_TOKEN_KEYS: [&str; 4] =
    ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.prompt_tokens", "llm.input_tokens"];
pub const COMPLETION_TOKEN_KEYS: [&str; 4] =
    ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.completion_tokens", "llm.output_tokens"];
pub const EXECUTION_ID_KEYS: [&str; 1] = ["promptledger.execution_id"];
pub const INPUT_KEYS: [&str; 2] = ["gen_ai.input.messages", "gen_ai.prompt"];
pub const OUTPUT_KEYS: [&str; 2] = ["gen_ai.output.messages", "gen_ai.completion"];

/// The first of `keys` present in `attributes`, with the key that held it.
pub fn first_attribute<'a>(
    attributes: &'a Map<String, Json>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a Json)> {
    keys.iter().find_map(|k| attributes.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
}

/// A token count: a non-negative integer, or an integer written as a string.
pub fn as_count(v: &Json) -> Result<i64, String> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("`{v}` is not a whole number"))
}

/// A label-like value (model, ids) as text.
pub fn as_label(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Input and output are kept as JSON text so objects and strings both round-trip.
pub fn payload_text(v: &Json) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

/// The stored JSON text of an input or output, serialized as the JSON it
/// holds (copied as it is, not parsed into a value); text that is not JSON
/// (written by other code) is serialized as a string.
#[derive(Debug, Clone, Copy)]
pub struct StoredPayload<'a>(pub Option<&'a str>);

impl Serialize for StoredPayload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => serializer.serialize_none(),
            Some(text) => match serde_json::from_str::<&RawValue>(text) {
                Ok(json) => json.serialize(serializer),
                Err(_) => serializer.serialize_str(text),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A valid root span with only the required fields, for tests to vary.
    pub(crate) fn span() -> SpanRecord {
        SpanRecord {
            trace_id: "t".into(),
            span_id: "s".into(),
            parent_span_id: None,
            name: "root".into(),
            span_type: None,
            service_name: None,
            status: "ok".into(),
            started_at_us: 10,
            ended_at_us: Some(20),
            execution_id: None,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            input: None,
            output: None,
            attributes: json!({}),
            events: json!([]),
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(span().validate(), Ok(()));
        let mut s = span();
        s.ended_at_us = Some(5);
        assert!(s.validate().unwrap_err().starts_with("ended_at"));
        let mut s = span();
        s.name = " ".into();
        assert!(s.validate().unwrap_err().starts_with("name"));
        let mut s = span();
        s.input = Some("x".repeat(MAX_FIELD_BYTES + 1));
        assert!(s.validate().unwrap_err().starts_with("input"));
        let mut s = span();
        s.attributes = json!({"big": "x".repeat(MAX_FIELD_BYTES)});
        assert!(s.validate().unwrap_err().starts_with("attributes"));
        let mut s = span();
        s.prompt_tokens = Some(-1);
        assert!(s.validate().unwrap_err().starts_with("prompt_tokens"));
    }

    #[test]
    fn ids_and_statuses() {
        assert!(check_id("span_id", "").is_err());
        assert!(check_id("span_id", &"a".repeat(129)).is_err());
        assert!(check_id("span_id", "a\nb").is_err());
        assert!(check_id("span_id", "any-id/with:punctuation").is_ok());
        assert_eq!(check_hex_id("spanId", "00F067AA0BA902B7", 16).unwrap(), "00f067aa0ba902b7");
        assert!(check_hex_id("spanId", "0000000000000000", 16).is_err());
        assert!(check_hex_id("traceId", "xyz", 32).is_err());
        assert_eq!(normalize_status("SUCCESS"), Some("ok"));
        assert_eq!(normalize_status("pending"), Some("unset"));
        assert_eq!(normalize_status("STATUS_CODE_ERROR"), Some("error"));
        assert_eq!(normalize_status("weird"), None);
    }

    #[test]
    fn payloads_round_trip() {
        let shown = |text: Option<&str>| serde_json::to_string(&StoredPayload(text)).unwrap();
        for v in [json!("hello"), json!({"messages": [1, 2]}), json!(3)] {
            assert_eq!(shown(payload_text(&v).as_deref()), v.to_string());
        }
        assert_eq!(shown(None), "null");
        assert_eq!(shown(Some("plain text")), r#""plain text""#);
        assert_eq!(shown(Some("{\"open\": ")), r#""{\"open\": ""#);
    }
}
