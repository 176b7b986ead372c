//! In-process only: behaviour that needs control over the database itself
//! (migration runs, an edited migration, concurrent starts, an unreachable
//! database), on both backends.

use futures::future::join_all;
use ledger::Config;
use ledger::migrations::{self, MigrationError};
use ledger::ports::{Db, Dialect};
use ledger_native::{NativeDb, NativeHost};
use scenarios::target::{Database, test_config};
use scenarios::{ADMIN_KEY, Backend, TestApp};

async fn fresh_run_then_rerun_is_a_no_op(backend: Backend) {
    let db = Database::create(backend).await;
    let native = db.native();
    let first = migrations::run(&native, 1).await.expect("first run");
    let expected = migrations::expected_version(native.dialect());
    let count = migrations::for_dialect(native.dialect()).len();
    assert_eq!(first.applied.len(), count);
    assert_eq!(first.current, expected);
    let second = migrations::run(&native, 2).await.expect("second run");
    assert!(second.applied.is_empty());
    assert_eq!(second.current, expected);
    let rows = native.query("SELECT version, checksum FROM schema_migrations ORDER BY version", &[]).await.unwrap();
    assert_eq!(rows.len(), count);
    assert_eq!(rows[0].str("checksum").unwrap(), migrations::for_dialect(native.dialect())[0].checksum());
    db.drop_now().await;
}

async fn an_edited_migration_is_refused(backend: Backend) {
    let db = Database::create(backend).await;
    let native = db.native();
    migrations::run(&native, 1).await.expect("first run");
    // What a changed file looks like from the database's side.
    native.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1", &[]).await.unwrap();
    match migrations::run(&native, 2).await {
        Err(MigrationError::Edited { version, .. }) => assert_eq!(version, 1),
        other => panic!("expected an edited-migration error, got {other:?}"),
    }
    let message = migrations::run(&native, 2).await.unwrap_err().to_string();
    assert!(message.contains("0001") || message.contains("1_init"), "{message}");
    db.drop_now().await;
}

async fn concurrent_starts_apply_each_migration_once(backend: Backend) {
    let db = Database::create(backend).await;
    let replicas: Vec<NativeDb> = (0..4).map(|_| db.native()).collect();
    let results = join_all(replicas.iter().map(|r| migrations::run(r, 1))).await;
    let mut applied = Vec::new();
    for result in results {
        applied.extend(result.expect("every replica starts").applied);
    }
    applied.sort();
    let expected: Vec<i64> = migrations::for_dialect(replicas[0].dialect()).iter().map(|m| m.version).collect();
    assert_eq!(applied, expected, "each migration applied exactly once across replicas");
    db.drop_now().await;
}

async fn health_is_503_while_migrations_are_pending(backend: Backend) {
    let db = Database::create(backend).await;
    let config = test_config(&db);
    let app = TestApp::in_process_with(db, config);
    let r = app.request(http::Method::GET, "/health").without_key().send().await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json["checks"]["migrations"]["status"], "pending");
    assert_eq!(r.json["checks"]["migrations"]["current"], 0);
    app.finish().await;
}

scenarios::both_backends!(
    fresh_run_then_rerun_is_a_no_op,
    an_edited_migration_is_refused,
    concurrent_starts_apply_each_migration_once,
    health_is_503_while_migrations_are_pending,
);

fn unreachable_host() -> NativeHost {
    let config = Config {
        api_key: ADMIN_KEY.into(),
        database_url: "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2".into(),
        ..Config::default()
    };
    NativeHost::new(NativeDb::postgres(&config.database_url), config)
}

async fn send(host: &NativeHost, path: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = http::Request::builder().uri(path);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let response = ledger::handle(host, req.body(Vec::new()).unwrap()).await;
    (response.status().as_u16(), serde_json::from_slice(response.body()).unwrap_or_default())
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_the_shared_error_shape() {
    let host = unreachable_host();
    let (status, body) = send(&host, "/health", None).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "error");

    // A stored key cannot be checked without the database: 503, not 401.
    let (status, body) = send(&host, "/v1/api-keys", Some("pl_some-stored-key")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")));
    let (status, _) = send(&host, "/v1/api-keys", Some(ADMIN_KEY)).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn sqlite_is_the_default_dialect_and_postgres_is_chosen_by_url() {
    assert_eq!(NativeDb::sqlite("/tmp/x.db").dialect(), Dialect::Sqlite);
    assert_eq!(NativeDb::postgres("postgres://h/db").dialect(), Dialect::Postgres);
}

#[tokio::test]
async fn migrations_reach_postgres_over_tls_like_libpq_require() {
    let admin = NativeDb::postgres(scenarios::target::admin_postgres_url());
    let ssl = admin.query("SELECT setting FROM pg_settings WHERE name = 'ssl'", &[]).await.unwrap();
    if ssl.first().and_then(|r| r.str("setting").ok()).as_deref() != Some("on") {
        println!("SKIPPED: this PostgreSQL server has ssl = off, so sslmode=require cannot be exercised");
        return;
    }
    let db = Database::create(Backend::Postgres).await;
    let url = db.url().replace("sslmode=disable", "sslmode=require");
    let tls = NativeDb::postgres(&url);
    let report = migrations::run(&tls, 1).await.expect("migrations over TLS");
    assert!(!report.applied.is_empty());
    let encrypted = tls.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    assert!(encrypted[0].bool("ssl").unwrap(), "the connection is encrypted");
    db.drop_now().await;
}
