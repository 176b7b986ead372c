//! The shared scenarios over HTTP against `spin up`, on PostgreSQL and on the
//! embedded SQLite database. Skipped, with the reason printed, when no
//! `spin` binary is available.

use scenarios::{Backend, all_scenarios, spin};

const HTTP_COMPONENTS: &[&str] = &["health", "prompts", "executions", "traces", "analytics", "admin"];

macro_rules! run_all {
    ($($module:ident :: $name:ident),* $(,)?) => {
        async fn run_all(app: &scenarios::TestApp) {
            $(
                eprintln!("spin scenario: {}", stringify!($name));
                // Boxed: inline, every scenario's state machine would share
                // one future on the test thread's stack, which overflows it.
                Box::pin(scenarios::scenarios::$module::$name(app)).await;
            )*
        }
    };
}

all_scenarios!(run_all);

async fn run_on(backend: Backend) {
    if let Some(reason) = spin::skip_reason() {
        eprintln!("SKIPPED: scenarios under `spin up` ({backend:?}) did not run: {reason}");
        println!("SKIPPED: scenarios under `spin up` ({backend:?}) did not run: {reason}");
        return;
    }
    let (app, process) = spin::start(backend, HTTP_COMPONENTS).await;
    run_all(&app).await;
    drop(process);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_under_spin_on_postgres() {
    run_on(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_under_spin_on_sqlite() {
    run_on(Backend::Sqlite).await;
}

/// Polls until execution `id` succeeded, without calling the beat route:
/// only the worker or the cron-triggered beat can get it there.
async fn wait_succeeded(app: &scenarios::TestApp, id: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = app.get(&format!("/v1/executions/{id}")).await;
        if r.json["status"] == "succeeded" || std::time::Instant::now() > deadline {
            return r.json;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn queue_async(app: &scenarios::TestApp) -> String {
    let r = app
        .post(
            "/v1/executions:run",
            serde_json::json!({ "template": "queued under spin", "mode": "async", "model": { "provider": "openai", "model_name": "spin-async" } }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    r.json["execution_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_runs_under_spin_with_the_redis_worker() {
    if let Some(reason) = spin::skip_reason() {
        println!("SKIPPED: the Redis worker under `spin up` did not run: {reason}");
        return;
    }
    let (app, process) =
        spin::start_with(Backend::Postgres, &["health", "executions", "worker"], spin::KeyValue::Local, |c| {
            c.redis_url = scenarios::target::redis_url()
        })
        .await;
    // /health answers before the Redis trigger has subscribed; a message
    // published earlier would only be picked up by the beat.
    spin::wait_for_worker_subscription().await;
    let id = queue_async(&app).await;
    let e = wait_succeeded(&app, &id).await;
    assert_eq!(e["status"], "succeeded", "the worker ran the published execution: {e}");
    assert_eq!(e["attempts"], 1);
    drop(process);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_runs_under_spin_with_the_cron_beat() {
    if let Some(reason) = spin::skip_reason() {
        println!("SKIPPED: the cron beat under `spin up` did not run: {reason}");
        return;
    }
    if !spin::cron_plugin_installed() {
        println!("SKIPPED: the cron beat under `spin up` did not run: the trigger-cron Spin plugin is not installed");
        return;
    }
    let (app, process) = spin::start(Backend::Sqlite, &["health", "executions", "beat"]).await;
    let id = queue_async(&app).await;
    let e = wait_succeeded(&app, &id).await;
    assert_eq!(e["status"], "succeeded", "the beat claimed the queued execution: {e}");
    drop(process);
    app.finish().await;
}
