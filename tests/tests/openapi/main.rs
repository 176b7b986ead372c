//! `openapi.json` against the code, on SQLite and on PostgreSQL. The spec is written by hand: the router
//! matches path segments and most handlers build their bodies with
//! `json!`, so there are no Rust types to derive it from (utoipa would need a
//! type per body, a second description of each one). Instead these tests
//! pin it to the code from both sides:
//!
//! - routes: the router admits only what `ledger::api::routes::ROUTES`
//!   lists (method, path template, query parameters), and the spec must list
//!   exactly those operations and parameters; every row must reach a handler.
//! - query parameters: besides the table, each declared parameter must show
//!   that its handler reads it (a bad value is refused naming it, or a filter
//!   no row matches empties the list).
//! - bodies: every shared scenario runs over HTTP through a recording server;
//!   each response must be declared for its operation and status and match
//!   its schema with unknown properties rejected, each successful request
//!   body must match its request schema the same way, and every property the
//!   spec declares must appear in some response.

mod coverage;
mod recorder;
mod spec;

use std::collections::{BTreeMap, BTreeSet};

use ledger::api::routes::{Access, ROUTES};
use recorder::{Exchange, Log};
use scenarios::{Backend, TestApp, all_scenarios};
use serde_json::{Value as Json, json};
use spec::Operation;

#[test]
fn the_spec_lists_exactly_the_route_table() {
    let spec = spec::spec();
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "an OpenAPI 3.1 document");
    let documented = spec::operations(&spec);
    let table: BTreeMap<Operation, &ledger::api::routes::Route> =
        ROUTES.iter().map(|r| (Operation { method: r.method.to_owned(), path: r.path.to_owned() }, r)).collect();
    let mut problems = Vec::new();
    for op in documented.keys().filter(|op| !table.contains_key(op)) {
        problems.push(format!("{op}: in the spec but not in the route table"));
    }
    for op in table.keys().filter(|op| !documented.contains_key(op)) {
        problems.push(format!("{op}: in the route table but not in the spec"));
    }
    for (op, route) in &table {
        let Some(doc) = documented.get(op) else { continue };
        let params = spec::parameters(&spec, &op.path, doc);
        let named = |place: &str| -> BTreeSet<String> {
            params.iter().filter(|p| p["in"] == place).filter_map(|p| p["name"].as_str().map(str::to_owned)).collect()
        };
        let code_query: BTreeSet<String> = route.query.iter().map(|q| q.to_string()).collect();
        let spec_query = named("query");
        for q in spec_query.difference(&code_query) {
            problems.push(format!("{op}: query parameter `{q}` is in the spec but not read by the code"));
        }
        for q in code_query.difference(&spec_query) {
            problems.push(format!("{op}: query parameter `{q}` is read by the code but not in the spec"));
        }
        let template_params: BTreeSet<String> =
            op.path.split('{').skip(1).filter_map(|s| s.split('}').next()).map(str::to_owned).collect();
        if named("path") != template_params {
            problems
                .push(format!("{op}: path parameters {:?} but the template has {template_params:?}", named("path")));
        }
        for p in params.iter().filter(|p| p["in"] == "path" && p["required"] != true) {
            problems.push(format!("{op}: path parameter {} must be required", p["name"]));
        }
        let security = doc.get("security").unwrap_or(&spec["security"]);
        let public = security.as_array().is_some_and(|s| s.is_empty() || s.iter().any(|r| r == &json!({})));
        if public != (route.access == Access::Public) {
            problems.push(format!("{op}: the spec says public={public}, the route table says {:?}", route.access));
        }
        if doc["operationId"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{op}: no operationId"));
        }
    }
    let schemes = &spec["components"]["securitySchemes"];
    if schemes["ApiKey"] != json!({"type": "apiKey", "in": "header", "name": "X-API-Key"})
        || schemes["Bearer"]["scheme"] != "bearer"
    {
        problems.push("the security schemes must be X-API-Key and HTTP Bearer".into());
    }
    assert!(problems.is_empty(), "spec and router disagree:\n{}", problems.join("\n"));
}

/// A concrete path for a template: each parameter becomes `x`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push('x');
        rest = &rest[open + rest[open..].find('}').unwrap_or(0) + 1..];
    }
    out + rest
}

fn is_missing_route(r: &scenarios::TestResponse) -> bool {
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    r.status == 405 || (r.status == 404 && (message.starts_with("no route for") || message == "no such route"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_the_table_reaches_a_handler() {
    let app = TestApp::in_process(Backend::Sqlite).await;
    let mut missing = Vec::new();
    for route in ROUTES {
        let method = http::Method::from_bytes(route.method.as_bytes()).expect("method");
        let r = app.request(method, &concrete(route.path)).json(&json!({})).send().await;
        if is_missing_route(&r) {
            missing.push(format!("{} {} -> {} {}", route.method, route.path, r.status, r.text()));
        }
    }
    // And a method the table does not list is refused before any handler.
    let r = app.request(http::Method::DELETE, "/v1/prompts").send().await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
    app.finish().await;
    assert!(missing.is_empty(), "routes in the table that no handler serves:\n{}", missing.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_is_served_publicly() {
    let app = TestApp::in_process(Backend::Sqlite).await;
    let r = app.request(http::Method::GET, "/openapi.json").without_key().send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json, spec::spec());
    let text = r.text();
    for secret in [scenarios::ADMIN_KEY, "sk-test-openai", "sk-test-anthropic"] {
        assert!(!text.contains(secret), "the spec holds a secret");
    }
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json")).expect("openapi.json");
    assert_eq!(file, ledger::api::openapi::SPEC, "the served document is the repository's");
    app.finish().await;
}

macro_rules! walk_scenarios {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// Every shared scenario, each on a fresh app behind the recorder, on
        /// a thread of its own (as each in-process test has: thread-local
        /// caches must not carry one database's ids into the next). A
        /// scenario that fails is reported by its own test; here it only
        /// records less traffic, which the coverage checks then notice.
        fn walk_scenarios(backend: Backend, log: &Log) -> Vec<&'static str> {
            let stopped = std::sync::Mutex::new(Vec::new());
            $(
                on_own_thread(|| async {
                    let (app, stop) = recorder::recorded_app(backend, stringify!($name), log).await;
                    let run = std::panic::AssertUnwindSafe(scenarios::scenarios::$module::$name(&app));
                    if futures::FutureExt::catch_unwind(run).await.is_err() {
                        stopped.lock().expect("stopped").push(stringify!($name));
                    }
                    app.finish().await;
                    drop(stop);
                });
            )*
            stopped.into_inner().expect("stopped")
        }
    };
}
all_scenarios!(walk_scenarios);

/// Runs `task` to completion on a new thread with its own runtime and a
/// deep stack (the scenarios' futures and the schema walks are deep).
fn on_own_thread<F, Fut>(task: F)
where
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().stack_size(64 << 20).spawn_scoped(scope, || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            tokio::task::LocalSet::new().block_on(&runtime, Box::pin(task()));
        });
        if let Err(panic) = thread.expect("thread").join() {
            std::panic::resume_unwind(panic);
        }
    });
}

#[test]
fn traffic_matches_the_spec_on_sqlite() {
    traffic_matches_the_spec(Backend::Sqlite);
}

#[test]
fn traffic_matches_the_spec_on_postgres() {
    traffic_matches_the_spec(Backend::Postgres);
}

fn traffic_matches_the_spec(backend: Backend) {
    let log = Log::default();
    let stopped = walk_scenarios(backend, &log);
    on_own_thread(|| walk_extras(backend, &log));
    let exchanges = log.lock().expect("log").clone();
    if let Ok(path) = std::env::var("OPENAPI_WALK_DUMP") {
        dump(&exchanges, &path);
    }
    let spec = spec::spec();
    let report = std::thread::scope(|scope| {
        let check =
            std::thread::Builder::new().stack_size(64 << 20).spawn_scoped(scope, || coverage::check(&spec, &exchanges));
        check.expect("thread").join().expect("check")
    });
    println!("{} on {backend:?}; scenarios that stopped early over HTTP: {stopped:?}", report.summary());
    assert!(report.problems.is_empty(), "the spec and the traffic disagree:\n{}", report.problems.join("\n"));
}

/// Operations and probes the scenarios leave out, on one populated app:
/// the spec itself, `HEAD /health`, and each declared query parameter shown
/// to be read by its handler.
async fn walk_extras(backend: Backend, log: &Log) {
    let (app, stop) = recorder::recorded_app(backend, "extras", log).await;
    let r = app.request(http::Method::GET, "/openapi.json").without_key().send().await;
    assert_eq!(r.status, 200);
    let r = app.request(http::Method::HEAD, "/health").without_key().send().await;
    assert_eq!(r.status, 200);
    populate(&app).await;
    show_the_rest(&app).await;
    let spec = spec::spec();
    let mut unproven = Vec::new();
    for (op, doc) in spec::operations(&spec) {
        for param in spec::parameters(&spec, &op.path, &doc).iter().filter(|p| p["in"] == "query") {
            let name = param["name"].as_str().unwrap_or_default();
            if let Err(why) = probe(&app, &spec, &op, &doc, name, spec::resolve(&spec, &param["schema"])).await {
                unproven.push(format!("{op} ?{name}: {why}"));
            }
        }
    }
    app.finish().await;
    drop(stop);
    assert!(unproven.is_empty(), "query parameters not shown to be read:\n{}", unproven.join("\n"));
}

/// One of everything the list filters can select.
async fn populate(app: &TestApp) {
    let r =
        app.post("/v1/prompts", json!({ "name": "probe", "template": "Hi {{ who }}", "owner_team": "probes" })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = app
        .post(
            "/v1/executions:run",
            json!({ "prompt_name": "probe", "variables": { "who": "there" },
                    "model": { "provider": "mock", "model_name": "mock-1" }, "correlation_id": "probe-1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = app.post("/v1/api-keys", json!({ "name": "probe", "scope": "read" })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = app
        .post(
            "/v1/traces",
            json!({ "trace_id": "populate", "service_name": "probes", "spans": [
            { "span_id": "root", "name": "root", "started_at": "2026-01-01T00:00:00Z" } ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Responses the scenarios do not show in full: a chat version read back,
/// a failed run in a list, analytics over rolled-up runs, OTLP partial success.
async fn show_the_rest(app: &TestApp) {
    let chat = json!({ "name": "probe-chat", "messages": [{ "role": "user", "content": "Hi {{ who }}" }] });
    assert_eq!(app.post("/v1/prompts", chat).await.status, 201);
    assert_eq!(app.get("/v1/prompts/probe-chat/versions/1").await.status, 200);
    let failing = json!({ "template": "x", "model": { "provider": "openai", "model_name": "fail-500" } });
    assert_eq!(app.post("/v1/executions:run", failing).await.status, 502);
    assert_eq!(app.get("/v1/executions?status=failed").await.json["data"][0]["status"], "failed");
    assert_eq!(app.post("/v1/internal/beat", json!({})).await.status, 200);
    let summary = app.get("/v1/analytics/summary").await;
    assert_eq!(
        (summary.status, summary.json["top_prompts"][0]["prompt_name"].as_str()),
        (200, Some("probe")),
        "{}",
        summary.text()
    );
    for query in ["", "?bucket=hour"] {
        let r = app.get(&format!("/v1/analytics/prompts/probe{query}")).await;
        assert_eq!((r.status, r.json["series"].as_array().map(Vec::len)), (200, Some(1)), "{}", r.text());
    }
    let span = |id: &str, name: Json| {
        json!({ "traceId": "5b8efff798038103d269b633813fc60c", "spanId": id, "name": name,
                                              "startTimeUnixNano": "1767225600000000000" })
    };
    let export = json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": [span("eee19b7ec3c1b174", json!("ok")),
                                                                       span("eee19b7ec3c1b175", json!(7))] }] }] });
    let r = app.post("/v1/traces", export).await;
    assert_eq!((r.status, r.json["partialSuccess"]["rejectedSpans"].as_str()), (200, Some("1")), "{}", r.text());
}

/// A path for `op` that names what [`populate`] made.
fn probe_path(op: &Operation) -> String {
    op.path.replace("{name}", "probe")
}

/// Shows that the handler of `op` reads query parameter `name`.
async fn probe(
    app: &TestApp,
    spec: &Json,
    op: &Operation,
    doc: &Json,
    name: &str,
    schema: &Json,
) -> Result<(), String> {
    let method = http::Method::from_bytes(op.method.as_bytes()).expect("method");
    let body = doc["requestBody"]["content"]["application/json"]["example"].clone();
    // Other required parameters get a valid value.
    let others: String = spec::parameters(spec, &op.path, doc)
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true && p["name"] != name)
        .map(|p| {
            format!("&{}={}", p["name"].as_str().unwrap_or_default(), p["schema"]["minimum"].as_i64().unwrap_or(1))
        })
        .collect();
    let send = |query: String| {
        let mut req = app.request(method.clone(), &format!("{}?{query}{others}", probe_path(op)));
        if !body.is_null() {
            req = req.json(&body);
        }
        req.send()
    };
    let invalid = match (schema["type"].as_str(), schema.get("enum"), schema["format"].as_str()) {
        (_, Some(_), _) => Some("not-a-choice"),
        (Some("integer"), _, _) => Some("not-a-number"),
        (Some("boolean"), _, _) => Some("maybe"),
        (_, _, Some("date-time")) => Some("not-a-time"),
        _ if schema.get("pattern").is_some() => Some("no spaces allowed"),
        _ if name == "cursor" => Some("not-a-cursor"),
        _ => None,
    };
    if let Some(value) = invalid {
        let r = send(format!("{name}={}", value.replace(' ', "%20"))).await;
        return if r.status == 422 && r.json["error"]["details"]["field"] == name {
            Ok(())
        } else {
            Err(format!("`{value}` was not refused naming the parameter: {} {}", r.status, r.text()))
        };
    }
    // A free-text filter: a value nothing has must empty a list that is not empty.
    let is_list = spec::response_schema(spec, doc, "200")
        .is_some_and(|s| spec::resolve(spec, s)["properties"].get("data").is_some());
    if !is_list {
        return Err("no probe applies: give it a type, an enum, a pattern or make it a list filter".into());
    }
    let all = send(String::new()).await;
    let none = send(format!("{name}=matches-nothing")).await;
    match (all.json["data"].as_array(), none.json["data"].as_array()) {
        (Some(all), Some(none)) if !all.is_empty() && none.is_empty() => Ok(()),
        _ => Err(format!("filtering by it changed nothing: {} then {}", all.text(), none.text())),
    }
}

fn dump(exchanges: &[Exchange], path: &str) {
    let rows: Vec<Json> = exchanges
        .iter()
        .map(|e| {
            json!({
                "scenario": e.scenario, "method": e.method, "path": e.path, "query": e.query,
                "status": e.status,
                "request": serde_json::from_slice::<Json>(&e.request_body).unwrap_or(Json::Null),
                "response": serde_json::from_slice::<Json>(&e.response_body).unwrap_or(Json::Null),
            })
        })
        .collect();
    std::fs::write(path, serde_json::to_vec_pretty(&rows).expect("json")).expect("write dump");
}
