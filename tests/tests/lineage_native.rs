//! Lineage behaviour that needs replicas or the database itself:
//! concurrent batches for one trace, spans resolved to executions and
//! prompt versions, and retention of traces and spans; on both backends.

use futures::future::join_all;
use ledger::lineage::ingest::{self, TraceFields};
use ledger::lineage::span::SpanRecord;
use ledger::ports::Db;
use ledger::retention;
use ledger_native::NativeHost;
use scenarios::scenarios::analytics::seed;
use scenarios::scenarios::unique;
use scenarios::{Backend, TestApp};
use serde_json::json;

const BASE_MS: i64 = 1_714_557_600_000;
const DAY_MS: i64 = 86_400_000;

async fn concurrent_batches_for_one_trace_keep_an_exact_summary(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let trace = unique("busy");
    let replicas: Vec<NativeHost> = (0..3).map(|_| app.replica().expect("in-process")).collect();
    // Each replica sends 5 batches of 20 spans; replicas overlap by half, so
    // 3 × 100 sends cover 200 distinct spans.
    let sends = replicas.iter().enumerate().map(|(r, host)| {
        let trace = trace.clone();
        let app = &app;
        async move {
            for batch in 0..5 {
                let spans: Vec<_> = (0..20)
                    .map(|k| {
                        let n = r * 50 + batch * 20 + k;
                        json!({ "span_id": format!("s{n:03}"), "parent_span_id": (n > 0).then_some("s000"),
                                "name": format!("step {n}"), "started_at": BASE_MS + n as i64,
                                "ended_at": BASE_MS + 1_000 + n as i64, "status": if n == 137 { "error" } else { "ok" } })
                    })
                    .collect();
                let body = json!({ "trace_id": trace, "service_name": "busy-svc", "spans": spans });
                let r = app.request(http::Method::POST, "/v1/traces").json(&body).send_via(host).await;
                assert_eq!(r.status, 200, "{}", r.text());
            }
        }
    });
    join_all(sends).await;
    let r = app.get(&format!("/v1/traces/{trace}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["span_count"], 200);
    assert_eq!((r.json["has_error"].as_bool(), r.json["status"].as_str()), (Some(true), Some("error")));
    assert_eq!(r.json["started_at"], ledger::lineage::time::format_ms(BASE_MS));
    assert_eq!(r.json["ended_at"], ledger::lineage::time::format_ms(BASE_MS + 1_199));
    assert_eq!((r.json["name"].as_str(), r.json["service_name"].as_str()), (Some("step 0"), Some("busy-svc")));
    assert_eq!(r.json["spans"][0]["children"].as_array().map(Vec::len), Some(199));
    let stored = app.db.native().query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM spans", &[]).await.unwrap();
    assert_eq!(stored[0].i64("n").unwrap(), 200);
    app.finish().await;
}

async fn spans_resolve_their_execution_and_prompt_version(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    let prompt = seed::prompt(&db, &unique("answer"), 2).await;
    let (version_id, version) = prompt.versions[1].clone();
    let execution = seed::Execution {
        id: uuid::Uuid::now_v7().to_string(),
        prompt: Some((prompt.id.clone(), version_id.clone(), version, prompt.name.clone())),
        provider: "anthropic",
        model: "claude-3-5-haiku",
        status: "succeeded",
        error_type: None,
        prompt_tokens: Some(10),
        response_tokens: Some(3),
        cost_nanos: Some(1_000),
        latency_ms: Some(420),
        created_at: BASE_MS,
        completed_at: Some(BASE_MS + 420),
    };
    seed::executions(&db, std::slice::from_ref(&execution)).await;

    let trace = unique("linked");
    let r = app
        .post(
            "/v1/traces",
            json!({ "trace_id": trace, "spans": [
                { "span_id": "root", "name": "handle request", "started_at": BASE_MS },
                { "span_id": "llm", "parent_span_id": "root", "name": "run prompt", "started_at": BASE_MS + 1,
                  "execution_id": execution.id },
                { "span_id": "ghost", "parent_span_id": "root", "name": "unknown run", "started_at": BASE_MS + 2,
                  "execution_id": "no-such-execution" },
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let otlp_trace = uuid::Uuid::new_v4().simple().to_string();
    let r = app
        .post(
            "/v1/traces",
            json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": [{
                "traceId": otlp_trace, "spanId": "00f067aa0ba902b7", "name": "chat",
                "startTimeUnixNano": "1714557600000000000",
                "attributes": [{ "key": "promptledger.execution_id", "value": { "stringValue": execution.id } }]
            }]}]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let expected = json!({
        "id": execution.id, "status": "succeeded", "prompt_id": prompt.id, "prompt_name": prompt.name,
        "prompt_version_id": version_id, "version": 2, "provider": "anthropic", "model": "claude-3-5-haiku",
    });
    let r = app.get(&format!("/v1/traces/{trace}")).await;
    let children = &r.json["spans"][0]["children"];
    assert_eq!(children[0]["execution"], expected);
    assert_eq!(children[1]["execution_id"], "no-such-execution");
    assert!(children[1]["execution"].is_null());
    let r = app.get(&format!("/v1/traces/{otlp_trace}")).await;
    assert_eq!(r.json["spans"][0]["execution"], expected);
    // And back: from an execution to the spans that record it.
    let spans = ledger::store::spans::for_execution(&db, &execution.id, 10).await.unwrap();
    let found: Vec<(&str, &str)> = spans.iter().map(|s| (s.trace_id.as_str(), s.span_id.as_str())).collect();
    assert_eq!(found, [(otlp_trace.as_str(), "00f067aa0ba902b7"), (trace.as_str(), "llm")]);
    app.finish().await;
}

fn span(trace: &str, id: &str, started_at_us: i64) -> SpanRecord {
    SpanRecord {
        trace_id: trace.into(),
        span_id: id.into(),
        parent_span_id: None,
        name: id.into(),
        span_type: None,
        service_name: None,
        status: "ok".into(),
        started_at_us,
        ended_at_us: Some(started_at_us + 5),
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

async fn retention_removes_old_traces_with_their_spans(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let db = app.db.native();
    let now = BASE_MS + 10 * DAY_MS;
    let cutoff_ms = now - DAY_MS;
    let none = TraceFields::default();
    // Just older than the cutoff, at it, and a stray span with no trace row.
    ingest::write(
        &db,
        &[span("old", "a", cutoff_ms * 1000 - 1), span("old", "b", cutoff_ms * 1000)],
        &none,
        cutoff_ms - 5,
    )
    .await
    .unwrap();
    ingest::write(&db, &[span("new", "a", cutoff_ms * 1000)], &none, cutoff_ms - 5).await.unwrap();
    ingest::write(&db, &[span("stray", "a", cutoff_ms * 1000 - 10), span("fresh-stray", "a", 0)], &none, cutoff_ms - 1)
        .await
        .unwrap();
    db.execute("DELETE FROM traces WHERE trace_id IN ('stray', 'fresh-stray')", &[]).await.unwrap();
    db.execute("UPDATE spans SET created_at = $1 WHERE trace_id = 'fresh-stray'", &[cutoff_ms.into()]).await.unwrap();

    let mut config = app.config.clone();
    config.retention_days = 1;
    let (one, two) = (NativeHost::new(app.db.native(), config.clone()), NativeHost::new(app.db.native(), config));
    let (x, y) = futures::join!(retention::apply(&one, now), retention::apply(&two, now));
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!((x.traces_deleted + y.traces_deleted, x.spans_deleted + y.spans_deleted), (1, 3));

    let remaining = db.query("SELECT trace_id, span_id FROM spans ORDER BY trace_id, span_id", &[]).await.unwrap();
    let remaining: Vec<String> =
        remaining.iter().map(|r| format!("{}/{}", r.str("trace_id").unwrap(), r.str("span_id").unwrap())).collect();
    assert_eq!(remaining, ["fresh-stray/a", "new/a"]);
    assert_eq!(app.get("/v1/traces/old").await.status, 404);
    assert_eq!(app.get("/v1/traces/new").await.status, 200);
    app.finish().await;
}

scenarios::both_backends!(
    concurrent_batches_for_one_trace_keep_an_exact_summary,
    spans_resolve_their_execution_and_prompt_version,
    retention_removes_old_traces_with_their_spans,
);
