//! OTLP/HTTP protobuf, the default encoding of the official exporters.
//!
//! A request is decoded with the protocol's generated messages and turned
//! into the OTLP/JSON form, so both encodings share one mapping (and its
//! limits) in [`super::otlp`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value as Json, json};

/// Decodes an `ExportTraceServiceRequest` into its OTLP/JSON equivalent.
pub fn request_to_json(body: &[u8]) -> Result<Json, String> {
    let request =
        ExportTraceServiceRequest::decode(body).map_err(|e| format!("not an OTLP ExportTraceServiceRequest: {e}"))?;
    let resource_spans: Vec<Json> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let attributes = rs.resource.as_ref().map(|r| key_values(&r.attributes)).unwrap_or_default();
            let scope_spans: Vec<Json> = rs
                .scope_spans
                .iter()
                .map(|ss| json!({ "spans": ss.spans.iter().map(span).collect::<Vec<_>>() }))
                .collect();
            json!({ "resource": { "attributes": attributes }, "scopeSpans": scope_spans })
        })
        .collect();
    Ok(json!({ "resourceSpans": resource_spans }))
}

/// An `ExportTraceServiceResponse`, with partial success when spans were refused.
pub fn export_response(rejected_spans: usize, error_message: String) -> Vec<u8> {
    let partial_success = (rejected_spans > 0)
        .then_some(ExportTracePartialSuccess { rejected_spans: rejected_spans as i64, error_message });
    ExportTraceServiceResponse { partial_success }.encode_to_vec()
}

/// `google.rpc.Status`, the body OTLP/HTTP gives a failed protobuf request
/// (its `details` are left empty).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// An encoded [`RpcStatus`] for an HTTP error status, with the gRPC code
/// that means the same.
pub fn rpc_status(http_status: u16, message: String) -> Vec<u8> {
    let code = match http_status {
        400 | 413 | 415 | 422 => 3, // INVALID_ARGUMENT
        401 => 16,                  // UNAUTHENTICATED
        403 => 7,                   // PERMISSION_DENIED
        404 => 5,                   // NOT_FOUND
        429 => 8,                   // RESOURCE_EXHAUSTED
        503 => 14,                  // UNAVAILABLE
        _ => 13,                    // INTERNAL
    };
    RpcStatus { code, message }.encode_to_vec()
}

fn span(s: &Span) -> Json {
    let events: Vec<Json> = s
        .events
        .iter()
        .map(|e| {
            json!({ "timeUnixNano": e.time_unix_nano.to_string(), "name": e.name, "attributes": key_values(&e.attributes) })
        })
        .collect();
    let mut out = json!({
        "traceId": hex::encode(&s.trace_id),
        "spanId": hex::encode(&s.span_id),
        "name": s.name,
        "kind": s.kind,
        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
        "attributes": key_values(&s.attributes),
        "events": events,
    });
    if !s.parent_span_id.is_empty() {
        out["parentSpanId"] = json!(hex::encode(&s.parent_span_id));
    }
    if let Some(status) = &s.status {
        out["status"] = json!({ "code": status.code, "message": status.message });
    }
    out
}

fn key_values(list: &[KeyValue]) -> Json {
    Json::Array(list.iter().map(|kv| json!({ "key": kv.key, "value": any(kv.value.as_ref()) })).collect())
}

fn any(value: Option<&AnyValue>) -> Json {
    use any_value::Value;
    match value.and_then(|v| v.value.as_ref()) {
        None => json!({}),
        Some(Value::StringValue(s)) => json!({ "stringValue": s }),
        Some(Value::BoolValue(b)) => json!({ "boolValue": b }),
        Some(Value::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(Value::DoubleValue(f)) => match serde_json::Number::from_f64(*f) {
            Some(n) => json!({ "doubleValue": n }),
            None => json!({ "doubleValue": f.to_string() }),
        },
        Some(Value::BytesValue(bytes)) => json!({ "bytesValue": STANDARD.encode(bytes) }),
        Some(Value::ArrayValue(array)) => {
            json!({ "arrayValue": { "values": array.values.iter().map(|v| any(Some(v))).collect::<Vec<_>>() } })
        }
        Some(Value::KvlistValue(list)) => json!({ "kvlistValue": { "values": key_values(&list.values) } }),
        // Newer protocol versions can reference a shared dictionary; there is none here.
        #[allow(unreachable_patterns)]
        Some(_) => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    use super::*;
    use crate::lineage::otlp;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
            ..Default::default()
        }
    }

    fn int(key: &str, value: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(any_value::Value::IntValue(value)) }),
            ..Default::default()
        }
    }

    #[test]
    fn protobuf_maps_like_its_json_form() {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            parent_span_id: vec![0x02; 8],
            name: "chat gpt-4o-mini".into(),
            kind: 3,
            start_time_unix_nano: 1_714_557_600_000_000_000,
            end_time_unix_nano: 1_714_557_600_250_000_000,
            attributes: vec![
                string("gen_ai.request.model", "gpt-4o-mini"),
                int("gen_ai.usage.input_tokens", 12),
                KeyValue {
                    key: "tags".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue { value: Some(any_value::Value::BoolValue(true)) }],
                        })),
                    }),
                    ..Default::default()
                },
            ],
            status: Some(Status { code: 2, message: "boom".into() }),
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![string("service.name", "checkout")], ..Default::default() }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope::default()),
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let as_json = request_to_json(&request.encode_to_vec()).unwrap();
        let parsed = otlp::parse_request(&as_json).unwrap();
        let record = parsed[0].as_ref().unwrap();
        assert_eq!(record.trace_id, "ab".repeat(16));
        assert_eq!(record.parent_span_id.as_deref(), Some("0202020202020202"));
        assert_eq!(record.service_name.as_deref(), Some("checkout"));
        assert_eq!(record.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(record.prompt_tokens, Some(12));
        assert_eq!(record.status, "error");
        assert_eq!(record.ended_at_us.zip(Some(record.started_at_us)).map(|(e, s)| e - s), Some(250_000));
    }

    #[test]
    fn garbage_is_refused_and_responses_round_trip() {
        assert!(request_to_json(b"\xff\xff\xff").is_err());
        let decoded = ExportTraceServiceResponse::decode(export_response(2, "span 0: bad".into()).as_slice()).unwrap();
        assert_eq!(decoded.partial_success.map(|p| p.rejected_spans), Some(2));
        assert!(
            ExportTraceServiceResponse::decode(export_response(0, String::new()).as_slice())
                .unwrap()
                .partial_success
                .is_none()
        );
        let status = RpcStatus::decode(rpc_status(400, "bad".into()).as_slice()).unwrap();
        assert_eq!((status.code, status.message.as_str()), (3, "bad"));
    }
}
