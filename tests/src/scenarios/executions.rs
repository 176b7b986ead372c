//! Executions against the fake provider: sync and async runs, failures,
//! idempotency, cancel, listing, prices and the original smoke request.

use serde_json::{Value as Json, json};

use super::unique;
use crate::TestApp;
use crate::fake_provider::FakeProvider;

fn run_body(model: &str, template: &str, variables: Json) -> Json {
    json!({
        "template": template,
        "variables": variables,
        "model": { "provider": "openai", "model_name": model },
    })
}

async fn run(app: &TestApp, body: &Json) -> crate::TestResponse {
    app.post("/v1/executions:run", body.clone()).await
}

pub async fn sync_run_records_the_ledger(app: &TestApp) {
    let model = unique("echo");
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let correlation = unique("corr");
    let mut body = run_body(&model, "Hello {{ name }}, how are you?", json!({ "name": "Ada" }));
    body["correlation_id"] = json!(correlation);
    body["params"] = json!({ "temperature": 0.2, "max_tokens": 50 });
    let r = run(app, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = &r.json;
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["mode"], "sync");
    assert_eq!(e["response_text"], "echo: Hello Ada, how are you?");
    assert_eq!(e["rendered_prompt"], "Hello Ada, how are you?");
    // The fake counts words: 5 in, 6 out.
    assert_eq!(e["usage"]["prompt_tokens"], 5);
    assert_eq!(e["usage"]["response_tokens"], 6);
    assert_eq!(e["usage"]["total_tokens"], 11);
    // 5 × $2.50/M + 6 × $10/M = 12,500 + 60,000 nano-USD.
    assert_eq!(e["cost"]["nanos"], 72_500);
    assert!((e["cost"]["usd"].as_f64().unwrap() - 0.0000725).abs() < 1e-12);
    assert!(e["latency_ms"]["provider"].is_number() && e["latency_ms"]["total"].is_number());
    assert_eq!(e["prompt"]["version"], 1);
    assert_eq!(e["correlation_id"], correlation.as_str());
    assert_eq!(FakeProvider::shared().calls(&model), 1);

    let id = e["execution_id"].as_str().unwrap();
    let r = app.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["inputs"]["variables"], json!({ "name": "Ada" }));
    assert_eq!(r.json["inputs"]["params"]["temperature"], 0.2);
    assert_eq!(r.json["inputs"]["template"], "Hello {{ name }}, how are you?");
    assert_eq!(r.json["span"]["trace_id"], r.json["trace_id"]);
    assert_eq!(r.json["span"]["status"], "ok");
    assert_eq!(r.json["span"]["prompt_tokens"], 5);
    assert!(!r.text().contains("sk-test"), "provider keys never appear in records");
}

pub async fn a_slow_run_is_visible_while_the_provider_works(app: &TestApp) {
    let correlation = unique("slow");
    let mut body = run_body("slow-400", "take your time", json!({}));
    body["correlation_id"] = json!(correlation);
    let listed = format!("/v1/executions?correlation_id={correlation}");
    let (r, during) = futures::join!(run(app, &body), async {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        app.get(&listed).await
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(during.status, 200, "{}", during.text());
    let running = during.json["data"].as_array().unwrap();
    assert_eq!(running.len(), 1, "the run is recorded while the provider works");
    assert_eq!(
        (running[0]["status"].as_str(), running[0]["execution_id"].as_str()),
        (Some("running"), r.json["execution_id"].as_str())
    );

    let after = app.get(&listed).await;
    let done = after.json["data"].as_array().unwrap();
    assert_eq!(done.len(), 1, "one record, updated in place");
    assert_eq!(
        (done[0]["status"].as_str(), done[0]["response_text"].as_str()),
        (Some("succeeded"), Some("echo: take your time"))
    );
}

pub async fn traceparent_places_the_execution_in_a_trace(app: &TestApp) {
    let model = unique("echo");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = app
        .request(http::Method::POST, "/v1/executions:run")
        .header("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&run_body(&model, "ping", json!({})))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["trace_id"], trace_id);
    let id = r.json["execution_id"].as_str().unwrap();
    let r = app.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(r.json["span"]["parent_span_id"], "00f067aa0ba902b7");

    let r = app
        .request(http::Method::POST, "/v1/executions:run")
        .header("traceparent", "garbage")
        .json(&run_body(&model, "ping", json!({})))
        .send()
        .await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("traceparent")));
}

pub async fn provider_failures_are_recorded(app: &TestApp) {
    for (model, status, error_type, provider_status) in [
        ("fail-500", 502, "provider_server_error", Some(500)),
        ("rate-limit", 502, "provider_rate_limited", Some(429)),
        ("fail-400", 502, "provider_rejected", Some(400)),
        ("bad-json", 502, "provider_bad_response", Some(200)),
    ] {
        let r = run(app, &run_body(model, "hi", json!({}))).await;
        assert_eq!(r.status, status, "{model}: {}", r.text());
        assert_eq!(r.error_code(), "provider_error");
        let execution = &r.json["error"]["details"]["execution"];
        assert_eq!(execution["status"], "failed", "{model}");
        assert_eq!(execution["error"]["type"], error_type, "{model}");
        assert_eq!(execution["error"]["provider_status"], json!(provider_status), "{model}");
        let id = execution["execution_id"].as_str().unwrap();
        let stored = app.get(&format!("/v1/executions/{id}")).await;
        assert_eq!(stored.json["status"], "failed");
        assert_eq!(stored.json["span"]["status"], "error");
    }

    // A runaway answer is cut off at the 16 MiB read limit, not held whole,
    // and not retried; a connection reset mid-body is a connection failure.
    for (model, error_type) in [(unique("huge-50"), "provider_bad_response"), (unique("reset"), "provider_unreachable")]
    {
        let r = run(app, &run_body(&model, "hi", json!({}))).await;
        assert_eq!((r.status, r.error_code()), (502, "provider_error"), "{model}: {}", r.text());
        let error = &r.json["error"]["details"]["execution"]["error"];
        assert_eq!(error["type"], error_type, "{model}: {error}");
        assert_eq!(FakeProvider::shared().calls(&model), 1, "{model}");
    }

    let mut body = run_body("slow-3000", "hi", json!({}));
    body["timeout_ms"] = json!(300);
    let r = run(app, &body).await;
    assert_eq!((r.status, r.error_code()), (504, "provider_timeout"));
    assert_eq!(r.json["error"]["details"]["execution"]["error"]["type"], "provider_timeout");
}

pub async fn bad_requests_fail_before_any_provider_call(app: &TestApp) {
    let model = unique("echo");
    let r = run(app, &run_body(&model, "Hi {{ name }} from {{ city }}", json!({ "name": "Ada" }))).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("city"), "names the missing variable: {}", r.text());

    let r = run(app, &json!({ "template": "hi", "model": { "provider": "nope", "model_name": model } })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("model.provider")));
    let r = run(app, &json!({ "template": "hi" })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("model")));
    let r = run(app, &json!({ "model": "gpt-4o" })).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("prompt_name")));
    let mut body = run_body(&model, "hi", json!({}));
    body["params"] = json!({ "stream": true });
    let r = run(app, &body).await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("params.stream")));
    let mut body = run_body(&model, "hi", json!({}));
    body["mode"] = json!("later");
    assert_eq!(run(app, &body).await.status, 422);
    let r = run(app, &json!({ "prompt_name": unique("missing"), "model": "gpt-4o" })).await;
    assert_eq!(r.status, 404);

    assert_eq!(FakeProvider::shared().calls(&model), 0, "no provider call for a rejected request");
}

pub async fn idempotent_retries_never_call_twice(app: &TestApp) {
    let model = unique("echo");
    let key = unique("idem");
    let body = run_body(&model, "once only", json!({}));
    let first =
        app.request(http::Method::POST, "/v1/executions:run").header("idempotency-key", &key).json(&body).send().await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second =
        app.request(http::Method::POST, "/v1/executions:run").header("idempotency-key", &key).json(&body).send().await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json["execution_id"], first.json["execution_id"]);
    assert_eq!(second.json["idempotent_replay"], true);
    // The key in the body is the same key.
    let mut with_body_key = body.clone();
    with_body_key["idempotency_key"] = json!(key);
    let third = run(app, &with_body_key).await;
    assert_eq!(third.json["execution_id"], first.json["execution_id"]);
    assert_eq!(FakeProvider::shared().calls(&model), 1);

    let other = run_body(&model, "a different request", json!({}));
    let r =
        app.request(http::Method::POST, "/v1/executions:run").header("idempotency-key", &key).json(&other).send().await;
    assert_eq!((r.status, r.error_code()), (409, "idempotency_conflict"));

    // Two identical requests at the same moment: one execution, one call.
    let model = unique("echo");
    let key = unique("idem");
    let body = run_body(&model, "together", json!({}));
    let replica = app.replica();
    let (a, b) = futures::join!(
        app.request(http::Method::POST, "/v1/executions:run").header("idempotency-key", &key).json(&body).send(),
        app.request(http::Method::POST, "/v1/executions:run")
            .header("idempotency-key", &key)
            .json(&body)
            .send_on(replica.as_ref()),
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text(), b.text());
    assert_eq!(a.json["execution_id"], b.json["execution_id"]);
    assert_eq!(FakeProvider::shared().calls(&model), 1);
}

pub async fn async_run_is_queued_then_drained_by_the_beat(app: &TestApp) {
    let model = unique("echo");
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut body = run_body(&model, "later please", json!({}));
    body["mode"] = json!("async");
    let r = run(app, &body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json["status"], "queued");
    let id = r.json["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), Some(format!("/v1/executions/{id}").as_str()));
    assert_eq!(FakeProvider::shared().calls(&model), 0);

    let beat = app.post("/v1/internal/beat", json!({})).await;
    assert_eq!(beat.status, 200, "{}", beat.text());
    assert!(beat.json["executions"]["succeeded"].as_u64().unwrap() >= 1);
    let r = app.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(r.json["status"], "succeeded", "{}", r.text());
    assert_eq!(r.json["attempts"], 1);
    assert_eq!(r.json["response_text"], "echo: later please");
    // 2 × $2.50/M + 3 × $10/M, at the prices the claim read.
    assert_eq!(r.json["cost"]["nanos"], 35_000);
    assert_eq!(FakeProvider::shared().calls(&model), 1);

    // The beat is admin-only.
    let write_key = app.key_with_scope("write").await;
    let r = app.request(http::Method::POST, "/v1/internal/beat").key(&write_key).send().await;
    assert_eq!(r.status, 403);
}

pub async fn queued_runs_can_be_canceled(app: &TestApp) {
    let model = unique("echo");
    let mut body = run_body(&model, "never mind", json!({}));
    body["mode"] = json!("async");
    let id = run(app, &body).await.json["execution_id"].as_str().unwrap().to_owned();
    let r = app.post(&format!("/v1/executions/{id}:cancel"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["status"], "canceled");
    let r = app.post(&format!("/v1/executions/{id}:cancel"), json!({})).await;
    assert_eq!((r.status, r.error_code()), (409, "conflict"));
    app.post("/v1/internal/beat", json!({})).await;
    assert_eq!(app.get(&format!("/v1/executions/{id}")).await.json["status"], "canceled");
    assert_eq!(FakeProvider::shared().calls(&model), 0);
    let r = app.post("/v1/executions/00000000-0000-0000-0000-000000000000:cancel", json!({})).await;
    assert_eq!(r.status, 404);
}

pub async fn executions_are_listed_with_filters(app: &TestApp) {
    let model = unique("echo");
    let correlation = unique("batch");
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut body = run_body(&model, &format!("item {i}"), json!({}));
        body["correlation_id"] = json!(correlation);
        ids.push(run(app, &body).await.json["execution_id"].as_str().unwrap().to_owned());
    }
    let r = app.get(&format!("/v1/executions?correlation_id={correlation}&limit=2")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page: Vec<&str> =
        r.json["data"].as_array().unwrap().iter().map(|e| e["execution_id"].as_str().unwrap()).collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()], "newest first");
    let cursor = r.json["next_cursor"].as_str().expect("a next page");
    let r = app.get(&format!("/v1/executions?correlation_id={correlation}&limit=2&cursor={cursor}")).await;
    let page: Vec<&str> =
        r.json["data"].as_array().unwrap().iter().map(|e| e["execution_id"].as_str().unwrap()).collect();
    assert_eq!(page, vec![ids[0].as_str()]);
    assert!(r.json["next_cursor"].is_null());

    // Timestamps are RFC 3339 and go straight back into the time filters.
    let first = &r.json["data"][0];
    for field in ["created_at", "started_at", "completed_at"] {
        assert!(super::is_instant(&first[field]), "{field}: {}", first[field]);
    }
    let created = first["created_at"].as_str().unwrap().replace('+', "%2B");
    let r = app.get(&format!("/v1/executions?correlation_id={correlation}&since={created}")).await;
    assert_eq!((r.status, r.json["data"].as_array().map(Vec::len)), (200, Some(3)), "{}", r.text());
    let r = app.get(&format!("/v1/executions?correlation_id={correlation}&until={created}")).await;
    assert_eq!(r.json["data"].as_array().map(Vec::len), Some(0), "until is exclusive");
    let r = app.get("/v1/executions?since=yesterday").await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("since")));

    let r = app.get(&format!("/v1/executions?model={model}&status=succeeded&provider=openai")).await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 3);
    let r = app.get(&format!("/v1/executions?model={model}&status=failed")).await;
    assert_eq!(r.json["data"].as_array().unwrap().len(), 0);
    assert_eq!(app.get("/v1/executions?status=bogus").await.status, 422);
    assert_eq!(app.get("/v1/executions?cursor=not-a-cursor").await.status, 422);
    assert_eq!(app.get("/v1/executions/00000000-0000-0000-0000-000000000000").await.status, 404);
}

pub async fn chat_messages_and_anthropic(app: &TestApp) {
    let model = unique("claude-echo");
    let r = run(
        app,
        &json!({
            "messages": [
                { "role": "system", "content": "You are terse." },
                { "role": "user", "content": "Summarise {{ topic }}" },
            ],
            "variables": { "topic": "tides" },
            "model": { "provider": "anthropic", "model_name": model },
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["response_text"], "echo: Summarise tides");
    assert_eq!(r.json["rendered_prompt"][1]["content"], "Summarise tides");
    // system (3 words) + user (2 words) in, 3 out.
    assert_eq!(r.json["usage"]["prompt_tokens"], 5);
    assert_eq!(FakeProvider::shared().calls(&model), 1);
}

pub async fn seed_smoke_request_and_mock_provider(app: &TestApp) {
    let r = app.post("/api/v1/prompts/execute", json!({ "prompt_text": "Say hello", "model": "gpt-3.5-turbo" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["status"], "succeeded");
    assert_eq!(r.json["model"]["provider"], "openai");
    assert_eq!(r.json["response_text"], "echo: Say hello");

    let r = run(app, &json!({ "template": "Tell me a joke", "model": "mock-1" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["response_text"], "Mock response to: Tell me a joke");
    assert_eq!(r.json["cost"]["nanos"], 0);
}

pub async fn model_prices_are_admin_editable(app: &TestApp) {
    let r = app.get("/v1/models").await;
    assert_eq!(r.status, 200);
    let gpt4o = r.json["data"].as_array().unwrap().iter().find(|m| m["model_name"] == "gpt-4o").cloned().unwrap();
    assert_eq!(gpt4o["input_usd_per_mtok"], 2.5);
    let write_key = app.key_with_scope("write").await;
    let model = unique("priced");
    let r = app
        .request(http::Method::PUT, &format!("/v1/models/openai/{model}"))
        .key(&write_key)
        .json(&json!({ "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0 }))
        .send()
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": -1.0, "output_usd_per_mtok": 2.0 }))
        .await;
    assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some("input_usd_per_mtok")));
    let r = app
        .put(&format!("/v1/models/nope/{model}"), json!({ "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0 }))
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0 }))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get(&format!("/v1/models/openai/{model}")).await.json["output_usd_per_mtok"], 2.0);
}

pub async fn an_execution_is_a_span_in_its_trace(app: &TestApp) {
    let model = unique("echo");
    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let r = app
        .request(http::Method::POST, "/v1/executions:run")
        .header("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&run_body(&model, "lineage please", json!({})))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let execution_id = r.json["execution_id"].as_str().unwrap().to_owned();
    let trace = app.get(&format!("/v1/traces/{trace_id}")).await;
    assert_eq!(trace.status, 200, "{}", trace.text());
    assert!(trace.text().contains(&execution_id), "trace → span → execution: {}", trace.text());
    let listed = app.get("/v1/traces?service=promptledger&limit=200").await;
    assert!(listed.text().contains(&trace_id), "the execution's trace is listed: {}", listed.text());
}
