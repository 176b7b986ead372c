//! In-process only: the async pipeline under control of the clock and the
//! database: retries with back-off, lease expiry after a crashed worker,
//! concurrent beats, the Redis publish → worker path, and configuration.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use ledger::Config;
use ledger::executions::worker::{self, Processed};
use ledger::ports::{Clock, Db};
use ledger::store::executions as store;
use ledger_native::NativeHost;
use ledger_native::host::OffsetClock;
use scenarios::fake_provider::FakeProvider;
use scenarios::scenarios::unique;
use scenarios::target::{Database, redis_url, test_config};
use scenarios::{Backend, TestApp};
use serde_json::json;

/// An app whose hosts share one adjustable clock.
async fn app_with_clock(backend: Backend, config: impl FnOnce(&mut Config)) -> (TestApp, Arc<OffsetClock>) {
    let db = Database::create(backend).await;
    db.migrate().await;
    let mut cfg = test_config(&db);
    config(&mut cfg);
    let mut app = TestApp::in_process_with(db, cfg);
    let clock = Arc::new(OffsetClock::default());
    if let scenarios::target::Transport::InProcess { host } = &mut app.transport {
        host.clock = clock.clone();
    }
    (app, clock)
}

fn host(app: &TestApp) -> &NativeHost {
    match &app.transport {
        scenarios::target::Transport::InProcess { host } => host,
        scenarios::target::Transport::Http { .. } => unreachable!("in-process app"),
    }
}

async fn queue(app: &TestApp, model: &str, extra: serde_json::Value) -> String {
    let mut body = json!({
        "template": format!("job for {model}"),
        "model": { "provider": "openai", "model_name": model },
        "mode": "async",
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/v1/executions:run", body).await;
    assert_eq!(r.status, 202, "{}", r.text());
    r.json["execution_id"].as_str().unwrap().to_owned()
}

async fn record(app: &TestApp, id: &str) -> store::ExecutionRecord {
    store::get(&host(app).db, id).await.unwrap().unwrap()
}

async fn retryable_failures_back_off_then_succeed(backend: Backend) {
    let (app, clock) = app_with_clock(backend, |_| {}).await;
    let model = format!("flaky-1-{}", unique("t"));
    let id = queue(&app, &model, json!({})).await;

    let before = clock.now_ms();
    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    let after = clock.now_ms();
    assert_eq!(report.retrying, 1);
    let e = record(&app, &id).await;
    assert_eq!((e.status.as_str(), e.attempts), ("queued", 1));
    assert_eq!(e.error_type.as_deref(), Some("provider_server_error"));
    // Measured from the failure, which happened between `before` and `after`.
    let next = e.next_attempt_at.unwrap();
    assert!(
        (before + 250..=after + 500).contains(&next),
        "first back-off is 0.25–0.5 s, got {} ms after the pass began",
        next - before
    );

    // Not due yet: the next pass leaves it alone.
    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    assert_eq!(report.claimed, 0);
    clock.advance(1_000);
    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    assert_eq!(report.succeeded, 1);
    let e = record(&app, &id).await;
    assert_eq!((e.status.as_str(), e.attempts), ("succeeded", 2));
    assert_eq!(FakeProvider::shared().calls(&model), 2);
    app.finish().await;
}

async fn attempts_are_bounded_and_client_errors_fail_at_once(backend: Backend) {
    let (app, clock) = app_with_clock(backend, |_| {}).await;
    let id = queue(&app, "fail-500", json!({ "max_attempts": 2 })).await;
    worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    clock.advance(60_000);
    worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    let e = record(&app, &id).await;
    assert_eq!((e.status.as_str(), e.attempts), ("failed", 2));
    assert_eq!(e.provider_status, Some(500));

    let id = queue(&app, "fail-400", json!({})).await;
    worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    let e = record(&app, &id).await;
    assert_eq!((e.status.as_str(), e.attempts), ("failed", 1), "4xx other than 429 is not retried");
    assert_eq!(e.error_type.as_deref(), Some("provider_rejected"));
    app.finish().await;
}

async fn a_crashed_worker_is_recovered_and_runs_once(backend: Backend) {
    let (app, clock) = app_with_clock(backend, |_| {}).await;
    let model = unique("echo");
    let id = queue(&app, &model, json!({ "timeout_ms": 1000 })).await;
    // A worker claims the run, then dies before calling the provider.
    assert!(store::claim(&host(&app).db, &id, "worker:dead", clock.now_ms(), 30_000).await.unwrap().is_some());

    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    assert_eq!((report.leases.requeued, report.claimed), (0, 0), "the lease is still valid");
    clock.advance(31_001 + 1_000);
    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    assert_eq!((report.leases.requeued, report.succeeded), (1, 1));
    let e = record(&app, &id).await;
    assert_eq!((e.status.as_str(), e.attempts), ("succeeded", 2));
    assert_eq!(FakeProvider::shared().calls(&model), 1, "the provider answered exactly once");

    // The dead worker coming back cannot overwrite the result.
    let late = store::finish(
        &host(&app).db,
        &id,
        "worker:dead",
        clock.now_ms(),
        &store::Finish::Failed { error_type: "x".into(), error_message: "late".into(), provider_status: None },
        &store::Timing { provider_latency_ms: None, total_latency_ms: 0 },
        &store::ExecutionSpan {
            trace_id: "t".into(),
            span_id: "s".into(),
            parent_span_id: None,
            started_at_us: 0,
            ended_at_us: 0,
            model: "m".into(),
            attributes: json!({}),
        },
    )
    .await
    .unwrap();
    assert!(!late);
    assert_eq!(record(&app, &id).await.status, "succeeded");

    // A sync run whose caller died is failed, never retried.
    let sync_id = {
        let r = app
            .post(
                "/v1/executions:run",
                json!({ "template": "x", "model": { "provider": "openai", "model_name": unique("echo") } }),
            )
            .await;
        r.json["execution_id"].as_str().unwrap().to_owned()
    };
    host(&app)
        .db
        .execute(
            "UPDATE executions SET status = 'running', lease_owner = 'sync:gone', lease_expires_at = 1 WHERE id = $1",
            &[sync_id.as_str().into()],
        )
        .await
        .unwrap();
    let report = worker::drain(host(&app), Duration::from_secs(5)).await.unwrap();
    assert_eq!(report.leases.failed, 1);
    let e = record(&app, &sync_id).await;
    assert_eq!((e.status.as_str(), e.error_type.as_deref()), ("failed", Some("lease_expired")));
    app.finish().await;
}

async fn concurrent_beats_run_each_execution_once(backend: Backend) {
    let (app, _clock) = app_with_clock(backend, |_| {}).await;
    let model = unique("echo");
    let mut ids = Vec::new();
    for _ in 0..24 {
        ids.push(queue(&app, &model, json!({})).await);
    }
    let replicas: Vec<NativeHost> = (0..3).map(|_| app.replica().unwrap()).collect();
    let reports = join_all(replicas.iter().map(|r| worker::drain(r, Duration::from_secs(20)))).await;
    let succeeded: u64 = reports.into_iter().map(|r| r.unwrap().succeeded).sum();
    assert_eq!(succeeded, 24);
    for id in &ids {
        let e = record(&app, id).await;
        assert_eq!((e.status.as_str(), e.attempts), ("succeeded", 1));
    }
    assert_eq!(FakeProvider::shared().calls(&model), 24, "no execution ran twice");
    app.finish().await;
}

async fn duplicate_deliveries_are_ignored(backend: Backend) {
    let (app, _clock) = app_with_clock(backend, |_| {}).await;
    let model = unique("echo");
    let id = queue(&app, &model, json!({})).await;
    let a = app.replica().unwrap();
    let b = app.replica().unwrap();
    let (x, y) = futures::join!(worker::process(&a, &id), worker::process(&b, &id));
    let mut outcomes = vec![x.unwrap(), y.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, vec![Processed::NotClaimed, Processed::Succeeded]);
    assert_eq!(FakeProvider::shared().calls(&model), 1);
    app.finish().await;
}

async fn async_runs_are_published_to_redis_for_the_worker(backend: Backend) {
    let (app, _clock) = app_with_clock(backend, |c| c.redis_url = redis_url()).await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.expect("Redis must be running (scripts/test starts it)");
    pubsub.subscribe(ledger::executions::QUEUE_CHANNEL).await.unwrap();
    let model = unique("echo");
    let id = queue(&app, &model, json!({})).await;
    // Other tests publish on the same channel: wait for our id.
    let mut messages = pubsub.on_message();
    let delivered = tokio::time::timeout(Duration::from_secs(5), async {
        use futures::StreamExt;
        while let Some(msg) = messages.next().await {
            let payload: String = msg.get_payload().unwrap();
            if payload == id {
                return payload;
            }
        }
        String::new()
    })
    .await
    .expect("the id is published");
    // What the worker component does with the message.
    assert_eq!(
        ledger::executions::worker::handle_message(host(&app), delivered.as_bytes()).await.unwrap(),
        Processed::Succeeded
    );
    assert_eq!(record(&app, &id).await.status, "succeeded");
    let health = app.request(http::Method::GET, "/health").without_key().send().await;
    assert_eq!(health.json["checks"]["redis"]["status"], "ok");
    app.finish().await;
}

async fn a_missing_provider_key_is_a_clear_422(backend: Backend) {
    let (app, _clock) = app_with_clock(backend, |c| c.anthropic_api_key.clear()).await;
    let r = app
        .post(
            "/v1/executions:run",
            json!({ "template": "hi", "model": { "provider": "anthropic", "model_name": "claude-x" } }),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "provider_not_configured"));
    assert!(r.text().contains("ANTHROPIC_API_KEY"));
    app.finish().await;
}

scenarios::both_backends!(
    retryable_failures_back_off_then_succeed,
    attempts_are_bounded_and_client_errors_fail_at_once,
    a_crashed_worker_is_recovered_and_runs_once,
    concurrent_beats_run_each_execution_once,
    duplicate_deliveries_are_ignored,
    async_runs_are_published_to_redis_for_the_worker,
    a_missing_provider_key_is_a_clear_422,
);
