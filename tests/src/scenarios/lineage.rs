//! Lineage: span ingest in both formats, trees, upserts, bad input, listing.

use serde_json::{Value as Json, json};

use crate::TestApp;

fn hex_id(len: usize) -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.push_str(&uuid::Uuid::new_v4().simple().to_string());
    id.truncate(len);
    id
}

/// One span described once, rendered in both wire formats.
struct SpanSpec {
    id: String,
    parent: Option<String>,
    name: &'static str,
    operation: Option<&'static str>,
    span_type: Option<&'static str>,
    start_ms: i64,
    end_ms: i64,
    error: bool,
    model: Option<&'static str>,
    tokens: Option<(i64, i64)>,
    input: Option<&'static str>,
}

const BASE_MS: i64 = 1_714_557_600_000; // 2024-05-01T10:00:00Z

fn rfc3339(ms: i64) -> String {
    ledger::lineage::time::format_ms(ms)
}

fn specs() -> Vec<SpanSpec> {
    let (root, llm, tool, db) = (hex_id(16), hex_id(16), hex_id(16), hex_id(16));
    let spec = |id: &String, parent: Option<&String>, name, operation, span_type, start, end| SpanSpec {
        id: id.clone(),
        parent: parent.cloned(),
        name,
        operation,
        span_type,
        start_ms: BASE_MS + start,
        end_ms: BASE_MS + end,
        error: false,
        model: None,
        tokens: None,
        input: None,
    };
    vec![
        spec(&root, None, "answer question", Some("invoke_agent"), Some("agent"), 0, 900),
        SpanSpec {
            model: Some("gpt-4o-mini"),
            tokens: Some((120, 40)),
            input: Some("What is the capital of France?"),
            ..spec(&llm, Some(&root), "chat gpt-4o-mini", Some("chat"), Some("llm"), 10, 400)
        },
        SpanSpec { error: true, ..spec(&tool, Some(&root), "search", Some("execute_tool"), Some("tool"), 20, 500) },
        spec(&db, Some(&tool), "query index", None, Some("internal"), 30, 200),
    ]
}

fn prela_trace(trace_id: &str, service: &str, specs: &[SpanSpec]) -> Json {
    let spans: Vec<Json> = specs
        .iter()
        .map(|s| {
            let mut attributes = json!({ "gen_ai.system": "openai" });
            if let Some(op) = s.operation {
                attributes["gen_ai.operation.name"] = json!(op);
            }
            let mut span = json!({
                "span_id": s.id, "trace_id": trace_id, "parent_span_id": s.parent, "name": s.name,
                "span_type": s.span_type, "started_at": rfc3339(s.start_ms), "ended_at": rfc3339(s.end_ms),
                "duration_ms": s.end_ms - s.start_ms, "status": if s.error { "error" } else { "success" },
                "attributes": attributes,
                "events": [{ "name": "checkpoint", "timestamp": rfc3339(s.start_ms + 1), "attributes": { "n": 1 } }],
            });
            if let Some(model) = s.model {
                span["model"] = json!(model);
            }
            if let Some((prompt, completion)) = s.tokens {
                span["prompt_tokens"] = json!(prompt);
                span["completion_tokens"] = json!(completion);
            }
            if let Some(input) = s.input {
                span["input"] = json!(input);
            }
            span
        })
        .collect();
    json!({
        "trace_id": trace_id, "service_name": service,
        "started_at": rfc3339(BASE_MS), "completed_at": rfc3339(BASE_MS + 900), "duration_ms": 900,
        "status": "error", "spans": spans,
    })
}

fn otlp_export(trace_id: &str, service: &str, specs: &[SpanSpec]) -> Json {
    let nanos = |ms: i64| (ms as u64 * 1_000_000).to_string();
    let attr = |key: &str, value: Json| json!({ "key": key, "value": value });
    let spans: Vec<Json> = specs
        .iter()
        .map(|s| {
            let mut attributes = vec![attr("gen_ai.system", json!({ "stringValue": "openai" }))];
            if let Some(op) = s.operation {
                attributes.push(attr("gen_ai.operation.name", json!({ "stringValue": op })));
            }
            if let Some(model) = s.model {
                attributes.push(attr("gen_ai.request.model", json!({ "stringValue": model })));
            }
            if let Some((prompt, completion)) = s.tokens {
                attributes.push(attr("gen_ai.usage.input_tokens", json!({ "intValue": prompt.to_string() })));
                attributes.push(attr("gen_ai.usage.output_tokens", json!({ "intValue": completion })));
            }
            if let Some(input) = s.input {
                attributes.push(attr("gen_ai.prompt", json!({ "stringValue": input })));
            }
            json!({
                "traceId": trace_id.to_uppercase(), "spanId": s.id, "parentSpanId": s.parent.clone().unwrap_or_default(),
                "name": s.name, "kind": 1, "startTimeUnixNano": nanos(s.start_ms), "endTimeUnixNano": nanos(s.end_ms),
                "attributes": attributes,
                "events": [{ "timeUnixNano": nanos(s.start_ms + 1), "name": "checkpoint",
                             "attributes": [attr("n", json!({ "intValue": "1" }))] }],
                "status": { "code": if s.error { 2 } else { 1 } },
            })
        })
        .collect();
    json!({ "resourceSpans": [{
        "resource": { "attributes": [attr("service.name", json!({ "stringValue": service }))] },
        "scopeSpans": [{ "scope": { "name": "test" }, "spans": spans }]
    }]})
}

/// The tree without anything that legitimately differs between two copies.
fn comparable(trace: &Json) -> Json {
    let mut t = trace.clone();
    if let Some(obj) = t.as_object_mut() {
        obj.remove("trace_id");
    }
    t
}

pub async fn prela_and_otlp_round_trip_to_the_same_tree(app: &TestApp) {
    let service = super::unique("svc");
    let specs = specs();
    let (prela_id, otlp_id) = (hex_id(32), hex_id(32));

    let r = app.post("/v1/traces", prela_trace(&prela_id, &service, &specs)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["status"], "accepted");
    assert_eq!(r.json["trace_id"], prela_id.as_str());
    assert_eq!((r.json["accepted"].as_u64(), r.json["rejected"].as_array().map(Vec::len)), (Some(4), Some(0)));

    let r = app.post("/v1/traces", otlp_export(&otlp_id, &service, &specs)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json, json!({}), "a fully accepted OTLP export answers an empty response");

    let prela = app.get(&format!("/v1/traces/{prela_id}")).await;
    let otlp = app.get(&format!("/v1/traces/{otlp_id}")).await;
    assert_eq!((prela.status, otlp.status), (200, 200), "{} {}", prela.text(), otlp.text());
    assert_eq!(otlp.json["trace_id"], otlp_id.as_str(), "OTLP hex ids are stored in lower case");
    assert_eq!(comparable(&prela.json), comparable(&otlp.json));

    let t = &prela.json;
    assert_eq!((t["service_name"].as_str(), t["name"].as_str()), (Some(service.as_str()), Some("answer question")));
    assert_eq!((t["status"].as_str(), t["has_error"].as_bool()), (Some("error"), Some(true)));
    assert_eq!((t["span_count"].as_i64(), t["orphan_count"].as_i64()), (Some(4), Some(0)));
    assert_eq!(t["started_at"], "2024-05-01T10:00:00.000000Z");
    assert_eq!(t["duration_ms"], 900.0);
    let roots = t["spans"].as_array().unwrap();
    assert_eq!(roots.len(), 1);
    let root = &roots[0];
    assert_eq!((root["span_type"].as_str(), root["status"].as_str()), (Some("agent"), Some("ok")));
    let children = root["children"].as_array().unwrap();
    let names: Vec<&str> = children.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["chat gpt-4o-mini", "search"], "children in start order");
    let llm = &children[0];
    assert_eq!(
        (llm["model"].as_str(), llm["prompt_tokens"].as_i64(), llm["completion_tokens"].as_i64()),
        (Some("gpt-4o-mini"), Some(120), Some(40))
    );
    assert_eq!(llm["input"], "What is the capital of France?");
    assert_eq!(llm["attributes"], json!({ "gen_ai.system": "openai", "gen_ai.operation.name": "chat" }));
    assert_eq!(llm["duration_ms"], 390.0);
    assert_eq!(
        llm["events"][0],
        json!({ "name": "checkpoint", "timestamp": "2024-05-01T10:00:00.011000Z", "attributes": { "n": 1 } })
    );
    assert!(llm["execution"].is_null());
    let tool = &children[1];
    assert_eq!((tool["status"].as_str(), tool["span_type"].as_str()), (Some("error"), Some("tool")));
    assert_eq!(tool["children"][0]["name"], "query index");
    assert_eq!(tool["children"][0]["span_type"], "internal", "the OTLP kind stands in for a missing type");
}

pub async fn children_may_arrive_before_their_parents(app: &TestApp) {
    let trace = super::unique("trace");
    let span = |id: &str, parent: Option<&str>, start: i64| {
        json!({ "trace_id": trace, "span_id": id, "parent_span_id": parent, "name": format!("op {id}"),
                "started_at": BASE_MS + start, "ended_at": BASE_MS + start + 10, "status": "ok" })
    };
    let r =
        app.post("/v1/spans", json!([span("child", Some("parent"), 5), span("grandchild", Some("child"), 6)])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["trace_ids"], json!([trace]));

    let r = app.get(&format!("/v1/traces/{trace}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json["orphan_count"].as_i64(), r.json["span_count"].as_i64()), (Some(1), Some(2)));
    let roots = r.json["spans"].as_array().unwrap();
    assert_eq!(
        (roots.len(), roots[0]["span_id"].as_str(), roots[0]["orphan"].as_bool()),
        (1, Some("child"), Some(true))
    );
    assert_eq!(roots[0]["children"][0]["span_id"], "grandchild");
    assert!(r.json["name"].is_null(), "no root has arrived yet");

    let r = app.post("/v1/spans", json!({ "spans": [span("parent", None, 0)] })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.get(&format!("/v1/traces/{trace}")).await;
    assert_eq!((r.json["orphan_count"].as_i64(), r.json["span_count"].as_i64()), (Some(0), Some(3)));
    assert_eq!(r.json["name"], "op parent");
    assert_eq!(r.json["started_at"], rfc3339(BASE_MS));
    let root = &r.json["spans"][0];
    assert_eq!((root["span_id"].as_str(), root["orphan"].as_bool()), (Some("parent"), Some(false)));
    assert_eq!(root["children"][0]["children"][0]["span_id"], "grandchild");
}

pub async fn resending_a_span_updates_it(app: &TestApp) {
    // Free-form ids may hold characters that need escaping in the path.
    let trace = format!("{} run/1", super::unique("trace"));
    let path = format!("/v1/traces/{}", trace.replace(' ', "%20").replace('/', "%2F"));
    let first = json!({ "trace_id": trace, "spans": [{
        "span_id": "s1", "name": "generate", "started_at": BASE_MS, "status": "pending",
        "input": { "question": "why?" }, "attributes": { "attempt": 1 }
    }]});
    let r = app.post("/v1/traces", first).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.get(&path).await;
    assert_eq!(r.json["trace_id"], trace.as_str());
    assert_eq!((r.json["status"].as_str(), r.json["spans"][0]["ended_at"].is_null()), (Some("unset"), true));

    // The same span again (twice in one batch, even): still one span, now finished.
    let update = |status: &str| {
        json!({ "span_id": "s1", "name": "generate", "started_at": BASE_MS, "ended_at": BASE_MS + 250,
                "status": status, "output": "because", "attributes": { "attempt": 2 } })
    };
    let r = app.post("/v1/traces", json!({ "trace_id": trace, "spans": [update("error"), update("success")] })).await;
    assert_eq!((r.status, r.json["accepted"].as_u64()), (200, Some(2)), "{}", r.text());
    let r = app.get(&path).await;
    assert_eq!(r.json["span_count"], 1);
    let s = &r.json["spans"][0];
    assert_eq!((s["status"].as_str(), s["duration_ms"].as_f64()), (Some("ok"), Some(250.0)));
    assert_eq!(s["output"], "because");
    assert_eq!(s["input"], json!({ "question": "why?" }), "fields left out keep their stored values");
    assert_eq!(s["attributes"], json!({ "attempt": 2 }));
    assert_eq!(r.json["status"], "ok");
}

pub async fn malformed_batches_report_bad_spans_by_index(app: &TestApp) {
    let trace = super::unique("trace");
    let good = |id: &str| json!({ "span_id": id, "name": "fine", "started_at": BASE_MS });
    let batch = json!({ "trace_id": trace, "spans": [
        good("a"),
        { "span_id": "b", "started_at": BASE_MS },
        good("c"),
        { "span_id": "d", "name": "backwards", "started_at": BASE_MS + 10, "ended_at": BASE_MS },
        { "span_id": "e", "name": "huge", "started_at": BASE_MS, "input": "x".repeat(70 * 1024) },
    ]});

    // All-or-nothing: refused whole, nothing stored.
    let r = app.post("/v1/traces?atomic=true", batch.clone()).await;
    assert_eq!((r.status, r.error_code()), (422, "validation_failed"), "{}", r.text());
    let indexes: Vec<u64> = r.json["error"]["details"]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [1, 3, 4]);
    let mut in_body = batch.clone();
    in_body["atomic"] = json!(true);
    assert_eq!(app.post("/v1/traces", in_body).await.status, 422);
    assert_eq!(app.get(&format!("/v1/traces/{trace}")).await.status, 404);

    // Otherwise the good spans are stored and the bad ones reported.
    let r = app.post("/v1/traces", batch).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["accepted"], 2);
    let rejected = r.json["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert_eq!(rejected[0]["index"], 1);
    assert!(rejected[0]["reason"].as_str().unwrap().starts_with("name"), "{}", r.text());
    assert!(rejected[1]["reason"].as_str().unwrap().starts_with("ended_at"));
    assert!(rejected[2]["reason"].as_str().unwrap().starts_with("input"));
    let r = app.get(&format!("/v1/traces/{trace}")).await;
    assert_eq!(r.json["span_count"], 2);

    // Nothing valid at all is refused; so are bodies of the wrong shape or size.
    let r = app.post("/v1/spans", json!([{ "span_id": "x" }])).await;
    assert_eq!((r.status, r.error_code()), (422, "validation_failed"));
    let r = app.post("/v1/spans", json!({ "not_spans": [] })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("spans")));
    let many: Vec<Json> = (0..1001)
        .map(|i| json!({ "trace_id": trace, "span_id": format!("m{i}"), "name": "n", "started_at": BASE_MS }))
        .collect();
    let r = app.post("/v1/spans", Json::Array(many)).await;
    assert_eq!((r.status, r.error_code()), (413, "payload_too_large"));
    let r = app
        .request(http::Method::POST, "/v1/traces")
        .header("content-type", "text/plain")
        .raw_body(vec![1, 2, 3])
        .send()
        .await;
    assert_eq!(r.status, 415, "JSON or OTLP protobuf only");

    // OTLP: partial success in OTLP's own response shape; all bad is a 400.
    let otlp_trace = hex_id(32);
    let otlp_span = |span_id: &str| json!({ "traceId": otlp_trace, "spanId": span_id, "name": "s", "startTimeUnixNano": "1714557600000000000" });
    let export = |spans: Json| json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": spans }] }] });
    let r = app.post("/v1/traces", export(json!([otlp_span(&hex_id(16)), otlp_span("not-hex")]))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["partialSuccess"]["rejectedSpans"], "1");
    assert!(r.json["partialSuccess"]["errorMessage"].as_str().unwrap().contains("spanId"));
    let r = app.post("/v1/traces", export(json!([otlp_span("nope")]))).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // Ingest needs `write`; a read key may only query.
    let read = app.key_with_scope("read").await;
    let r = app.request(http::Method::POST, "/v1/spans").key(&read).json(&json!([good("z")])).send().await;
    assert_eq!(r.status, 403);
    let r = app.request(http::Method::GET, &format!("/v1/traces/{trace}")).key(&read).send().await;
    assert_eq!(r.status, 200);
    let r = app.request(http::Method::GET, "/v1/spans").send().await;
    assert_eq!(r.status, 405);
}

pub async fn traces_list_with_filters_and_pagination(app: &TestApp) {
    let service = super::unique("listing");
    let mut ids = Vec::new();
    for i in 0..5i64 {
        let trace = super::unique("trace");
        let status = if i % 2 == 1 { "error" } else { "success" };
        let r = app
            .post(
                "/v1/traces",
                json!({ "trace_id": trace, "service_name": service, "spans": [
                    { "span_id": "root", "name": format!("request {i}"), "started_at": BASE_MS + i * 60_000,
                      "duration_ms": 5, "status": status }
                ]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        ids.push(trace);
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/traces?service={service}&limit=2");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json["data"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|t| t["trace_id"].as_str().unwrap().to_owned()));
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, newest_first);

    let listed = |path: String| async move {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let errors = listed(format!("/v1/traces?service={service}&has_error=true")).await;
    assert_eq!(errors, [ids[3].clone(), ids[1].clone()]);
    assert_eq!(listed(format!("/v1/traces?service={service}&status=error")).await, errors);
    assert_eq!(listed(format!("/v1/traces?service={service}&has_error=false")).await.len(), 3);
    let since = rfc3339(BASE_MS + 60_000);
    let window = listed(format!("/v1/traces?service={service}&since={since}&until={}", BASE_MS + 180_000)).await;
    assert_eq!(window, [ids[2].clone(), ids[1].clone()]);
    let r = app.get(&format!("/v1/traces?service={service}&limit=1")).await;
    assert_eq!(r.json["data"][0]["span_count"], 1);
    assert_eq!(r.json["data"][0]["name"], "request 4");
    assert_eq!(r.json["data"][0]["duration_ms"], 5.0);

    for bad in ["cursor=zzz", "limit=0", "limit=500", "since=yesterday", "has_error=maybe", "status=weird"] {
        let r = app.get(&format!("/v1/traces?{bad}")).await;
        assert_eq!((r.status, r.error_code()), (422, "validation_failed"), "{bad}: {}", r.text());
    }
    assert_eq!(app.get(&format!("/v1/traces/{}", super::unique("missing"))).await.status, 404);
}

/// The same export as [`otlp_export`], in OTLP's protobuf encoding.
fn otlp_protobuf(trace_id: &str, service: &str, specs: &[SpanSpec]) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};
    use prost::Message;

    let attr = |key: &str, value: Value| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    let text = |key: &str, value: &str| attr(key, Value::StringValue(value.into()));
    let nanos = |ms: i64| ms as u64 * 1_000_000;
    let hex = |id: &str| (0..id.len()).step_by(2).map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()).collect();
    let spans = specs
        .iter()
        .map(|s| {
            let mut attributes = vec![text("gen_ai.system", "openai")];
            attributes.extend(s.operation.map(|op| text("gen_ai.operation.name", op)));
            attributes.extend(s.model.map(|model| text("gen_ai.request.model", model)));
            if let Some((prompt, completion)) = s.tokens {
                attributes.push(attr("gen_ai.usage.input_tokens", Value::IntValue(prompt)));
                attributes.push(attr("gen_ai.usage.output_tokens", Value::IntValue(completion)));
            }
            attributes.extend(s.input.map(|input| text("gen_ai.prompt", input)));
            Span {
                trace_id: hex(trace_id),
                span_id: hex(&s.id),
                parent_span_id: s.parent.as_deref().map(hex).unwrap_or_default(),
                name: s.name.into(),
                kind: 1,
                start_time_unix_nano: nanos(s.start_ms),
                end_time_unix_nano: nanos(s.end_ms),
                attributes,
                events: vec![Event {
                    time_unix_nano: nanos(s.start_ms + 1),
                    name: "checkpoint".into(),
                    attributes: vec![attr("n", Value::IntValue(1))],
                    ..Default::default()
                }],
                status: Some(Status { code: if s.error { 2 } else { 1 }, message: String::new() }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![text("service.name", service)], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// What the official exporters send by default: protobuf, often gzipped.
/// Answered in protobuf, mapped exactly like OTLP/JSON.
pub async fn otlp_protobuf_and_gzip_map_like_json(app: &TestApp) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;

    let service = super::unique("svc");
    let mut bad = specs();
    bad[3].id = String::new();
    let specs = specs();
    let (json_id, proto_id, gzip_id, gzip_json_id) = (hex_id(32), hex_id(32), hex_id(32), hex_id(32));
    let protobuf = |body: Vec<u8>| {
        app.request(http::Method::POST, "/v1/traces").header("content-type", "application/x-protobuf").raw_body(body)
    };

    assert_eq!(app.post("/v1/traces", otlp_export(&json_id, &service, &specs)).await.status, 200);
    let r = protobuf(otlp_protobuf(&proto_id, &service, &specs)).send().await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/x-protobuf")));
    let answer = ExportTraceServiceResponse::decode(r.body.as_slice()).expect("an ExportTraceServiceResponse");
    assert!(answer.partial_success.is_none(), "{answer:?}");
    let r = protobuf(gzip(&otlp_protobuf(&gzip_id, &service, &specs))).header("content-encoding", "gzip").send().await;
    assert_eq!(r.status, 200);
    let body = serde_json::to_vec(&otlp_export(&gzip_json_id, &service, &specs)).unwrap();
    let r = app
        .request(http::Method::POST, "/v1/traces")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .raw_body(gzip(&body))
        .send()
        .await;
    assert_eq!((r.status, &r.json), (200, &json!({})), "{}", r.text());

    let expected = comparable(&app.get(&format!("/v1/traces/{json_id}")).await.json);
    for id in [&proto_id, &gzip_id, &gzip_json_id] {
        let r = app.get(&format!("/v1/traces/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(comparable(&r.json), expected, "trace {id} maps like its JSON form");
    }

    // A span without an id is refused; the others are stored (partial success).
    let partial_id = hex_id(32);
    let r = protobuf(otlp_protobuf(&partial_id, &service, &bad)).send().await;
    assert_eq!(r.status, 200);
    let answer = ExportTraceServiceResponse::decode(r.body.as_slice()).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("span 3"), "{}", partial.error_message);
    assert_eq!(app.get(&format!("/v1/traces/{partial_id}")).await.json["span_count"], 3);

    // Errors in protobuf too: a body that is not a request, a broken gzip stream.
    let r = protobuf(b"\xff\xff\xff\xff".to_vec()).send().await;
    assert_eq!((r.status, r.header("content-type")), (400, Some("application/x-protobuf")));
    let r = protobuf(b"not gzip".to_vec()).header("content-encoding", "gzip").send().await;
    assert_eq!(r.status, 400);
    let r = protobuf(Vec::new()).header("content-encoding", "br").send().await;
    assert_eq!(r.status, 415);
    // A zip bomb inflates past the body limit: 413, not an allocation.
    let bomb = gzip(&vec![0u8; ledger::api::request::MAX_BODY_BYTES + 1024]);
    let r = protobuf(bomb).header("content-encoding", "gzip").send().await;
    assert_eq!(r.status, 413);
}
