//! OpenTelemetry OTLP/HTTP JSON (`ExportTraceServiceRequest`), with the
//! GenAI semantic-convention attributes mapped onto the span's own fields.
//!
//! Ids are hex (not base64) and 64-bit integers may be strings, as the OTLP
//! JSON encoding specifies; enum values may be numbers or their names.

use serde_json::{Map, Value as Json};

use super::span::{self, SpanRecord};
use super::time::format_us;

/// One span of the request, in order, parsed or refused.
pub type Parsed = Vec<Result<SpanRecord, String>>;

/// Parses a whole export request; `Err` when its structure (not one span) is wrong.
pub fn parse_request(body: &Json) -> Result<Parsed, String> {
    let mut out = Vec::new();
    let resource_spans = body.get("resourceSpans").and_then(Json::as_array).ok_or("resourceSpans: must be an array")?;
    for (r, rs) in resource_spans.iter().enumerate() {
        let resource_attrs = rs
            .get("resource")
            .and_then(|res| res.get("attributes"))
            .map(|a| key_values(a).map_err(|e| format!("resourceSpans[{r}].resource.attributes: {e}")))
            .transpose()?
            .unwrap_or_default();
        let service_name = resource_attrs.get("service.name").and_then(span::as_label);
        let scope_spans = match rs.get("scopeSpans") {
            None | Some(Json::Null) => continue,
            Some(Json::Array(list)) => list,
            Some(_) => return Err(format!("resourceSpans[{r}].scopeSpans: must be an array")),
        };
        for (s, ss) in scope_spans.iter().enumerate() {
            let spans = match ss.get("spans") {
                None | Some(Json::Null) => continue,
                Some(Json::Array(list)) => list,
                Some(_) => return Err(format!("resourceSpans[{r}].scopeSpans[{s}].spans: must be an array")),
            };
            out.extend(spans.iter().map(|v| parse_span(v, service_name.as_deref())));
        }
    }
    Ok(out)
}

fn str_field<'a>(obj: &'a Map<String, Json>, field: &str) -> Result<Option<&'a str>, String> {
    match obj.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{field}: must be a string")),
    }
}

/// Nanoseconds (number or decimal string) to microseconds; 0 or absent is `None`.
fn nanos_to_us(obj: &Map<String, Json>, field: &str) -> Result<Option<i64>, String> {
    let nanos = match obj.get(field) {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::String(s)) => s.trim().parse::<u64>().ok(),
        Some(Json::Number(n)) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(_) => None,
    }
    .ok_or_else(|| format!("{field}: must be a count of nanoseconds"))?;
    if nanos == 0 {
        return Ok(None);
    }
    i64::try_from(nanos / 1000)
        .ok()
        .filter(|us| *us < 253_402_300_800_000_000)
        .map(Some)
        .ok_or_else(|| format!("{field}: out of range"))
}

/// An enum given as its number or its name (`SPAN_KIND_CLIENT`, `STATUS_CODE_ERROR`).
fn enum_value(v: Option<&Json>, names: &[&str]) -> Option<usize> {
    match v? {
        Json::Number(n) => n.as_u64().map(|n| n as usize).filter(|n| *n < names.len()),
        Json::String(s) => names.iter().position(|name| name.eq_ignore_ascii_case(s)),
        _ => None,
    }
}

const KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// `AnyValue` to plain JSON.
fn any_value(v: &Json) -> Result<Json, String> {
    let obj = v.as_object().ok_or("value: must be an object")?;
    let Some((kind, inner)) = obj.iter().next() else { return Ok(Json::Null) };
    Ok(match kind.as_str() {
        "stringValue" | "bytesValue" => inner.clone(),
        "boolValue" => Json::Bool(inner.as_bool().ok_or("boolValue: must be a boolean")?),
        "intValue" => Json::from(span::as_count(inner).map_err(|e| format!("intValue: {e}"))?),
        "doubleValue" => match inner {
            Json::Number(_) => inner.clone(),
            // NaN and infinities travel as strings; keep them as text.
            Json::String(s) => s
                .parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Json::Number))
                .unwrap_or_else(|| inner.clone()),
            _ => return Err("doubleValue: must be a number".into()),
        },
        "arrayValue" => Json::Array(
            inner
                .get("values")
                .and_then(Json::as_array)
                .map(|vs| vs.iter().map(any_value).collect::<Result<_, _>>())
                .transpose()?
                .unwrap_or_default(),
        ),
        "kvlistValue" => Json::Object(inner.get("values").map(key_values).transpose()?.unwrap_or_default()),
        other => return Err(format!("unknown value kind `{other}`")),
    })
}

/// A `KeyValue` list to a JSON object.
fn key_values(list: &Json) -> Result<Map<String, Json>, String> {
    let items = list.as_array().ok_or("must be an array of {key, value}")?;
    let mut out = Map::new();
    for item in items {
        let key = item.get("key").and_then(Json::as_str).ok_or("every attribute needs a string key")?;
        let value = match item.get("value") {
            None | Some(Json::Null) => Json::Null,
            Some(v) => any_value(v).map_err(|e| format!("{key}: {e}"))?,
        };
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// Removes the first of `keys` present and returns its value.
fn take(attrs: &mut Map<String, Json>, keys: &[&'static str]) -> Option<Json> {
    let (key, _) = span::first_attribute(attrs, keys)?;
    attrs.remove(key)
}

/// GenAI operation names to the span types Prela-style clients use.
fn span_type_of_operation(op: &str) -> Option<&'static str> {
    Some(match op {
        "chat" | "text_completion" | "generate_content" => "llm",
        "embeddings" => "embedding",
        "execute_tool" => "tool",
        "invoke_agent" | "create_agent" => "agent",
        _ => return None,
    })
}

fn parse_span(value: &Json, service_name: Option<&str>) -> Result<SpanRecord, String> {
    let obj = value.as_object().ok_or("span: must be an object")?;
    let trace_id = span::check_hex_id("traceId", str_field(obj, "traceId")?.unwrap_or_default(), 32)?;
    let span_id = span::check_hex_id("spanId", str_field(obj, "spanId")?.unwrap_or_default(), 16)?;
    let parent_span_id = match str_field(obj, "parentSpanId")? {
        None | Some("") => None,
        Some(p) => Some(span::check_hex_id("parentSpanId", p, 16)?),
    };
    let name = str_field(obj, "name")?.ok_or("name: is required")?.to_owned();
    let started_at_us = nanos_to_us(obj, "startTimeUnixNano")?.ok_or("startTimeUnixNano: is required")?;
    let ended_at_us = nanos_to_us(obj, "endTimeUnixNano")?;
    let mut attrs = match obj.get("attributes") {
        None | Some(Json::Null) => Map::new(),
        Some(list) => key_values(list).map_err(|e| format!("attributes: {e}"))?,
    };
    let status = obj.get("status").filter(|s| !s.is_null());
    let code = match status.and_then(|s| s.get("code")).filter(|c| !c.is_null()) {
        None => 0,
        some => enum_value(some, &STATUS_CODES).ok_or("status.code: must be 0, 1 or 2")?,
    };
    if let Some(message) = status.and_then(|s| s.get("message")).and_then(Json::as_str).filter(|m| !m.is_empty()) {
        attrs.insert("otel.status_description".into(), Json::String(message.to_owned()));
    }
    let kind = match obj.get("kind").filter(|k| !k.is_null()) {
        None => 0,
        some => enum_value(some, &KINDS).ok_or("kind: must be a SpanKind")?,
    };
    let count = |v: Option<Json>, field: &str| -> Result<Option<i64>, String> {
        v.map(|v| span::as_count(&v).map_err(|e| format!("{field}: {e}"))).transpose()
    };
    let model = take(&mut attrs, &span::MODEL_KEYS).as_ref().and_then(span::as_label);
    let prompt_tokens = count(take(&mut attrs, &span::PROMPT_TOKEN_KEYS), "gen_ai.usage.input_tokens")?;
    let completion_tokens = count(take(&mut attrs, &span::COMPLETION_TOKEN_KEYS), "gen_ai.usage.output_tokens")?;
    let execution_id = take(&mut attrs, &span::EXECUTION_ID_KEYS).as_ref().and_then(span::as_label);
    let input = take(&mut attrs, &span::INPUT_KEYS).as_ref().and_then(span::payload_text);
    let output = take(&mut attrs, &span::OUTPUT_KEYS).as_ref().and_then(span::payload_text);
    let span_type = match attrs.remove("promptledger.span_type") {
        Some(Json::String(t)) => Some(t),
        _ => attrs
            .get("gen_ai.operation.name")
            .and_then(Json::as_str)
            .and_then(span_type_of_operation)
            .or_else(|| (kind > 0).then(|| KINDS[kind].trim_start_matches("SPAN_KIND_")))
            .map(str::to_ascii_lowercase),
    };
    let events = match obj.get("events") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(list)) => list.iter().map(event).collect::<Result<_, _>>()?,
        Some(_) => return Err("events: must be an array".into()),
    };
    let record = SpanRecord {
        trace_id,
        span_id,
        parent_span_id,
        name,
        span_type,
        service_name: service_name.map(str::to_owned),
        status: ["unset", "ok", "error"][code].to_owned(),
        started_at_us,
        ended_at_us,
        execution_id,
        model,
        prompt_tokens,
        completion_tokens,
        input,
        output,
        attributes: Json::Object(attrs),
        events: Json::Array(events),
    };
    record.validate()?;
    Ok(record)
}

/// An OTLP event in the same shape Prela-style events use.
fn event(v: &Json) -> Result<Json, String> {
    let obj = v.as_object().ok_or("events: each event must be an object")?;
    let mut out = Map::new();
    out.insert("name".into(), Json::String(str_field(obj, "name")?.unwrap_or_default().to_owned()));
    if let Some(us) = nanos_to_us(obj, "timeUnixNano").map_err(|e| format!("events: {e}"))? {
        out.insert("timestamp".into(), Json::String(format_us(us)));
    }
    let attributes = match obj.get("attributes") {
        None | Some(Json::Null) => Map::new(),
        Some(list) => key_values(list).map_err(|e| format!("events.attributes: {e}"))?,
    };
    out.insert("attributes".into(), Json::Object(attributes));
    Ok(Json::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRACE: &str = "4BF92F3577B34DA6A3CE929D0E0E4736";

    fn request(spans: Json) -> Json {
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]
        }]})
    }

    #[test]
    fn genai_attributes_become_span_fields() {
        let parsed = parse_request(&request(json!([{
            "traceId": TRACE, "spanId": "00f067aa0ba902b7", "parentSpanId": "",
            "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": "1714557600000000000", "endTimeUnixNano": 1714557600250000000u64,
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": 5}},
                {"key": "promptledger.execution_id", "value": {"stringValue": "exec-1"}},
                {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"doubleValue": 1.5}]}}},
                {"key": "extra", "value": {"kvlistValue": {"values": [{"key": "on", "value": {"boolValue": true}}]}}}
            ],
            "events": [{"timeUnixNano": "1714557600100000000", "name": "first token"}],
            "status": {"code": "STATUS_CODE_ERROR", "message": "rate limited"}
        }])))
        .unwrap();
        let s = parsed[0].as_ref().unwrap();
        assert_eq!(s.trace_id, TRACE.to_ascii_lowercase());
        assert_eq!(s.service_name.as_deref(), Some("checkout"));
        assert_eq!((s.model.as_deref(), s.prompt_tokens, s.completion_tokens), (Some("gpt-4o"), Some(12), Some(5)));
        assert_eq!(s.execution_id.as_deref(), Some("exec-1"));
        assert_eq!((s.span_type.as_deref(), s.status.as_str()), (Some("llm"), "error"));
        assert_eq!(s.ended_at_us.unwrap() - s.started_at_us, 250_000);
        assert_eq!(
            s.attributes,
            json!({
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                "tags": ["a", 1.5], "extra": {"on": true}, "otel.status_description": "rate limited"
            })
        );
        assert_eq!(
            s.events,
            json!([{"name": "first token", "timestamp": "2024-05-01T10:00:00.100000Z", "attributes": {}}])
        );
    }

    #[test]
    fn bad_spans_are_refused_one_by_one() {
        let parsed = parse_request(&request(json!([
            {"traceId": TRACE, "spanId": "00f067aa0ba902b7", "name": "ok", "startTimeUnixNano": "1"},
            {"traceId": "abc", "spanId": "00f067aa0ba902b7", "name": "bad id", "startTimeUnixNano": "1"},
            {"traceId": TRACE, "spanId": "00f067aa0ba902b8", "name": "no start"},
            {"traceId": TRACE, "spanId": "00f067aa0ba902b9", "name": "x", "startTimeUnixNano": "1", "kind": 9}
        ])))
        .unwrap();
        assert!(parsed[0].is_ok());
        assert!(parsed[1].as_ref().unwrap_err().starts_with("traceId"));
        assert!(parsed[2].as_ref().unwrap_err().starts_with("startTimeUnixNano"));
        assert!(parsed[3].as_ref().unwrap_err().starts_with("kind"));
        assert!(parse_request(&json!({"resourceSpans": {}})).is_err());
    }
}
