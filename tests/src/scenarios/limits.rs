//! Per-key guard rails: requests per minute and a monthly budget, both
//! counted in the database every replica shares.

use serde_json::json;

use super::unique;
use crate::TestApp;

/// A key with these limits; returns (id, secret).
async fn limited_key(app: &TestApp, limits: serde_json::Value) -> (String, String) {
    let mut body = json!({ "name": unique("limited"), "scope": "write" });
    body.as_object_mut().unwrap().extend(limits.as_object().unwrap().clone());
    let r = app.post("/v1/api-keys", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    (r.json["id"].as_str().unwrap().to_owned(), r.json["key"].as_str().unwrap().to_owned())
}

/// Waits out the end of a minute, so a test's requests share one window.
async fn early_in_a_window() {
    let now = ledger::ports::Clock::now_ms(&ledger::ports::SystemClock);
    let left = ledger::limits::WINDOW_MS - now.rem_euclid(ledger::limits::WINDOW_MS);
    if left < 5_000 {
        tokio::time::sleep(std::time::Duration::from_millis(left as u64 + 50)).await;
    }
}

pub async fn rate_limits_hold_per_key(app: &TestApp) {
    let (id, key) = limited_key(app, json!({ "rate_limit_per_minute": 3 })).await;
    let r = app.get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!((r.json["rate_limit_per_minute"].as_i64(), r.json["monthly_budget_usd"].is_null()), (Some(3), true));

    early_in_a_window().await;
    for remaining in [2, 1, 0] {
        let r = app.request(http::Method::GET, "/v1/prompts").key(&key).send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("ratelimit-policy"), Some("\"per-key\";q=3;w=60"));
        assert!(r.header("ratelimit").is_some_and(|v| v.starts_with(&format!("\"per-key\";r={remaining};t="))));
    }
    let r = app.request(http::Method::GET, "/v1/prompts").key(&key).send().await;
    assert_eq!((r.status, r.error_code()), (429, "rate_limited"), "{}", r.text());
    let retry_after: i64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(r.header("ratelimit").is_some_and(|v| v.starts_with("\"per-key\";r=0;")));
    // Other keys are not affected; an admin sees the count and lifts the limit at once.
    assert_eq!(app.get("/v1/prompts").await.status, 200);
    let r = app.get(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(r.json["usage"]["requests_this_minute"], 4);
    let r = app.patch(&format!("/v1/api-keys/{id}"), json!({ "rate_limit_per_minute": null })).await;
    assert_eq!((r.status, r.json["rate_limit_per_minute"].is_null()), (200, true), "{}", r.text());
    let r = app.request(http::Method::GET, "/v1/prompts").key(&key).send().await;
    assert_eq!((r.status, r.header("ratelimit")), (200, None));

    for (body, field) in [
        (json!({ "rate_limit_per_minute": 0 }), "rate_limit_per_minute"),
        (json!({ "monthly_budget_usd": -1 }), "monthly_budget_usd"),
        (json!({ "scope": "admin" }), "scope"),
    ] {
        let r = app.patch(&format!("/v1/api-keys/{id}"), body).await;
        assert_eq!((r.status, r.json["error"]["details"]["field"].as_str()), (422, Some(field)), "{}", r.text());
    }
    let r = app.patch(&format!("/v1/api-keys/{}", uuid::Uuid::new_v4()), json!({})).await;
    assert_eq!(r.status, 404);
}

pub async fn budgets_stop_spending_keys(app: &TestApp) {
    let model = unique("priced");
    let r = app
        .put(&format!("/v1/models/openai/{model}"), json!({ "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Each run below costs 72,500 nano-USD (see sync_run_records_the_ledger).
    let (id, key) = limited_key(app, json!({ "monthly_budget_usd": 0.0001 })).await;
    let run = |idempotency_key: String| {
        app.request(http::Method::POST, "/v1/executions:run")
            .key(&key)
            .header("idempotency-key", &idempotency_key)
            .json(&json!({
                "template": "Hello {{ name }}, how are you?",
                "variables": { "name": "Ada" },
                "model": { "provider": "openai", "model_name": model },
            }))
    };
    let first = unique("budget");
    assert_eq!(run(first.clone()).send().await.status, 200);
    assert_eq!(run(unique("budget")).send().await.status, 200, "under budget before the second run");
    let r = run(unique("budget")).send().await;
    assert_eq!((r.status, r.error_code()), (429, "budget_exceeded"), "{}", r.text());
    assert!(r.header("retry-after").and_then(|v| v.parse::<i64>().ok()).is_some_and(|s| s > 0));
    assert!(super::is_instant(&r.json["error"]["details"]["renews_at"]));
    assert_eq!(
        crate::fake_provider::FakeProvider::shared().calls(&model),
        2,
        "the refused run never reached the provider"
    );

    // A retry of a recorded run still answers from the ledger.
    let r = run(first).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.get(&format!("/v1/api-keys/{id}")).await;
    assert!((r.json["usage"]["spent_this_month_usd"].as_f64().unwrap() - 0.000145).abs() < 1e-12, "{}", r.text());
    // The gateway holds the same budget.
    let r = app
        .request(http::Method::POST, "/v1/chat/completions")
        .key(&key)
        .json(&json!({ "model": format!("openai/{model}"), "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    // Raising the budget lets the key spend again.
    let r = app.patch(&format!("/v1/api-keys/{id}"), json!({ "monthly_budget_usd": 1.0 })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(run(unique("budget")).send().await.status, 200);
}
