//! Every shared scenario, in-process through the core's handler, once on
//! PostgreSQL and once on SQLite, each with a fresh database.

use scenarios::{Backend, TestApp, all_scenarios};

macro_rules! in_process_tests {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = TestApp::in_process(Backend::Postgres).await;
                    scenarios::scenarios::$module::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = TestApp::in_process(Backend::Sqlite).await;
                    scenarios::scenarios::$module::$name(&app).await;
                    app.finish().await;
                }
            )*
        }
    };
}

all_scenarios!(in_process_tests);
