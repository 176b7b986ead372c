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
                scenarios::scenarios::$module::$name(app).await;
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
