//! The shared scenarios over HTTP against `spin up`, on PostgreSQL and on the
//! embedded SQLite database, and the async pipeline's Spin triggers. When no
//! `spin` binary is available every test is reported as ignored, with the
//! reason printed, never as passed.

use std::future::Future;
use std::pin::Pin;

use libtest_mimic::{Arguments, Trial};
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
    let (app, process) = spin::start(backend, HTTP_COMPONENTS).await;
    run_all(&app).await;
    drop(process);
    app.finish().await;
}

type Body = fn() -> Pin<Box<dyn Future<Output = ()>>>;

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let spin_missing = spin::skip_reason();
    let cron_missing = spin_missing.clone().or_else(|| {
        (!spin::cron_plugin_installed()).then(|| "the trigger-cron Spin plugin is not installed".to_owned())
    });
    let trials: [(&str, &Option<String>, Body); 4] = [
        ("scenarios_under_spin_on_postgres", &spin_missing, || Box::pin(run_on(Backend::Postgres))),
        ("scenarios_under_spin_on_sqlite", &spin_missing, || Box::pin(run_on(Backend::Sqlite))),
        ("async_runs_under_spin_with_the_redis_worker", &spin_missing, || Box::pin(with_the_redis_worker())),
        ("async_runs_under_spin_with_the_cron_beat", &cron_missing, || Box::pin(with_the_cron_beat())),
    ];
    let trials = trials
        .into_iter()
        .map(|(name, skipped, body)| {
            if let Some(reason) = skipped {
                println!("SKIPPED: {name} did not run: {reason}");
            }
            Trial::test(name, move || {
                let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
                runtime.map_err(|e| e.to_string())?.block_on(body());
                Ok(())
            })
            .with_ignored_flag(skipped.is_some())
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
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

async fn with_the_redis_worker() {
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

async fn with_the_cron_beat() {
    let (app, process) = spin::start(Backend::Sqlite, &["health", "executions", "beat"]).await;
    let id = queue_async(&app).await;
    let e = wait_succeeded(&app, &id).await;
    assert_eq!(e["status"], "succeeded", "the beat claimed the queued execution: {e}");
    drop(process);
    app.finish().await;
}
