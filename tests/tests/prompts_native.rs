//! The registry under concurrency and across replicas, on both backends:
//! version numbering and deduplication races, racing activations, inline
//! registration races, and the resolved-version cache shared by replicas
//! (including the stale-writer race, a failing store and entry expiry).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::join_all;
use ledger::Config;
use ledger::ports::{Clock, Db, Host, Ids, Kv, SystemClock, V7Ids, Value};
use ledger::registry::{self, PromptBody, VersionSelector, cache};
use ledger_native::http_client::NativeHttp;
use ledger_native::kv::RedisQueue;
use ledger_native::{NativeDb, NativeHost};
use scenarios::{Backend, TestApp, TestResponse};
use serde_json::{Value as Json, json};

fn replicas(app: &TestApp, n: usize) -> Vec<NativeHost> {
    (0..n).map(|_| app.replica().expect("in-process app")).collect()
}

async fn post_via(app: &TestApp, host: &NativeHost, path: impl AsRef<str>, body: Json) -> TestResponse {
    app.request(http::Method::POST, path.as_ref()).json(&body).send_via(host).await
}

async fn active_count(app: &TestApp, name: &str) -> i64 {
    let rows = app
        .db
        .native()
        .query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM prompt_versions v JOIN prompts p ON p.id = v.prompt_id \
             WHERE p.name = $1 AND v.status = 'active'",
            &[Value::from(name)],
        )
        .await
        .unwrap();
    rows[0].i64("n").unwrap()
}

async fn rendered_via(app: &TestApp, host: &NativeHost, name: &str, body: Json) -> TestResponse {
    post_via(app, host, &format!("/v1/prompts/{name}:render"), body).await
}

async fn concurrent_creates_number_versions_without_gaps(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    assert_eq!(app.post("/v1/prompts", json!({ "name": "busy" })).await.status, 201);
    let hosts = replicas(&app, 8);
    let responses = join_all(hosts.iter().enumerate().map(|(i, host)| {
        post_via(&app, host, "/v1/prompts/busy/versions", json!({ "template": format!("body {i}") }))
    }))
    .await;
    let mut numbers: Vec<i64> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text());
            r.json["version"].as_i64().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
    assert_eq!(app.get("/v1/prompts/busy").await.json["latest_version"], 8);
    app.finish().await;
}

async fn concurrent_creates_of_the_same_body_store_it_once(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    assert_eq!(app.post("/v1/prompts", json!({ "name": "same" })).await.status, 201);
    let hosts = replicas(&app, 8);
    let body = json!({ "template": "Same {{ thing }}", "config": { "model": "m" } });
    let responses =
        join_all(hosts.iter().map(|host| post_via(&app, host, "/v1/prompts/same/versions", body.clone()))).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1, "{:?}", responses.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(responses.iter().all(|r| r.status == 200 || r.status == 201));
    let ids: Vec<&Json> = responses.iter().map(|r| &r.json["id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.is_string()), "{ids:?}");
    let r = app.get("/v1/prompts/same").await;
    assert_eq!(r.json["latest_version"], 1, "no number was consumed by the duplicates");
    assert_eq!(app.get("/v1/prompts/same/versions").await.json["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn concurrent_activations_leave_exactly_one_active(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    assert_eq!(app.post("/v1/prompts", json!({ "name": "flip", "template": "v1" })).await.status, 201);
    for i in 2..=8 {
        let r = app.post("/v1/prompts/flip/versions", json!({ "template": format!("v{i}") })).await;
        assert_eq!(r.status, 201);
    }
    let hosts = replicas(&app, 8);
    for round in 0..3 {
        let responses =
            join_all(hosts.iter().enumerate().map(|(i, host)| {
                post_via(&app, host, format!("/v1/prompts/flip/versions/{}:activate", i + 1), json!({}))
            }))
            .await;
        for r in &responses {
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
        }
        assert_eq!(active_count(&app, "flip").await, 1, "round {round}");
        // Every replica agrees with the database on the winner.
        let active = app.get("/v1/prompts/flip").await.json["active_version"]["version"].as_i64().unwrap();
        for host in &hosts {
            let r = rendered_via(&app, host, "flip", json!({})).await;
            assert_eq!(r.json["version"]["number"].as_i64(), Some(active));
        }
    }
    app.finish().await;
}

async fn concurrent_inline_registration_creates_one_version(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let hosts = replicas(&app, 8);
    let body = PromptBody::Text("Inline {{ x }}".into());
    let results = join_all(
        hosts.iter().map(|host| registry::register_inline(host, "inline", body.clone(), json!({ "model": "mock-1" }))),
    )
    .await;
    let versions: Vec<_> = results.into_iter().map(|r| r.expect("registered")).collect();
    assert!(versions.iter().all(|v| v.version_id == versions[0].version_id && v.version == 1));
    assert_eq!(versions[0].variables, ["x"]);
    let r = app.get("/v1/prompts/inline").await;
    assert_eq!((r.json["mode"].as_str(), r.json["latest_version"].as_i64()), (Some("tracking"), Some(1)));

    // Different bodies at once: each gets a number, one ends active.
    let results = join_all(hosts.iter().enumerate().map(|(i, host)| {
        registry::register_inline(host, "inline", PromptBody::Text(format!("Inline {i} {{{{ x }}}}")), json!({}))
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(app.get("/v1/prompts/inline").await.json["latest_version"], 9);
    assert_eq!(active_count(&app, "inline").await, 1);

    // A prompt managed through the API is not taken over.
    app.post("/v1/prompts", json!({ "name": "by-hand", "template": "a" })).await;
    let e = registry::register_inline(&hosts[0], "by-hand", PromptBody::Text("b".into()), json!({})).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.code), (409, "mode_conflict"));
    app.finish().await;
}

async fn the_cache_follows_writes_made_through_another_replica(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let [a, b] = <[NativeHost; 2]>::try_from(replicas(&app, 2)).ok().unwrap();
    app.post("/v1/prompts", json!({ "name": "hot", "template": "one" })).await;
    app.post("/v1/prompts/hot/versions", json!({ "template": "two" })).await;
    let render_a = async |body: Json| rendered_via(&app, &a, "hot", body).await.json["rendered"].clone();

    assert_eq!(render_a(json!({})).await, "one");
    assert!(!a.kv.is_empty(), "the resolution was cached");
    assert_eq!(post_via(&app, &b, "/v1/prompts/hot/versions/2:activate", json!({})).await.status, 200);
    assert_eq!(render_a(json!({})).await, "two");

    let put_label = async |version: i64| {
        app.request(http::Method::PUT, "/v1/prompts/hot/labels/production")
            .json(&json!({ "version": version }))
            .send_via(&b)
            .await
            .status
    };
    assert_eq!(put_label(1).await, 200);
    assert_eq!(render_a(json!({ "label": "production" })).await, "one");
    assert_eq!(put_label(2).await, 200);
    assert_eq!(render_a(json!({ "label": "production" })).await, "two");
    app.request(http::Method::DELETE, "/v1/prompts/hot/labels/production").send_via(&b).await;
    assert_eq!(rendered_via(&app, &a, "hot", json!({ "label": "production" })).await.status, 404);

    // A version created active through another replica is seen at once.
    let r = post_via(&app, &b, "/v1/prompts/hot/versions", json!({ "template": "three", "status": "active" })).await;
    assert_eq!(r.status, 201);
    assert_eq!(render_a(json!({})).await, "three");
    assert_eq!(render_a(json!({ "version": 1 })).await, "one");

    post_via(&app, &b, "/v1/prompts/hot:archive", json!({})).await;
    assert_eq!(rendered_via(&app, &a, "hot", json!({})).await.status, 404);
    assert_eq!(rendered_via(&app, &a, "hot", json!({ "version": 1 })).await.status, 404);
    post_via(&app, &b, "/v1/prompts/hot:unarchive", json!({})).await;
    assert_eq!(render_a(json!({})).await, "three");

    // Registration from code through another replica.
    app.post("/v1/prompts:register", json!({ "prompts": [{ "name": "coded", "template": "c1" }] })).await;
    assert_eq!(rendered_via(&app, &a, "coded", json!({})).await.json["rendered"], "c1");
    post_via(&app, &b, "/v1/prompts:register", json!({ "prompts": [{ "name": "coded", "template": "c2" }] })).await;
    assert_eq!(rendered_via(&app, &a, "coded", json!({})).await.json["rendered"], "c2");
    app.finish().await;
}

/// `GET /v1/prompts/{name}` is cached too: every kind of write through
/// another replica shows at once.
async fn the_prompt_view_follows_writes_made_through_another_replica(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let [a, b] = <[NativeHost; 2]>::try_from(replicas(&app, 2)).ok().unwrap();
    app.post("/v1/prompts", json!({ "name": "viewed", "template": "one" })).await;
    let view_a = async || {
        let r = app.request(http::Method::GET, "/v1/prompts/viewed").send_via(&a).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json
    };
    assert_eq!(view_a().await["latest_version"], 1);
    // Served from the cache: a change behind the API's back is not seen.
    app.db
        .native()
        .execute("UPDATE prompts SET description = 'behind the API' WHERE name = 'viewed'", &[])
        .await
        .unwrap();
    assert_eq!(view_a().await["description"], "");

    let r = app.request(http::Method::PATCH, "/v1/prompts/viewed").json(&json!({ "owner_team": "search" }));
    assert_eq!(r.send_via(&b).await.status, 200);
    let view = view_a().await;
    assert_eq!((view["owner_team"].as_str(), view["description"].as_str()), (Some("search"), Some("behind the API")));

    let r = post_via(&app, &b, "/v1/prompts/viewed/versions", json!({ "template": "two", "status": "draft" })).await;
    assert_eq!(r.status, 201);
    let view = view_a().await;
    assert_eq!((view["latest_version"].as_i64(), view["active_version"]["version"].as_i64()), (Some(2), Some(1)));

    assert_eq!(post_via(&app, &b, "/v1/prompts/viewed/versions/2:activate", json!({})).await.status, 200);
    assert_eq!(view_a().await["active_version"]["template"], "two");

    let r = app.request(http::Method::PUT, "/v1/prompts/viewed/labels/staging").json(&json!({ "version": 1 }));
    assert_eq!(r.send_via(&b).await.status, 200);
    assert_eq!(view_a().await["labels"][0]["label"], "staging");
    app.request(http::Method::DELETE, "/v1/prompts/viewed/labels/staging").send_via(&b).await;
    assert_eq!(view_a().await["labels"], json!([]));

    post_via(&app, &b, "/v1/prompts/viewed:archive", json!({})).await;
    assert_eq!(view_a().await["archived"], true);
    post_via(&app, &b, "/v1/prompts/viewed:unarchive", json!({})).await;
    assert_eq!(view_a().await["archived"], false);
    app.finish().await;
}

/// Proves hits come from the cache: a change made behind the API's back is
/// not seen until the entry expires or a write moves the generation.
async fn cached_entries_are_served_and_expire(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let mut a = app.replica().unwrap();
    let now = Arc::new(AtomicI64::new(SystemClock.now_ms()));
    a.clock = Arc::new(ManualClock(now.clone()));
    app.post("/v1/prompts", json!({ "name": "pinned", "template": "original" })).await;
    let active = async || registry::resolve(&a, "pinned", &VersionSelector::Active).await.unwrap();
    let first = active().await;
    app.db
        .native()
        .execute(
            "UPDATE prompt_versions SET template = 'edited behind the API' WHERE id = $1",
            &[Value::from(first.version_id.as_str())],
        )
        .await
        .unwrap();
    assert_eq!(active().await.body, PromptBody::Text("original".into()), "served from the cache");
    assert_eq!(
        registry::resolve_from_db(&a.db, "pinned", &VersionSelector::Active).await.unwrap().body,
        PromptBody::Text("edited behind the API".into())
    );
    now.fetch_add(cache::MAX_AGE_MS + 1, Ordering::SeqCst);
    assert_eq!(active().await.body, PromptBody::Text("edited behind the API".into()), "expired entry");
    app.finish().await;
}

/// A reader that read the database before a write and stores the old value
/// after the writer moved the generation must not poison the cache.
async fn a_stale_cache_write_after_a_change_is_never_served(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let [reader, writer] = <[NativeHost; 2]>::try_from(replicas(&app, 2)).ok().unwrap();
    app.post("/v1/prompts", json!({ "name": "race", "template": "old" })).await;
    app.post("/v1/prompts/race/versions", json!({ "template": "new" })).await;

    // The reader reads the generation and the database...
    let generation = cache::generation(&reader, "race").await.expect("store works");
    let stale = registry::resolve_from_db(&reader.db, "race", &VersionSelector::Active).await.unwrap();
    assert_eq!(stale.version, 1);
    // ...the writer activates version 2 and returns...
    assert_eq!(post_via(&app, &writer, "/v1/prompts/race/versions/2:activate", json!({})).await.status, 200);
    // ...then the reader's cache write lands.
    cache::put(&reader.kv, "race", &generation, &VersionSelector::Active, &stale, SystemClock.now_ms()).await;

    for host in [&reader, &writer] {
        let resolved = registry::resolve(host, "race", &VersionSelector::Active).await.unwrap();
        assert_eq!(resolved.version, 2);
    }
    app.finish().await;
}

async fn a_failing_store_falls_back_to_the_database(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let host = BrokenKvHost(app.replica().unwrap());
    app.post("/v1/prompts", json!({ "name": "nokv", "template": "v1 {{ x }}" })).await;
    app.post("/v1/prompts/nokv/versions", json!({ "template": "v2 {{ x }}" })).await;
    let send = async |method: http::Method, path: &str, body: Json| {
        let mut req = http::Request::builder().method(method).uri(path).header("x-api-key", scenarios::ADMIN_KEY);
        req = req.header("content-type", "application/json");
        let response = ledger::handle(&host, req.body(serde_json::to_vec(&body).unwrap()).unwrap()).await;
        let status = response.status().as_u16();
        (status, serde_json::from_slice::<Json>(response.body()).unwrap_or_default())
    };
    let (status, body) = send(http::Method::POST, "/v1/prompts/nokv:render", json!({ "variables": { "x": 1 } })).await;
    assert_eq!((status, body["rendered"].as_str()), (200, Some("v1 1")));
    let (status, _) = send(http::Method::POST, "/v1/prompts/nokv/versions/2:activate", json!({})).await;
    assert_eq!(status, 200);
    let (status, body) = send(http::Method::POST, "/v1/prompts/nokv:render", json!({ "variables": { "x": 2 } })).await;
    assert_eq!((status, body["rendered"].as_str()), (200, Some("v2 2")));
    let resolved = registry::register_inline(&host, "nokv-inline", PromptBody::Text("i".into()), json!({})).await;
    assert_eq!(resolved.unwrap().version, 1);
    app.finish().await;
}

async fn versions_resolve_by_id_after_their_prompt_is_archived(backend: Backend) {
    let app = TestApp::in_process(backend).await;
    let r = app.post("/v1/prompts", json!({ "name": "old", "template": "kept {{ y }}" })).await;
    let version_id = r.json["active_version"]["id"].as_str().unwrap().to_owned();
    app.post("/v1/prompts/old:archive", json!({})).await;
    let host = app.replica().unwrap();
    assert_eq!(registry::resolve(&host, "old", &VersionSelector::Active).await.unwrap_err().status, 404);
    let resolved = registry::resolve_by_version_id(&host.db, &version_id).await.unwrap();
    assert_eq!((resolved.prompt_name.as_str(), resolved.version), ("old", 1));
    let vars = json!({ "y": "still" });
    let rendered = registry::render(&resolved, vars.as_object().unwrap()).unwrap();
    assert_eq!(rendered, registry::Rendered::Text("kept still".into()));
    assert_eq!(registry::resolve_by_version_id(&host.db, "nope").await.unwrap_err().status, 404);
    app.finish().await;
}

scenarios::both_backends!(
    concurrent_creates_number_versions_without_gaps,
    concurrent_creates_of_the_same_body_store_it_once,
    concurrent_activations_leave_exactly_one_active,
    concurrent_inline_registration_creates_one_version,
    the_cache_follows_writes_made_through_another_replica,
    the_prompt_view_follows_writes_made_through_another_replica,
    cached_entries_are_served_and_expire,
    a_stale_cache_write_after_a_change_is_never_served,
    a_failing_store_falls_back_to_the_database,
    versions_resolve_by_id_after_their_prompt_is_archived,
);

/// Deployments on different PostgreSQL databases may share one Redis:
/// their generations are kept apart, so neither reads the other's entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_sharing_a_store_keep_their_own_entries() {
    let (a, b) = (TestApp::in_process(Backend::Postgres).await, TestApp::in_process(Backend::Postgres).await);
    let a_host = a.replica().unwrap();
    let mut b_host = b.replica().unwrap();
    b_host.kv = a_host.kv.clone();
    a.post("/v1/prompts", json!({ "name": "shared", "template": "from a" })).await;
    b.post("/v1/prompts", json!({ "name": "shared", "template": "from b" })).await;
    for _ in 0..2 {
        assert_eq!(rendered_via(&a, &a_host, "shared", json!({})).await.json["rendered"], "from a");
        assert_eq!(rendered_via(&b, &b_host, "shared", json!({})).await.json["rendered"], "from b");
    }
    a.finish().await;
    b.finish().await;
}

struct ManualClock(Arc<AtomicI64>);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A key-value store that is down.
struct BrokenKv;

impl Kv for BrokenKv {
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
        Err("connection refused".into())
    }
    async fn set(&self, _: &str, _: &[u8]) -> Result<(), String> {
        Err("connection refused".into())
    }
    async fn delete(&self, _: &str) -> Result<(), String> {
        Err("connection refused".into())
    }
}

struct BrokenKvHost(NativeHost);

impl Host for BrokenKvHost {
    type Db = NativeDb;
    type Kv = BrokenKv;
    type Queue = RedisQueue;
    type Http = NativeHttp;

    fn db(&self) -> &NativeDb {
        &self.0.db
    }
    fn kv(&self) -> &BrokenKv {
        &BrokenKv
    }
    fn queue(&self) -> Option<&RedisQueue> {
        self.0.queue.as_ref()
    }
    fn http(&self) -> &NativeHttp {
        &self.0.http
    }
    fn clock(&self) -> &dyn Clock {
        self.0.clock.as_ref()
    }
    fn ids(&self) -> &dyn Ids {
        &V7Ids
    }
    fn config(&self) -> &Config {
        &self.0.config
    }
    fn kv_is_shared(&self) -> bool {
        true
    }
    async fn sleep(&self, duration: std::time::Duration) {
        self.0.sleep(duration).await;
    }
    fn fork(&self) -> Self {
        BrokenKvHost(self.0.fork())
    }
}
