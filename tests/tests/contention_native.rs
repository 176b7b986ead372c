//! The embedded default under write contention: 32 replicas, each on its
//! own SQLite connection to one file, writing at once (runs, versions,
//! spans, key changes). Every request must succeed; none may surface
//! `database is locked` as a 5xx, and every write must be there after.

use futures::future::join_all;
use ledger_native::NativeHost;
use scenarios::{Backend, TestApp, TestResponse};
use serde_json::json;

const WRITERS: usize = 32;
const ROUNDS: usize = 6;

async fn writer(app: &TestApp, host: NativeHost, n: usize) -> Vec<TestResponse> {
    let mut answers = Vec::new();
    let post = |path: String, body: serde_json::Value| {
        let request = app.request(http::Method::POST, &path).json(&body);
        request.send_via(&host)
    };
    for round in 0..ROUNDS {
        answers.push(
            post(
                "/v1/executions:run".into(),
                json!({
                    "template": "writer {{ n }} round {{ round }}", "variables": { "n": n, "round": round },
                    "model": { "provider": "mock", "model_name": "contention" },
                    "correlation_id": "contention", "idempotency_key": format!("contention-{n}-{round}"),
                }),
            )
            .await,
        );
        answers.push(
            post("/v1/prompts/contended/versions".into(), json!({ "template": format!("v {n} {round} {{{{ x }}}}") }))
                .await,
        );
        answers.push(
            post(
                "/v1/spans".into(),
                json!([{ "trace_id": format!("contention-{n}"), "span_id": format!("s{round}"), "name": "step",
                         "started_at": 1_714_557_600_000i64 + round as i64 }]),
            )
            .await,
        );
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_sqlite_writers_never_see_a_locked_database() {
    let app = TestApp::in_process(Backend::Sqlite).await;
    assert_eq!(app.post("/v1/prompts", json!({ "name": "contended", "template": "start" })).await.status, 201);
    let writers = (0..WRITERS).map(|n| writer(&app, app.replica().expect("in-process app"), n));
    let answers: Vec<TestResponse> = join_all(writers).await.into_iter().flatten().collect();

    let failures: Vec<String> =
        answers.iter().filter(|r| r.status >= 300).map(|r| format!("{} {}", r.status, r.text())).collect();
    assert!(
        failures.is_empty(),
        "{} of {} writes failed: {:?}",
        failures.len(),
        answers.len(),
        &failures[..failures.len().min(3)]
    );

    // Everything written is there: each run once, each version numbered once.
    let r = app.get("/v1/executions?correlation_id=contention&limit=200").await;
    assert_eq!(r.json["data"].as_array().map(Vec::len), Some(WRITERS * ROUNDS), "{}", r.text());
    let r = app.get("/v1/prompts/contended").await;
    assert_eq!(r.json["latest_version"].as_i64(), Some((1 + WRITERS * ROUNDS) as i64), "{}", r.text());
    let r = app.get("/v1/traces/contention-7").await;
    assert_eq!(r.json["span_count"], ROUNDS);
    app.finish().await;
}
