//! What the fuzz targets share: the whole app on a native host with an
//! embedded SQLite database (one per fuzzing process), a readable text form
//! for raw requests, and the checks every answer must pass.

use std::cell::RefCell;
use std::path::PathBuf;

use ledger::Config;
use ledger_native::NativeHost;
use ledger_native::db::NativeDb;

/// The bootstrap admin key of the fuzzed app; added to requests that carry no key.
pub const ADMIN_KEY: &str = "pl-fuzz-admin-key";
/// A prompt that exists (active version 1, label `prod`), so routes under
/// `/v1/prompts/{name}` reach more than their 404.
pub const PROMPT: &str = "fuzz-greeting";

struct App {
    runtime: tokio::runtime::Runtime,
    host: NativeHost,
    path: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        remove_database(&self.path);
    }
}

fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

fn start() -> App {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let path = std::env::temp_dir().join(format!("promptledger-fuzz-{}.db", std::process::id()));
    remove_database(&path);
    // Nothing listens on the discard port: provider calls fail at once.
    let unreachable = "http://127.0.0.1:9/v1".to_owned();
    let config = Config {
        api_key: ADMIN_KEY.into(),
        openai_api_key: "sk-fuzz".into(),
        openai_base_url: unreachable.clone(),
        anthropic_api_key: "sk-fuzz".into(),
        anthropic_base_url: unreachable,
        ..Config::default()
    };
    let host = NativeHost::new(NativeDb::sqlite(&path), config);
    runtime.block_on(async {
        ledger::migrations::run(&host.db, 0).await.expect("migrations apply");
        let seed = [
            ("POST", "/v1/prompts".to_owned(), format!(r#"{{"name":"{PROMPT}","template":"Hello {{{{ name }}}}"}}"#)),
            ("PUT", format!("/v1/prompts/{PROMPT}/labels/prod"), r#"{"version":1}"#.to_owned()),
            (
                "PUT",
                "/v1/models/openai/gpt-4o".to_owned(),
                r#"{"input_usd_per_mtok":2.5,"output_usd_per_mtok":10}"#.into(),
            ),
        ];
        for (method, path, body) in seed {
            let req = json_request(method, &path, body.into_bytes());
            let response = ledger::handle(&host, req).await;
            assert!(response.status().is_success(), "seeding {method} {path}: {}", response.status());
        }
    });
    App { runtime, host, path }
}

/// Runs one request through [`ledger::handle`] and checks the answer
/// (`FUZZ_TRACE=1` prints each request line and status).
pub fn send(req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    APP.with_borrow_mut(|app| {
        let app = app.get_or_insert_with(start);
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let response = app.runtime.block_on(ledger::handle(&app.host, req));
        if std::env::var_os("FUZZ_TRACE").is_some() {
            eprintln!("{method} {uri} -> {}", response.status());
        }
        check_answer(&method, &uri, &response);
        response
    })
}

/// Every answer, however hostile the request: never a 500 (a 502, 503 or
/// 504 is an unreachable provider), and an error body that is JSON.
pub fn check_answer(method: &http::Method, uri: &http::Uri, response: &http::Response<Vec<u8>>) {
    let status = response.status();
    let body = String::from_utf8_lossy(response.body());
    assert_ne!(status, http::StatusCode::INTERNAL_SERVER_ERROR, "{method} {uri} -> 500 {body}");
    if status.is_client_error() || status.is_server_error() {
        if method != http::Method::HEAD && !response.body().is_empty() {
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(response.body());
            assert!(
                parsed.as_ref().is_ok_and(|v| v.get("error").is_some()),
                "{method} {uri} -> {status}: the error body is not a JSON error: {body}"
            );
        }
    }
}

pub fn json_request(method: &str, path: &str, body: Vec<u8>) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("x-api-key", ADMIN_KEY)
        .body(body)
        .expect("a valid request")
}

/// A request written as text: a request line (`METHOD /path?query`),
/// header lines (`name: value`), an empty line, then the body. Requests
/// with neither `x-api-key` nor `authorization` get the admin key, so
/// inputs reach the handlers behind authentication. `None` for what an
/// HTTP server would refuse before the app sees it (bad method or target).
pub fn parse_request_text(data: &[u8]) -> Option<http::Request<Vec<u8>>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], data[at + 2..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(http::Uri::try_from(target.trim()).ok()?);
    let mut keyed = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.trim().as_bytes()), http::HeaderValue::from_str(value.trim()))
        else {
            continue;
        };
        keyed |= name == "x-api-key" || name == http::header::AUTHORIZATION;
        builder = builder.header(name, value);
    }
    if !keyed {
        builder = builder.header("x-api-key", ADMIN_KEY);
    }
    builder.body(body).ok()
}
