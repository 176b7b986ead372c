//! The span shape applications already send (Prela-style): plain JSON with
//! snake_case fields, RFC 3339 or epoch times, free-form ids.

use serde_json::{Map, Value as Json};

use super::span::{self, SpanRecord};
use super::time::{format_us, parse_json_time_us};

/// Trace-level fields a span inherits when it does not set them.
#[derive(Debug, Default, Clone)]
pub struct Inherited {
    pub trace_id: Option<String>,
    pub service_name: Option<String>,
}

fn opt_str(obj: &Map<String, Json>, field: &str) -> Result<Option<String>, String> {
    match obj.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

fn first_present<'a>(obj: &'a Map<String, Json>, fields: &[&'static str]) -> Option<(&'static str, &'a Json)> {
    fields.iter().find_map(|f| obj.get(*f).filter(|v| !v.is_null()).map(|v| (*f, v)))
}

fn time_field(obj: &Map<String, Json>, fields: &[&'static str]) -> Result<Option<i64>, String> {
    match first_present(obj, fields) {
        None => Ok(None),
        Some((field, v)) => parse_json_time_us(v).map(Some).map_err(|e| format!("{field}: {e}")),
    }
}

/// Parses one span object.
pub fn parse_span(value: &Json, inherited: &Inherited) -> Result<SpanRecord, String> {
    let obj = value.as_object().ok_or("span: must be an object")?;
    let span_id = opt_str(obj, "span_id")?.ok_or("span_id: is required")?;
    span::check_id("span_id", &span_id)?;
    let trace_id = match (opt_str(obj, "trace_id")?, &inherited.trace_id) {
        (Some(own), Some(outer)) if &own != outer => {
            return Err(format!("trace_id: `{own}` differs from the trace's `{outer}`"));
        }
        (Some(own), _) => own,
        (None, Some(outer)) => outer.clone(),
        (None, None) => return Err("trace_id: is required".into()),
    };
    span::check_id("trace_id", &trace_id)?;
    let parent_span_id = opt_str(obj, "parent_span_id")?.filter(|p| !p.is_empty());
    if let Some(parent) = &parent_span_id {
        span::check_id("parent_span_id", parent)?;
    }
    let name = opt_str(obj, "name")?.ok_or("name: is required")?;
    let status = match opt_str(obj, "status")? {
        None => "unset",
        Some(raw) => span::normalize_status(&raw)
            .ok_or_else(|| format!("status: `{raw}` is not one of unset/pending, ok/success, error"))?,
    };
    let started_at_us = time_field(obj, &["started_at", "start_time"])?.ok_or("started_at: is required")?;
    let mut ended_at_us = time_field(obj, &["ended_at", "end_time", "completed_at"])?;
    if ended_at_us.is_none()
        && let Some(d) = obj.get("duration_ms").filter(|v| !v.is_null())
    {
        let ms =
            d.as_f64().filter(|ms| ms.is_finite() && *ms >= 0.0).ok_or("duration_ms: must be a non-negative number")?;
        let end = started_at_us.checked_add((ms * 1000.0).round() as i64);
        ended_at_us = Some(end.ok_or("duration_ms: is too large")?);
    }
    let no_attributes = Map::new();
    let attrs = match obj.get("attributes") {
        None | Some(Json::Null) => &no_attributes,
        Some(Json::Object(attrs)) => attrs,
        Some(_) => return Err("attributes: must be an object".into()),
    };
    let events = match obj.get("events") {
        None | Some(Json::Null) => Json::Array(Vec::new()),
        Some(Json::Array(events)) => Json::Array(events.iter().map(normalize_event).collect()),
        Some(_) => return Err("events: must be an array".into()),
    };
    let from_attrs = |keys: &[&'static str]| span::first_attribute(attrs, keys).map(|(_, v)| v);
    let model = match opt_str(obj, "model")? {
        Some(m) => Some(m),
        None => from_attrs(&span::MODEL_KEYS).and_then(span::as_label),
    };
    let execution_id = match opt_str(obj, "execution_id")? {
        Some(e) => Some(e),
        None => from_attrs(&span::EXECUTION_ID_KEYS).and_then(span::as_label),
    };
    let count = |field: &str, keys: &[&'static str]| -> Result<Option<i64>, String> {
        match obj.get(field).filter(|v| !v.is_null()).or_else(|| from_attrs(keys)) {
            None => Ok(None),
            Some(v) => span::as_count(v).map(Some).map_err(|e| format!("{field}: {e}")),
        }
    };
    let prompt_tokens = count("prompt_tokens", &span::PROMPT_TOKEN_KEYS)?;
    let completion_tokens = count("completion_tokens", &span::COMPLETION_TOKEN_KEYS)?;
    let input = obj.get("input").and_then(span::payload_text);
    let output = obj.get("output").and_then(span::payload_text);
    let record = SpanRecord {
        trace_id,
        span_id,
        parent_span_id,
        name,
        span_type: opt_str(obj, "span_type")?,
        service_name: opt_str(obj, "service_name")?.or_else(|| inherited.service_name.clone()),
        status: status.to_owned(),
        started_at_us,
        ended_at_us,
        execution_id,
        model,
        prompt_tokens,
        completion_tokens,
        input,
        output,
        attributes: Json::Object(attrs.clone()),
        events,
    };
    record.validate()?;
    Ok(record)
}

/// Event timestamps are rewritten in the API's own RFC 3339 form.
fn normalize_event(event: &Json) -> Json {
    let mut event = event.clone();
    if let Some(obj) = event.as_object_mut()
        && let Some(ts) = obj.get("timestamp")
        && let Ok(us) = parse_json_time_us(ts)
    {
        obj.insert("timestamp".into(), Json::String(format_us(us)));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inherited() -> Inherited {
        Inherited { trace_id: Some("trace-1".into()), service_name: Some("svc".into()) }
    }

    #[test]
    fn a_full_span_parses() {
        let s = parse_span(
            &json!({
                "span_id": "s1", "parent_span_id": "", "name": "llm call", "span_type": "llm",
                "started_at": "2024-05-01T10:00:00Z", "duration_ms": 1.5, "status": "success",
                "attributes": {"llm.model": "gpt-4o", "llm.prompt_tokens": "12"},
                "completion_tokens": 7, "input": {"q": 1}, "output": "hi",
                "events": [{"name": "e", "timestamp": 1714557600}]
            }),
            &inherited(),
        )
        .unwrap();
        assert_eq!((s.trace_id.as_str(), s.parent_span_id, s.status.as_str()), ("trace-1", None, "ok"));
        assert_eq!(s.ended_at_us, Some(s.started_at_us + 1500));
        assert_eq!((s.model.as_deref(), s.prompt_tokens, s.completion_tokens), (Some("gpt-4o"), Some(12), Some(7)));
        assert_eq!(s.service_name.as_deref(), Some("svc"));
        assert_eq!(s.input.as_deref(), Some(r#"{"q":1}"#));
        assert_eq!(s.events[0]["timestamp"], "2024-05-01T10:00:00.000000Z");
    }

    /// Found by fuzzing: a duration past i64 microseconds overflowed the end time.
    #[test]
    fn a_huge_duration_is_refused() {
        for ms in [json!(9.8e18), json!(1e300), json!(u64::MAX)] {
            let span = json!({"span_id": "a", "name": "x", "started_at": "2024-05-01T10:00:00Z", "duration_ms": ms});
            assert_eq!(parse_span(&span, &inherited()).unwrap_err(), "duration_ms: is too large");
        }
    }

    #[test]
    fn bad_spans_name_the_problem() {
        let cases = [
            (json!({"name": "x", "started_at": 1}), "span_id"),
            (json!({"span_id": "a", "trace_id": "other", "name": "x", "started_at": 1}), "trace_id"),
            (json!({"span_id": "a", "started_at": 1}), "name"),
            (json!({"span_id": "a", "name": "x"}), "started_at"),
            (json!({"span_id": "a", "name": "x", "started_at": "noon"}), "started_at"),
            (json!({"span_id": "a", "name": "x", "started_at": 10, "ended_at": 5}), "ended_at"),
            (json!({"span_id": "a", "name": "x", "started_at": 1, "status": "meh"}), "status"),
            (json!({"span_id": "a", "name": "x", "started_at": 1, "attributes": []}), "attributes"),
            (json!({"span_id": "a", "name": "x", "started_at": 1, "prompt_tokens": 1.5}), "prompt_tokens"),
            (json!("nope"), "span"),
        ];
        for (input, field) in cases {
            let e = parse_span(&input, &inherited()).unwrap_err();
            assert!(e.starts_with(field), "{input} -> {e}");
        }
    }
}
