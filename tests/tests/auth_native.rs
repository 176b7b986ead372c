//! In-process only: stored-key checks are cached per instance under a
//! generation in the key-value store; creating or revoking a key through any
//! replica moves it.

use ledger::ports::{Clock, Db, Value};
use ledger_native::NativeHost;
use ledger_native::host::OffsetClock;
use scenarios::{Backend, TestApp};
use serde_json::json;
use std::sync::Arc;

async fn key_status(app: &TestApp, host: &NativeHost, key: &str) -> u16 {
    app.request(http::Method::GET, "/v1/models").key(key).send_via(host).await.status
}

async fn revocation_through_another_replica_applies_at_once(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let (a, b) = (app.replica().unwrap(), app.replica().unwrap());
    let created = app.post("/v1/api-keys", json!({ "name": "svc", "scope": "read" })).await;
    let (id, key) = (created.json["id"].as_str().unwrap(), created.json["key"].as_str().unwrap());
    for _ in 0..3 {
        assert_eq!(key_status(&app, &a, key).await, 200);
    }
    let r = app.request(http::Method::DELETE, &format!("/v1/api-keys/{id}")).send_via(&b).await;
    assert_eq!(r.status, 200);
    assert_eq!(key_status(&app, &a, key).await, 401);
    // An unknown key stays unknown, and a key created later works at once.
    assert_eq!(key_status(&app, &a, "pl_not_a_key").await, 401);
    let later = app.request(http::Method::POST, "/v1/api-keys").json(&json!({ "name": "later", "scope": "read" }));
    let later = later.send_via(&b).await;
    assert_eq!(key_status(&app, &a, later.json["key"].as_str().unwrap()).await, 200);
    app.finish().await;
}

/// Proves checks are served from the instance's memo: a key revoked behind
/// the API's back is still accepted until the entry ages out.
async fn checks_are_cached_until_they_age_out(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let mut host = app.replica().unwrap();
    let clock = Arc::new(OffsetClock::default());
    host.clock = clock.clone();
    let key = app.key_with_scope("read").await;
    assert_eq!(key_status(&app, &host, &key).await, 200);
    app.db.native().execute("UPDATE api_keys SET revoked_at = $1", &[Value::from(clock.now_ms())]).await.unwrap();
    assert_eq!(key_status(&app, &host, &key).await, 200, "served from the cache");
    clock.advance(ledger::cache::MAX_AGE_MS + 1);
    assert_eq!(key_status(&app, &host, &key).await, 401, "aged out");
    app.finish().await;
}

scenarios::both_backends!(current_thread: revocation_through_another_replica_applies_at_once, checks_are_cached_until_they_age_out);
