//! The drop-in gateway against the fake provider: OpenAI chat completions
//! and Anthropic messages in their own shapes, pass-through and
//! translation, tool calls, fallbacks, idempotent replays, registered
//! prompts, and errors in the vendors' shapes; every call checked in the
//! ledger afterwards.

use serde_json::{Value as Json, json};

use super::unique;
use crate::fake_provider::FakeProvider;
use crate::{ADMIN_KEY, TestApp, TestResponse};

/// A chat completion as the OpenAI SDK sends it: the key as a Bearer token.
async fn chat(app: &TestApp, body: Json, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = app
        .request(http::Method::POST, "/v1/chat/completions")
        .without_key()
        .header("authorization", &format!("Bearer {ADMIN_KEY}"))
        .json(&body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req.send().await
}

/// A message as the Anthropic SDK sends it: `x-api-key` and a version.
async fn message(app: &TestApp, body: Json, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = app.request(http::Method::POST, "/v1/messages").header("anthropic-version", "2023-06-01").json(&body);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req.send().await
}

async fn execution(app: &TestApp, r: &TestResponse) -> Json {
    let id = r.header("promptledger-execution-id").unwrap_or_else(|| panic!("no execution id: {}", r.text()));
    let e = app.get(&format!("/v1/executions/{id}")).await;
    assert_eq!(e.status, 200, "{}", e.text());
    e.json
}

fn openai_error(r: &TestResponse) -> &Json {
    let error = &r.json["error"];
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "OpenAI error bodies have `{field}`: {}", r.text());
    }
    assert!(error["message"].is_string() && error["type"].is_string(), "{}", r.text());
    error
}

fn anthropic_error(r: &TestResponse) -> &Json {
    assert_eq!(r.json["type"], "error", "{}", r.text());
    assert!(r.json["error"]["type"].is_string() && r.json["error"]["message"].is_string(), "{}", r.text());
    &r.json["error"]
}

pub async fn gateway_chat_completions_pass_through_and_are_recorded(app: &TestApp) {
    let model = unique("gw");
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 4.0 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let correlation = unique("corr");
    let body = json!({
        "model": format!("openai/{model}"),
        "messages": [
            { "role": "system", "content": "You answer in {\"json\"}, never {{ templates }}." },
            { "role": "user", "content": "What is the ledger?" },
        ],
        "temperature": 0.3, "seed": 42, "n": 1, "stop": ["\n\n"], "logprobs": false,
        "response_format": { "type": "json_object" }, "user": "u-1",
        "metadata": { "team": "search", "promptledger_correlation_id": correlation },
    });
    let r = chat(app, body.clone(), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json["object"], "chat.completion");
    assert_eq!(r.json["model"], model.as_str(), "the provider's answer is returned as it gave it");
    assert_eq!(r.json["choices"][0]["message"]["content"], "echo: What is the ledger?");
    assert_eq!(r.json["choices"][0]["finish_reason"], "stop");
    // The fake counts words: 12 in the system and user text, 5 out.
    assert_eq!(r.json["usage"], json!({ "prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17 }));
    assert_eq!(r.header("promptledger-served-model"), Some(format!("openai/{model}").as_str()));
    assert_eq!(r.header("promptledger-attempts"), Some("1"));

    // What reached the provider: the caller's fields, PromptLedger's own removed.
    let sent = FakeProvider::shared().last_request(&model).expect("the provider was called");
    assert_eq!(sent["model"], model.as_str());
    for field in ["temperature", "seed", "n", "stop", "logprobs", "response_format", "user", "messages"] {
        assert_eq!(sent[field], body[field], "{field} passes through");
    }
    assert_eq!(sent["metadata"], json!({ "team": "search" }));

    let e = execution(app, &r).await;
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["model"], json!({ "provider": "openai", "model_name": model }));
    assert_eq!(e["response_text"], "echo: What is the ledger?");
    assert_eq!((e["usage"]["prompt_tokens"].as_i64(), e["usage"]["response_tokens"].as_i64()), (Some(12), Some(5)));
    // 12 × $2/M + 5 × $4/M = 24,000 + 20,000 nano-USD.
    assert_eq!(e["cost"]["nanos"], 44_000);
    assert_eq!(e["correlation_id"], correlation.as_str());
    assert_eq!(e["rendered_prompt"][1], json!({ "role": "user", "content": "What is the ledger?" }));
    assert_eq!(e["inputs"]["params"]["seed"], 42);
    assert_eq!(e["inputs"]["model_config"]["gateway"], "chat.completions");
    let prompt = e["prompt"]["name"].as_str().expect("a tracking-mode prompt");
    assert!(prompt.starts_with("gateway-"), "{prompt}");
    let attempts = &e["span"]["attributes"]["gateway"]["attempts"];
    assert_eq!(attempts.as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(attempts[0]["status"], "ok");
    assert!(!e.to_string().contains("sk-test"), "provider keys never appear in records");

    // The same system prompt is the same tracked prompt, whatever the question.
    let again = chat(
        app,
        json!({ "model": model, "messages": [
            { "role": "system", "content": "You answer in {\"json\"}, never {{ templates }}." },
            { "role": "user", "content": "And a version?" },
        ]}),
        &[],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text());
    let e2 = execution(app, &again).await;
    assert_eq!(e2["model"]["provider"], "openai", "a bare model name goes to OpenAI");
    assert_eq!((e2["prompt"]["name"].as_str(), e2["prompt"]["version"].as_i64()), (Some(prompt), Some(1)));
    let p = app.get(&format!("/v1/prompts/{prompt}")).await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json["mode"], "tracking");

    // A trace context and a caller-chosen tracking name.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let tracked = unique("tracked");
    let r = chat(
        app,
        json!({ "model": format!("mock/{}", unique("mock")), "messages": [{ "role": "user", "content": "hi there" }] }),
        &[("traceparent", traceparent), ("promptledger-prompt-name", &tracked)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["choices"][0]["message"]["content"], "Mock response to: hi there");
    let e = execution(app, &r).await;
    assert_eq!(e["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(e["span"]["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(e["prompt"]["name"], tracked.as_str());
    assert_eq!(e["model"]["provider"], "mock");
}

pub async fn gateway_tool_calls_round_trip(app: &TestApp) {
    let tools = json!([{ "type": "function", "function": {
        "name": "lookup", "description": "Looks a term up", "parameters": { "type": "object", "properties": { "query": { "type": "string" } } },
    }}]);
    for provider in ["openai", "anthropic"] {
        let model = unique("tools");
        let first = json!({
            "model": format!("{provider}/{model}"), "tools": tools, "tool_choice": "auto",
            "messages": [{ "role": "user", "content": "define ledger" }],
        });
        let r = chat(app, first, &[]).await;
        assert_eq!(r.status, 200, "{provider}: {}", r.text());
        let choice = &r.json["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{provider}: {}", r.text());
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "lookup");
        let arguments: Json = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, json!({ "query": "define ledger" }));
        if provider == "anthropic" {
            let sent = FakeProvider::shared().last_request(&model).unwrap();
            assert_eq!(sent["tools"][0]["input_schema"]["properties"]["query"]["type"], "string");
            assert_eq!(sent["tool_choice"], json!({ "type": "auto" }));
        }
        let e = execution(app, &r).await;
        assert_eq!(e["status"], "succeeded");
        assert!(e["response_text"].as_str().unwrap().contains("lookup"), "tool calls are recorded: {e}");

        let second = json!({
            "model": format!("{provider}/{model}"), "tools": tools,
            "messages": [
                { "role": "user", "content": "define ledger" },
                choice["message"].clone(),
                { "role": "tool", "tool_call_id": call["id"], "content": "a book of accounts" },
            ],
        });
        let r = chat(app, second, &[]).await;
        assert_eq!(r.status, 200, "{provider}: {}", r.text());
        assert_eq!(r.json["choices"][0]["message"]["content"], "tool said: a book of accounts", "{provider}");
        assert_eq!(FakeProvider::shared().calls(&model), 2);
    }
}

pub async fn gateway_messages_speak_anthropic(app: &TestApp) {
    // Anthropic's own models pass through.
    let model = format!("claude-{}", unique("gw"));
    let body = json!({
        "model": model, "max_tokens": 64, "system": "Be brief.", "top_k": 3,
        "messages": [{ "role": "user", "content": "Say hello" }],
    });
    let r = message(app, body, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["type"], "message");
    assert_eq!(r.json["content"], json!([{ "type": "text", "text": "echo: Say hello" }]));
    assert_eq!(r.json["stop_reason"], "end_turn");
    let sent = FakeProvider::shared().last_request(&model).unwrap();
    assert_eq!((sent["top_k"].as_i64(), sent["system"].as_str()), (Some(3), Some("Be brief.")));
    let e = execution(app, &r).await;
    assert_eq!(e["model"], json!({ "provider": "anthropic", "model_name": model }));
    assert_eq!(e["rendered_prompt"][0], json!({ "role": "system", "content": "Be brief." }));
    assert_eq!(e["inputs"]["model_config"]["gateway"], "messages");
    assert_eq!((e["usage"]["prompt_tokens"].as_i64(), e["usage"]["response_tokens"].as_i64()), (Some(4), Some(3)));

    // An OpenAI model behind the Messages API: translated both ways.
    let model = unique("gw");
    let body = json!({
        "model": format!("openai/{model}"), "max_tokens": 64, "system": "Be brief.", "stop_sequences": ["END"],
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": "Say hi" }] }],
    });
    let r = message(app, body, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["content"][0]["text"], "echo: Say hi");
    assert_eq!(r.json["usage"]["output_tokens"], 3);
    let sent = FakeProvider::shared().last_request(&model).unwrap();
    assert_eq!(sent["messages"][0], json!({ "role": "system", "content": "Be brief." }));
    assert_eq!((sent["stop"].clone(), sent["max_tokens"].as_i64()), (json!(["END"]), Some(64)));

    // Tools through the Messages API to an OpenAI model.
    let model = unique("tools");
    let tools = json!([{ "name": "lookup", "input_schema": { "type": "object" } }]);
    let r = message(
        app,
        json!({ "model": format!("openai/{model}"), "max_tokens": 64, "tools": tools,
                "messages": [{ "role": "user", "content": "define ledger" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["stop_reason"], "tool_use");
    let tool_use = &r.json["content"][0];
    assert_eq!(
        (tool_use["type"].as_str(), tool_use["input"]["query"].as_str()),
        (Some("tool_use"), Some("define ledger"))
    );
    let r = message(
        app,
        json!({ "model": format!("openai/{model}"), "max_tokens": 64, "tools": tools, "messages": [
            { "role": "user", "content": "define ledger" },
            { "role": "assistant", "content": r.json["content"] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": tool_use["id"], "content": "accounts" }] },
        ]}),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["content"][0]["text"], "tool said: accounts");

    // The offline mock answers in Anthropic's shape too.
    let r = message(
        app,
        json!({ "model": "mock/mock-1", "max_tokens": 10, "messages": [{ "role": "user", "content": "ping" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["content"][0]["text"], "Mock response to: ping");
}

pub async fn gateway_fallbacks_record_every_attempt(app: &TestApp) {
    let tag = unique("fb");
    let (flaky, good) = (format!("flaky-9-{tag}"), format!("good-{tag}"));
    let r = chat(
        app,
        json!({ "model": [format!("openai/{flaky}"), format!("anthropic/{good}")], "messages": [{ "role": "user", "content": "hello" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["model"], good.as_str(), "the answer names the model that served it");
    assert_eq!(r.json["choices"][0]["message"]["content"], "echo: hello");
    assert_eq!(r.header("promptledger-served-model"), Some(format!("anthropic/{good}").as_str()));
    assert_eq!(r.header("promptledger-attempts"), Some("2"));
    assert_eq!((FakeProvider::shared().calls(&flaky), FakeProvider::shared().calls(&good)), (1, 1));
    let e = execution(app, &r).await;
    assert_eq!(e["model"], json!({ "provider": "anthropic", "model_name": good }));
    assert_eq!((e["attempts"].as_i64(), e["max_attempts"].as_i64()), (Some(2), Some(2)));
    let gateway = &e["span"]["attributes"]["gateway"];
    assert_eq!(gateway["served_by"], format!("anthropic/{good}"));
    let attempts = gateway["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (attempts[0]["provider"].as_str(), attempts[0]["model"].as_str()),
        (Some("openai"), Some(flaky.as_str()))
    );
    assert_eq!(
        (attempts[0]["status"].as_str(), attempts[0]["provider_status"].as_i64()),
        (Some("provider_server_error"), Some(500))
    );
    assert!(attempts[0]["error"].as_str().unwrap().contains("500"));
    assert!(attempts[0]["latency_ms"].is_number());
    assert_eq!(attempts[1]["status"], "ok");

    // `fallbacks` adds to `model`; a rate limit moves on too.
    let good2 = format!("good2-{tag}");
    let r = chat(
        app,
        json!({ "model": "openai/rate-limit", "fallbacks": [format!("openai/{good2}")], "messages": [{ "role": "user", "content": "x" }] }),
        &[],
    )
    .await;
    assert_eq!((r.status, r.header("promptledger-attempts")), (200, Some("2")), "{}", r.text());
    assert_eq!(
        execution(app, &r).await["span"]["attributes"]["gateway"]["attempts"][0]["status"],
        "provider_rate_limited"
    );

    // A slower fallback: the run is recorded `running` while it works, and
    // its record then names the model that served.
    let slow = format!("slow-120-{tag}");
    let r = chat(
        app,
        json!({ "model": [format!("openai/flaky-9-c-{tag}"), format!("openai/{slow}")], "messages": [{ "role": "user", "content": "y" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let e = execution(app, &r).await;
    assert_eq!((e["model"]["model_name"].as_str(), e["attempts"].as_i64()), (Some(slow.as_str()), Some(2)));
    assert_eq!(e["status"], "succeeded");

    // A request the provider refuses is not retried elsewhere.
    let never = format!("never-{tag}");
    let r = chat(
        app,
        json!({ "model": ["openai/fail-400", format!("openai/{never}")], "messages": [{ "role": "user", "content": "x" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(openai_error(&r)["code"], "provider_rejected");
    assert_eq!(FakeProvider::shared().calls(&never), 0);
    let e = execution(app, &r).await;
    assert_eq!((e["status"].as_str(), e["error"]["provider_status"].as_i64()), (Some("failed"), Some(400)));

    // When every model fails, the last failure is the answer, and recorded.
    let (a, b) = (format!("flaky-9-a-{tag}"), format!("flaky-9-b-{tag}"));
    let r = message(
        app,
        json!({ "model": format!("anthropic/{a}"), "fallbacks": [format!("anthropic/{b}")], "max_tokens": 5,
                "messages": [{ "role": "user", "content": "x" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(anthropic_error(&r)["type"], "api_error");
    let e = execution(app, &r).await;
    assert_eq!((e["status"].as_str(), e["error"]["type"].as_str()), (Some("failed"), Some("provider_server_error")));
    assert_eq!((e["model"]["model_name"].as_str(), e["attempts"].as_i64()), (Some(b.as_str()), Some(2)));
    assert_eq!(e["span"]["attributes"]["gateway"]["served_by"], Json::Null);
}

pub async fn gateway_idempotent_retries_replay_the_answer(app: &TestApp) {
    for slow in [false, true] {
        let model = if slow { format!("slow-120-{}", unique("idem")) } else { unique("idem") };
        let key = unique("key");
        let body = json!({ "model": format!("openai/{model}"), "messages": [{ "role": "user", "content": "once" }] });
        let first = chat(app, body.clone(), &[("idempotency-key", &key)]).await;
        assert_eq!(first.status, 200, "{}", first.text());
        let retry = chat(app, body.clone(), &[("idempotency-key", &key)]).await;
        assert_eq!(retry.status, 200, "{}", retry.text());
        assert_eq!(retry.json, first.json, "a retry gets the first answer");
        assert_eq!(retry.header("promptledger-idempotent-replay"), Some("true"));
        assert_eq!(retry.header("promptledger-execution-id"), first.header("promptledger-execution-id"));
        assert_eq!(FakeProvider::shared().calls(&model), 1, "never a second provider call");
        let e = execution(app, &first).await;
        assert_eq!((e["idempotency_key"].as_str(), e["status"].as_str()), (Some(key.as_str()), Some("succeeded")));

        let other = json!({ "model": format!("openai/{model}"), "messages": [{ "role": "user", "content": "twice" }] });
        let r = chat(app, other, &[("idempotency-key", &key)]).await;
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(openai_error(&r)["code"], "idempotency_conflict");
    }
    // A failed call replays its failure from the ledger.
    let key = unique("key");
    let body = json!({ "model": "openai/fail-400", "messages": [{ "role": "user", "content": "x" }] });
    let first = chat(app, body.clone(), &[("idempotency-key", &key)]).await;
    let retry = chat(app, body, &[("idempotency-key", &key)]).await;
    assert_eq!((first.status, retry.status), (400, 400), "{}", retry.text());
    assert_eq!(retry.json, first.json);
    assert_eq!(retry.header("promptledger-idempotent-replay"), Some("true"));
}

pub async fn gateway_renders_registered_prompts(app: &TestApp) {
    let name = unique("support");
    let r = app
        .post(
            "/v1/prompts",
            json!({ "name": name, "messages": [
                { "role": "system", "content": "You help {{ customer }} with {{ product }}." },
                { "role": "user", "content": "Ticket: {{ ticket }}" },
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let model = unique("reg");
    let variables = json!({ "customer": "Ada", "product": "ledgers", "ticket": "cannot log in" }).to_string();
    let r = chat(
        app,
        json!({ "model": format!("openai/{model}"), "messages": [{ "role": "user", "content": "Also: it is urgent" }] }),
        &[("promptledger-prompt", &name), ("promptledger-variables", &variables)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json["choices"][0]["message"]["content"], "echo: Also: it is urgent");
    let sent = FakeProvider::shared().last_request(&model).unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            { "role": "system", "content": "You help Ada with ledgers." },
            { "role": "user", "content": "Ticket: cannot log in" },
            { "role": "user", "content": "Also: it is urgent" },
        ])
    );
    let e = execution(app, &r).await;
    assert_eq!((e["prompt"]["name"].as_str(), e["prompt"]["version"].as_i64()), (Some(name.as_str()), Some(1)));
    assert_eq!(e["inputs"]["variables"]["customer"], "Ada");

    // A label and the variables in `metadata`, for the Anthropic SDK; the
    // system part goes to Anthropic's system prompt.
    let r = app
        .post(
            &format!("/v1/prompts/{name}/versions"),
            json!({ "messages": [{ "role": "system", "content": "Version two for {{ customer }}." }] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = app.put(&format!("/v1/prompts/{name}/labels/staging"), json!({ "version": 2 })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let model = format!("claude-{}", unique("reg"));
    let r = message(
        app,
        json!({ "model": model, "max_tokens": 20, "messages": [{ "role": "user", "content": "hi" }],
                "metadata": { "user_id": "u-9", "promptledger_prompt": name, "promptledger_label": "staging",
                              "promptledger_variables": { "customer": "Grace" } } }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = FakeProvider::shared().last_request(&model).unwrap();
    assert_eq!(sent["system"], "Version two for Grace.");
    assert_eq!(sent["metadata"], json!({ "user_id": "u-9" }), "PromptLedger's keys stay with PromptLedger");
    assert_eq!(execution(app, &r).await["prompt"]["version"], 2);

    // A missing variable or an unknown prompt is the caller's error, before any call.
    let r = chat(
        app,
        json!({ "model": format!("openai/{model}"), "messages": [] }),
        &[("promptledger-prompt", &name), ("promptledger-variables", "{}")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(openai_error(&r)["code"], "missing_variables");
    let r = chat(app, json!({ "model": "mock/m", "messages": [] }), &[("promptledger-prompt", &unique("nope"))]).await;
    assert_eq!((r.status, openai_error(&r)["type"].as_str()), (404, Some("not_found_error")));
}

pub async fn gateway_errors_use_the_vendor_shapes(app: &TestApp) {
    let body = json!({ "model": "mock/m", "messages": [{ "role": "user", "content": "x" }] });
    let r = app.request(http::Method::POST, "/v1/chat/completions").without_key().json(&body).send().await;
    assert_eq!(r.status, 401);
    assert_eq!(openai_error(&r)["type"], "authentication_error");
    let r = app.request(http::Method::POST, "/v1/messages").without_key().json(&body).send().await;
    assert_eq!(r.status, 401);
    assert_eq!(anthropic_error(&r)["type"], "authentication_error");
    let r = chat(app, body.clone(), &[("authorization", "Bearer not-a-key")]).await;
    assert_eq!(r.status, 401, "{}", r.text());

    let read_only = app.key_with_scope("read").await;
    let r = app.request(http::Method::POST, "/v1/chat/completions").key(&read_only).json(&body).send().await;
    assert_eq!((r.status, openai_error(&r)["type"].as_str()), (403, Some("permission_error")));

    let r = app.get("/v1/chat/completions").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    openai_error(&r);

    let r = app
        .request(http::Method::POST, "/v1/chat/completions")
        .raw_body("{nope")
        .header("content-type", "application/json")
        .send()
        .await;
    assert_eq!(r.status, 400);
    openai_error(&r);
    let r = chat(app, json!({ "messages": [] }), &[]).await;
    assert_eq!((r.status, openai_error(&r)["param"].as_str()), (400, Some("model")));
    let r = chat(app, json!({ "model": "mock/m", "messages": [], "stream": "yes" }), &[]).await;
    assert_eq!((r.status, openai_error(&r)["param"].as_str()), (400, Some("stream")));
    let r = chat(app, json!({ "model": "anthropic/claude-x", "messages": [], "n": 3 }), &[]).await;
    assert_eq!((r.status, openai_error(&r)["code"].as_str()), (400, Some("unsupported_parameter")));
    let r = chat(app, body.clone(), &[("traceparent", "garbage")]).await;
    assert_eq!((r.status, openai_error(&r)["param"].as_str()), (400, Some("traceparent")));
    let r = message(app, json!({ "model": "openai/x", "max_tokens": 5, "messages": [], "thinking": {} }), &[]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    anthropic_error(&r);

    // A provider's rate limit stays a 429 with its Retry-After, so SDKs back off.
    let r =
        chat(app, json!({ "model": "openai/rate-limit", "messages": [{ "role": "user", "content": "x" }] }), &[]).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("1")));
    assert_eq!(openai_error(&r)["type"], "rate_limit_error");
    let r =
        chat(app, json!({ "model": "openai/fail-500", "messages": [{ "role": "user", "content": "x" }] }), &[]).await;
    assert_eq!((r.status, openai_error(&r)["type"].as_str()), (502, Some("server_error")));
}

/// The `data:` payloads of an event stream, with their `event:` names.
fn events(r: &TestResponse) -> Vec<(Option<String>, String)> {
    r.text()
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).map(str::to_owned);
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or_default().to_owned();
            (name, data)
        })
        .collect()
}

pub async fn gateway_streams_events_in_the_callers_format(app: &TestApp) {
    let model = unique("stream");
    let key = unique("key");
    let body = json!({
        "model": format!("openai/{model}"), "stream": true, "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "stream this" }],
    });
    let r = chat(app, body.clone(), &[("idempotency-key", &key)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let all = events(&r);
    assert_eq!(all.last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    let chunks: Vec<Json> = all[..all.len() - 1].iter().map(|(_, d)| serde_json::from_str(d).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "echo: stream this");
    assert_eq!(chunks.iter().rev().nth(1).unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 5);
    let sent = FakeProvider::shared().last_request(&model).unwrap();
    assert_eq!((sent["stream"].clone(), sent["stream_options"]["include_usage"].clone()), (json!(true), json!(true)));
    let e = execution(app, &r).await;
    assert_eq!((e["status"].as_str(), e["response_text"].as_str()), (Some("succeeded"), Some("echo: stream this")));
    assert_eq!(e["inputs"]["model_config"]["stream"], true);
    // A retry replays the answer as events, from the ledger.
    let retry = chat(app, body, &[("idempotency-key", &key)]).await;
    assert_eq!((retry.status, retry.header("promptledger-idempotent-replay")), (200, Some("true")));
    assert_eq!(streamed_text(&retry), "echo: stream this");
    assert_eq!(events(&retry).last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    assert_eq!(FakeProvider::shared().calls(&model), 1);

    let model = format!("claude-{}", unique("stream"));
    let r = message(
        app,
        json!({ "model": model, "max_tokens": 20, "stream": true, "messages": [{ "role": "user", "content": "stream that" }] }),
        &[],
    )
    .await;
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/event-stream")), "{}", r.text());
    let all = events(&r);
    let names: Vec<&str> = all.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first().copied(), Some("message_start"));
    assert_eq!(names.last().copied(), Some("message_stop"));
    let text: String = all
        .iter()
        .filter_map(|(_, d)| serde_json::from_str::<Json>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "echo: stream that");
    assert_eq!(execution(app, &r).await["status"], "succeeded");
}

/// The text an event stream carries, in either format.
fn streamed_text(r: &TestResponse) -> String {
    events(r)
        .iter()
        .filter_map(|(_, d)| serde_json::from_str::<Json>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().or(v["delta"]["text"].as_str()).map(str::to_owned))
        .collect()
}

pub async fn gateway_streams_translate_fall_back_and_fail_midway(app: &TestApp) {
    // An OpenAI caller, an Anthropic model: Anthropic's events become chunks.
    let model = unique("stream");
    let r = chat(
        app,
        json!({ "model": format!("anthropic/{model}"), "stream": true, "messages": [{ "role": "user", "content": "cross over" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(streamed_text(&r), "echo: cross over");
    assert_eq!(events(&r).last().map(|(_, d)| d.as_str()), Some("[DONE]"));
    assert_eq!(FakeProvider::shared().last_request(&model).unwrap()["stream"], true);
    let e = execution(app, &r).await;
    assert_eq!((e["status"].as_str(), e["usage"]["response_tokens"].as_i64()), (Some("succeeded"), Some(3)));
    assert!(e["span"]["attributes"]["gateway"]["ttft_ms"].is_number(), "{e}");

    // An Anthropic caller, an OpenAI model, a tool call: chunks become blocks.
    let model = unique("tools");
    let r = message(
        app,
        json!({ "model": format!("openai/{model}"), "max_tokens": 30, "stream": true,
                "tools": [{ "name": "lookup", "input_schema": { "type": "object" } }],
                "messages": [{ "role": "user", "content": "define it" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let all: Vec<Json> = events(&r).iter().filter_map(|(_, d)| serde_json::from_str(d).ok()).collect();
    let input: String = all.iter().filter_map(|v| v["delta"]["partial_json"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Json>(&input).unwrap(), json!({ "query": "define it" }));
    assert!(all.iter().any(|v| v["content_block"]["type"] == "tool_use" && v["content_block"]["name"] == "lookup"));
    assert_eq!(all.iter().find(|v| v["type"] == "message_delta").unwrap()["delta"]["stop_reason"], "tool_use");
    assert!(execution(app, &r).await["response_text"].as_str().unwrap().contains("lookup"));

    // A model that refuses before streaming is replaced by the next one.
    let tag = unique("sfb");
    let good = format!("good-{tag}");
    let r = chat(
        app,
        json!({ "model": [format!("openai/flaky-9-{tag}"), format!("openai/{good}")], "stream": true,
                "messages": [{ "role": "user", "content": "again" }] }),
        &[],
    )
    .await;
    assert_eq!((r.status, r.header("promptledger-attempts")), (200, Some("2")), "{}", r.text());
    assert_eq!(streamed_text(&r), "echo: again");
    let chunks: Vec<Json> = events(&r).iter().filter_map(|(_, d)| serde_json::from_str(d).ok()).collect();
    assert!(
        chunks.iter().all(|c| c["choices"].as_array().is_some_and(|c| !c.is_empty())),
        "no usage chunk unless `stream_options.include_usage` asks: {}",
        r.text()
    );
    let e = execution(app, &r).await;
    assert_eq!((e["model"]["model_name"].as_str(), e["attempts"].as_i64()), (Some(good.as_str()), Some(2)));

    // A stream that breaks off ends with an error event; the run is failed.
    let broken = format!("stream-fail-{tag}");
    let r = chat(
        app,
        json!({ "model": format!("openai/{broken}"), "stream": true, "messages": [{ "role": "user", "content": "one two three" }] }),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "the head was sent before the provider failed: {}", r.text());
    let last: Json = serde_json::from_str(&events(&r).last().unwrap().1).unwrap();
    assert_eq!(last["error"]["code"], "provider_unreachable", "{}", r.text());
    let e = execution(app, &r).await;
    assert_eq!((e["status"].as_str(), e["error"]["type"].as_str()), (Some("failed"), Some("provider_unreachable")));
    assert_eq!(e["span"]["attributes"]["gateway"]["partial_output"], "echo: ");
    let r = message(
        app,
        json!({ "model": format!("anthropic/{broken}"), "max_tokens": 9, "stream": true, "messages": [{ "role": "user", "content": "x y" }] }),
        &[],
    )
    .await;
    assert_eq!(events(&r).last().unwrap().0.as_deref(), Some("error"), "{}", r.text());

    // The mock streams too.
    let r = chat(
        app,
        json!({ "model": "mock/m", "stream": true, "messages": [{ "role": "user", "content": "hey you" }] }),
        &[],
    )
    .await;
    assert_eq!(streamed_text(&r), "Mock response to: hey you");
}

/// Reads a streamed chat completion's first `keep` body chunks (each after
/// `elapsed` since the request), then hangs up; `keep: None` reads it all.
async fn read_stream(app: &TestApp, body: &Json, keep: Option<usize>) -> (String, Vec<std::time::Duration>) {
    let started = std::time::Instant::now();
    let headers = [("authorization", format!("Bearer {ADMIN_KEY}")), ("content-type", "application/json".into())];
    let mut arrivals = Vec::new();
    let id;
    match &app.transport {
        crate::target::Transport::InProcess { host } => {
            let mut req = http::Request::post("/v1/chat/completions");
            for (name, value) in &headers {
                req = req.header(*name, value);
            }
            let reply =
                ledger::gateway::handle_streaming(host, req.body(serde_json::to_vec(body).unwrap()).unwrap()).await;
            let ledger::gateway::Reply::Events(parts, mut relay) = reply else { panic!("not a stream") };
            id = parts.headers["promptledger-execution-id"].to_str().unwrap().to_owned();
            while keep.is_none_or(|k| arrivals.len() < k) {
                if relay.next().await.is_none() {
                    break;
                }
                arrivals.push(started.elapsed());
            }
            relay.abort().await;
        }
        crate::target::Transport::Http { base_url, client } => {
            let mut req = client.post(format!("{base_url}/v1/chat/completions"));
            for (name, value) in &headers {
                req = req.header(*name, value);
            }
            let mut response = req.body(serde_json::to_vec(body).unwrap()).send().await.expect("request");
            id = response.headers()["promptledger-execution-id"].to_str().unwrap().to_owned();
            while keep.is_none_or(|k| arrivals.len() < k) {
                match response.chunk().await {
                    Ok(Some(_)) => arrivals.push(started.elapsed()),
                    _ => break,
                }
            }
        }
    }
    (id, arrivals)
}

pub async fn gateway_relays_events_as_they_arrive_and_records_hang_ups(app: &TestApp) {
    // The provider sends a word every 250 ms: the first reaches the caller
    // long before the last is written.
    let model = format!("drip-250-{}", unique("relay"));
    let body = json!({ "model": format!("openai/{model}"), "stream": true, "messages": [{ "role": "user", "content": "a b c d" }] });
    let (id, arrivals) = read_stream(app, &body, None).await;
    let (first, last) = (arrivals[0], *arrivals.last().unwrap());
    assert!(last - first >= std::time::Duration::from_millis(750), "relayed as they came: {arrivals:?}");
    let e = app.get(&format!("/v1/executions/{id}")).await.json;
    assert_eq!((e["status"].as_str(), e["response_text"].as_str()), (Some("succeeded"), Some("echo: a b c d")));

    // A caller that hangs up mid-stream leaves a canceled run with what it got.
    let model = format!("drip-300-{}", unique("hangup"));
    let body = json!({ "model": format!("openai/{model}"), "stream": true, "messages": [{ "role": "user", "content": "a b c d e f" }] });
    let (id, _) = read_stream(app, &body, Some(2)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let e = loop {
        let e = app.get(&format!("/v1/executions/{id}")).await.json;
        if e["status"] != "running" || std::time::Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        (e["status"].as_str(), e["error"]["type"].as_str()),
        (Some("canceled"), Some("client_disconnected")),
        "{e}"
    );
    let partial = e["response_text"].as_str().unwrap();
    assert!(partial.starts_with("echo:") && partial.len() < "echo: a b c d e f".len(), "{partial}");
    assert_eq!(FakeProvider::shared().calls(&model), 1);
}
