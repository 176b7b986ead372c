//! What the per-key guard rails cost on the hot path: the same requests
//! through the core's handler in-process, with a key without limits, a key
//! with a rate limit (never reached) and a key with a monthly budget.
//! In-process, so the figures are the added database work, not HTTP.

use std::time::Instant;

use scenarios::{Backend, TestApp};
use serde_json::json;

const REQUESTS: usize = 2_000;

pub async fn run() -> anyhow::Result<()> {
    println!("\n### Guard rails (in-process, {REQUESTS} sequential requests per row)\n");
    println!("| backend  | request                  | key                 | p50 ms | p99 ms | added p50 ms |");
    println!("|----------|--------------------------|---------------------|--------|--------|--------------|");
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = TestApp::in_process(backend).await;
        let plain = key(&app, json!({})).await;
        let limited = key(&app, json!({ "rate_limit_per_minute": 1_000_000 })).await;
        let budgeted = key(&app, json!({ "monthly_budget_usd": 1_000_000.0 })).await;
        let run_body = json!({ "template": "Hi {{ n }}", "variables": { "n": 1 }, "model": { "provider": "mock", "model_name": "m" } });
        for (request, body) in [("GET /v1/models", None), ("POST /v1/executions:run", Some(&run_body))] {
            let mut base = None;
            for (label, secret) in [("no limits", &plain), ("rate limit", &limited), ("monthly budget", &budgeted)] {
                if body.is_none() && label == "monthly budget" {
                    continue; // budgets apply to runs only
                }
                let (p50, p99) = timed(&app, secret, body).await;
                let added = base.map_or(String::from("-"), |b: f64| format!("{:+.3}", p50 - b));
                base.get_or_insert(p50);
                println!(
                    "| {:<8} | {request:<24} | {label:<19} | {p50:>6.3} | {p99:>6.3} | {added:>12} |",
                    format!("{backend:?}")
                );
            }
        }
        app.finish().await;
    }
    Ok(())
}

async fn key(app: &TestApp, limits: serde_json::Value) -> String {
    let mut body = json!({ "name": "bench", "scope": "write" });
    body.as_object_mut().expect("object").extend(limits.as_object().expect("object").clone());
    let r = app.post("/v1/api-keys", body).await;
    r.json["key"].as_str().expect("a key").to_owned()
}

async fn timed(app: &TestApp, secret: &str, body: Option<&serde_json::Value>) -> (f64, f64) {
    let mut ms = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let r = match body {
            None => app.request(http::Method::GET, "/v1/models").key(secret).send().await,
            Some(body) => app.request(http::Method::POST, "/v1/executions:run").key(secret).json(body).send().await,
        };
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(r.status < 300, "{}", r.text());
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() * 99 / 100])
}
